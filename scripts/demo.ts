/**
 * `npm run demo`: the whole job on simulated Macs, end to end, as root on a Linux machine.
 *
 *   1. what is missing: the build (lib/), swaks; the lab installs its own Debian packages
 *   2. three fresh simulated Macs (the default lab, test/lab)
 *   3. an inventory for them, then the real `cdktf deploy fleet --auto-approve` over SSH
 *   4. the recipe's step 5: a message to each Mac's new instance from this machine (SMTP to the
 *      Mac's address, port 25) and one from inside the Mac (swaks to the same address), each
 *      checked to have arrived
 *   5. `mac-postfix verify --inventory ...`
 *   6. the table of what happened, then `cdktf destroy` and `lab down` (not with --keep)
 *
 * Exit status 0 only when every step on every Mac worked.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Command, InvalidArgumentError } from "commander";
import { execa, type ResultPromise } from "execa";
import { createTransport } from "nodemailer";
import { stringify } from "yaml";
import { Lab, LabError, requireRoot, type InventoryHost } from "../test/lab/lab.js";
import { fleetTargets, loadInventory, type MacTarget } from "../src/index.js";

const REPO = resolve(import.meta.dirname, "..");
const BIN = join(REPO, "node_modules", ".bin");
const CLI = join(REPO, "lib", "cli", "mac-postfix.js");
/** The demo's folder: inventory, ledger, Terraform state, cdktf.out and the full logs. */
const WORK = join(tmpdir(), "mac-postfix-demo");
const STACK = "fleet";
/** How long a message may take from "250 queued" to the mailbox. */
const ARRIVAL_MS = 30_000;

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);
const detail = (line: string) => console.log(`           ${line}`);

interface Row {
  deploy: string;
  remote: string;
  local: string;
  verify: string;
}
const COLUMNS: Readonly<Record<keyof Row, string>> = { deploy: "deploy", remote: "remote mail", local: "local mail", verify: "verify" };
/** A cell is a pass when it starts with one of these words. */
const PASS = /^(ok|delivered)\b/;

function hostCount(value: string): number {
  if (!/^[1-9]\d*$/.test(value) || Number(value) > 20) throw new InvalidArgumentError("a whole number from 1 to 20");
  return Number(value);
}

const program = new Command("demo")
  .description("Deploy the postfix-in instance to simulated Macs with the real cdktf CLI, mail it from near and far, verify, tear down")
  .option("--hosts <n>", "how many simulated Macs", hostCount, 3)
  .option("--keep", "leave the lab and the deployment up to explore, and print how to reach them")
  .parse();
const options = program.opts<{ hosts: number; keep?: boolean }>();

let interrupted = false;
process.on("SIGINT", () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  say("interrupted: skipping to the clean-up (press Ctrl-C again to leave everything as it is)");
});

