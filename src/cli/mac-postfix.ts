#!/usr/bin/env node
/**
 * mac-postfix: the program Terraform's local-exec provisioners run.
 *   mac-postfix step apply|destroy   (the StepSpec JSON in $MAC_POSTFIX_STEP)
 *   mac-postfix status|start|stop|reload|flush|verify --inventory FILE   (fleet operations)
 */
import { Command, InvalidArgumentError } from "commander";
import { registerFleetCommands } from "./fleet-commands.js";
import { isStepAction, stepCommand } from "./step-command.js";
import { STEP_ENV, type StepAction } from "../spec.js";

const program = new Command("mac-postfix").description("Deploy a second Postfix instance and its launchd job to Macs");

program
  .command("step")
  .description(`run one deploy step; the StepSpec JSON is read from $${STEP_ENV}`)
  .argument("<action>", "apply or destroy", (value: string): StepAction => {
    if (!isStepAction(value)) throw new InvalidArgumentError('must be "apply" or "destroy"');
    return value;
  })
  .action(async (action: StepAction) => {
    process.exitCode = await stepCommand(action, process.env[STEP_ENV], (text) => process.stderr.write(text));
  });

registerFleetCommands(program);

await program.parseAsync(process.argv);
