/**
 * Fleet-wide operations: the recipe's manual commands (status, start, stop, reload, flush) and
 * drift detection (verify), run on many Macs at once, one SSH connection per Mac.
 *
 * What each Mac should look like comes from the constructs themselves: the fleet is built in a
 * throwaway App and its step specs are read back, so `verify` compares against exactly what a
 * deploy would apply.
 */
import type { TerraformResource } from "cdktf";
import pLimit from "p-limit";
import {
  bootoutAndWait,
  domainTarget,
  findInstance,
  isDisabled,
  jobState,
  masterRunning,
  readFile,
  settingValue,
  smtpGreeting,
  statFile,
  StepContext,
  transportFor,
  withMacLock,
  type Transport,
} from "../executor/index.js";
import type { HostSpec, InstanceConfigStep, InstanceStep, LaunchJobStep, ReadinessStep } from "../spec.js";
import type { Inventory } from "./inventory.js";
import { MacFleet } from "./mac-fleet.js";
import { inScratchStack } from "./scratch.js";

export const OPERATIONS = ["status", "start", "stop", "reload", "flush", "verify"] as const;
export type Operation = (typeof OPERATIONS)[number];

/** What one Mac should look like, as the constructs would deploy it. */
export interface MacTarget {
  readonly name: string;
  readonly host: HostSpec;
  readonly instance: InstanceStep;
  readonly config: InstanceConfigStep;
  readonly job: LaunchJobStep;
  /** launchd supervises a foreground master (runMode "supervised"): the job must be running. */
  readonly supervised: boolean;
  readonly smtp: { readonly address: string; readonly port: number } | null;
}

/** How an operation ended on one Mac. */
export interface MacResult {
  readonly name: string;
  /** done: it worked (verify: no difference); drift: verify found differences; failed: it could not be done. */
  readonly outcome: "done" | "drift" | "failed";
  /** One line for the table. */
  readonly summary: string;
  /** verify: each difference between the inventory and the Mac. */
  readonly differences: readonly string[];
}

/**
 * The Macs of an inventory as the constructs would deploy them, optionally only some of them.
 * Unknown names in `only` are an error that lists the known ones.
 */
export function fleetTargets(inventory: Inventory, only?: readonly string[]): MacTarget[] {
  const known = inventory.hosts.map((m) => m.name);
  const unknown = (only ?? []).filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`${inventory.source}: --only names no live Mac: ${unknown.join(", ")} (known: ${known.join(", ")})`);
  return inScratchStack((stack) => {
    const fleet = new MacFleet(stack, "Fleet", { inventory, ledger: false });
    return [...fleet.members.values()]
      .filter(({ mac }) => only === undefined || only.includes(mac.name))
      .map(({ mac, host, input }) => {
        // Read back the readiness step's own flag rather than re-deriving it from runMode.
        const readiness = (input.readinessResource as TerraformResource).toTerraform() as { resource: { terraform_data: Record<string, { input: string }> } };
        return {
          name: mac.name,
          host: host.spec,
          instance: input.instance.instanceStep,
          config: input.instance.configStep,
          job: input.daemon.step,
          supervised: (JSON.parse(Object.values(readiness.resource.terraform_data)[0]!.input) as ReadinessStep).expectRunning,
          smtp: input.smtpEndpoint,
        };
      });
  });
}

export interface RunFleetOptions {
  /** Macs worked on at once. @default 10 */
  readonly parallel?: number;
  /** Called when a Mac starts (result undefined) and when it ends. */
  readonly onUpdate?: (name: string, result?: MacResult) => void;
  /** Opens the transport of a Mac. @default the executor's transport for its HostSpec */
  readonly transport?: (host: HostSpec) => Transport;
}

