// The fleet commands as their own program, exactly as src/cli/mac-postfix.ts registers them.
import { Command } from "commander";
import { registerFleetCommands } from "../../src/cli/fleet-commands.js";

const program = new Command("mac-postfix");
registerFleetCommands(program);
await program.parseAsync(process.argv);