const lab = new Lab();
const problems: string[] = [];
let exitCode = 0;
try {
  exitCode = await main();
} catch (error) {
  console.error(`demo: ${error instanceof LabError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  exitCode = 1;
  if (!options.keep) await cleanUp(undefined);
}
process.exitCode = interrupted ? 130 : exitCode;

async function main(): Promise<number> {
  requireRoot();
  say(`cdktf-mac-postfix demo: ${options.hosts} simulated Macs, folder ${WORK}`);
  await prerequisites();

  // Fresh Macs every run: an earlier --keep (or a lab brought up by hand) is taken down first.
  const before = await lab.status();
  if (before.length > 0) {
    say(`the default lab is up (${before.map((h) => h.name).join(", ")}): taking it down to start from fresh Macs`);
    await lab.down();
  }
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true, mode: 0o700 });

  say(`lab up --hosts ${options.hosts}`);
  const macs = await lab.up({ hosts: options.hosts });
  for (const mac of macs) detail(`${mac.name}  ${mac.address}  ssh ${mac.user}@${mac.address}`);

  const inventoryFile = join(WORK, "fleet.yaml");
  await writeInventory(inventoryFile, macs);
  const inventory = loadInventory(inventoryFile);
  const targets = fleetTargets(inventory);
  const segments = new Map(inventory.hosts.map((mac) => [mac.name, mac.segment]));
  say(`inventory ${inventoryFile}`);
  const rows = new Map<string, Row>(macs.map((m) => [m.name, { deploy: "-", remote: "-", local: "-", verify: "-" }]));

  // Deploy.
  say(`cdktf deploy ${STACK} --auto-approve (log: ${join(WORK, "deploy.log")})`);
  const deploy = await cdktf("deploy", inventoryFile);
  for (const target of targets) {
    // The readiness step (job running, 220 greeting) is the last of a Mac's steps.
    const ready = new RegExp(`terraform_data\\.${segments.get(target.name)}_readiness(?: \\([^)]*\\))?: Creation complete`).test(deploy.output);
    rows.get(target.name)!.deploy = deploy.exitCode === 0 || ready ? "ok" : "failed";
  }
  if (deploy.exitCode !== 0) problems.push(`cdktf deploy exited ${deploy.exitCode}; the end of its log:\n${tail(deploy.output, 40)}`);

  // The recipe's step 5: mail from a remote source and a local one, to every Mac at once.
  if (!interrupted) {
    const run = Date.now().toString(36);
    say(`mail: to each Mac's instance from this machine (nodemailer) and from inside the Mac (swaks)`);
    await Promise.all(
      targets.map(async (target) => {
        const row = rows.get(target.name)!;
        const failed = (error: unknown) => `error: ${(error as Error).message.split("\n")[0]}`;
        const [remote, local] = await Promise.all([mailFromHere(target, run).catch(failed), mailFromInside(target, run).catch(failed)]);
        row.remote = remote;
        row.local = local;
        detail(`${target.name}: from here: ${remote}; from inside: ${local}`);
      }),
    );
  }

  // Drift detection with the package's own CLI.
  let verifyExit: number | undefined;
  if (!interrupted) {
    say(`mac-postfix verify --inventory ${inventoryFile}`);
    const verify = await stream(execa("node", [CLI, "verify", "--inventory", inventoryFile], { reject: false, all: true, cwd: REPO }), (line) => detail(`| ${line}`));
    verifyExit = verify.exitCode;
    for (const line of verify.stdout.split("\n")) {
      const match = /^(\S+)\s+(done|drift|failed)\s+(.*)$/.exec(line);
      const row = match && rows.get(match[1]!);
      if (row) row.verify = match[2] === "done" ? "ok" : `${match[2]}: ${match[3]}`;
    }
    if (verifyExit !== 0) problems.push(`mac-postfix verify exited ${verifyExit} (1: a Mac failed, 2: drift)`);
  }

  for (const [name, row] of rows) {
    for (const [column, cell] of Object.entries(row)) if (!PASS.test(cell)) problems.push(`${name}: ${COLUMNS[column as keyof Row]}: ${cell}`);
  }
  console.log();
  console.log(table(macs, rows));
  console.log();

  if (options.keep && !interrupted) {
    explore(macs, targets, inventoryFile);
  } else {
    await cleanUp(inventoryFile);
  }

  const unique = [...new Set(problems)];
  if (unique.length > 0 || interrupted) {
    say(`demo FAILED${interrupted ? " (interrupted)" : ""}:`);
    for (const problem of unique) for (const line of problem.split("\n")) detail(line);
    return 1;
  }
  say(`demo passed: ${macs.length} Macs deployed, mailed from near and far, verified${options.keep ? "" : ", destroyed"}`);
  return 0;
}

