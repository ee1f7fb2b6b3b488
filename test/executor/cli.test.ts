import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { parseStepSpec } from "../../src/executor/validate.js";
import { MAC_DEFAULT_PATHS, STEP_ENV } from "../../src/spec.js";
import { CANARY } from "./hostile.js";
import { instanceStep, jobStep, sshHost } from "./lab-specs.js";

const CLI = new URL("../../src/cli/mac-postfix.ts", import.meta.url).pathname;
const mac = { name: "mac1", address: "127.0.0.1", port: 9, user: "admin", identityFile: "/k/id", knownHostsFile: "/k/known" };
const good = instanceStep(sshHost(mac), "postfix-in");

function cli(args: string[], spec?: unknown) {
  return execa("node", ["--import", "tsx", CLI, ...args], {
    reject: false,
    env: spec === undefined ? {} : { [STEP_ENV]: typeof spec === "string" ? spec : JSON.stringify(spec) },
    extendEnv: false,
  });
}

describe("step spec validation (the CLI's boundary)", () => {
  it("accepts a well-formed spec of every kind it is given", () => {
    assert.deepEqual(parseStepSpec(JSON.stringify(good)), good);
    const job = jobStep(sshHost(mac), "org.postfix.in", "<plist/>");
    assert.deepEqual(parseStepSpec(JSON.stringify(job)), job);
  });

  it("fills in macOS's default for every path the spec leaves out", () => {
    const { paths: _, ...host } = good.host;
    assert.deepEqual(parseStepSpec(JSON.stringify({ ...good, host })), good);
    const custom = { ...good, host: { ...host, paths: { sudo: "/opt/sudo" } } };
    assert.deepEqual(parseStepSpec(JSON.stringify(custom)).host.paths, { ...MAC_DEFAULT_PATHS, sudo: "/opt/sudo" });
  });

  const bad: [string, unknown, RegExp][] = [
    ["missing", undefined, /no step spec/],
    ["not JSON", "{", /not JSON/],
    ["unknown kind", { ...good, kind: "rm -rf" }, /unknown step kind "rm -rf"/],
    ["no construct", { ...good, construct: undefined }, /spec\.construct/],
    ["option-like host", { ...good, host: { ...good.host, connection: { transport: "ssh", host: "-oProxyCommand=touch /tmp/mac-postfix-canary" } } }, /host\.connection\.host/],
    ["relative path", { ...good, host: { ...good.host, paths: { ...MAC_DEFAULT_PATHS, launchctl: "launchctl" } } }, /host\.paths\.launchctl/],
    ["unknown path", { ...good, host: { ...good.host, paths: { launchd: "/sbin/launchd" } } }, /host\.paths\.launchd is not a path/],
    ["inherited name as a path", { ...good, host: { ...good.host, paths: { toString: "/bin/sh" } } }, /host\.paths\.toString is not a path/],
    ["instance name", { ...good, instance: { name: "in", configDirectory: "/etc/postfix-in" } }, /instance\.name/],
    ["dot-dot config dir", { ...good, instance: { name: "postfix-in", configDirectory: "/etc/../tmp" } }, /instance\.configDirectory/],
    ["onDestroy", { ...good, onDestroy: "yolo" }, /spec\.onDestroy/],
    ["setting with newline", { ...good, kind: "instance-config", enabled: true, settings: { a: "x\ny" } }, /settings\.a/],
    ["setting name", { ...good, kind: "instance-config", enabled: true, settings: { "a=b": "x" } }, /main\.cf parameter name/],
  ];
  for (const [what, spec, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parseStepSpec(spec === undefined ? undefined : typeof spec === "string" ? spec : JSON.stringify(spec)), message);
    });
  }
});

describe("mac-postfix step", () => {
  before(() => rmSync(CANARY, { force: true }));
  after(() => assert.equal(existsSync(CANARY), false));

  it("refuses an invalid spec with one clear line and exit 1, before reaching any Mac", async () => {
    const result = await cli(["step", "apply"], { ...good, host: { ...good.host, connection: { transport: "ssh", host: "-oProxyCommand=touch /tmp/mac-postfix-canary" } } });
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /^mac-postfix: invalid step spec in \$MAC_POSTFIX_STEP: host\.connection\.host must be/);
    assert.equal(result.stderr.trim().split("\n").length, 1);
  });

  it("refuses an unknown action", async () => {
    const result = await cli(["step", "frob"], good);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.stderr, /must be "apply" or "destroy"/);
  });

  it("refuses a fleet operation's --only that names no Mac", async () => {
    const result = await cli(["status", "--inventory", "/nonexistent.yaml", "--only", " , "]);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.stderr, /option '--only <names>' argument ' , ' is invalid\. must name at least one Mac/);
  });

  it("fails with the host named when the Mac cannot be reached", async () => {
    // Nothing listens on loopback port 9: the connection is refused and nothing leaves this machine.
    const result = await cli(["step", "apply"], good);
    assert.equal(result.exitCode, 1);
    const [headline, ...detail] = result.stderr.trimEnd().split("\n");
    // Said as what it is: the Mac could not be reached (not the lock the step first asked for).
    assert.match(headline!, /^\[mac1\] instance postfix-in \(test\/postfix-in\/instance\): apply failed: ssh to admin@127\.0\.0\.1:9 failed$/);
    assert.match(detail.join("\n"), /^  .*Connection refused/m);
  });
});
