/**
 * Commands on a Mac over the system OpenSSH client, so ~/.ssh/config, agents and ProxyJump work.
 * One connection per transport: a ControlMaster is opened on first use and every command is
 * multiplexed over it; `dispose()` closes it.
 */
import type { Connection } from "../spec.js";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { quoteCommand } from "./shell-quote.js";
import { runProcess, startSession } from "./process.js";
import { fromPty, privilege, type RunOptions, type RunResult, type Session, type Transport } from "./transport.js";

/** The spec's SSH connection, without its transport tag. */
export type SshTarget = Omit<Extract<Connection, { transport: "ssh" }>, "transport">;

/** How long to wait for a connection, and how fast a cut one is noticed (interval x count seconds). */
const CONNECT_TIMEOUT_S = 10;
const ALIVE_INTERVAL_S = 2;
const ALIVE_COUNT = 3;
/** A master orphaned by a killed CLI exits once idle this long. */
const PERSIST_S = 30;

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
  private controlDir?: string;
  private needsSudo?: Promise<boolean>;

  constructor(private readonly target: SshTarget, private readonly sudo: boolean | "auto") {
    validateSshTarget(target);
    this.description = `${target.user ? `${target.user}@` : ""}${target.host}${target.port ? `:${target.port}` : ""}`;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const remote = [...privilege(options.root, options.root ? await this.sudoNeeded() : false), ...argv];
    const { controlPath, target } = await this.connect();
    const result = await runProcess("ssh", sessionArgs(target, controlPath, remote, options.pty ?? false), options.stdin);
    if (result.exitCode === 255) throw new Error(`ssh to ${this.description} failed\n${result.stderr.trim() || "connection lost"}`);
    return options.pty ? { exitCode: result.exitCode, stdout: fromPty(result.stdout), stderr: fromPty(result.stderr) } : result;
  }

  open(argv: readonly string[], options: { readonly root?: boolean } = {}): Session {
    const ready = (async () => {
      const remote = [...privilege(options.root, options.root ? await this.sudoNeeded() : false), ...argv];
      const { controlPath, target } = await this.connect();
      return startSession("ssh", sessionArgs(target, controlPath, remote, false));
    })();
    return {
      firstLine: ready.then((session) => session.firstLine),
      send: (text) => void ready.then((session) => session.send(text), () => undefined),
      close: async () => (await ready).close(),
    };
  }

  async dispose(): Promise<void> {
    const master = this.master;
    this.master = undefined;
    if (master) {
      const controlPath = (await master.catch(() => undefined))?.controlPath;
      if (controlPath) await runProcess("ssh", ["-o", `ControlPath=${controlPath}`, "-O", "exit", "--", this.target.host]);
    }
    if (this.controlDir) await rm(this.controlDir, { recursive: true, force: true });
    this.controlDir = undefined;
  }

  private connect(): Promise<{ controlPath: string; target: SshTarget }> {
    this.master ??= (async () => {
      // mkdtemp creates the folder 0700: nobody else can reach the control socket.
      this.controlDir = await mkdtemp(join(tmpdir(), "mac-postfix-ssh-"));
      const controlPath = join(this.controlDir, "master");
      const target = await withLiteralPaths(this.target, this.controlDir);
      const result = await runProcess("ssh", masterArgs(target, controlPath));
      if (result.exitCode !== 0) throw new Error(`ssh to ${this.description} failed\n${result.stderr.trim() || `exit ${result.exitCode}`}`);
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