/** Runs an operation on every target, `parallel` at a time; a Mac that fails never stops the others. */
export async function runFleetOperation(operation: Operation, targets: readonly MacTarget[], options: RunFleetOptions = {}): Promise<MacResult[]> {
  const limit = pLimit(options.parallel ?? 10);
  const open = options.transport ?? transportFor;
  return Promise.all(
    targets.map((target) =>
      limit(async () => {
        options.onUpdate?.(target.name);
        const run = (via: Transport) => OPERATION_RUNNERS[operation](new StepContext(target.host, via, `${operation} ${target.instance.instance.name}`, () => {}), target);
        let transport: Transport | undefined;
        let result: MacResult;
        try {
          transport = open(target.host);
          // What changes the Mac waits for the Mac lock, as deploy steps do: a stop between a
          // deploy's bootout and bootstrap would fail that deploy. status and verify only read.
          result = operation === "status" || operation === "verify" ? await run(transport) : await withMacLock(transport, run);
        } catch (error) {
          result = { name: target.name, outcome: "failed", summary: oneLine((error as Error).message), differences: [] };
        } finally {
          await transport?.dispose().catch(() => undefined);
        }
        options.onUpdate?.(target.name, result);
        return result;
      }),
    ),
  );
}

type Runner = (ctx: StepContext, target: MacTarget) => Promise<MacResult>;

const done = (target: MacTarget, summary: string): MacResult => ({ name: target.name, outcome: "done", summary, differences: [] });

/** Runs a command as root and fails with its own text unless it exits 0. */
async function must(ctx: StepContext, what: string, argv: string[]): Promise<string> {
  // Postfix and postmulti print their errors only to a terminal: run them under a pty.
  const result = await ctx.run(argv, { root: true, pty: true });
  if (result.exitCode !== 0) ctx.fail(what, `\`${argv.join(" ")}\` exited ${result.exitCode}: ${oneLine(`${result.stdout}\n${result.stderr}`) || "no output"}`);
  return oneLine(result.stdout);
}

const service = async (ctx: StepContext, target: MacTarget) => `${await domainTarget(ctx, target.job.domain)}/${target.job.label}`;
const postmulti = (ctx: StepContext, target: MacTarget, command: string) => [ctx.postfixCommand("postmulti"), "-i", target.instance.instance.name, "-p", command];
const postfix = (ctx: StepContext, target: MacTarget, command: string) => [ctx.postfixCommand("postfix"), "-c", target.instance.instance.configDirectory, command];

