#!/usr/bin/env node
/**
 * mac-postfix: the program Terraform's local-exec provisioners run.
 *   mac-postfix step apply|destroy   (the StepSpec JSON in $MAC_POSTFIX_STEP)
 *   mac-postfix status|start|stop|reload|flush|verify --inventory FILE   (fleet operations)
 */
import { Command, InvalidArgumentError } from "commander";
import { parseStepSpec, runStep, StepError } from "../executor/index.js";
import { registerFleetCommands } from "./fleet-commands.js";
import { STEP_ENV, type StepAction } from "../spec.js";

const program = new Command("mac-postfix").description("Deploy a second Postfix instance and its launchd job to Macs");

program
  .command("step")
  .description(`run one deploy step; the StepSpec JSON is read from $${STEP_ENV}`)
  .argument("<action>", "apply or destroy", (value: string): StepAction => {
    if (value !== "apply" && value !== "destroy") throw new InvalidArgumentError('must be "apply" or "destroy"');
    return value;
  })
  .action(async (action: StepAction) => {
    let spec;
    try {
      spec = parseStepSpec(process.env[STEP_ENV]);
    } catch (error) {
      return fail(`mac-postfix: invalid step spec in $${STEP_ENV}: ${(error as Error).message}`);
    }
    try {
      await runStep(spec, action);
    } catch (error) {
      if (error instanceof StepError) return fail(error.headline, error.detail);
      // Anything else (ssh, the lock): its first line is the headline, the rest the tool's own text.
      const [first, ...rest] = (error as Error).message.split("\n");
      return fail(`[${spec.host.name}] ${spec.kind} (${spec.construct}): ${action} failed: ${first}`, rest.join("\n"));
    }
  });

registerFleetCommands(program);

function fail(headline: string, detail = ""): void {
  process.stderr.write(`${headline}\n${detail ? `${detail.replace(/^/gm, "  ")}\n` : ""}`);
  process.exitCode = 1;
}

await program.parseAsync(process.argv);
