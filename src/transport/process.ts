/** The execa calls both transports share: run to completion, or hold stdin open as a Session. */
import { AsyncLocalStorage } from "node:async_hooks";
import { execa } from "execa";
import type { RunResult, Session } from "./transport.js";

/**
 * Whose processes these are when one node process runs the steps of many callers (the step server):
 * the caller's environment (its PATH, its ssh-agent) and working folder, and a signal that ends
 * the processes when that caller goes away, as they would end with a step program of its own.
 */
export interface ProcessScope {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly signal: AbortSignal;
}

const scopes = new AsyncLocalStorage<ProcessScope>();

/** Runs fn with every process it starts (through this module) in the given scope. */
export function inProcessScope<T>(scope: ProcessScope, fn: () => Promise<T>): Promise<T> {
  return scopes.run(scope, fn);
}

/** The current scope's signal: a step's waits end with it too (see sleep in executor/launchctl.ts). */
export function scopeSignal(): AbortSignal | undefined {
  return scopes.getStore()?.signal;
}

/**
 * Runs fn with the processes it starts in the current scope's environment and working folder (or
 * this process's own), but ended by signal instead of the scope's: for a process that outlives
 * the step that started it (an idle lock holder kept for the Mac's next step).
 */
export function withProcessSignal<T>(signal: AbortSignal, fn: () => T): T {
  const scope = scopes.getStore();
  return scopes.run({ env: scope?.env ?? (process.env as Record<string, string>), cwd: scope?.cwd ?? process.cwd(), signal }, fn);
}

/** execa options of the current scope: none outside one (this process's own environment). */
function scopeOptions() {
  const scope = scopes.getStore();
  return scope ? { env: scope.env, extendEnv: false, cwd: scope.cwd, cancelSignal: scope.signal } : {};
}

export async function runProcess(file: string, args: readonly string[], stdin?: string): Promise<RunResult> {
  const result = await execa(file, args, {
    ...scopeOptions(),
    reject: false,
    stripFinalNewline: false,
    ...(stdin === undefined ? { stdin: "ignore" as const } : { input: stdin }),
  });
  if (result.exitCode === undefined) {
    throw new Error(`could not run ${file}: ${result.originalMessage ?? result.shortMessage}`);
  }
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/**
 * How a session's command ended, as the error it is when that comes before its first line: by
 * default its exit code (or signal) and stderr.
 */
export type DescribeEnd = (exitCode: number | undefined, stderr: string) => Error;
export const exitedWith: DescribeEnd = (exitCode, stderr) => new Error(`exited ${exitCode ?? "on a signal"}${stderr.trim() ? `: ${stderr.trim()}` : ""}`);

export function startSession(file: string, args: readonly string[], describeEnd: DescribeEnd = exitedWith): Session {
  const child = execa(file, args, { ...scopeOptions(), reject: false, stdin: "pipe", stdout: "pipe", stderr: "pipe", buffer: { stdout: false, stderr: true } });
  const end = child.then((result) => describeEnd(result.exitCode, String(result.stderr)));
  const ended = end.then((error) => error.message);
  // Output before the first newline is the first line; the rest goes to the listener, or waits for one.
  let head: Buffer | null = Buffer.alloc(0);
  let resolveFirstLine!: (line: string) => void;
  const firstLine = new Promise<string>((resolve, reject) => {
    resolveFirstLine = resolve;
    end.then(reject, reject);
  });
  const pending: Buffer[] = [];
  let listener: ((chunk: Buffer) => void) | undefined;
  const deliver = (chunk: Buffer) => (listener ? listener(chunk) : pending.push(chunk));
  child.stdout!.on("data", (chunk: Buffer) => {
    if (head === null) return deliver(chunk);
    head = Buffer.concat([head, chunk]);
    const newline = head.indexOf(0x0a);
    if (newline < 0) return;
    const rest = head.subarray(newline + 1);
    resolveFirstLine(head.subarray(0, newline).toString("utf8"));
    head = null;
    if (rest.length > 0) deliver(rest);
  });
  // A dead child (a dropped connection) must not turn a heartbeat write into an uncaught EPIPE.
  child.stdin?.on("error", () => undefined);
  return {
    firstLine,
    ended,
    onData(receive) {
      listener = receive;
      for (const chunk of pending.splice(0)) receive(chunk);
    },
    send(data) {
      if (child.stdin?.writable) child.stdin.write(data);
    },
    async close() {
      child.stdin?.end();
      await child;
    },
  };
}