const OPERATION_RUNNERS: Readonly<Record<Operation, Runner>> = {
  async status(ctx, target) {
    const job = await jobState(ctx, await service(ctx, target));
    const jobText = job === null ? "job not loaded" : `job ${job.state ?? "loaded"}${job.pid ? ` (pid ${job.pid})` : ""}`;
    const result = await ctx.run(postmulti(ctx, target, "status"), { root: true, pty: true });
    const text = oneLine(result.stdout) || `exit ${result.exitCode}`;
    if (result.exitCode !== 0) return { name: target.name, outcome: "failed", summary: `${text}; ${jobText}`, differences: [] };
    return done(target, `${text}; ${jobText}`);
  },

  async start(ctx, target) {
    if (!target.supervised) return done(target, (await must(ctx, "start", postmulti(ctx, target, "start"))) || "started");
    const name = await service(ctx, target);
    // A stopped supervised instance was booted out: load it again, then make sure it runs.
    if ((await jobState(ctx, name)) === null) await must(ctx, "start", [ctx.paths.launchctl, "bootstrap", name.slice(0, name.lastIndexOf("/")), target.job.path]);
    await must(ctx, "start", [ctx.paths.launchctl, "kickstart", name]);
    const job = await jobState(ctx, name);
    return done(target, `${name} ${job?.state ?? "not loaded"}${job?.pid ? ` (pid ${job.pid})` : ""}`);
  },

  async stop(ctx, target) {
    // Under KeepAlive launchd would restart a master that postfix stops: stop the job itself.
    // It is still enabled, so the next boot (or `start`) brings it back.
    if (target.supervised) return done(target, (await bootoutAndWait(ctx, await service(ctx, target))) ? "job booted out, master stopped" : "already stopped");
    return done(target, (await must(ctx, "stop", postmulti(ctx, target, "stop"))) || "stopped");
  },

  async reload(ctx, target) {
    return done(target, (await must(ctx, "reload", postfix(ctx, target, "reload"))) || "reloaded");
  },

  async flush(ctx, target) {
    return done(target, (await must(ctx, "flush", postfix(ctx, target, "flush"))) || "flushed");
  },

  async verify(ctx, target) {
    const differences: string[] = [];
    const { configDirectory, name } = target.instance.instance;
    const listed = await findInstance(ctx, target.instance.instance);
    if (listed === undefined) {
      differences.push(`instance ${name}: not in postmulti -l`);
    } else {
      if (listed.name !== name || listed.configDirectory !== configDirectory) differences.push(`instance: postmulti lists ${listed.name} at ${listed.configDirectory}, want ${name} at ${configDirectory}`);
      if (listed.enabled !== target.config.enabled) differences.push(`instance ${name}: ${listed.enabled ? "enabled" : "disabled"}, want ${target.config.enabled ? "enabled" : "disabled"}`);
      if ((listed.group ?? undefined) !== target.config.group) differences.push(`instance ${name}: group ${listed.group ?? "(none)"}, want ${target.config.group ?? "(none)"}`);
      for (const [setting, want] of Object.entries(target.config.settings)) {
        let have: string;
        try {
          have = await settingValue(ctx, configDirectory, setting);
        } catch (error) {
          differences.push(`setting ${setting}: cannot read it: ${oneLine((error as Error).message)}`);
          continue;
        }
        if (have !== want) differences.push(`setting ${setting}: ${JSON.stringify(have)}, want ${JSON.stringify(want)}`);
      }
    }

    const plist = await readFile(ctx, target.job.path);
    if (plist === null) differences.push(`plist ${target.job.path}: missing`);
    else {
      if (plist !== target.job.plist) differences.push(`plist ${target.job.path}: content differs from the inventory's (${describeDiff(plist, target.job.plist)})`);
      const meta = await statFile(ctx, target.job.path);
      if (meta && (meta.uid !== 0 || meta.gid !== 0 || meta.mode !== 0o644)) differences.push(`plist ${target.job.path}: owner ${meta.uid}:${meta.gid} mode ${meta.mode.toString(8)}, want 0:0 644`);
    }

    const domain = await domainTarget(ctx, target.job.domain);
    const serviceName = `${domain}/${target.job.label}`;
    const job = await jobState(ctx, serviceName);
    if (job === null) differences.push(`job ${serviceName}: not loaded`);
    else if (target.supervised && job.state !== "running") differences.push(`job ${serviceName}: ${job.state ?? "no state"}, want running`);
    if (await isDisabled(ctx, domain, target.job.label)) differences.push(`job ${serviceName}: disabled in launchd's override database, so it will not start at boot`);
    if (!(await masterRunning(ctx, configDirectory))) differences.push(`instance ${name}: master not running (postfix -c ${configDirectory} status)`);

    if (target.smtp) {
      const { address, port } = target.smtp;
      await smtpGreeting(address, port).catch((error: Error) => differences.push(`SMTP ${address}:${port}: no 220 greeting: ${oneLine(error.message)}`));
    }
    if (differences.length === 0) return done(target, "matches the inventory");
    return { name: target.name, outcome: "drift", summary: `${differences.length} difference${differences.length === 1 ? "" : "s"}`, differences };
  },
};

/** The first line that differs, to point a reader at it. */
function describeDiff(have: string, want: string): string {
  const a = have.split("\n");
  const b = want.split("\n");
  const i = a.findIndex((line, index) => line !== b[index]);
  const line = i === -1 ? a.length : i;
  return `first difference at line ${line + 1}: ${JSON.stringify(a[line] ?? "(end)")}, want ${JSON.stringify(b[line] ?? "(end)")}`;
}

function oneLine(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .join("; ");
}
