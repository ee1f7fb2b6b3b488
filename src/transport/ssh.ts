/**
 * Commands on a Mac over the system OpenSSH client, so ~/.ssh/config, agents and ProxyJump work.
 * One connection per Mac, shared: a ControlMaster is opened on first use, every command is
 * multiplexed over it, and it outlives the transport (ControlPersist) so that the Mac's next step,
 * a separate process, reuses it instead of paying for a new connection. Its socket lives in a
 * folder only we can enter, under a name derived from every connection parameter and from the
 * identity of the key and known_hosts files, so a step never rides a master made differently.
 */
import type { Connection } from "../spec.js";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, rename, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { quoteCommand } from "./shell-quote.js";
import { exitedWith, runProcess, startSession } from "./process.js";
import { ConnectionError, fromPtyResult, privilege, scriptCommand, type RunOptions, type RunResult, type Session, type Transport } from "./transport.js";

/** The spec's SSH connection, without its transport tag. */
export type SshTarget = Omit<Extract<Connection, { transport: "ssh" }>, "transport">;

/** How long to wait for a connection, and how fast a cut one is noticed (interval x count seconds). */
const CONNECT_TIMEOUT_S = 10;
const ALIVE_INTERVAL_S = 2;
const ALIVE_COUNT = 3;
/**
 * A master exits once idle this long: enough to carry a Mac from one step of a deploy to the next
 * (Terraform runs the other Macs' steps in between), short enough not to linger after it.
 */
const PERSIST_S = 60;

/** Refuses values ssh would read as options or that cannot be a destination (defence in depth). */
export function validateSshTarget(target: SshTarget): void {
  const check = (field: string, value: string | undefined) => {
    if (value === undefined) return;
    if (value === "" || value.startsWith("-") || /[\s\0-\x1f\x7f]/.test(value)) {
      throw new Error(`invalid ssh ${field} ${JSON.stringify(value)}: empty, starts with "-" or contains whitespace/control characters`);
    }
  };
  check("host", target.host);
  if (target.host === undefined) throw new Error("ssh host is required");
  check("user", target.user);
  check("proxyJump", target.proxyJump);
  if (target.port !== undefined && !(Number.isInteger(target.port) && target.port > 0 && target.port < 65536)) {
    throw new Error(`invalid ssh port ${JSON.stringify(target.port)}`);
  }
  for (const [field, path] of [["identityFile", target.identityFile], ["knownHostsFile", target.knownHostsFile]] as const) {
    if (path !== undefined && (path === "" || path.includes("\0") || path.startsWith("-"))) {
      throw new Error(`invalid ssh ${field} ${JSON.stringify(path)}`);
    }
  }
}

/** The options every ssh invocation carries (master and multiplexed sessions alike). */
export function sshOptions(target: SshTarget): string[] {
  const o = (option: string) => ["-o", option];
  return [
    ...o("BatchMode=yes"),
    ...(target.insecureIgnoreHostKey
      ? [...o("StrictHostKeyChecking=no"), ...o("UserKnownHostsFile=/dev/null")]
      : [...o("StrictHostKeyChecking=yes"), ...(target.knownHostsFile ? o(`UserKnownHostsFile=${target.knownHostsFile}`) : [])]),
    ...(target.identityFile ? [...o("IdentitiesOnly=yes"), "-i", target.identityFile] : []),
    ...o(`ConnectTimeout=${CONNECT_TIMEOUT_S}`),
    ...o(`ServerAliveInterval=${ALIVE_INTERVAL_S}`),
    ...o(`ServerAliveCountMax=${ALIVE_COUNT}`),
    ...(target.port !== undefined ? ["-p", String(target.port)] : []),
    ...(target.proxyJump ? ["-J", target.proxyJump] : []),
    ...(target.user ? ["-l", target.user] : []),
  ];
}

/**
 * Characters OpenSSH reinterprets in a file path it is given: `%` tokens and `${VAR}` in `-i` and in
 * UserKnownHostsFile, and in an `-o` value also whitespace (a list separator), quotes, backslashes and `#`.
 */
