// defaults, sw_vers and the installer's wrappers, run from the bundles installMacUserland produces.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import plist from "plist";
import { Lab } from "../launchd/harness.js";
import { LAUNCHD_BUNDLE, LAUNCHD_COMMAND } from "../launchd/install.js";
import { preferencesFile } from "./preferences.js";

describe("macOS userland", () => {
  let lab: Lab;
  const domain = "com.example.maclab-test";
  const file = preferencesFile(0, domain);
  const varRootExisted = existsSync("/var/root");
  const defaults = (...args: string[]) => lab.run("defaults.mjs", args);
  const swVers = (...args: string[]) => lab.run("sw_vers.mjs", args);

  before(async () => {
    if (existsSync(file)) throw new Error(`${file} already exists; refusing to touch it`);
    lab = await Lab.create();
  });
  after(async () => {
    await lab.dispose();
    rmSync(file, { force: true });
    if (!varRootExisted) rmSync("/var/root", { recursive: true, force: true });
  });

  it("defaults write stores an XML plist in root's ~/Library/Preferences (/var/root) and read returns it", () => {
    assert.equal(file, `/var/root/Library/Preferences/${domain}.plist`);
    assert.deepEqual(defaults("write", domain, "LogoutHook", "/usr/local/bin/logout hook.sh"), { stdout: "", stderr: "", code: 0 });
    assert.deepEqual(defaults("write", domain, "Other", "x"), { stdout: "", stderr: "", code: 0 });
    assert.deepEqual(plist.parse(readFileSync(file, "utf8")), { LogoutHook: "/usr/local/bin/logout hook.sh", Other: "x" });
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.deepEqual(defaults("read", domain, "LogoutHook"), { stdout: "/usr/local/bin/logout hook.sh\n", stderr: "", code: 0 });
    assert.deepEqual(defaults("read", domain), { stdout: '{\n    LogoutHook = "/usr/local/bin/logout hook.sh";\n    Other = x;\n}\n', stderr: "", code: 0 });
  });

  it("defaults read and delete of a missing key fail with the macOS message, exit 1", () => {
    const missing = { stdout: "", stderr: `\nThe domain/default pair of (${domain}, Nope) does not exist\n`, code: 1 };
    assert.deepEqual(defaults("read", domain, "Nope"), missing);
    assert.deepEqual(defaults("delete", domain, "Nope"), missing);
  });

  it("defaults delete removes a key, then the whole domain", () => {
    assert.deepEqual(defaults("delete", domain, "Other"), { stdout: "", stderr: "", code: 0 });
    assert.deepEqual(plist.parse(readFileSync(file, "utf8")), { LogoutHook: "/usr/local/bin/logout hook.sh" });
    assert.deepEqual(defaults("delete", domain), { stdout: "", stderr: "", code: 0 });
    assert.equal(existsSync(file), false);
    assert.deepEqual(defaults("read", domain), { stdout: "", stderr: `\nDomain ${domain} does not exist\n`, code: 1 });
    assert.deepEqual(defaults("delete", domain), { stdout: "", stderr: `\nDomain (${domain}) not found.\nDefaults have not been changed.\n`, code: 1 });
  });

  it("sw_vers answers like macOS 14", () => {
    const all = swVers();
    assert.equal(all.code, 0);
    assert.match(all.stdout, /^ProductName:\t\tmacOS\nProductVersion:\t\t14\.\d+(\.\d+)?\nBuildVersion:\t\t23[A-Z]\d+[a-z]?\n$/);
    assert.match(swVers("-productVersion").stdout, /^14\.\d+(\.\d+)?\n$/);
    assert.equal(swVers("--productName").stdout, "macOS\n");
    assert.match(swVers("-buildVersion").stdout, /^23[A-Z]\d+[a-z]?\n$/);
    assert.equal(swVers("-bogus").code, 1);
  });

  it("installMacUserland writes executable wrappers that exec this node on the bundles, and the perl launchctl", () => {
    assert.equal(readFileSync(lab.path("usr/bin/launchctl"), "utf8").split("\n")[0], "#!/usr/bin/perl");
    assert.equal(statSync(lab.path("usr/bin/launchctl")).mode & 0o777, 0o755);
    const wrappers = { "usr/bin/defaults": "defaults", "usr/bin/sw_vers": "sw_vers", "usr/local/libexec/maclab/loginwindow": "loginwindow" };
    for (const [path, bundle] of Object.entries(wrappers)) {
      assert.equal(readFileSync(lab.path(path), "utf8"), `#!/bin/sh\nexec ${process.execPath} /usr/local/libexec/maclab/${bundle}.mjs "$@"\n`);
      assert.equal(statSync(lab.path(path)).mode & 0o777, 0o755);
      assert.equal(existsSync(lab.path(`usr/local/libexec/maclab/${bundle}.mjs`)), true);
    }
    assert.equal(existsSync(lab.path(LAUNCHD_BUNDLE)), true);
    assert.deepEqual(LAUNCHD_COMMAND.at(-1), LAUNCHD_BUNDLE);
    assert.equal(LAUNCHD_COMMAND[0], process.execPath);
  });
});
