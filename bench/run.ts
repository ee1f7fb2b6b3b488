/**
 * `npm run bench`: fleet deploys on simulated Macs from a private lab instance ("p"), against
 * Ansible and the two floors, then synth and no-op plan at scale. Results go to
 * bench/results/results.json; bench/report.ts turns them into BENCHMARKS.md and the chart.
 *
 *   tsx bench/run.ts [--sizes 1,10,50] [--reps 3] [--reps-at 50=2] [--parallelism 10] [--only fleet|scale] [--keep-lab]
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { execa } from "execa";
import pLimit from "p-limit";
import { Lab, type InventoryHost } from "../test/lab/lab.js";
import { controlFolderPath } from "../lib/transport/ssh.js";
import { writeAnsibleInventory, writeFleetInventory } from "./fleet.js";
import { ensureBenchPackages, measure, writeJson, type Measurement } from "./measure.js";
import { writeReport } from "./report.js";
import { scale } from "./scale.js";
import { ANSIBLE, BIN, cdktfArgv, cdktfProject, closeMasters, LAB_INSTANCE, REPO, RESULTS, stopStepServer, toolEnv, WORK } from "./workspace.js";
import { acceptedConnections, enableSshdLog, restoreSshd } from "./sshd.js";
import { stepProfile, taskProfile, type StepProfile } from "./profile.js";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "1,10,50" },
    reps: { type: "string", default: "3" },
    "reps-at": { type: "string", multiple: true, default: [] },
    parallelism: { type: "string", default: "10" },
    only: { type: "string" },
    "keep-lab": { type: "boolean", default: false },
  },
});
const sizes = args.sizes!.split(",").map(Number);
const parallelism = Number(args.parallelism);
const repsAt = new Map(args["reps-at"]!.map((s) => s.split("=").map(Number) as [number, number]));
const repsFor = (n: number) => repsAt.get(n) ?? Number(args.reps);

export type Tool = "cdktf" | "cdktf-skipvalidation" | "ansible" | "terraform-floor" | "ssh-floor";
export type Phase = "deploy" | "noop" | "change" | "destroy";

export interface Run {
  tool: Tool;
  phase: Phase;
  size: number;
  rep: number;
  command: string;
  m: Measurement;
  /** Connections each Mac's sshd accepted during the run, in host order. */
  sshPerMac: number[];
  /** cdktf runs: where the time goes, from the timestamped log. */
  steps?: StepProfile;
  /** Ansible runs: seconds per task over all hosts. */
  tasks?: Record<string, number>;
  /** Whether the run changed nothing (no-op runs): Terraform's "No changes." / Ansible's changed=0. */
  unchanged?: boolean;
  log: string;
}

export interface Results {
  started: string;
  finished?: string;
  machine: Record<string, string>;
  parallelism: number;
  sizes: number[];
  reps: Record<number, number>;
  /** Per fleet size: Terraform resources of the fleet and steps per Mac that run at creation. */
  model: Record<number, { resources: number; createStepsPerMac: number }>;
  runs: Run[];
  /** Fleet sizes whose runs stopped early, and why. */
  errors: string[];
  scale?: Awaited<ReturnType<typeof scale>>;
}

