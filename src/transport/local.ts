/** Commands on this machine: argv arrays through execa, never a shell. */
import { runProcess, startSession } from "./process.js";
import { fromPty, privilege, scriptCommand, type RunOptions, type RunResult, type Session, type Transport } from "./transport.js";

export class LocalTransport implements Transport {
  readonly description = "local";
  private readonly needsSudo: boolean;

  constructor(sudo: boolean | "auto") {
    this.needsSudo = sudo === "auto" ? process.getuid?.() !== 0 : sudo;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const command = [...privilege(options.root, this.needsSudo), ...argv];
    if (!options.pty) return runProcess(command[0]!, command.slice(1), options.stdin);
    const [script, ...args] = this.ptyCommand(command);
    const result = await runProcess(script!, args, options.stdin);
    return { exitCode: result.exitCode, stdout: fromPty(result.stdout), stderr: result.stderr };
  }

  ptyCommand(argv: readonly string[]): string[] {
    return scriptCommand(argv, process.platform);
  }

  open(argv: readonly string[], options: { readonly root?: boolean } = {}): Session {
    const command = [...privilege(options.root, this.needsSudo), ...argv];
    return startSession(command[0]!, command.slice(1));
  }

  async dispose(): Promise<void> {}
}