/** Terraform, the build and swaks; the lab's `up` installs its own Debian packages. */
async function prerequisites(): Promise<void> {
  const terraform = await execa("terraform", ["version"], { reject: false });
  if (terraform.exitCode !== 0) throw new Error("terraform is not on PATH: install Terraform (>= 1.7) first");
  detail(terraform.stdout.split("\n")[0]!);
  if (!existsSync(join(BIN, "cdktf")) || !existsSync(join(BIN, "tsx"))) throw new Error("node_modules lacks cdktf or tsx: run `npm ci` first");

  // Terraform's provisioners run lib/cli/mac-postfix.js: build it when it is missing or older than src/.
  const built = existsSync(CLI) ? statSync(CLI).mtimeMs : 0;
  const newest = newestMtime(join(REPO, "src"));
  if (built < newest) {
    say(built === 0 ? "lib/ is missing: npm run build" : "lib/ is older than src/: npm run build");
    const build = await execa("npm", ["run", "build"], { cwd: REPO, reject: false, all: true });
    if (build.exitCode !== 0) throw new Error(`npm run build failed:\n${build.all}`);
  }

  // The local source of step 5 runs swaks inside the Macs, which see this machine's /usr/bin.
  const swaks = await execa("dpkg-query", ["-W", "-f", "${Status}", "swaks"], { reject: false });
  if (!swaks.stdout.endsWith("install ok installed")) {
    say("installing swaks (apt-get)");
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    await execa("apt-get", ["update", "-qq"], { env });
    await execa("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "swaks"], { env });
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** The lab's Macs as an inventory: connection defaults once, a per-host override on the last Mac. */
async function writeInventory(file: string, macs: readonly InventoryHost[]): Promise<void> {
  const first = macs[0]!;
  const document = {
    defaults: {
      user: first.user,
      identityFile: first.identityFile,
      knownHostsFile: first.knownHostsFile,
      settings: { mynetworks: "127.0.0.0/8, 10.89.0.0/16" },
    },
    hosts: macs.map((mac, index) => ({
      name: mac.name,
      address: mac.address,
      ...(mac.port === 22 ? {} : { port: mac.port }),
      ...(index === macs.length - 1 && macs.length > 1 ? { settings: { message_size_limit: 20480000 } } : {}),
    })),
    retired: [],
  };
  await writeFile(file, `# Written by npm run demo for the default Mac lab.\n${stringify(document)}`);
}

/** The real cdktf CLI on the fleet example stack, its state and output in the demo's folder. */
async function cdktf(command: "deploy" | "destroy", inventoryFile: string): Promise<{ exitCode: number; output: string }> {
  const terraformrc = join(WORK, "terraformrc");
  if (!existsSync(terraformrc)) await writeFile(terraformrc, "");
  const child = execa(join(BIN, "cdktf"), [command, STACK, "--auto-approve", "--output", join(WORK, "cdktf.out")], {
    cwd: REPO,
    reject: false,
    all: true,
    timeout: 900_000,
    env: cdktfEnv(inventoryFile),
  });
  // Only the resource events on screen; everything in the log file.
  const result = await stream(child, (line) => {
    const text = line.replace(/^\S*\s+/, "");
    if (/: (Creation|Destruction) complete|^(Apply|Destroy) complete|Error|error:/.test(text)) detail(`| ${text.replace(/ \[id=[^\]]*\]$/, "")}`);
  });
  await writeFile(join(WORK, `${command}.log`), result.all);
  return { exitCode: result.exitCode, output: result.all };
}

function cdktfEnv(inventoryFile: string): Record<string, string> {
  return {
    CHECKPOINT_DISABLE: "1",
    TF_CLI_CONFIG_FILE: join(WORK, "terraformrc"),
    CI: "1",
    FORCE_COLOR: "0",
    NO_COLOR: "1",
    MAC_POSTFIX_STACKS: STACK,
    MAC_POSTFIX_INVENTORY: inventoryFile,
    MAC_POSTFIX_STATE_DIR: WORK,
  };
}

/** Runs a child, handing each line of its combined output to `onLine`; never throws on a non-zero exit. */
async function stream(child: ResultPromise, onLine: (line: string) => void): Promise<{ exitCode: number; stdout: string; all: string }> {
  let pending = "";
  child.all?.on("data", (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split("\n");
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) onLine(line);
  });
  const result = await child;
  if (pending.trim()) onLine(pending);
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout ?? ""), all: String(result.all ?? "") };
}