async function machine(): Promise<Record<string, string>> {
  const v = async (cmd: string, a: string[]) => (await execa(cmd, a, { reject: false })).stdout.split("\n")[0]!.trim();
  return {
    nproc: await v("nproc", []),
    cpu: cpus()[0]?.model ?? "",
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: await v("uname", ["-sr"]),
    os: readFileSync("/etc/debian_version", "utf8").trim().replace(/^/, "Debian "),
    node: process.version,
    terraform: await v("terraform", ["version"]),
    cdktf: await v(join(BIN, "cdktf"), ["--version"]),
    ansible: await v("ansible-playbook", ["--version"]),
    openssh: (await execa("ssh", ["-V"], { reject: false })).stderr.trim(),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
export { median };

/** Runs the fleet phases for one fleet size. */
async function fleetSize(lab: Lab, all: InventoryHost[], n: number, results: Results, save: () => void): Promise<void> {
  const hosts = all.slice(0, n);
  const dir = join(WORK, `fleet-${n}`);
  rmSync(dir, { recursive: true, force: true });
  cdktfProject(dir);
  const env = { ...toolEnv(dir), BENCH_STATE_DIR: join(dir, "state") };
  const inventory = join(dir, "inventory.json");
  const changed = join(dir, "inventory-change.json");
  writeFleetInventory(inventory, hosts);
  writeFleetInventory(changed, hosts, true);
  const { file: ansibleInventory, resources, createStepsPerMac } = writeAnsibleInventory(dir, inventory, hosts);
  results.model[n] = { resources, createStepsPerMac };
  const { file: ansibleChanged } = writeAnsibleInventory(join(dir, "change"), changed, hosts);
  const limit = pLimit(8);
  await Promise.all(hosts.map((h) => limit(() => enableSshdLog(lab, h.name))));

  const counts = () => Promise.all(hosts.map((h) => acceptedConnections(lab, h.name)));
  let seq = 0;
  const run = async (tool: Tool, phase: Phase, rep: number, argv: string[], opts: { env?: Record<string, string>; afterExit?: () => Promise<void> } = {}) => {
    const log = join(dir, `${String(++seq).padStart(3, "0")}-${tool}-${phase}-${rep}.log`);
    const before = await counts();
    const m = await measure(argv, { cwd: dir, env: { ...env, ...opts.env }, logFile: log, afterExit: opts.afterExit });
    const after = await counts();
    const r: Run = { tool, phase, size: n, rep, command: [...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`), ...argv].map((a) => a.replaceAll(REPO, "./").replaceAll(dir, "$WORK")).join(" "), m, sshPerMac: after.map((a, i) => a - before[i]!), log };
    const text = readFileSync(log, "utf8");
    if (tool !== "ansible" && tool !== "ssh-floor") r.steps = stepProfile(text);
    if (tool === "ansible") r.tasks = taskProfile(text);
    if (phase === "noop") r.unchanged = tool === "ansible" ? /changed=0 /.test(text) && !/changed=[1-9]/.test(text) : /No changes\./.test(text);
    results.runs.push(r);
    save();
    const ssh = r.sshPerMac;
    console.log(`${tool} ${phase} n=${n} rep=${rep}: ${m.wallS.toFixed(1)} s wall, ${m.cpuS.toFixed(1)} s CPU, exit ${m.exitCode}, ssh/Mac ${Math.min(...ssh)}..${Math.max(...ssh)}`);
    if (m.exitCode !== 0) throw new Error(`${tool} ${phase} (n=${n}) exited ${m.exitCode}: see ${log}\n${text.slice(-3000)}`);
    return r;
  };

  const ssh = await lab.sshCommand(hosts[0]!.name);
  const sshFloor = ["sh", "-c", `printf '%s\\n' "$@" | xargs -P ${parallelism} -I@ ${ssh.slice(0, -1).join(" ")} @ true`, "sh", ...hosts.map((h) => h.address)];
  const tfp = ["--auto-approve", "--terraform-parallelism", String(parallelism)];
  const ansible = (playbook: string, inv: string, runId: string) => {
    const cp = join(dir, `cp-${runId}`);
    mkdirSync(cp, { recursive: true });
    return {
      argv: ["ansible-playbook", "-i", inv, "--forks", String(parallelism), join(ANSIBLE, playbook)],
      env: { ANSIBLE_CONFIG: join(ANSIBLE, "ansible.cfg"), ANSIBLE_SSH_CONTROL_PATH_DIR: cp, ANSIBLE_LOCAL_TEMP: join(dir, "ansible-tmp"), ANSIBLE_NOCOLOR: "1" },
      // Ansible leaves its ControlMasters up for ControlPersist (60 s): close them so the next run starts cold.
      afterExit: () => closeMasters(cp),
    };
  };
  const check = (what: "deployed" | "changed" | "absent") => verify(lab, hosts, what);

  try {
    for (let rep = 1; rep <= repsFor(n); rep++) {
      await run("ssh-floor", "deploy", rep, sshFloor);
      const floorEnv = { env: { BENCH_FLOOR_RESOURCES: String(resources) } };
      await run("terraform-floor", "deploy", rep, cdktfArgv("deploy", "floor", dir, tfp), floorEnv);
      await run("terraform-floor", "noop", rep, cdktfArgv("deploy", "floor", dir, tfp), floorEnv);
      await run("terraform-floor", "destroy", rep, cdktfArgv("destroy", "floor", dir, tfp), floorEnv);

      // Our steps, too, leave each Mac's master up for its next step, and the step server for the
      // next deploy: both ended after each run, so every run starts cold.
      const fleetEnv = { env: { BENCH_INVENTORY: inventory }, afterExit: () => Promise.all([closeMasters(controlFolderPath()), stopStepServer()]).then(() => undefined) };
      await run("cdktf", "deploy", rep, cdktfArgv("deploy", "fleet", dir, tfp), fleetEnv);
      await check("deployed");
      await run("cdktf", "noop", rep, cdktfArgv("deploy", "fleet", dir, tfp), fleetEnv);
      // The same no-op with the App's skipValidation (no construct validations at synth).
      await run("cdktf-skipvalidation", "noop", rep, cdktfArgv("deploy", "fleet", dir, tfp), { ...fleetEnv, env: { ...fleetEnv.env, BENCH_SKIP_VALIDATION: "1" } });
      await run("cdktf", "change", rep, cdktfArgv("deploy", "fleet", dir, tfp), { ...fleetEnv, env: { BENCH_INVENTORY: changed } });
      await check("changed");
      await run("cdktf", "destroy", rep, cdktfArgv("destroy", "fleet", dir, tfp), { ...fleetEnv, env: { BENCH_INVENTORY: changed } });
      await check("absent");

      for (const [phase, playbook, inv, state] of [
        ["deploy", "site.yml", ansibleInventory, "deployed"],
        ["noop", "site.yml", ansibleInventory, "deployed"],
        ["change", "site.yml", ansibleChanged, "changed"],
        ["destroy", "teardown.yml", ansibleChanged, "absent"],
      ] as const) {
        const a = ansible(playbook, inv, `${rep}-${phase}`);
        await run("ansible", phase, rep, a.argv, a);
        await check(state);
      }
    }
  } finally {
    // Whatever failed, leave the Macs as they were: both tools' teardown (each a no-op if nothing is there).
    await execa(cdktfArgv("destroy", "fleet", dir, tfp)[0]!, cdktfArgv("destroy", "fleet", dir, tfp).slice(1), { cwd: dir, env: { ...process.env, ...env, BENCH_INVENTORY: changed }, reject: false });
    const a = ansible("teardown.yml", ansibleChanged, "cleanup");
    await execa(a.argv[0]!, a.argv.slice(1), { cwd: dir, env: { ...process.env, ...a.env }, reject: false });
    await a.afterExit();
  }
}

/** Checks on every Mac (as root, through the lab, outside the timings) that the tool did the job. */
async function verify(lab: Lab, hosts: InventoryHost[], state: "deployed" | "changed" | "absent"): Promise<void> {
  const limit = pLimit(8);
  const script =
    state === "absent"
      ? `! postmulti -l -i postfix-in 2>/dev/null | grep -q . && ! launchctl print system/org.postfix.in >/dev/null 2>&1 && [ ! -e /Library/LaunchDaemons/org.postfix.in.plist ]`
      : `postmulti -l -i postfix-in | grep -q 'postfix-in *mta *y' && launchctl print system/org.postfix.in | grep -q 'state = running' ` +
        `&& [ "$(stat -c '%U:%G %a' /Library/LaunchDaemons/org.postfix.in.plist)" = "root:wheel 644" ] ` +
        `&& [ "$(postconf -c /etc/postfix-in -h message_size_limit)" = "${state === "changed" ? "20480000" : "10240000"}" ]`;
  const bad = (
    await Promise.all(hosts.map((h) => limit(async () => ((await lab.exec(h.name, ["sh", "-c", script])).exitCode === 0 ? undefined : h.name))))
  ).filter(Boolean);
  if (bad.length) throw new Error(`not ${state} on ${bad.join(", ")}`);
}

async function main(): Promise<void> {
  await ensureBenchPackages();
  mkdirSync(RESULTS, { recursive: true });
  mkdirSync(WORK, { recursive: true });
  const file = join(RESULTS, "results.json");
  // With --only, the other part's figures are kept from the previous results.
  const previous: Partial<Results> = args.only && existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const results: Results = {
    started: new Date().toISOString(),
    machine: await machine(),
    parallelism,
    sizes,
    reps: Object.fromEntries(sizes.map((n) => [n, repsFor(n)])),
    runs: [],
    model: {},
    errors: [],
    ...(args.only === "scale" ? { ...previous, scale: undefined } : {}),
    ...(args.only === "fleet" ? { scale: previous.scale } : {}),
  };
  const save = () => writeJson(file, results);

  if (args.only !== "scale") {
    const lab = new Lab({ instance: LAB_INSTANCE });
    const all = await lab.up({ hosts: Math.max(...sizes) });
    try {
      for (const n of sizes) {
        // A failure at one size is recorded (and shown in BENCHMARKS.md); the other sizes still run.
        await fleetSize(lab, all, n, results, save).catch((e: Error) => {
          console.error(e.message);
          results.errors.push(`${n} Macs: ${e.message.split("\n")[0]}`);
          save();
        });
      }
    } finally {
      if (args["keep-lab"]) await Promise.all(all.map((h) => restoreSshd(lab, h.name)));
      else await lab.down();
    }
  }
  if (args.only !== "fleet") {
    results.scale = await scale(parallelism);
    save();
  }
  results.finished = new Date().toISOString();
  save();
  await writeReport(results);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
