/**
 * `mac-postfix status|start|stop|reload|flush|verify --inventory FILE [--only mac1,mac2] [--parallel N] [--json]`
 *
 * Exit status: 0 when every Mac is done, 1 when any failed (unreachable, or the command failed
 * there), 2 when `verify` found differences and none failed.
 */
import { type Command, InvalidArgumentError } from "commander";
import type { Operation } from "../fleet/operations.js";

const DESCRIPTIONS: Readonly<Record<Operation, string>> = {
  status: "show whether each Mac's instance and its launchd job run (postmulti -p status, launchctl print)",
  start: "start each Mac's instance (launchctl kickstart when supervised, else postmulti -p start)",
  stop: "stop each Mac's instance (boot its supervising job out, else postmulti -p stop)",
  reload: "reload each Mac's instance (postfix -c DIR reload)",
  flush: "flush each Mac's queue (postfix -c DIR flush)",
  verify: "report every difference between the inventory and each Mac (drift)",
};

interface FleetOptions {
  readonly inventory: string;
  readonly only?: string[];
  readonly parallel: number;
  readonly json?: boolean;
}

/** Adds the fleet operations to the program. */
export function registerFleetCommands(program: Command): void {
  for (const operation of Object.keys(DESCRIPTIONS) as Operation[]) {
    program
      .command(operation)
      .description(DESCRIPTIONS[operation])
      .requiredOption("--inventory <file>", "the fleet's inventory (YAML or JSON)")
      .option("--only <names>", "only these Macs (comma-separated names)", parseNames)
      .option("--parallel <n>", "Macs at once", parsePositiveInt, 10)
      .option("--json", "print the results as JSON on stdout instead of the table")
      .action((options: FleetOptions) => runCommand(operation, options));
  }
}

async function runCommand(operation: Operation, options: FleetOptions): Promise<void> {
  // Loaded here, not at the top: the fleet code pulls in cdktf, which would slow every
  // `mac-postfix step` that Terraform starts by a third of a second of CPU.
  const [{ InventoryError, loadInventory }, { fleetTargets, runFleetOperation }, { progressDisplay, resultTable }] = await Promise.all([
    import("../fleet/inventory.js"),
    import("../fleet/operations.js"),
    import("../fleet/progress.js"),
  ]);
  let targets;
  try {
    targets = fleetTargets(loadInventory(options.inventory), options.only);
  } catch (error) {
    // Nothing has touched a Mac: say what is wrong with the inventory and stop.
    process.stderr.write(`${error instanceof InventoryError ? error.message : `mac-postfix ${operation}: ${(error as Error).message}`}\n`);
    process.exitCode = 1;
    return;
  }
  // Progress goes to stderr, so stdout stays the table or, with --json, nothing but JSON.
  const progress = progressDisplay(operation, targets.map((t) => t.name), process.stderr);
  const results = await runFleetOperation(operation, targets, { parallel: options.parallel, onUpdate: (name, result) => progress.update(name, result) });
  progress.done();
  if (options.json) process.stdout.write(`${JSON.stringify({ operation, results }, null, 2)}\n`);
  else process.stdout.write(`${resultTable(operation, results)}\n`);
  process.exitCode = results.some((r) => r.outcome === "failed") ? 1 : results.some((r) => r.outcome === "drift") ? 2 : 0;
}

function parseNames(value: string): string[] {
  const names = value.split(",").map((n) => n.trim()).filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError("must name at least one Mac");
  return names;
}

function parsePositiveInt(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError("must be a positive integer");
  return Number(value);
}
