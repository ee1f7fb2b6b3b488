/** What every step module works with: the host, its transport, the action log and step errors. */
import type { HostSpec, MacPaths } from "../spec.js";
import type { RunOptions, RunResult, Transport } from "../transport/index.js";

/** A failed step: names the host, the step, the command and the tool's own text. */
export class StepError extends Error {
  constructor(
    readonly headline: string,
    readonly detail: string = "",
  ) {
    super(detail ? `${headline}\n${detail}` : headline);
    this.name = "StepError";
  }
}

export class StepContext {
  constructor(
    readonly host: HostSpec,
    readonly transport: Transport,
    /** e.g. "instance postfix-in": what log lines and errors are about. */
    readonly subject: string,
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    /** The construct path the step came from, named in failure headlines so the user finds it in code. */
    private readonly construct?: string,
  ) {}

  get paths(): MacPaths {
    return this.host.paths;
  }

  /** A Postfix command from the configured command directory. */
  postfixCommand(name: "postfix" | "postconf" | "postmulti" | "postqueue" | "postsuper"): string {
    return `${this.paths.commandDirectory}/${name}`;
  }

  /** One line per action: "changed" or "no change", so a repeated apply can be seen to do nothing. */
  log(action: string, changed: boolean): void {
    this.write(`[${this.host.name}] ${this.subject}: ${action}: ${changed ? "changed" : "no change"}`);
  }

  note(message: string): void {
    this.write(`[${this.host.name}] ${this.subject}: ${message}`);
  }

  fail(action: string, message: string, detail = ""): never {
    const origin = this.construct ? ` (${this.construct})` : "";
    throw new StepError(`[${this.host.name}] ${this.subject}${origin}: ${action} failed: ${message}`, detail.trim());
  }

  run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    return this.transport.run(argv, options);
  }

  /** Runs as root and fails the step, with the command and its output, unless it exits 0. */
  async must(action: string, argv: readonly string[], options: Omit<RunOptions, "root"> = {}): Promise<RunResult> {
    const result = await this.transport.run(argv, { ...options, root: true });
    if (result.exitCode !== 0) this.failed(action, argv, result);
    return result;
  }

  failed(action: string, argv: readonly string[], result: RunResult): never {
    return this.fail(action, `\`${argv.join(" ")}\` exited ${result.exitCode}`, `${result.stdout}\n${result.stderr}`);
  }
}
