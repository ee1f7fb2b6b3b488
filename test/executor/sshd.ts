/**
 * A private, real OpenSSH server on loopback for the transport tests that need no Mac: its own
 * host key, one authorized client key, root logins by key only. Stopped by PID.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import type { SshTarget } from "../../src/transport/ssh.js";

export interface TestSshd {
  readonly target: SshTarget;
  readonly dir: string;
  /** Connections the server authenticated so far (from its own log). */
  logins(): Promise<number>;
  /** Connections that have ended so far. */
  disconnects(): Promise<number>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function countLog(dir: string, text: string): Promise<number> {
  const log = await readFile(join(dir, "sshd.log"), "utf8");
  return log.split("\n").filter((line) => line.includes(text)).length;
}

export async function startSshd(): Promise<TestSshd> {
  if (process.getuid?.() !== 0) throw new Error("the ssh transport tests need root (to run a private sshd on loopback)");
  const dir = await mkdtemp(join(tmpdir(), "mac-postfix-sshd-"));
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "client_key.pub")), { mode: 0o600 });
  const port = await freePort();
  const hostPub = (await readFile(join(dir, "host_key.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
  await writeFile(join(dir, "known_hosts"), `[127.0.0.1]:${port} ${hostPub}\n`);
  await writeFile(
    join(dir, "sshd_config"),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "LogLevel VERBOSE",
      `PidFile ${join(dir, "sshd.pid")}`,
      "MaxStartups 100",
      "",
    ].join("\n"),
  );
  const sshd: ResultPromise = execa("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { reject: false, stdin: "ignore", stdout: "ignore", stderr: { file: join(dir, "sshd.log") } });
  // Ready once it accepts connections.
  for (let i = 0; ; i++) {
    const probe = await execa("ssh-keyscan", ["-p", String(port), "127.0.0.1"], { reject: false });
    if (probe.stdout.includes("ssh-ed25519")) break;
    if (i > 50) throw new Error("private sshd did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    dir,
    target: { host: "127.0.0.1", port, user: "root", identityFile: join(dir, "client_key"), knownHostsFile: join(dir, "known_hosts") },
    logins: () => countLog(dir, "Accepted publickey"),
    // A client that says goodbye is "Disconnected from user"; one that was killed, "Closing connection to";
    // one gone while the server was stopped, a "Broken pipe" when the server writes to it again.
    disconnects: async () =>
      (await countLog(dir, "Disconnected from user")) + (await countLog(dir, "Closing connection to")) + (await countLog(dir, ": Broken pipe")),
    async stop() {
      sshd.kill("SIGTERM");
      await sshd;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
