/** Commands on this machine: argv arrays through execa, never a shell. */
import { quoteCommand } from "./shell-quote.js";
import { runProcess, startSession } from "./process.js";
import { fromPty, privilege, type RunOptions, type RunResult, type Session, type Transport } from "./transport.js";

export class LocalTransport implements Transport {
  readonly description = "local";
  private readonly needsSudo: boolean;

  constructor(sudo: boolean | "auto") {
    this.needsSudo = sudo === "auto" ? process.getuid?.() !== 0 : sudo;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const command = [...privilege(options.root, this.needsSudo), ...argv];
    if (!options.pty) return runProcess(command[0]!, command.slice(1), options.stdin);
    // util-linux script runs its command line with $SHELL: make that the POSIX sh the quoting is for.
    const result = await runProcess("script", ptyArgs(command), options.stdin, { SHELL: "/bin/sh" });
    return { exitCode: result.exitCode, stdout: fromPty(result.stdout), stderr: result.stderr };
  }

  open(argv: readonly string[], options: { readonly root?: boolean } = {}): Session {
    const command = [...privilege(options.root, this.needsSudo), ...argv];
    return startSession(command[0]!, command.slice(1));
  }

  async dispose(): Promise<void> {}
}

/**
 * `script` runs a command under a fresh pty. BSD script (macOS) takes the argv directly;
 * util-linux script takes one sh command line, built by the audited quoting function.
 */
export function ptyArgs(argv: readonly string[], platform: NodeJS.Platform = process.platform): string[] {
  return platform === "darwin" ? ["-q", "/dev/null", ...argv] : ["-qec", quoteCommand(argv), "/dev/null"];
}
