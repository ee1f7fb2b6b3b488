// `npm run lab -- <command>`: the simulated Mac lab from a shell.
import { Command, InvalidArgumentError } from "commander";
import { execa } from "execa";
import { Lab, LabError, requireRoot } from "./lab.js";

let lab: Lab;

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a whole number of hosts, at least 1");
  return n;
}

const program = new Command("lab")
  .description("Simulated Macs (Linux namespaces with real OpenSSH and Postfix under a launchd emulator)")
  .option("--instance <letter>", "a separate lab beside the default one (own folder, bridge, namespaces and 10.(90+n).0.0/16)")
  .hook("preAction", () => {
    requireRoot();
    lab = new Lab({ instance: program.opts<{ instance?: string }>().instance });
  });

program
  .command("up")
  .description("bring the lab up with at least N Macs (idempotent)")
  .option("--hosts <n>", "number of Macs", count, 1)
  .action(async ({ hosts }: { hosts: number }) => {
    for (const h of await lab.up({ hosts })) console.log(`${h.name}\t${h.address}`);
  });

program
  .command("down")
  .description("remove every process, mount, namespace, link, address and file of the lab")
  .action(() => lab.down());

program
  .command("status")
  .description("hosts, addresses, up or down, PID")
  .action(async () => {
    const rows = await lab.status();
    if (!rows.length) console.log("lab is down");
    for (const h of rows) console.log([h.name, h.address, h.up ? "up" : "down", h.cut ? "cut" : "linked", h.pid ?? "-"].join("\t"));
  });

program
  .command("inventory")
  .description("the Macs as JSON: name, address, port, user, identityFile, knownHostsFile")
  .action(async () => console.log(JSON.stringify(await lab.inventory(), null, 2)));

program
  .command("exec")
  .description("run a command as root inside a Mac")
  .argument("<mac>")
  .argument("<command...>")
  .action(async (mac: string, command: string[]) => {
    const { exitCode } = await lab.exec(mac, command, { stdio: "inherit" });
    process.exitCode = exitCode ?? 1;
  });

program
  .command("ssh")
  .description("log in to a Mac as admin over SSH (optionally running a command)")
  .argument("<mac>")
  .argument("[command...]")
  .action(async (mac: string, command: string[]) => {
    const ssh = await lab.sshCommand(mac);
    // Like ssh itself: the words form one remote command line; without them, an interactive login.
    const { exitCode } = await execa(ssh[0]!, [...ssh.slice(1), ...(command.length ? ["--", ...command] : [])], { stdio: "inherit", reject: false });
    process.exitCode = exitCode ?? 1;
  });

for (const [name, description, run] of [
  ["reboot", "end every process of a Mac and boot it again (files persist)", (m: string) => lab.reboot(m)],
  ["cut", "make a Mac unreachable (its link goes down)", (m: string) => lab.cut(m)],
  ["restore", "make a cut Mac reachable again", (m: string) => lab.restore(m)],
] as const) {
  program.command(name).description(description).argument("<mac>").action(run);
}

program.parseAsync().catch((e: unknown) => {
  console.error(`lab: ${e instanceof LabError ? e.message : e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
