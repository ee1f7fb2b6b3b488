/** The execa calls both transports share: run to completion, or hold stdin open as a Session. */
import { execa } from "execa";
import { createInterface } from "node:readline";
import type { RunResult, Session } from "./transport.js";

export async function runProcess(file: string, args: readonly string[], stdin?: string, env?: Record<string, string>): Promise<RunResult> {
  const result = await execa(file, args, {
    reject: false,
    ...(env ? { env } : {}),
    stripFinalNewline: false,
    ...(stdin === undefined ? { stdin: "ignore" as const } : { input: stdin }),
  });
  if (result.exitCode === undefined) {
    throw new Error(`could not run ${file}: ${result.originalMessage ?? result.shortMessage}`);
  }
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

export function startSession(file: string, args: readonly string[]): Session {
  const child = execa(file, args, { reject: false, stdin: "pipe", stdout: "pipe", stderr: "pipe", buffer: { stdout: false, stderr: true } });
  const firstLine = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => {
      resolve(line);
    });
    child.then((result) => {
      reject(new Error(`exited ${result.exitCode ?? result.signal} before it was ready: ${String(result.stderr).trim()}`));
    }, reject);
  });
  // A dead child (a dropped connection) must not turn a heartbeat write into an uncaught EPIPE.
  child.stdin?.on("error", () => undefined);
  // The lines are read once; keep draining so the child never blocks on a full pipe.
  child.stdout?.resume();
  return {
    firstLine,
    send(text) {
      if (child.stdin?.writable) child.stdin.write(text);
    },
    async close() {
      child.stdin?.end();
      await child;
    },
  };
}
