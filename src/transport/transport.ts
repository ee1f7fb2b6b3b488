/** How the executor reaches a Mac: run one argv there, locally or over SSH. */
import { quoteCommand } from "./shell-quote.js";

export interface RunOptions {
  /** Run as root (prefixed with `sudo -n --` when the login user is not root). */
  readonly root?: boolean;
  /** Bytes written to the command's stdin; otherwise stdin is empty. */
  readonly stdin?: string;
  /**
   * Run under a pseudo-terminal. Postfix and postmulti print their errors only when stderr is a
   * tty; under a pty their text arrives (merged) on stdout.
   */
  readonly pty?: boolean;
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A long-running command whose stdin we hold open (the Mac lock). */
export interface Session {
  /** Resolves with the first line the command prints; rejects if it ends first. */
  readonly firstLine: Promise<string>;
  /** Receives what the command prints after its first line, chunk by chunk, in order. */
  onData(listener: (chunk: Buffer) => void): void;
  /** Resolves when the command has ended, saying how (exit code or lost connection, and its stderr). */
  readonly ended: Promise<string>;
  /** Writes to its stdin. */
  send(data: string | Uint8Array): void;
  /** Close its stdin and wait for it to end. */
  close(): Promise<void>;
}

export interface Transport {
  /** Where commands run, for messages ("local" or the SSH destination). */
  readonly description: string;
  /** Runs argv on the Mac. Never throws on a non-zero exit; throws only if it could not run at all. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /**
   * The argv that runs argv under a fresh pty on the Mac, for a process already there to exec
   * (the Mac lock's holder): `script` as the Mac's platform takes it.
   */
  ptyCommand(argv: readonly string[]): string[];
  /** Starts argv on the Mac with stdin held open until `close()`. */
  open(argv: readonly string[], options?: { readonly root?: boolean }): Session;
  /** Releases what the transport holds (the SSH master connection). Idempotent. */
  dispose(): Promise<void>;
}

/** The Mac could not be reached (ssh's own failure): what a step or an operation reports as is. */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
}

/** The argv prefix that gives root: none when already root. */
export function privilege(root: boolean | undefined, needsSudo: boolean): string[] {
  return root && needsSudo ? ["sudo", "-n", "--"] : [];
}

/**
 * `script` running argv under a fresh pty, exiting with its status. BSD script (macOS) takes the
 * argv directly; util-linux script takes one command line for $SHELL -c, built by the audited
 * quoting function, with SHELL set to the POSIX sh that quoting is for.
 */
export function scriptCommand(argv: readonly string[], platform: NodeJS.Platform): string[] {
  return platform === "darwin" ? ["script", "-q", "/dev/null", ...argv] : ["env", "SHELL=/bin/sh", "script", "-qec", quoteCommand(argv), "/dev/null"];
}

/** Output captured through a pty has CRLF line ends; callers see plain lines. */
export function fromPty(text: string): string {
  return text.replaceAll("\r\n", "\n").replaceAll("\r", "");
}

/** A result captured through a pty, both streams with plain lines. */
export function fromPtyResult(result: RunResult): RunResult {
  return { exitCode: result.exitCode, stdout: fromPty(result.stdout), stderr: fromPty(result.stderr) };
}
