// Job semantics of launchd.plist(5), observed through real processes the emulator runs.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import plist from "plist";
import { alive, Lab, NOBODY } from "./harness.js";

describe("launchd job semantics", () => {
  let lab: Lab;
  const load = (label: string, dict: plist.PlistObject) => {
    const file = lab.writePlist(lab.path(`Library/LaunchDaemons/${label}.plist`), { Label: label, ...dict });
    const r = lab.launchctl("bootstrap", "system", file);
    assert.equal(r.code, 0, r.stderr);
    return `system/${label}`;
  };
  const runs = (target: string) => Number(lab.info(target)?.runs ?? -1);
  const out = (name: string) => lab.path("out", name);

  before(async () => {
    lab = await Lab.create();
    mkdirSync(lab.path("out"), { mode: 0o777 });
    chmodSync(lab.path("out"), 0o777);
    await lab.start();
  });
  after(async () => {
    assert.equal(await lab.stop(), 0);
    await lab.dispose();
  });

  it("ProgramArguments is the whole argv; with Program, Program is the executable and argv[0] comes from ProgramArguments", async () => {
    const dumpArgv = (file: string) => `tr '\\0' '\\n' < /proc/$$/cmdline > ${file}`;
    load("t.argv.both", { Program: "/bin/sh", ProgramArguments: ["postmulti", "-c", dumpArgv(out("both"))], RunAtLoad: true });
    load("t.argv.args", { ProgramArguments: ["/bin/sh", "-c", dumpArgv(out("args"))], RunAtLoad: true });
    const script = lab.script("argc.sh", `echo "$#" > ${out("program")}`);
    load("t.argv.program", { Program: script, RunAtLoad: true });
    await lab.waitFor("argv files", () => ["both", "args", "program"].every((f) => lab.read(out(f)) !== ""));
    assert.deepEqual(lab.read(out("both")).split("\n"), ["postmulti", "-c", dumpArgv(out("both")), ""]);
    assert.deepEqual(lab.read(out("args")).split("\n"), ["/bin/sh", "-c", dumpArgv(out("args")), ""]);
    assert.equal(lab.read(out("program")), "0\n", "Program alone: no arguments beyond argv[0]");
  });

  it("a KeepAlive job killed with SIGKILL comes back with a new pid", async () => {
    const t = load("t.keepalive", { ProgramArguments: ["/bin/sleep", "1000"], KeepAlive: true, ThrottleInterval: 1 });
    await lab.waitFor("running", () => lab.pid(t) !== undefined);
    const pid = lab.pid(t)!;
    assert.equal(lab.launchctl("kill", "SIGKILL", t).code, 0);
    await lab.waitFor("a new pid", () => (lab.pid(t) ?? pid) !== pid);
    assert.equal(alive(pid), false);
    assert.equal(runs(t), 2);
    assert.equal(lab.info(t)?.["last terminating signal"], "Killed: 9");
  });

  it("between throttled launches the job is `spawn scheduled`; ThrottleInterval defaults to 10 s", async () => {
    const t = load("t.throttle", { ProgramArguments: ["/bin/sh", "-c", "exit 0"], KeepAlive: true, ThrottleInterval: 3 });
    await lab.waitFor("spawn scheduled", () => lab.info(t)?.state === "spawn scheduled");
    await lab.waitFor("relaunched", () => runs(t) >= 2);
    assert.equal(lab.launchctl("bootout", t).code, 0);
    const d = load("t.default", { ProgramArguments: ["/bin/true"] });
    assert.equal(lab.info(d)?.["minimum runtime"], "10");
    assert.equal(lab.info(d)?.["exit timeout"], "20");
  });

  it("KeepAlive SuccessfulExit and Crashed restart only on the matching exit", async () => {
    const job = (label: string, body: string, keepAlive: plist.PlistObject, runAtLoad = true) =>
      load(label, { ProgramArguments: ["/bin/sh", "-c", `ulimit -c 0; ${body}`], KeepAlive: keepAlive, ThrottleInterval: 1, ...(runAtLoad ? { RunAtLoad: true } : {}) });
    // SuccessfulExit implies RunAtLoad (launchd.plist(5)), so those two have no RunAtLoad key.
    const restarted = [
      job("t.ka.fail", "exit 1", { SuccessfulExit: false }, false),
      job("t.ka.success", "exit 0", { SuccessfulExit: true }, false),
      job("t.ka.crash", "kill -SEGV $$", { Crashed: true }),
      job("t.ka.nocrash", "exit 3", { Crashed: false }),
    ];
    const kept = [
      job("t.ka.fail.ok", "exit 0", { SuccessfulExit: false }, false),
      job("t.ka.crash.exit", "exit 1", { Crashed: true }),
      job("t.ka.nocrash.crash", "kill -SEGV $$", { Crashed: false }),
    ];
    await lab.waitFor("three runs of each restarted job", () => restarted.every((t) => runs(t) >= 3));
    // Each of these had the same two throttle intervals to come back and did not.
    for (const t of kept) {
      assert.equal(runs(t), 1, t);
      assert.equal(lab.info(t)?.state, "not running", t);
    }
    assert.equal(lab.info("system/t.ka.fail")?.["last exit code"], "1");
    assert.equal(lab.info("system/t.ka.crash")?.["last terminating signal"], "Segmentation fault: 11");
    for (const t of [...restarted, ...kept]) assert.equal(lab.launchctl("bootout", t).code, 0);
  });

  it("ExitTimeOut: a job that ignores SIGTERM gets SIGKILL", async () => {
    const t = load("t.stubborn", { ProgramArguments: ["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 1000"], RunAtLoad: true, ExitTimeOut: 1 });
    await lab.waitFor("running", () => lab.pid(t) !== undefined);
    const pid = lab.pid(t)!;
    const r = lab.launchctl("kickstart", "-k", t);
    assert.equal(r.code, 0);
    assert.equal(alive(pid), false);
    assert.equal(lab.info(t)?.["last terminating signal"], "Killed: 9");
    assert.equal(lab.launchctl("bootout", t).code, 0);
  });

  it("ExitTimeOut 0 means never SIGKILL: the job drains until it exits by itself", async () => {
    const stubborn = ["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 1000"];
    const forever = load("t.forever", { ProgramArguments: stubborn, RunAtLoad: true, ExitTimeOut: 0 });
    const control = load("t.control", { ProgramArguments: stubborn, RunAtLoad: true, ExitTimeOut: 1 });
    await lab.waitFor("both running", () => lab.pid(forever) !== undefined && lab.pid(control) !== undefined);
    assert.equal(lab.launchctl("bootout", forever).code, 0);
    assert.equal(lab.launchctl("bootout", control).code, 0);
    await lab.waitFor("the control job killed and gone", () => lab.info(control) === undefined);
    assert.equal(lab.info(forever)?.state, "running", "still draining");
    assert.equal(lab.launchctl("kill", "KILL", forever).code, 0);
    await lab.waitFor("t.forever gone", () => lab.info(forever) === undefined);
  });

  it("the job's process group is killed when it exits, unless AbandonProcessGroup", async () => {
    const body = (file: string) => `/bin/sleep 1000 & echo $! > ${file}.tmp; mv ${file}.tmp ${file}; exit 0`;
    load("t.pg.kill", { ProgramArguments: ["/bin/sh", "-c", body(out("pg.kill"))], RunAtLoad: true });
    load("t.pg.keep", { ProgramArguments: ["/bin/sh", "-c", body(out("pg.keep"))], RunAtLoad: true, AbandonProcessGroup: true });
    await lab.waitFor("both exited", () => ["t.pg.kill", "t.pg.keep"].every((l) => lab.info(`system/${l}`)?.["last exit code"] === "0"));
    const killed = Number(lab.read(out("pg.kill")));
    const kept = Number(lab.read(out("pg.keep")));
    await lab.waitFor("the group member to be killed", () => !alive(killed));
    assert.equal(alive(kept), true, "abandoned process group survives");
    process.kill(kept, "SIGKILL");
  });

  it("jobs run in their own session and process group", async () => {
    load("t.session", { ProgramArguments: ["/bin/sh", "-c", `ps -o pid=,pgid=,sid= -p $$ > ${out("session")}`], RunAtLoad: true });
    await lab.waitFor("session file", () => lab.read(out("session")) !== "");
    const [pid, pgid, sid] = lab.read(out("session")).trim().split(/\s+/);
    assert.equal(pgid, pid);
    assert.equal(sid, pid);
  });

  it("UserName, GroupName, WorkingDirectory, EnvironmentVariables, Umask", async () => {
    mkdirSync(lab.path("wd"), { recursive: true });
    load("t.identity", {
      ProgramArguments: ["/bin/sh", "-c", `{ id -u; id -g; pwd; echo "$FOO"; echo "$USER"; umask; echo "$PATH"; } > ${out("identity")}`],
      RunAtLoad: true,
      UserName: "nobody",
      GroupName: "nogroup",
      WorkingDirectory: lab.path("wd"),
      EnvironmentVariables: { FOO: "bar baz" },
      Umask: 23,
    });
    await lab.waitFor("identity file", () => lab.read(out("identity")).split("\n").length > 7);
    assert.deepEqual(lab.read(out("identity")).split("\n"), [
      String(NOBODY), String(NOBODY), lab.path("wd"), "bar baz", "nobody", "0027", "/usr/bin:/bin:/usr/sbin:/sbin", "",
    ]);
  });

  it("StandardOutPath and StandardErrorPath are appended to", async () => {
    writeFileSync(out("stdout"), "before\n");
    load("t.stdio", {
      ProgramArguments: ["/bin/sh", "-c", "echo to-out; echo to-err >&2; echo done > " + out("stdio.done")],
      RunAtLoad: true,
      StandardOutPath: out("stdout"),
      StandardErrorPath: out("stderr"),
    });
    await lab.waitFor("job done", () => lab.read(out("stdio.done")) !== "" && lab.info("system/t.stdio")?.state === "not running");
    assert.equal(readFileSync(out("stdout"), "utf8"), "before\nto-out\n");
    assert.equal(readFileSync(out("stderr"), "utf8"), "to-err\n");
  });

  it("QueueDirectories: the job starts when a listed folder is non-empty", async () => {
    const queue = lab.path("queue");
    mkdirSync(queue);
    const t = load("t.queue", { ProgramArguments: ["/bin/sh", "-c", `for f in ${queue}/*; do cat "$f" >> ${out("queue")}; rm "$f"; done`], QueueDirectories: [queue], ThrottleInterval: 1 });
    assert.equal(runs(t), 0, "an empty queue starts nothing");
    assert.equal(lab.info(t)?.state, "not running");
    writeFileSync(`${queue}/m1`, "message 1\n");
    await lab.waitFor("queue drained", () => lab.read(out("queue")) === "message 1\n" && lab.info(t)?.state === "not running");
    assert.equal(runs(t), 1);
    writeFileSync(`${queue}/m2`, "message 2\n");
    await lab.waitFor("second message", () => lab.read(out("queue")) === "message 1\nmessage 2\n");
    assert.equal(runs(t), 2);
  });

  it("KeepAlive PathState starts the job when the path appears and keeps it alive only while it exists", async () => {
    const flag = lab.path("flags/up");
    mkdirSync(lab.path("flags"));
    const t = load("t.pathstate", { ProgramArguments: ["/bin/sleep", "1000"], KeepAlive: { PathState: { [flag]: true } }, ThrottleInterval: 1 });
    assert.equal(runs(t), 0, "the path is absent: nothing starts");
    writeFileSync(flag, "");
    await lab.waitFor("started by the path", () => lab.pid(t) !== undefined);
    const pid = lab.pid(t)!;
    assert.equal(lab.launchctl("kill", "TERM", t).code, 0);
    await lab.waitFor("kept alive while the path exists", () => (lab.pid(t) ?? pid) !== pid);
    rmSync(flag);
    assert.equal(lab.launchctl("kill", "TERM", t).code, 0);
    await lab.waitFor("not running", () => lab.info(t)?.state === "not running");
    assert.equal(runs(t), 2);
    assert.equal(lab.launchctl("bootout", t).code, 0);
  });

  it("a missing executable is reported as exit code 78 and unknown keys are ignored", async () => {
    const t = load("t.missing", { ProgramArguments: ["/nonexistent/prog"], RunAtLoad: true, SomeFutureKey: { Nested: true }, Nice: 5 });
    await lab.waitFor("spawn failure", () => lab.info(t)?.["last exit code"] === "78");
    assert.equal(lab.info(t)?.state, "not running");
  });

  it("the plist's own Disabled key is a hint the override database wins over", () => {
    const file = lab.writePlist(lab.path("Library/LaunchDaemons/t.hint.plist"), { Label: "t.hint", ProgramArguments: ["/bin/true"], Disabled: true });
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 5);
    assert.equal(lab.launchctl("enable", "system/t.hint").code, 0);
    assert.equal(lab.launchctl("bootstrap", "system", file).code, 0);
    assert.equal(lab.launchctl("bootout", "system/t.hint").code, 0);
  });
});
