// What launchctl, loginwindow and the launchd emulator share: file locations, targets, requests, replies.
import { connect } from "node:net";
import { join } from "node:path";

/** Prefix for the emulator's own files (not for job paths). "/" inside a simulated Mac. */
export function launchdRoot(): string {
  return process.env.LAUNCHD_ROOT ?? "/";
}

export const files = {
  socket: (root = launchdRoot()) => join(root, "var/run/launchd.sock"),
  log: (root = launchdRoot()) => join(root, "var/log/launchd.log"),
  systemDaemonDirs: (root = launchdRoot()) => [join(root, "System/Library/LaunchDaemons"), join(root, "Library/LaunchDaemons")],
  agentDir: (root = launchdRoot()) => join(root, "Library/LaunchAgents"),
  overrides: (uid: number | undefined, root = launchdRoot()) =>
    join(root, "var/db/com.apple.xpc.launchd", uid === undefined ? "disabled.plist" : `disabled.${uid}.plist`),
};

/** `system` or `gui/<uid>`; `user/<uid>` parses (it is a valid specifier) but no operation supports it. */
export type DomainRef = { type: "system" } | { type: "gui" | "user"; uid: number };
export interface Target { domain: DomainRef; label?: string }

export function domainName(d: DomainRef): string {
  return d.type === "system" ? "system" : `${d.type}/${d.uid}`;
}

/** Parses `system[/LABEL]`, `gui/UID[/LABEL]`, `user/UID[/LABEL]`; undefined means "Unrecognized target specifier." */
export function parseTarget(spec: string): Target | undefined {
  const m = /^(?:(system)|(gui|user)\/(\d+))(?:\/(.+))?$/.exec(spec);
  if (!m) return undefined;
  const domain: DomainRef = m[1] ? { type: "system" } : { type: m[2] as "gui" | "user", uid: Number(m[3]) };
  return m[4] === undefined ? { domain } : { domain, label: m[4] };
}

/** launchd's error numbers and their strerror-style text, as launchctl prints them. */
export const errors = {
  EPERM: [1, "Operation not permitted"],
  ESRCH: [3, "No such process"],
  EIO: [5, "Input/output error"],
  EALREADY: [37, "Operation already in progress"],
  ENOSERVICE: [113, "Could not find specified service"],
  EDISABLED: [119, "Service is disabled"],
  ENOTSUP: [125, "Domain does not support specified action"],
} as const satisfies Record<string, readonly [number, string]>;

/** Operations the daemon serves. `uid` is the caller's uid as the client reports it. */
export type Request = { uid: number } & (
  | { op: "bootstrap"; domain: DomainRef; path: string }
  | { op: "bootout"; target: Target; path?: string }
  | { op: "enable" | "disable"; target: Target }
  | { op: "kickstart"; target: Target; kill: boolean; printPid: boolean }
  | { op: "print"; target: Target }
  | { op: "print-disabled"; domain: DomainRef }
  | { op: "kill"; signal: string; target: Target }
  | { op: "load" | "unload"; paths: string[]; write: boolean }
  | { op: "list"; label?: string }
  | { op: "start" | "stop"; label: string }
  | { op: "login" | "logout"; user: string }
  | { op: "launchctl"; argv: string[]; cwd: string }
);

export interface Reply { stdout: string; stderr: string; code: number }

/**
 * A reply on the wire: "<code> <stdout bytes> <stderr bytes>\n<stdout><stderr>", simple enough for the
 * perl launchctl to read without a JSON parser. Requests are JSON.
 */
export function encodeReply(reply: Reply): Buffer {
  const stdout = Buffer.from(reply.stdout, "utf8");
  const stderr = Buffer.from(reply.stderr, "utf8");
  return Buffer.concat([Buffer.from(`${reply.code} ${stdout.length} ${stderr.length}\n`), stdout, stderr]);
}

export function decodeReply(data: Buffer): Reply {
  const newline = data.indexOf(0x0a);
  const m = /^(\d+) (\d+) (\d+)$/.exec(data.subarray(0, Math.max(newline, 0)).toString("latin1"));
  if (!m || data.length !== newline + 1 + Number(m[2]) + Number(m[3])) throw new Error("malformed reply from launchd");
  const stdoutEnd = newline + 1 + Number(m[2]);
  return { code: Number(m[1]), stdout: data.subarray(newline + 1, stdoutEnd).toString("utf8"), stderr: data.subarray(stdoutEnd).toString("utf8") };
}

/** Sends one request over the control socket and returns the daemon's reply. */
export function call(request: Request, socket = files.socket()): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = connect(socket, () => conn.end(JSON.stringify(request)));
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.on("error", reject);
    conn.on("end", () => {
      try {
        resolve(decodeReply(Buffer.concat(chunks)));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** Prints a reply and exits with its code: the whole job of the thin clients. */
export async function relay(request: Request, program: string): Promise<never> {
  let reply: Reply;
  try {
    reply = await call(request);
  } catch (e) {
    process.stderr.write(`${program}: cannot reach launchd at ${files.socket()}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(reply.stdout);
  process.stderr.write(reply.stderr);
  process.exit(reply.code);
}
