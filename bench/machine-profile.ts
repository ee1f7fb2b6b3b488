/**
 * Where a fleet deploy's CPU goes on the whole machine, deploying side and simulated Macs alike
 * (they share the cores): one `cdktf deploy` of the benchmark app to N lab Macs under
 * `perf record -a` (CPU samples of every process, by program) and Linux process accounting
 * (every process that ends, with its parent, in every PID namespace: how many runs of each
 * program). The step server and step clients are told from the cdktf CLI and the Macs' lock
 * holders by their parents. Prints a
 * Markdown table; nothing is written to bench/results.
 *   tsx bench/machine-profile.ts [--macs 50] [--parallelism 10]
 * Needs root and the Debian packages linux-perf and acct; runs on its own lab instance ("m").
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execa } from "execa";
import { Lab } from "../test/lab/lab.js";
import { controlFolderPath } from "../lib/transport/ssh.js";
import { writeFleetInventory } from "./fleet.js";
import { measure } from "./measure.js";
import { cdktfArgv, cdktfProject, closeMasters, stopStepServer, toolEnv, WORK } from "./workspace.js";

const { values: args } = parseArgs({ options: { macs: { type: "string", default: "50" }, parallelism: { type: "string", default: "10" } } });
const FREQUENCY = 199;

for (const [tool, pkg] of [["perf", "linux-perf"], ["accton", "acct"]]) {
  if ((await execa("sh", ["-c", `command -v ${tool}`], { reject: false })).exitCode !== 0) throw new Error(`bench/machine-profile.ts needs ${tool}: apt-get install ${pkg}`);
}

/** Busy and total CPU seconds of the machine so far, from the first line of /proc/stat. */
function machineCpuS(): { busy: number; total: number } {
  const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = ticks[3]! + ticks[4]!;
  return { busy: (total - idle) / 100, total: total / 100 };
}

/** pid -> { comm, ppid } of every process accounting recorded (`dump-acct`: comm|v3|u|s|e|uid|gid|mem|io|pid|ppid|...). */
function accounted(file: string): Promise<Map<number, { comm: string; ppid: number }>> {
  return execa("dump-acct", [file]).then(({ stdout }) => {
    const map = new Map<number, { comm: string; ppid: number }>();
    for (const line of stdout.split("\n")) {
      const f = line.split("|").map((s) => s.trim());
      if (f.length > 10) map.set(Number(f[9]), { comm: f[0]!, ppid: Number(f[10]) });
    }
    return map;
  });
}

const macs = Number(args.macs);
const dir = join(WORK, "machine-profile");
rmSync(dir, { recursive: true, force: true });
cdktfProject(dir);
const lab = new Lab({ instance: "m" });
const hosts = await lab.up({ hosts: macs });
const inventory = join(dir, "inventory.json");
writeFleetInventory(inventory, hosts);
const env = { ...toolEnv(dir), BENCH_STATE_DIR: join(dir, "state"), BENCH_INVENTORY: inventory };
const tfp = ["--auto-approve", "--terraform-parallelism", args.parallelism!];

try {
  const pacct = join(dir, "pacct");
  writeFileSync(pacct, "");
  await execa("accton", [pacct]);
  const perf = execa("perf", ["record", "-a", "-F", String(FREQUENCY), "-o", join(dir, "perf.data")], { reject: false, stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 1000));
  const before = machineCpuS();
  const m = await measure(cdktfArgv("deploy", "fleet", dir, tfp), { cwd: dir, env, logFile: join(dir, "deploy.log"), afterExit: stopStepServer });
  const after = machineCpuS();
  perf.kill("SIGINT");
  await perf;
  await execa("accton", ["off"]);
  if (m.exitCode !== 0) throw new Error(`cdktf deploy exited ${m.exitCode}: see ${join(dir, "deploy.log")}`);

  const processes = await accounted(pacct);
  const parentOf = (pid: number) => processes.get(processes.get(pid)?.ppid ?? -1)?.comm;
  const label = (comm: string, pid: number) => {
    if (comm === "perl" && parentOf(pid) === "terraform") return "perl (step clients, run by Terraform)";
    if (comm !== "node") return comm;
    if (!processes.has(pid)) return "node (running before and after: the Macs' launchd emulators)";
    if (parentOf(pid) === "terraform") return "node (step programs of their own, run by Terraform)";
    // Started by a step client, which ends first: the server is then init's.
    if (parentOf(pid) === "perl" || processes.get(pid)?.ppid === 1) return "node (the step server)";
    return "node (cdktf CLI, the app's synth)";
  };
  const samples = new Map<string, number>();
  const { stdout } = await execa("perf", ["script", "-F", "comm,pid", "-i", join(dir, "perf.data")], { maxBuffer: 1 << 30 });
  for (const line of stdout.split("\n")) {
    const match = /^\s*(.*?)\s+(\d+)\s*$/.exec(line);
    if (!match) continue;
    const key = match[1] === "swapper" ? "(idle)" : label(match[1]!, Number(match[2]));
    samples.set(key, (samples.get(key) ?? 0) + 1);
  }
  const runs = new Map<string, number>();
  for (const [pid, { comm }] of processes) {
    const key = label(comm, pid);
    runs.set(key, (runs.get(key) ?? 0) + 1);
  }

  const all = [...samples.values()].reduce((a, b) => a + b, 0);
  const rows = [...samples].sort((a, b) => b[1] - a[1]).filter(([, n]) => n / all >= 0.002);
  console.log(`cdktf deploy of ${macs} Macs, parallelism ${args.parallelism}: ${m.wallS.toFixed(1)} s wall; deploying side ${m.cpuS.toFixed(1)} CPU s (cpuacct); ` +
    `machine busy ${(after.busy - before.busy).toFixed(1)} of ${(after.total - before.total).toFixed(1)} CPU s (/proc/stat); ${all} samples at ${FREQUENCY} Hz per core.\n`);
  console.log("| program | share of samples | ≈ CPU s | processes ended |\n|---|---:|---:|---:|");
  for (const [key, n] of rows) console.log(`| ${key} | ${((100 * n) / all).toFixed(1)} % | ${(n / FREQUENCY).toFixed(1)} | ${runs.get(key) ?? ""} |`);
} finally {
  const [cdktf, ...destroy] = cdktfArgv("destroy", "fleet", dir, tfp);
  await execa(cdktf!, destroy, { cwd: dir, env: { ...process.env, ...env }, reject: false });
  await closeMasters(controlFolderPath());
  await lab.down();
}
