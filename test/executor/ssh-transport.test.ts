import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { controlFolderPath, SshTransport } from "../../src/transport/ssh.js";
import { CANARY, ECHO_ARGV, HOSTILE } from "./hostile.js";
import { startSshd, type TestSshd } from "./sshd.js";

/** Waits until the server has seen every connection end (its log is written asynchronously). */
async function allClosed(sshd: TestSshd): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await sshd.disconnects()) === (await sshd.logins())) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const CONTROL_FOLDER = controlFolderPath();

/** The control socket made last: the one the transport that just connected uses. */
async function newestControlSocket(): Promise<string> {
  const dir = CONTROL_FOLDER;
  const names = await readdir(dir);
  const withTimes = await Promise.all(names.map(async (n) => ({ path: join(dir, n), mtime: (await stat(join(dir, n))).mtimeMs })));
  return withTimes.sort((a, b) => b.mtime - a.mtime)[0]!.path;
}

/** The server's processes serving connections (every descendant of the listening sshd). */
async function serverConnectionProcesses(sshd: TestSshd): Promise<number[]> {
  const listener = Number((await readFile(join(sshd.dir, "sshd.pid"), "utf8")).trim());
  const rows = (await execa("ps", ["-e", "-o", "pid=,ppid="])).stdout.trim().split("\n").map((row) => row.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  for (let parents = [listener]; parents.length > 0; ) {
    parents = rows.filter(([, ppid]) => parents.includes(ppid!)).map(([pid]) => pid!);
    found.push(...parents);
  }
  return found;
}

describe("ssh transport over a real OpenSSH server", () => {
  let sshd: TestSshd;
  before(async () => {
    rmSync(CANARY, { force: true });
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
    assert.equal(existsSync(CANARY), false, "a hostile string was executed");
  });

  it("carries every hostile string verbatim through the remote login shell", async () => {
    const ssh = new SshTransport(sshd.target, "auto");
    try {
      const result = await ssh.run([...ECHO_ARGV, ...HOSTILE]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), HOSTILE);
    } finally {
      await ssh.closeMaster();
    }
  });

  it("keeps its control sockets short enough under a macOS-length $TMPDIR", async () => {
    // A Mac's $TMPDIR is /var/folders/<2>/<28>/T: 48 bytes, as this one.
    const macTmpdir = "/tmp/folders/7k/lz0c8q_x5yd0xwqvhcs7b2q40000gn/T";
    await mkdir(macTmpdir, { recursive: true });
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = macTmpdir;
    const ssh = new SshTransport(sshd.target, "auto");
    try {
      const result = await ssh.run(["echo", "short"]);
      assert.equal(result.stdout, "short\n", result.stderr);
    } finally {
      process.env.TMPDIR = saved;
      if (saved === undefined) delete process.env.TMPDIR;
      await ssh.closeMaster();
      rmSync("/tmp/folders", { recursive: true, force: true });
    }
  });

  it("multiplexes every command over one master connection, shared by later transports until closed", async () => {
    const before = await sshd.logins();
    const ssh = new SshTransport(sshd.target, "auto");
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => ssh.run(["echo", String(i)])));
    assert.deepEqual(results.map((r) => r.stdout.trim()), ["0", "1", "2", "3", "4"]);
    await ssh.dispose();
    // The next step is another process with its own transport: it rides the same master.
    const next = new SshTransport(sshd.target, "auto");
    assert.equal((await next.run(["true"])).exitCode, 0);
    await next.dispose();
    assert.equal((await sshd.logins()) - before, 1, "one authenticated connection for both transports");
    await next.closeMaster();
    assert.equal(await allClosed(sshd), true, "closeMaster() ends the shared connection");
  });

  it("opens a new master when the known_hosts file changes or the shared one died", async () => {
    const knownHosts = join(sshd.dir, "known_hosts_copy");
    await writeFile(knownHosts, await readFile(sshd.target.knownHostsFile!));
    const target = { ...sshd.target, knownHostsFile: knownHosts };
    const before = await sshd.logins();
    const first = new SshTransport(target, "auto");
    assert.equal((await first.run(["true"])).exitCode, 0);
    const firstSocket = await newestControlSocket();
    await first.dispose();
    // Rewritten (same bytes, new mtime): the host key must be checked again, by a new connection.
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(knownHosts, await readFile(sshd.target.knownHostsFile!));
    const second = new SshTransport(target, "auto");
    assert.equal((await second.run(["true"])).exitCode, 0);
    assert.equal((await sshd.logins()) - before, 2);
    // A master killed behind our back leaves a stale socket: the next transport replaces it.
    const check = await execa("ssh", ["-o", `ControlPath=${await newestControlSocket()}`, "-O", "check", "x"], { reject: false });
    process.kill(Number(/pid=(\d+)/.exec(check.stderr)?.[1]), "SIGKILL");
    await second.dispose();
    const third = new SshTransport(target, "auto");
    try {
      assert.equal((await third.run(["echo", "again"])).stdout, "again\n");
      assert.equal((await sshd.logins()) - before, 3);
    } finally {
      await execa("ssh", ["-o", `ControlPath=${firstSocket}`, "-O", "exit", "x"], { reject: false });
      await third.closeMaster();
    }
  });

  it("runs a session even when the shared master's connection died unnoticed", async () => {
    const first = new SshTransport(sshd.target, "auto");
    assert.equal((await first.run(["true"])).exitCode, 0);
    await first.dispose();
    const before = await sshd.logins();
    // A server that stops answering leaves the master up and its socket answering -O check: only
    // a session over it finds out, once ServerAlive gives up on the connection.
    const frozen = await serverConnectionProcesses(sshd);
    assert.notEqual(frozen.length, 0);
    for (const pid of frozen) process.kill(pid, "SIGSTOP");
    const next = new SshTransport(sshd.target, "auto");
    try {
      const session = next.open(["sh", "-c", "echo ready; cat >/dev/null"]);
      assert.equal(await session.firstLine, "ready");
      await session.close();
      assert.equal((await sshd.logins()) - before, 1, "ssh fell back to a connection of its own");
      assert.equal((await next.run(["echo", "again"])).stdout, "again\n");
    } finally {
      for (const pid of frozen) process.kill(pid, "SIGCONT");
      await next.closeMaster();
    }
    assert.equal(await allClosed(sshd), true);
  });

  it("refuses a control folder others could enter", async () => {
    await chmod(CONTROL_FOLDER, 0o777);
    const ssh = new SshTransport(sshd.target, "auto");
    try {
      await assert.rejects(ssh.run(["true"]), /mac-postfix-ssh-\d+ must be a folder owned by uid \d+ with mode 0700/);
    } finally {
      await chmod(CONTROL_FOLDER, 0o700);
    }
  });

  it("gives stdin, exit codes and stderr; -tt shows a tty's output", async () => {
    const ssh = new SshTransport(sshd.target, "auto");
    try {
      assert.equal((await ssh.run(["cat"], { stdin: "a\n'b'\n$(c)" })).stdout, "a\n'b'\n$(c)");
      const failed = await ssh.run(["sh", "-c", "echo err >&2; exit 9"]);
      assert.equal(failed.exitCode, 9);
      assert.equal(failed.stderr, "err\n");
      const tty = await ssh.run(["sh", "-c", "test -t 2 && echo tty >&2; exit 4"], { pty: true });
      assert.equal(tty.exitCode, 4);
      assert.match(tty.stdout, /tty/);
      assert.doesNotMatch(tty.stdout + tty.stderr, /Shared connection/);
    } finally {
      await ssh.closeMaster();
    }
  });

  it("refuses a host whose key is not the known one (host-key checking is on)", async () => {
    const wrongKnownHosts = join(sshd.dir, "wrong_known_hosts");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(sshd.dir, "other")]);
    const other = (await execa("cat", [join(sshd.dir, "other.pub")])).stdout.split(" ").slice(0, 2).join(" ");
    await writeFile(wrongKnownHosts, `[127.0.0.1]:${sshd.target.port} ${other}\n`);
    const ssh = new SshTransport({ ...sshd.target, knownHostsFile: wrongKnownHosts }, "auto");
    try {
      await assert.rejects(ssh.run(["true"]), /ssh to root@127\.0\.0\.1:\d+ failed\n.*(HOST IDENTIFICATION HAS CHANGED|Host key verification failed)/s);
    } finally {
      await ssh.closeMaster();
    }
    const unknown = new SshTransport({ ...sshd.target, knownHostsFile: join(sshd.dir, "empty_known_hosts") }, "auto");
    try {
      await assert.rejects(unknown.run(["true"]), /Host key verification failed/);
    } finally {
      await unknown.closeMaster();
    }
  });

  it("holds a session (the lock's shape) and ends the remote process when it is closed", async () => {
    const ssh = new SshTransport(sshd.target, "auto");
    const marker = join(sshd.dir, "session-ended");
    try {
      const session = ssh.open(["sh", "-c", 'echo ready; cat >/dev/null; touch "$1"', "sh", marker]);
      assert.equal(await session.firstLine, "ready");
      assert.equal(existsSync(marker), false);
      await session.close();
      for (let i = 0; i < 50 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(existsSync(marker), true);
    } finally {
      await ssh.closeMaster();
    }
    assert.equal(await allClosed(sshd), true);
  });
});
