// launchctl against the emulator in the system domain: outputs and exit codes of reference section 3.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import plist from "plist";
import { alive, Lab, NOBODY } from "./harness.js";
import { LAUNCHCTL_PATH } from "./install.js";

const EIO = "Bootstrap failed: 5: Input/output error\n";
const HINT = "Try re-running the command as root for richer errors.\n";

describe("launchctl, system domain", () => {
  let lab: Lab;
  const daemons = () => lab.path("Library/LaunchDaemons");
  const sleeper = (label: string, extra: plist.PlistObject = {}) =>
    lab.writePlist(`${daemons()}/${label}.plist`, { Label: label, ProgramArguments: ["/bin/sleep", "1000"], ...extra });

  before(async () => {
    lab = await Lab.create();
    await lab.start();
  });
  after(async () => {
    assert.equal(await lab.stop(), 0);
    await lab.dispose();
  });

  it("bootstrap loads silently; a second bootstrap of the same label fails with 5", () => {
    const file = sleeper("t.boot", { RunAtLoad: true });
    assert.deepEqual(lab.launchctl("bootstrap", "system", file), { stdout: "", stderr: "", code: 0 });
    assert.equal(lab.info("system/t.boot")?.state, "running");
    assert.deepEqual(lab.launchctl("bootstrap", "system", file), { stdout: "", stderr: EIO, code: 5 });
  });

  it("a relative service path names a file in the caller's working folder", () => {
    sleeper("t.relative", { RunAtLoad: true });
    const run = lab.run(LAUNCHCTL_PATH, ["bootstrap", "system", "t.relative.plist"], 0, daemons());
    assert.deepEqual([run.code, run.stderr], [0, ""]);
    assert.equal(lab.info("system/t.relative")?.path, `${daemons()}/t.relative.plist`);
    assert.equal(lab.launchctl("bootout", "system/t.relative").code, 0);
  });

  it("bootstrap refuses an invalid plist, a missing file, bad ownership (owner or group) or mode, and a disabled label", () => {
    const invalid = lab.path("Library/LaunchDaemons/t.invalid.plist");
    // The recipe's defect: keys without values.
    writeFileSync(invalid, `<?xml version="1.0"?><plist version="1.0"><dict><key>Label</key><string>t.invalid</string><key>RunAtLoad</key><key>KeepAlive</key></dict></plist>`);
    chmodSync(invalid, 0o644);
    const cases = [
      invalid,
      lab.path("Library/LaunchDaemons/t.missing.plist"),
      sleeper("t.nobody", { RunAtLoad: true }),
      sleeper("t.groupw"),
      sleeper("t.worldw"),
      lab.writePlist(lab.path("Library/LaunchDaemons/t.staff.plist"), { Label: "t.staff", Program: "/bin/sleep" }, { gid: 20 }),
    ];
    lab.writePlist(cases[2]!, { Label: "t.nobody", Program: "/bin/sleep" }, { uid: NOBODY });
    chmodSync(cases[3]!, 0o664);
    chmodSync(cases[4]!, 0o646);
    const disabled = sleeper("t.disabled");
    assert.equal(lab.launchctl("disable", "system/t.disabled").code, 0);
    for (const file of [...cases, disabled]) {
      assert.deepEqual(lab.launchctl("bootstrap", "system", file), { stdout: "", stderr: EIO, code: 5 }, file);
    }
    assert.equal(lab.info("system/t.nobody"), undefined);
    assert.match(lab.log(), /t\.nobody\.plist refused: Path had bad ownership\/permissions/);
    assert.match(lab.log(), /t\.staff\.plist refused: Path had bad ownership\/permissions/);
    assert.match(lab.log(), /t\.invalid\.plist refused: invalid property list/);
    assert.match(lab.log(), /refused: service is disabled: t\.disabled/);
  });

  it("only root changes the system domain", () => {
    const file = sleeper("t.root");
    assert.deepEqual(lab.launchctlAs(NOBODY, "bootstrap", "system", file), { stdout: "", stderr: EIO + HINT, code: 5 });
    assert.equal(lab.info("system/t.root"), undefined);
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 0);
    assert.deepEqual(lab.launchctlAs(NOBODY, "bootout", "system/t.root"), {
      stdout: "", stderr: "Boot-out failed: 1: Operation not permitted\n" + HINT, code: 1,
    });
    assert.deepEqual(lab.launchctlAs(NOBODY, "disable", "system/t.root"), {
      stdout: "", stderr: "Disable failed: 1: Operation not permitted\n" + HINT, code: 1,
    });
    assert.deepEqual(lab.launchctlAs(NOBODY, "kickstart", "system/t.root"), {
      stdout: "", stderr: `Could not kickstart service "t.root": 1: Operation not permitted\n` + HINT, code: 1,
    });
    assert.equal(lab.info("system/t.root")?.state, "not running");
    // Reading is allowed to everyone.
    assert.equal(lab.launchctlAs(NOBODY, "print", "system/t.root").code, 0);
  });

  it("bootout by label and by path fail with 3 and 5 when nothing is loaded", () => {
    assert.deepEqual(lab.launchctl("bootout", "system/t.never"), { stdout: "", stderr: "Boot-out failed: 3: No such process\n", code: 3 });
    const file = sleeper("t.never");
    assert.deepEqual(lab.launchctl("bootout", "system", file), { stdout: "", stderr: "Boot-out failed: 5: Input/output error\n", code: 5 });
  });

  it("bootout is asynchronous: the job drains (SIGKILL after ExitTimeOut) while print still finds it", async () => {
    const file = lab.writePlist(`${daemons()}/t.drain.plist`, {
      Label: "t.drain",
      ProgramArguments: ["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 1000"],
      RunAtLoad: true,
      ExitTimeOut: 2,
    });
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 0);
    await lab.waitFor("t.drain running", () => lab.pid("system/t.drain") !== undefined);
    const pid = lab.pid("system/t.drain")!;
    assert.deepEqual(lab.launchctl("bootout", "system", file), { stdout: "", stderr: "", code: 0 });
    assert.equal(lab.info("system/t.drain")?.state, "running", "still draining right after bootout");
    assert.deepEqual(lab.launchctl("bootstrap", "system", file), { stdout: "", stderr: "Bootstrap failed: 37: Operation already in progress\n", code: 37 });
    assert.deepEqual(lab.launchctl("bootout", "system/t.drain"), { stdout: "", stderr: "Boot-out failed: 37: Operation already in progress\n", code: 37 });
    await lab.waitFor("t.drain gone", () => lab.info("system/t.drain") === undefined);
    assert.equal(alive(pid), false);
    assert.match(lab.log(), new RegExp(`t\\.drain: ${pid} exited on SIGKILL`));
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 0, "loads again once drained");
    assert.equal(lab.launchctl("bootout", "system/t.drain").code, 0);
  });

  it("print shows state, pid, runs, last exit code, path and argv; unknown is 113", async () => {
    const file = sleeper("t.print", { RunAtLoad: true });
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 0);
    await lab.waitFor("t.print running", () => lab.pid("system/t.print") !== undefined);
    const out = lab.launchctl("print", "system/t.print").stdout;
    assert.match(out, /^system\/t\.print = \{\n/);
    assert.match(out, /\n\tstate = running\n/);
    assert.match(out, /\n\tpid = \d+\n/);
    assert.match(out, /\n\truns = 1\n/);
    assert.match(out, /\n\tlast exit code = \(never exited\)\n/);
    assert.match(out, new RegExp(`\\n\\tpath = ${file.replace(/[.]/g, "\\.")}\\n`));
    assert.match(out, /\n\tprogram = \/bin\/sleep\n\targuments = \{\n\t\t\/bin\/sleep\n\t\t1000\n\t\}\n/);
    assert.deepEqual(lab.launchctl("print", "system/t.nothing"), {
      stdout: "", stderr: 'Could not find service "t.nothing" in domain for system\n', code: 113,
    });
  });

  it("print system lists services, so the recipe's `print system | grep` works", () => {
    const out = lab.launchctl("print", "system");
    assert.equal(out.code, 0);
    assert.match(out.stdout, /^system = \{\n/);
    assert.match(out.stdout, /\tservices = \{\n(.*\n)*\t\t +\d+ +- \tt\.print\n/);
  });

  it("enable and disable write the override database and print-disabled shows it (macOS 13+ format)", () => {
    assert.equal(lab.launchctl("enable", "system/t.print").code, 0);
    assert.equal(lab.launchctl("disable", "system/t.other").code, 0);
    const out = lab.launchctl("print-disabled", "system");
    assert.equal(out.code, 0);
    assert.match(out.stdout, /^disabled services = \{\n/);
    assert.match(out.stdout, /\n\t"t\.print" => enabled\n/);
    assert.match(out.stdout, /\n\t"t\.other" => disabled\n/);
    const db = plist.parse(lab.read(lab.path("var/db/com.apple.xpc.launchd/disabled.plist"))) as Record<string, boolean>;
    assert.equal(db["t.print"], false);
    assert.equal(db["t.other"], true);
  });

  it("disable does not stop a running job, but kickstart of a disabled job fails with 119", () => {
    const pid = lab.pid("system/t.print");
    assert.equal(lab.launchctl("disable", "system/t.print").code, 0);
    assert.equal(lab.pid("system/t.print"), pid);
    assert.deepEqual(lab.launchctl("kickstart", "system/t.print"), {
      stdout: "", stderr: 'Could not kickstart service "t.print": 119: Service is disabled\n', code: 119,
    });
    assert.equal(lab.launchctl("enable", "system/t.print").code, 0);
  });

  it("kickstart starts, -p prints the pid, -k kills and restarts; unknown is 113", async () => {
    const file = sleeper("t.kick");
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 0);
    assert.equal(lab.info("system/t.kick")?.state, "not running");
    const first = lab.launchctl("kickstart", "-p", "system/t.kick");
    assert.equal(first.code, 0);
    const pid = Number(first.stdout.trim());
    assert.equal(lab.pid("system/t.kick"), pid);
    assert.equal(lab.launchctl("kickstart", "system/t.kick").stdout, "", "already running: nothing to do");
    assert.equal(lab.pid("system/t.kick"), pid);
    const second = lab.launchctl("kickstart", "-k", "-p", "system/t.kick");
    assert.equal(second.code, 0);
    const newPid = Number(second.stdout.trim());
    assert.notEqual(newPid, pid);
    assert.equal(alive(pid), false);
    assert.equal(lab.info("system/t.kick")?.runs, "2");
    assert.deepEqual(lab.launchctl("kickstart", "system/t.nope"), {
      stdout: "", stderr: 'Could not find service "t.nope" in domain for system\n', code: 113,
    });
  });

  it("kill sends a signal; unknown service is 113, a job that is not running is 3", async () => {
    assert.equal(lab.launchctl("kill", "TERM", "system/t.kick").code, 0);
    await lab.waitFor("t.kick ends", () => lab.info("system/t.kick")?.state === "not running");
    assert.equal(lab.info("system/t.kick")?.["last terminating signal"], "Terminated: 15");
    assert.deepEqual(lab.launchctl("kill", "SIGTERM", "system/t.kick"), { stdout: "", stderr: "Could not signal service: 3: No such process\n", code: 3 });
    assert.equal(lab.launchctl("kill", "9", "system/t.nope").code, 113);
  });

  it("a bad target is `Unrecognized target specifier.`, exit 64", () => {
    for (const args of [["print", "sytem/x"], ["bootout", "system"], ["kickstart", "gui/abc/x"], ["enable", "x"]]) {
      assert.deepEqual(lab.launchctl(...args), { stdout: "", stderr: "Unrecognized target specifier.\n", code: 64 }, args.join(" "));
    }
  });

  it("legacy load -w / unload -w override the disabled state and exit 0 even when they fail", async () => {
    const file = sleeper("t.legacy", { RunAtLoad: true });
    assert.equal(lab.launchctl("disable", "system/t.legacy").code, 0);
    assert.deepEqual(lab.launchctl("load", file), { stdout: "", stderr: "Load failed: 5: Input/output error\n", code: 0 });
    assert.deepEqual(lab.launchctl("load", "-w", file), { stdout: "", stderr: "", code: 0 });
    assert.match(lab.launchctl("print-disabled", "system").stdout, /"t\.legacy" => enabled/);
    await lab.waitFor("t.legacy running", () => lab.pid("system/t.legacy") !== undefined);
    assert.deepEqual(lab.launchctl("load", file), { stdout: "", stderr: "Load failed: 5: Input/output error\n", code: 0 });
    const pid = lab.pid("system/t.legacy")!;
    assert.deepEqual(lab.launchctl("unload", "-w", file), { stdout: "", stderr: "", code: 0 });
    assert.equal(lab.info("system/t.legacy"), undefined, "legacy unload waits for the job to go");
    assert.equal(alive(pid), false);
    assert.match(lab.launchctl("print-disabled", "system").stdout, /"t\.legacy" => disabled/);
    assert.deepEqual(lab.launchctl("unload", file), { stdout: "", stderr: "Unload failed: 5: Input/output error\n", code: 0 });
    // A user's legacy load goes to their gui domain, which does not exist while they are not logged in.
    assert.deepEqual(lab.launchctlAs(NOBODY, "load", file), {
      stdout: "", stderr: "Load failed: 125: Domain does not support specified action\nTry running `launchctl bootstrap` as root for richer errors.\n", code: 0,
    });
  });

  it("legacy list, list LABEL (113 when unknown), start and stop", async () => {
    const file = sleeper("t.list", { KeepAlive: true, ThrottleInterval: 1 });
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 0);
    await lab.waitFor("t.list running", () => lab.pid("system/t.list") !== undefined);
    const pid = lab.pid("system/t.list")!;
    const all = lab.launchctl("list");
    assert.equal(all.code, 0);
    assert.match(all.stdout, /^PID\tStatus\tLabel\n/);
    assert.match(all.stdout, new RegExp(`\\n${pid}\\t0\\tt\\.list\\n`));
    const one = lab.launchctl("list", "t.list");
    assert.equal(one.code, 0);
    assert.match(one.stdout, new RegExp(`\\n\\t"PID" = ${pid};\\n`));
    assert.match(one.stdout, /\n\t"Label" = "t\.list";\n/);
    assert.deepEqual(lab.launchctl("list", "t.unknown"), { stdout: "", stderr: 'Could not find service "t.unknown" in domain for port\n', code: 113 });
    // stop sends SIGTERM; KeepAlive brings the job back.
    assert.deepEqual(lab.launchctl("stop", "t.list"), { stdout: "", stderr: "", code: 0 });
    await lab.waitFor("t.list back with a new pid", () => (lab.pid("system/t.list") ?? pid) !== pid);
    assert.equal(alive(pid), false);
    assert.match(lab.launchctl("list").stdout, /\n\d+\t-15\tt\.list\n/);
    assert.deepEqual(lab.launchctl("stop", "t.unknown"), { stdout: "", stderr: "", code: 0 });
    assert.deepEqual(lab.launchctl("start", "t.unknown"), { stdout: "", stderr: "", code: 0 });
    assert.equal(lab.launchctl("bootout", "system/t.list").code, 0);
    const kick = sleeper("t.start");
    assert.equal(lab.launchctl("bootstrap", "system", kick).code, 0);
    assert.deepEqual(lab.launchctl("start", "t.start"), { stdout: "", stderr: "", code: 0 });
    assert.equal(lab.info("system/t.start")?.state, "running");
  });
});
