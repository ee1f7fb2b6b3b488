/** Runs one step on its Mac: the transport, the Mac lock, and the kind's apply or destroy. */
import type { StepAction, StepSpec } from "../spec.js";
import { transportFor, type Transport } from "../transport/index.js";
import { StepContext, StepError } from "./context.js";
import { applyInstanceConfig } from "./instance-config.js";
import { applyInstance, destroyInstance, destroyQueueGuard } from "./instance.js";
import { applyLaunchJob, destroyLaunchJob } from "./launch-job.js";
import { withMacLock, type LockAgents } from "./lock.js";
import { applyLogoutHook, destroyLogoutHook } from "./logout-hook.js";
import { applyReadiness } from "./readiness.js";
import { applySudoRule, destroySudoRule } from "./sudo-rule.js";

/** What a log line and an error say the step is about. */
export function subjectOf(spec: StepSpec): string {
  switch (spec.kind) {
    case "instance":
    case "instance-config":
    case "queue-guard":
      return `${spec.kind} ${spec.instance.name}`;
    case "launch-job":
    case "readiness":
      return `${spec.kind} ${spec.label}`;
    case "logout-hook":
    case "sudo-rule":
      return `${spec.kind} ${spec.path}`;
  }
}

async function dispatch(ctx: StepContext, spec: StepSpec, action: StepAction): Promise<void> {
  switch (spec.kind) {
    case "instance":
      return action === "apply" ? applyInstance(ctx, spec) : destroyInstance(ctx, spec);
    case "instance-config":
      // Settings live and die with the instance: destroying them alone changes nothing.
      return action === "apply" ? applyInstanceConfig(ctx, spec) : ctx.log("destroy", false);
    case "launch-job":
      return action === "apply" ? applyLaunchJob(ctx, spec) : destroyLaunchJob(ctx, spec);
    case "readiness":
      return action === "apply" ? applyReadiness(ctx, spec) : ctx.log("destroy", false);
    case "queue-guard":
      return action === "apply" ? ctx.log("apply", false) : destroyQueueGuard(ctx, spec);
    case "logout-hook":
      return action === "apply" ? applyLogoutHook(ctx, spec) : destroyLogoutHook(ctx, spec);
    case "sudo-rule":
      return action === "apply" ? applySudoRule(ctx, spec) : destroySudoRule(ctx, spec);
  }
}

export interface RunStepOptions {
  /** Where log lines go (default: stderr). */
  readonly log?: (line: string) => void;
  /** A transport to use instead of a new one for spec.host (kept open; not disposed here). */
  readonly transport?: Transport;
  /** Idle lock holders to take this Mac's from, and give it back to (a process running many steps). */
  readonly agents?: LockAgents;
}

/**
 * Runs the step under the Mac's lock; the transport it opened is closed whatever happens. It fails
 * only with a StepError: one that is not (ssh, the lock) gets its first line as the headline's reason.
 */
export async function runStep(spec: StepSpec, action: StepAction, options: RunStepOptions = {}): Promise<void> {
  const transport = options.transport ?? transportFor(spec.host);
  const context = (via: Transport) => new StepContext(spec.host, via, subjectOf(spec), options.log, spec.construct);
  try {
    const pool = options.agents && { agents: options.agents, key: JSON.stringify([spec.host.connection, spec.host.sudo]) };
    await withMacLock(transport, (locked) => dispatch(context(locked), spec, action), () => context(transport).note("waiting for another deploy's lock on this Mac"), pool);
  } catch (error) {
    if (error instanceof StepError) throw error;
    const [first, ...rest] = (error as Error).message.split("\n");
    context(transport).fail(action, first ?? "", rest.join("\n"));
  } finally {
    if (!options.transport) await transport.dispose();
  }
}