/**
 * A message from this machine to the Mac's instance: an SMTP conversation with its address,
 * port 25 (the primary instance listens on no port, so whatever answers there is postfix-in).
 */
async function mailFromHere(target: MacTarget, run: string): Promise<string> {
  if (!target.smtp) return "no SMTP endpoint";
  const { address, port } = target.smtp;
  const to = `admin@${await setting(target, "myhostname")}`;
  const subject = `mac-postfix demo ${run}: remote to ${target.name}`;
  const transport = createTransport({ host: address, port, secure: false, ignoreTLS: true, name: "deployer.lab", connectionTimeout: 10_000 });
  let response: string;
  try {
    response = (await transport.sendMail({ from: "demo@deployer.lab", to, subject, text: `${subject}\n` })).response;
  } catch (error) {
    return `refused: ${(error as Error).message.split("\n")[0]}`;
  } finally {
    transport.close();
  }
  return arrival(target, subject, response);
}

/** A message from inside the Mac, as root, to the instance's address (swaks: a real SMTP conversation). */
async function mailFromInside(target: MacTarget, run: string): Promise<string> {
  if (!target.smtp) return "no SMTP endpoint";
  const { address, port } = target.smtp;
  const hostname = await setting(target, "myhostname");
  const subject = `mac-postfix demo ${run}: local on ${target.name}`;
  const swaks = await lab.exec(
    target.name,
    ["swaks", "--server", address, "--port", String(port), "--helo", hostname, "--from", `root@${hostname}`, "--to", `admin@${hostname}`, "--header", `Subject: ${subject}`, "--body", `${subject}\n`],
    { timeout: 30_000 },
  );
  if (swaks.exitCode !== 0) return `refused: swaks exited ${swaks.exitCode}: ${lastLine(`${swaks.stdout}\n${swaks.stderr}`)}`;
  return arrival(target, subject, String(swaks.stdout));
}

/**
 * What is observable of a message the instance accepted: its "250 ... queued as ID" answer names
 * the queue ID, and once postfix-in's local(8) has delivered it, the admin's mailbox holds it with
 * a Received header "by <Mac> (Postfix) with ESMTP id ID" (the primary instance never sees it).
 * A message still in postfix-in's queue after ARRIVAL_MS counts as not arrived.
 */