const SSH_REINTERPRETS = /[\s"'\\%$#]/;

/**
 * The target as ssh is given it: a key or known_hosts path that OpenSSH would split or expand is
 * replaced by a symlink to it in our private folder, so that ssh opens exactly the file the user named.
 */
export async function withLiteralPaths(target: SshTarget, dir: string): Promise<SshTarget> {
  const link = async (path: string | undefined, name: string): Promise<string | undefined> => {
    if (path === undefined || !SSH_REINTERPRETS.test(path)) return path;
    await symlink(path, join(dir, name));
    return join(dir, name);
  };
  const identityFile = await link(target.identityFile, "identity");
  if (identityFile !== target.identityFile) {
    // ssh looks for the public key and a certificate beside the private key.
    await symlink(`${target.identityFile}.pub`, `${identityFile}.pub`);
    await symlink(`${target.identityFile}-cert.pub`, `${identityFile}-cert.pub`);
  }
  const knownHostsFile = await link(target.knownHostsFile, "known_hosts");
  return { ...target, ...(identityFile === undefined ? {} : { identityFile }), ...(knownHostsFile === undefined ? {} : { knownHostsFile }) };
}

/** Whether the target needs private symlinks for its key or known_hosts path (see withLiteralPaths). */
function needsLiteralPaths(target: SshTarget): boolean {
  return [target.identityFile, target.knownHostsFile].some((path) => path !== undefined && SSH_REINTERPRETS.test(path));
}

/**
 * Where the shared control sockets live: one folder per local user, in /tmp rather than $TMPDIR.
 * A socket's path holds at most 103 bytes on macOS, and OpenSSH binds a master's socket first
 * under its name plus 17 characters before renaming it: under a Mac's $TMPDIR
 * (`/var/folders/xx/<28 characters>/T`) that came to 115 bytes, and every master failed.
 */
export function controlFolderPath(): string {
  return `/tmp/mac-postfix-ssh-${process.getuid?.() ?? 0}`;
}

/** The folder of shared control sockets: made 0700, and refused unless it is still ours alone. */
async function controlFolder(): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const dir = controlFolderPath();
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  const info = await lstat(dir);
  if (!info.isDirectory() || info.uid !== uid || (info.mode & 0o077) !== 0) {
    throw new Error(`${dir} must be a folder owned by uid ${uid} with mode 0700 (it holds our SSH control sockets); remove it and retry`);
  }
  return dir;
}

/**
 * The shared master's socket name: a digest of every connection parameter and of the identity
 * (device, inode, size, mtime) of the key and known_hosts files, so a changed file means a new
 * connection that checks it. Short: a Unix socket path has a length limit (104 bytes on macOS).
 */
async function masterName(target: SshTarget): Promise<string> {
  const identity = async (path: string | undefined) => {
    if (path === undefined) return null;
    const info = await stat(path).catch(() => null);
    return info && [info.dev, info.ino, info.size, info.mtimeMs];
  };
  const parameters = [
    target.host, target.port, target.user, target.proxyJump, target.insecureIgnoreHostKey,
    target.identityFile, await identity(target.identityFile), target.knownHostsFile, await identity(target.knownHostsFile),
  ];
  return createHash("sha256").update(JSON.stringify(parameters)).digest("hex").slice(0, 20);
}

/** The control socket of the master shared by every transport with this target. */
async function sharedControlPath(target: SshTarget): Promise<string> {
  return join(await controlFolder(), await masterName(target));
}

/**
 * Whether a shared master answers at controlPath. One whose connection died unnoticed still answers
 * until ServerAlive ends it; a session asked of it meanwhile fails over to a connection of its own
 * (OpenSSH's fallback when the master cannot serve it), so no probe session is needed.
 */
async function answers(target: SshTarget, controlPath: string): Promise<boolean> {
  if (!existsSync(controlPath)) return false;
  const checked = answeredAt.get(controlPath);
  if (checked !== undefined && performance.now() - checked < RECHECK_MS) return true;
  const answered = (await runProcess("ssh", ["-o", `ControlPath=${controlPath}`, "-O", "check", "--", target.host])).exitCode === 0;
  if (answered) answeredAt.set(controlPath, performance.now());
  else answeredAt.delete(controlPath);
  return answered;
}

/**
 * When each master last answered or was made, in this process: the step server's next steps on a
 * Mac skip the check (one ssh process each) for RECHECK_MS, inside ControlPersist. A master that
 * died meanwhile costs such a step a connection of its own (the fallback above), nothing more.
 */
const answeredAt = new Map<string, number>();
const RECHECK_MS = 30_000;

/** argv (after `ssh`) that opens the master connection in the background. */
export function masterArgs(target: SshTarget, controlPath: string): string[] {
  return ["-M", "-N", "-f", "-o", `ControlPath=${controlPath}`, "-o", `ControlPersist=${PERSIST_S}`, ...sshOptions(target), "--", target.host];
}

/** argv (after `ssh`) that runs one remote command over the master. */
export function sessionArgs(target: SshTarget, controlPath: string, remote: readonly string[], pty: boolean): string[] {
  // LogLevel=ERROR: no "Shared connection to ... closed." after a -tt session; errors still show.
  return ["-o", `ControlPath=${controlPath}`, "-o", "ControlMaster=no", "-o", "LogLevel=ERROR", pty ? "-tt" : "-T", ...sshOptions(target), "--", target.host, quoteCommand(remote)];
}

