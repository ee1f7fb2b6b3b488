// Boot and shutdown: what launchd loads at start, what survives a reboot, and that a shutdown leaves nothing behind.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { alive, Lab, NOBODY } from "./harness.js";

describe("launchd boot and shutdown", () => {
  let lab: Lab;
  const ld = (name: string) => lab.path("Library/LaunchDaemons", `${name}.plist`);
  const sleeper = { ProgramArguments: ["/bin/sleep", "1000"], RunAtLoad: true };

  before(async () => {
    lab = await Lab.create();
  });
  after(async () => {
    await lab.dispose();
  });

  it("loads both daemon folders at boot, skipping bad owner or mode, invalid plists and disabled labels", async () => {
    const queue = lab.path("spool/maildrop");
    mkdirSync(queue, { recursive: true });
    // Shaped like Apple's com.apple.postfix.master: on demand through QueueDirectories, no RunAtLoad.
    lab.writePlist(lab.path("System/Library/LaunchDaemons/t.sys.master.plist"), {
      Label: "t.sys.master", Program: "/bin/sh", ProgramArguments: ["master", "-c", `rm -f ${queue}/*`], QueueDirectories: [queue], AbandonProcessGroup: true,
    });
    lab.writePlist(ld("t.good"), { Label: "t.good", ...sleeper });
    lab.writePlist(ld("t.ondemand"), { Label: "t.ondemand", ProgramArguments: ["/bin/sleep", "1000"] });
    lab.writePlist(ld("t.owner"), { Label: "t.owner", ...sleeper }, { uid: NOBODY });
    lab.writePlist(ld("t.groupw"), { Label: "t.groupw", ...sleeper }, { mode: 0o664 });
    lab.writePlist(ld("t.disabled"), { Label: "t.disabled", ...sleeper });
    // The recipe's defect: keys without values, in the middle and at the end of the dictionary.
    writeFileSync(ld("t.invalid"), "<plist><dict><key>Label</key><string>t.invalid</string><key>Program</key><string>/bin/true</string><key>RunAtLoad</key><key>KeepAlive</key></dict></plist>");
    writeFileSync(ld("t.dangling"), "<plist><dict><key>Label</key><string>t.dangling</string><key>Program</key><string>/bin/true</string><key>RunAtLoad</key></dict></plist>");
    chmodSync(ld("t.invalid"), 0o644);
    chmodSync(ld("t.dangling"), 0o644);
    mkdirSync(lab.path("var/db/com.apple.xpc.launchd"), { recursive: true });
    writeFileSync(lab.path("var/db/com.apple.xpc.launchd/disabled.plist"), `<?xml version="1.0"?><plist version="1.0"><dict><key>t.disabled</key><true/></dict></plist>`);
    await lab.start();
    assert.equal(lab.info("system/t.good")?.state, "running");
    assert.equal(lab.info("system/t.ondemand")?.state, "not running");
    assert.equal(lab.info("system/t.sys.master")?.state, "not running");
    for (const label of ["t.owner", "t.groupw", "t.disabled", "t.invalid", "t.dangling"]) assert.equal(lab.info(`system/${label}`), undefined, label);
    const log = lab.log();
    assert.match(log, /skipped .*t\.owner\.plist: Path had bad ownership\/permissions/);
    assert.match(log, /skipped .*t\.groupw\.plist: Path had bad ownership\/permissions/);
    assert.match(log, /skipped .*t\.invalid\.plist: invalid property list/);
    assert.match(log, /skipped .*t\.dangling\.plist: the value of key RunAtLoad has the wrong type/);
    assert.match(log, /skipped .*t\.disabled\.plist: service is disabled: t\.disabled/);
    writeFileSync(`${queue}/msg`, "x");
    await lab.waitFor("the queue job to run", () => lab.info("system/t.sys.master")?.runs === "1" && lab.info("system/t.sys.master")?.state === "not running");
    assert.equal(lab.info("system/t.sys.master")?.["last exit code"], "0");
  });

  it("a shutdown (SIGTERM) stops every job, SIGKILL after ExitTimeOut, and exits 0", async () => {
    lab.writePlist(ld("t.stubborn"), { Label: "t.stubborn", ProgramArguments: ["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 1000"], ExitTimeOut: 1 });
    assert.equal(lab.launchctl("bootstrap", "system", ld("t.stubborn")).code, 0);
    assert.equal(lab.launchctl("kickstart", "system/t.stubborn").code, 0);
    const pids = [lab.pid("system/t.good")!, lab.pid("system/t.stubborn")!];
    assert.equal(pids.every(alive), true);
    assert.equal(await lab.stop(), 0);
    assert.deepEqual(pids.map(alive), [false, false]);
    assert.match(lab.log(), /t\.stubborn: \d+ exited on SIGKILL/);
  });

  it("after a reboot a bootstrapped, enabled RunAtLoad job runs again and a disabled one does not", async () => {
    await lab.start();
    lab.writePlist(ld("t.enabled"), { Label: "t.enabled", ...sleeper });
    lab.writePlist(ld("t.off"), { Label: "t.off", ...sleeper });
    for (const label of ["t.enabled", "t.off"]) {
      assert.equal(lab.launchctl("bootstrap", "system", ld(label)).code, 0);
      assert.equal(lab.launchctl("enable", `system/${label}`).code, 0);
    }
    assert.equal(lab.launchctl("disable", "system/t.off").code, 0);
    assert.equal(lab.info("system/t.off")?.state, "running", "disable does not stop it now");
    const before = lab.pid("system/t.enabled")!;
    assert.equal(await lab.stop(), 0);
    assert.equal(alive(before), false);
    await lab.start();
    const after = lab.pid("system/t.enabled");
    assert.notEqual(after, undefined);
    assert.notEqual(after, before);
    assert.equal(lab.info("system/t.off"), undefined);
    assert.match(lab.launchctl("print-disabled", "system").stdout, /\t"t\.off" => disabled\n/);
    assert.equal(await lab.stop(), 0);
  });
});
