import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { SshTransport } from "../../src/transport/ssh.js";
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
      await ssh.dispose();
    }
  });

  it("multiplexes every command over one master connection and closes it at the end", async () => {
    const ssh = new SshTransport(sshd.target, "auto");
    const before = await sshd.logins();
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => ssh.run(["echo", String(i)])));
    assert.deepEqual(results.map((r) => r.stdout.trim()), ["0", "1", "2", "3", "4"]);
    assert.equal((await ssh.run(["true"])).exitCode, 0);
    assert.equal((await sshd.logins()) - before, 1, "one authenticated connection for six commands");
    await ssh.dispose();
    assert.equal(await allClosed(sshd), true, "the master connection is closed by dispose()");
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
      await ssh.dispose();
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
      await ssh.dispose();
    }
    const unknown = new SshTransport({ ...sshd.target, knownHostsFile: join(sshd.dir, "empty_known_hosts") }, "auto");
    try {
      await assert.rejects(unknown.run(["true"]), /Host key verification failed/);
    } finally {
      await unknown.dispose();
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
      await ssh.dispose();
    }
    assert.equal(await allClosed(sshd), true);
  });
});