export class SshTransport implements Transport {
  readonly description: string;
  /** The control socket's path, and the target as ssh is given it (see withLiteralPaths). */
  private master?: Promise<{ controlPath: string; target: SshTarget }>;
  /** Our private folder of symlinks (see withLiteralPaths), when the target needs one. */
  private linkDir?: string;
  private needsSudo?: Promise<boolean>;

  constructor(private readonly target: SshTarget, private readonly sudo: boolean | "auto") {
    validateSshTarget(target);
    this.description = `${target.user ? `${target.user}@` : ""}${target.host}${target.port ? `:${target.port}` : ""}`;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const remote = [...privilege(options.root, options.root ? await this.sudoNeeded() : false), ...argv];
    const { controlPath, target } = await this.connect();
    const result = await runProcess("ssh", sessionArgs(target, controlPath, remote, options.pty ?? false), options.stdin);
    if (result.exitCode === 255) throw this.failure(result.stderr);
    return options.pty ? fromPtyResult(result) : result;
  }

  /** The far end is a Mac: BSD script. */
  ptyCommand(argv: readonly string[]): string[] {
    return scriptCommand(argv, "darwin");
  }

  open(argv: readonly string[], options: { readonly root?: boolean } = {}): Session {
    const ready = (async () => {
      const remote = [...privilege(options.root, options.root ? await this.sudoNeeded() : false), ...argv];
      const { controlPath, target } = await this.connect();
      return startSession("ssh", sessionArgs(target, controlPath, remote, false), (exitCode, stderr) =>
        exitCode === 255 ? this.failure(stderr) : exitedWith(exitCode, stderr),
      );
    })();
    const ended = ready.then((session) => session.ended);
    ended.catch(() => undefined); // a connection that failed rejects firstLine; nobody need await this too
    return {
      firstLine: ready.then((session) => session.firstLine),
      ended,
      onData: (listener) => void ready.then((session) => session.onData(listener), () => undefined),
      send: (data) => void ready.then((session) => session.send(data), () => undefined),
      close: async () => (await ready).close(),
    };
  }

  /** What ssh's own failure (exit 255, or a master that would not start) is reported as. */
  private failure(stderr: string, otherwise = "connection lost"): ConnectionError {
    return new ConnectionError(`ssh to ${this.description} failed\n${stderr.trim() || otherwise}`);
  }

  /** Leaves the shared master to its ControlPersist timeout (the Mac's next step reuses it). */
  async dispose(): Promise<void> {
    this.master = undefined;
    if (this.linkDir) await rm(this.linkDir, { recursive: true, force: true });
    this.linkDir = undefined;
  }

  /** Closes the shared master now, for this target and every transport riding it. */
  async closeMaster(): Promise<void> {
    const controlPath = await sharedControlPath(this.target);
    if (existsSync(controlPath)) await runProcess("ssh", ["-o", `ControlPath=${controlPath}`, "-O", "exit", "--", this.target.host]);
    answeredAt.delete(controlPath);
    await rm(controlPath, { force: true });
    await this.dispose();
  }

  private connect(): Promise<{ controlPath: string; target: SshTarget }> {
    this.master ??= (async () => {
      const controlPath = await sharedControlPath(this.target);
      if (this.linkDir === undefined && needsLiteralPaths(this.target)) this.linkDir = await mkdtemp(join(tmpdir(), "mac-postfix-ssh-paths-"));
      const target = this.linkDir === undefined ? this.target : await withLiteralPaths(this.target, this.linkDir);
      if (await answers(target, controlPath)) return { controlPath, target };
      // Stale (its master gone or its connection dead): a new master, bound under a name of its own
      // and renamed into place, so two steps racing here never share a half-made socket.
      await rm(controlPath, { force: true });
      const fresh = `${controlPath}.${randomBytes(4).toString("hex")}`;
      const result = await runProcess("ssh", masterArgs(target, fresh));
      if (result.exitCode !== 0) throw this.failure(result.stderr, `exit ${result.exitCode}`);
      await rename(fresh, controlPath);
      answeredAt.set(controlPath, performance.now());
      return { controlPath, target };
    })();
    return this.master;
  }

  /** sudo "auto": only when the login user is not root (asked of the Mac when ~/.ssh/config decides the user). */
  private sudoNeeded(): Promise<boolean> {
    this.needsSudo ??= (async () => {
      if (this.sudo !== "auto") return this.sudo;
      if (this.target.user !== undefined) return this.target.user !== "root";
      const id = await this.run(["id", "-u"]);
      return id.stdout.trim() !== "0";
    })();
    return this.needsSudo;
  }
}