async function arrival(target: MacTarget, subject: string, response: string): Promise<string> {
  const id = /queued as ([0-9A-Za-z]+)/.exec(response)?.[1];
  if (!id) return `not accepted: ${lastLine(response)}`;
  const configDirectory = target.instance.instance.configDirectory;
  const mailbox = join(await setting(target, "mail_spool_directory"), "admin");
  const deadline = Date.now() + ARRIVAL_MS;
  for (;;) {
    const box = String((await lab.exec(target.name, ["cat", mailbox])).stdout);
    if (box.includes(`with ESMTP id ${id}`) && box.includes(`Subject: ${subject}`)) return `delivered (${id})`;
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  const queue = String((await lab.exec(target.name, ["postqueue", "-c", configDirectory, "-p"])).stdout);
  return queue.includes(id) ? `queued, not delivered (${id})` : `accepted as ${id}, not in ${mailbox}`;
}

async function setting(target: MacTarget, name: string): Promise<string> {
  const result = await lab.exec(target.name, ["postconf", "-c", target.instance.instance.configDirectory, "-h", name]);
  if (result.exitCode !== 0) throw new Error(`${target.name}: postconf -h ${name} exited ${result.exitCode}: ${result.stderr}`);
  return String(result.stdout).trim();
}

function table(macs: readonly InventoryHost[], rows: ReadonlyMap<string, Row>): string {
  const header = ["MAC", "ADDRESS", "DEPLOY", "REMOTE MAIL", "LOCAL MAIL", "VERIFY"];
  const body = macs.map((mac) => {
    const row = rows.get(mac.name)!;
    return [mac.name, mac.address, row.deploy, row.remote, row.local, row.verify];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [format(header), ...body.map(format)].join("\n");
}

/** cdktf destroy (when something was deployed) and lab down; each failure is a problem of the run. */
async function cleanUp(inventoryFile: string | undefined): Promise<void> {
  if (inventoryFile && existsSync(join(WORK, `${STACK}.tfstate`)) && !interrupted) {
    say(`cdktf destroy ${STACK} --auto-approve (log: ${join(WORK, "destroy.log")})`);
    const destroy = await cdktf("destroy", inventoryFile);
    if (destroy.exitCode !== 0) problems.push(`cdktf destroy exited ${destroy.exitCode}; the end of its log:\n${tail(destroy.output, 40)}`);
    else detail("destroy: ok");
  }
  say("lab down");
  try {
    await lab.down();
    await rm(WORK, { recursive: true, force: true });
    detail("lab down: ok");
  } catch (error) {
    problems.push(`lab down failed: ${(error as Error).message}`);
  }
}

/** --keep: where everything is and how to reach it. */
function explore(macs: readonly InventoryHost[], targets: readonly MacTarget[], inventoryFile: string): void {
  const rel = (path: string) => relative(REPO, path) || ".";
  const env = Object.entries(cdktfEnv(inventoryFile))
    .filter(([key]) => key.startsWith("MAC_POSTFIX_") || key === "TF_CLI_CONFIG_FILE" || key === "CHECKPOINT_DISABLE")
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
  const first = macs[0]!;
  const dir = targets[0]!.instance.instance.configDirectory;
  const commands: [string, string][] = [
    ["npm run lab -- status", "the Macs, their addresses, up or down"],
    [`npm run lab -- ssh ${first.name}`, `log in as ${first.user} over SSH (sudo -n works)`],
    [`npm run lab -- exec ${first.name} -- postmulti -l`, "as root inside the Mac: the instances"],
    [`npm run lab -- exec ${first.name} -- launchctl print system/${targets[0]!.job.label}`, "its LaunchDaemon"],
    [`npm run lab -- exec ${first.name} -- postqueue -c ${dir} -p`, "its queue"],
    [`npm run lab -- exec ${first.name} -- cat /var/mail/admin`, "the demo's messages, delivered"],
    [`swaks --server ${first.address} --to admin@${first.name}.lab`, "mail its instance from here"],
    [`node ${rel(CLI)} status --inventory ${inventoryFile}`, "the fleet operations (also start, stop, reload, flush)"],
    [`node ${rel(CLI)} verify --inventory ${inventoryFile}`, "drift: change a setting by hand, then verify"],
  ];
  const width = Math.max(...commands.map(([command]) => command.length));
  console.log(
    [
      `--keep: the lab and the deployment stay up. Folder ${WORK}: inventory, ledger, Terraform state, cdktf.out, logs.`,
      `From ${REPO}:`,
      ...commands.map(([command, what]) => `  ${command.padEnd(width)}  # ${what}`),
      `  ${env} npx cdktf diff ${STACK} --output ${join(WORK, "cdktf.out")}`,
      `When done (the next npm run demo also starts from fresh Macs):`,
      `  ${env} npx cdktf destroy ${STACK} --auto-approve --output ${join(WORK, "cdktf.out")}`,
      `  npm run lab -- down`,
    ].join("\n"),
  );
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** The last line of a tool's output, tidied for a table cell. */
function lastLine(text: string): string {
  return (text.trim().split("\n").pop() ?? "").replace(/^\*+\s*/, "").replace(/\s+/g, " ");
}
