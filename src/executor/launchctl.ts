/** launchctl on the Mac: domain targets, the state `print` reports, and a bootout that waits. */
import { setTimeout as delay } from "node:timers/promises";
import type { LaunchDomain } from "../spec.js";
import { scopeSignal } from "../transport/index.js";
import type { StepContext } from "./context.js";

/** Exit code of `print`/`kickstart` when launchd does not know the service. */
const NOT_FOUND = 113;

export interface JobState {
  readonly state: string | null;
  readonly pid: number | null;
  /** How its last run ended (`last exit code = N`); null until it has exited once. */
  readonly lastExitCode: number | null;
}

/** `system` or `gui/<uid>` (the uid of domain.user, looked up on the Mac). */
export async function domainTarget(ctx: StepContext, domain: LaunchDomain): Promise<string> {
  if (domain.type === "system") return "system";
  const argv = ["id", "-u", "--", domain.user];
  const result = await ctx.run(argv);
  if (result.exitCode !== 0) ctx.failed(`look up user ${domain.user}`, argv, result);
  return `gui/${result.stdout.trim()}`;
}

/**
 * Whether the domain exists: `system` always; `gui/<uid>` only while that user is logged in
 * (bootstrapping into it otherwise fails with 125). Agents installed meanwhile load at login.
 */
export async function domainExists(ctx: StepContext, target: string): Promise<boolean> {
  if (target === "system") return true;
  return (await ctx.run([ctx.paths.launchctl, "print", target], { root: true })).exitCode === 0;
}

/** The job's state and pid from `launchctl print`, or null when it is not loaded. */
export async function jobState(ctx: StepContext, serviceTarget: string): Promise<JobState | null> {
  const argv = [ctx.paths.launchctl, "print", serviceTarget];
  const result = await ctx.run(argv, { root: true });
  if (result.exitCode === NOT_FOUND) return null;
  if (result.exitCode !== 0) ctx.failed("launchctl print", argv, result);
  return parsePrint(result.stdout);
}

/** `print` is "not API": read only the top-level `state`, `pid` and `last exit code` lines. */
export function parsePrint(text: string): JobState {
  const field = (name: string) => new RegExp(`^\\t?${name} = (.*)$`, "m").exec(text)?.[1]?.trim() ?? null;
  // Only the leading number counts: whatever a macOS release prints after it is ignored.
  const number = (value: string | null) => {
    const digits = value === null ? null : /^\d+/.exec(value);
    return digits ? Number(digits[0]) : null;
  };
  return { state: field("state"), pid: number(field("pid")), lastExitCode: number(field("last exit code")) };
}

/** Boots the job out and waits until launchd has let it go (bootout is asynchronous). */
export async function bootoutAndWait(ctx: StepContext, serviceTarget: string, timeoutMs = 60_000): Promise<boolean> {
  if (!(await jobState(ctx, serviceTarget))) return false;
  const argv = [ctx.paths.launchctl, "bootout", serviceTarget];
  const result = await ctx.run(argv, { root: true });
  // 3 (No such process) / 5: it went away between our print and the bootout; 37 (Operation
  // already in progress): another bootout is draining it. Either way, wait for it to go.
  if (![0, 3, 5, 37].includes(result.exitCode)) ctx.failed("launchctl bootout", argv, result);
  const deadline = Date.now() + timeoutMs;
  while (await jobState(ctx, serviceTarget)) {
    if (Date.now() > deadline) ctx.fail("launchctl bootout", `${serviceTarget} still loaded after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
  return true;
}

/** Waits ms, or rejects at once when the step's client has gone away (a step server's scope). */
export function sleep(ms: number): Promise<void> {
  return delay(ms, undefined, { signal: scopeSignal() });
}

/** Whether the override database marks the label disabled (`print-disabled`, macOS 11-12 and 13+ formats). */
export async function isDisabled(ctx: StepContext, domainTargetName: string, label: string): Promise<boolean> {
  const argv = [ctx.paths.launchctl, "print-disabled", domainTargetName];
  const result = await ctx.run(argv, { root: true });
  if (result.exitCode !== 0) ctx.failed("launchctl print-disabled", argv, result);
  return parseDisabled(result.stdout, label);
}

/** Reads `print-disabled`: `"LABEL" => disabled|enabled` (macOS 13+) or `=> true|false` (11-12). */
export function parseDisabled(output: string, label: string): boolean {
  for (const line of output.split("\n")) {
    const match = /^\s*"(.*)" => (\S+)\s*$/.exec(line);
    if (match && match[1] === label) return match[2] === "disabled" || match[2] === "true";
  }
  return false;
}
