import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { masterArgs, sessionArgs, sshOptions, SshTransport, validateSshTarget } from "../../src/transport/ssh.js";
import { transportFor } from "../../src/transport/index.js";
import { MAC_DEFAULT_PATHS } from "../../src/spec.js";

const optionValues = (args: string[]) => args.flatMap((a, i) => (args[i - 1] === "-o" ? [a] : []));

describe("ssh argv", () => {
  it("verifies host keys by default, in batch mode, with keepalives and a connect timeout", () => {
    const o = optionValues(sshOptions({ host: "mac1.lab" }));
    assert.ok(o.includes("BatchMode=yes"));
    assert.ok(o.includes("StrictHostKeyChecking=yes"));
    assert.ok(!o.some((v) => v.startsWith("UserKnownHostsFile")));
    assert.ok(o.some((v) => /^ConnectTimeout=\d+$/.test(v)));
    assert.ok(o.some((v) => /^ServerAliveInterval=\d+$/.test(v)));
    assert.ok(o.some((v) => /^ServerAliveCountMax=\d+$/.test(v)));
  });

  it("carries user, port, key, known_hosts and jump host as separate elements", () => {
    const args = sshOptions({ host: "h", user: "admin", port: 2222, identityFile: "/k/id", knownHostsFile: "/k/known", proxyJump: "bastion" });
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(after("-l"), "admin");
    assert.equal(after("-p"), "2222");
    assert.equal(after("-i"), "/k/id");
    assert.equal(after("-J"), "bastion");
    assert.ok(optionValues(args).includes("IdentitiesOnly=yes"));
    assert.ok(optionValues(args).includes("UserKnownHostsFile=/k/known"));
  });

  it("turns host-key checking off only for insecureIgnoreHostKey", () => {
    const o = optionValues(sshOptions({ host: "h", insecureIgnoreHostKey: true }));
    assert.ok(o.includes("StrictHostKeyChecking=no"));
    assert.ok(!o.includes("StrictHostKeyChecking=yes"));
  });

  it("puts -- before the host and the quoted command last; one master, multiplexed sessions", () => {
    const master = masterArgs({ host: "h" }, "/tmp/x/master");
    assert.deepEqual(master.slice(0, 3), ["-M", "-N", "-f"]);
    assert.deepEqual(master.slice(-2), ["--", "h"]);
    assert.ok(optionValues(master).includes("ControlPath=/tmp/x/master"));
    const session = sessionArgs({ host: "h" }, "/tmp/x/master", ["postmulti", "-l"], true);
    assert.deepEqual(session.slice(-3), ["--", "h", "'postmulti' '-l'"]);
    assert.ok(session.includes("-tt"));
    assert.ok(optionValues(session).includes("ControlMaster=no"));
    assert.ok(sessionArgs({ host: "h" }, "/c", ["true"], false).includes("-T"));
  });

  it("refuses option-like and malformed hosts, users and jump hosts (defence in depth)", () => {
    for (const host of ["-oProxyCommand=touch /tmp/x", "-p", "", "a b", "a\nb"]) {
      assert.throws(() => validateSshTarget({ host }), /invalid ssh host/);
      assert.throws(() => new SshTransport({ host }, "auto"), /invalid ssh host/);
      assert.throws(
        () => transportFor({ name: "m", sudo: "auto", paths: MAC_DEFAULT_PATHS, connection: { transport: "ssh", host } }),
        /invalid ssh host/,
      );
    }
    assert.throws(() => validateSshTarget({ host: "h", user: "-oX" }), /invalid ssh user/);
    assert.throws(() => validateSshTarget({ host: "h", proxyJump: "-oProxyCommand=x" }), /invalid ssh proxyJump/);
    assert.throws(() => validateSshTarget({ host: "h", port: 0 }), /invalid ssh port/);
    assert.throws(() => validateSshTarget({ host: "h", identityFile: "-i" }), /invalid ssh identityFile/);
  });
});
