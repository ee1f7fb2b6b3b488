/**
 * The Mac lock's holder and the root commands it runs for the step, on this machine (the same
 * perl program runs on a Mac over SSH: see lab-e2e.test.ts for the lock across Macs and cuts).
 */
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { LOCK_PATH, withMacLock } from "../../src/executor/lock.js";
import { LocalTransport } from "../../src/transport/local.js";
import { CANARY, ECHO_ARGV, HOSTILE } from "./hostile.js";

const local = new LocalTransport("auto");

describe("the Mac lock's holder runs the step's root commands", () => {
  before(() => {
    if (process.getuid?.() !== 0) throw new Error("the lock tests need root (the lock file is in /var/run)");
    rmSync(CANARY, { force: true });
  });
  after(() => assert.equal(existsSync(CANARY), false, "a hostile string was executed"));

  it("carries every hostile argument and stdin byte for byte, without a shell", async () => {
    await withMacLock(local, async (locked) => {
      const echoed = await locked.run([...ECHO_ARGV, ...HOSTILE], { root: true });
      assert.equal(echoed.exitCode, 0, echoed.stderr);
      assert.deepEqual(JSON.parse(echoed.stdout), HOSTILE);
      const input = "héllo\n'$(touch /tmp/mac-postfix-canary)'\n\0\nno final newline ✓";
      assert.equal((await locked.run(["cat"], { root: true, stdin: input })).stdout, input);
    });
  });

  it("gives exit codes, stderr, a signal as 128+n and a missing program as 127, one command after another", async () => {
    await withMacLock(local, async (locked) => {
      const results = await Promise.all([
        locked.run(["sh", "-c", "printf out; printf err >&2; exit 9"], { root: true }),
        locked.run(["sh", "-c", "kill -TERM $$"], { root: true }),
        locked.run(["/nonexistent/program"], { root: true }),
        locked.run(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x"], { root: true }),
      ]);
      assert.deepEqual(results[0], { exitCode: 9, stdout: "out", stderr: "err" });
      assert.equal(results[1]!.exitCode, 128 + 15);
      assert.equal(results[2]!.exitCode, 127);
      assert.match(results[2]!.stderr, /\/nonexistent\/program: No such file or directory/);
      assert.equal(results[3]!.stdout, "x".repeat(300_000));
    });
  });

  it("runs a `perl -e` program in a fork of itself, as perl would run it: arguments, stdin, exit status, die", async () => {
    // Fcntl is loaded in the holder, not in a perl started afresh: which one ran the program.
    const which = 'print exists $INC{"Fcntl.pm"} ? "forked" : "started", " ", join("|", @ARGV)';
    assert.equal((await execa("perl", ["-e", which, "a b", "c"])).stdout, "started a b|c");
    await withMacLock(local, async (locked) => {
      assert.deepEqual(await locked.run(["perl", "-e", which, "a b", "c"], { root: true }), { exitCode: 0, stdout: "forked a b|c", stderr: "" });
      assert.deepEqual(await locked.run(["perl", "-e", "$line = <STDIN>; print $line; exit 7"], { root: true, stdin: "in\n" }), { exitCode: 7, stdout: "in\n", stderr: "" });
      assert.deepEqual(await locked.run(["perl", "-e", 'die "no\\n"'], { root: true }), { exitCode: 255, stdout: "", stderr: "no\n" });
      const broken = await locked.run(["perl", "-e", "print ("], { root: true });
      assert.equal(broken.exitCode, 255);
      assert.match(broken.stderr, /syntax error/);
      // The holder goes on serving after its forks exited and died.
      assert.equal((await locked.run(["perl", "-e", "print 1"], { root: true })).stdout, "1");
    });
  });

  it("holds the lock while it runs, and a daemon a command leaves behind does not keep it", async () => {
    const lockedByOther = () => execa("perl", ["-MFcntl=:flock", "-e", 'open(my $f, ">>", shift) or die; exit(flock($f, LOCK_EX | LOCK_NB) ? 0 : 1)', LOCK_PATH], { reject: false });
    let daemon = 0;
    await withMacLock(local, async (locked) => {
      assert.equal((await lockedByOther()).exitCode, 1, "another process got the lock while it was held");
      const started = await locked.run(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"], { root: true });
      daemon = Number(started.stdout.trim());
    });
    try {
      assert.equal((await lockedByOther()).exitCode, 0, "the lock outlived the step (inherited by the daemon?)");
    } finally {
      process.kill(daemon, "SIGTERM");
    }
  });

  it("runs a root command that needs a pty under script, argv verbatim and exit code kept; the login user's commands go to the transport", async () => {
    await withMacLock(local, async (locked) => {
      const values = HOSTILE.filter((v) => v.length < 1000);
      const echoed = await locked.run([...ECHO_ARGV, ...values], { root: true, pty: true });
      assert.equal(echoed.exitCode, 0, echoed.stdout);
      assert.deepEqual(JSON.parse(echoed.stdout), values);
      // The programs above the command, nearest first (util-linux script runs it through sh -c).
      const ancestors = 'p=$PPID; while [ "$p" -gt 1 ]; do cat /proc/$p/comm; p=$(cut -d" " -f4 /proc/$p/stat); done';
      const above = (stdout: string) => stdout.split("\n").filter((name) => name && name !== "sh");
      const tty = await locked.run(["sh", "-c", `test -t 2 && echo tty >&2; ${ancestors}; exit 5`], { root: true, pty: true });
      assert.equal(tty.exitCode, 5);
      assert.deepEqual(above(tty.stdout).slice(0, 3), ["tty", "script", "perl"]);
      assert.deepEqual(above((await locked.run(["sh", "-c", ancestors], { root: true })).stdout).slice(0, 1), ["perl"]);
      const user = await locked.run(["sh", "-c", `test -t 0 || echo no-tty; ${ancestors}`]);
      assert.deepEqual(above(user.stdout).slice(0, 2), ["no-tty", "node"]);
    });
  });
});
