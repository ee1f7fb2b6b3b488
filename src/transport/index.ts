export type { RunOptions, RunResult, Session, Transport } from "./transport.js";
export { quoteArg, quoteCommand } from "./shell-quote.js";
export { LocalTransport } from "./local.js";
export { inProcessScope, scopeSignal, type ProcessScope } from "./process.js";
export { SshTransport, validateSshTarget, sshOptions, type SshTarget } from "./ssh.js";
import type { HostSpec } from "../spec.js";
import { LocalTransport } from "./local.js";
import { SshTransport } from "./ssh.js";
import type { Transport } from "./transport.js";

/** The transport that reaches the Mac a HostSpec names. */
export function transportFor(host: HostSpec): Transport {
  const { connection } = host;
  if (connection.transport === "local") return new LocalTransport(host.sudo);
  const { transport: _, ...target } = connection;
  return new SshTransport(target, host.sudo);
}
