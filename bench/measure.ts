/**
 * Runs one command and measures the deploying side:
 * - wall time;
 * - CPU time (user + sys) of every process it starts, daemonized ones included (ssh ControlMasters
 *   fork away from their parent, so rusage would miss them): the command runs in a cgroup v1
 *   `cpuacct` group of its own and we read `cpuacct.usage_user`/`usage_sys`;
 * - max RSS of the largest single process, from GNU `/usr/bin/time -v`;
 * - peak RSS summed over the whole tree (every process of the cgroup), sampled every 100 ms.
 * Its output goes to `logFile`, each line stamped with the seconds since the start.
 */
import { createWriteStream, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { execa } from "execa";

export interface Measurement {
  wallS: number;
  cpuS: number;
  userS: number;
  sysS: number;
  maxRssMiB: number;
  treeRssMiB: number;
  exitCode: number;
  /** The machine's 1-minute load average when the command started (others' work shows here). */
  load1: number;
}

const CPUACCT = "/sys/fs/cgroup/cpuacct";
let counter = 0;

/**
 * Installs, non-interactively, the Debian packages the benchmark needs that the machine lacks: GNU
 * time (the measurements) and Ansible (the peer; without it every Ansible run would exit 127).
 */
export async function ensureBenchPackages(): Promise<void> {
  const needed: [string, string[], string][] = [
    ["/usr/bin/time", ["-v", "true"], "time"],
    ["ansible-playbook", ["--version"], "ansible"],
  ];
  const missing: string[] = [];
  for (const [command, argv, pkg] of needed) {
    const ok = await execa(command, argv, { reject: false }).catch(() => undefined);
    if (ok?.exitCode !== 0) missing.push(pkg);
  }
  if (missing.length === 0) return;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await execa("apt-get", ["update", "-qq"], { env });
  await execa("apt-get", ["install", "-y", "-qq", ...missing], { env });
}

const pids = (group: string) => readFileSync(join(group, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);

function treeRssKiB(group: string): number {
  let sum = 0;
  for (const pid of pids(group)) {
    try {
      sum += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

export interface MeasureOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Where the command's stdout+stderr go. */
  logFile: string;
  /** Called once the command has exited, before the CPU figures are read (e.g. to close lingering ssh masters). */
  afterExit?: () => Promise<void>;
}

export async function measure(argv: string[], { cwd, env, logFile, afterExit }: MeasureOptions): Promise<Measurement> {
  const group = join(CPUACCT, `mac-postfix-bench-${process.pid}-${++counter}`);
  const timeFile = `${logFile}.time`;
  mkdirSync(group);
  try {
    const load1 = loadavg()[0]!;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, treeRssKiB(group))), 100);
    const out = createWriteStream(logFile);
    const start = process.hrtime.bigint();
    const elapsed = () => (Number(process.hrtime.bigint() - start) / 1e9).toFixed(3).padStart(8);
    const child = execa(
      "sh",
      ["-c", `echo $$ > "$0/cgroup.procs" && t=$1 && shift && exec /usr/bin/time -v -o "$t" "$@"`, group, timeFile, ...argv],
      { cwd, env: { ...process.env, ...env }, reject: false, stdin: "ignore", buffer: false },
    );
    // Every line stamped with the seconds since start: the profile of where the time goes.
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on("line", (line) => out.write(`${elapsed()} ${line}\n`));
    let wallS = 0;
    child.once("exit", () => (wallS = Number(process.hrtime.bigint() - start) / 1e9));
    const result = await child;
    await new Promise((r) => out.end(r));
    clearInterval(sampler);
    await afterExit?.();
    // Daemonized children (ssh masters) still count until they are gone: wait a bounded time, then end them.
    for (let i = 0; i < 100 && pids(group).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    for (const pid of pids(group)) process.kill(pid, "SIGTERM");
    const ns = (f: string) => Number(readFileSync(join(group, f), "utf8"));
    const userS = ns("cpuacct.usage_user") / 1e9;
    const sysS = ns("cpuacct.usage_sys") / 1e9;
    const time = readFileSync(timeFile, "utf8");
    const maxRssKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(time)?.[1] ?? NaN);
    return {
      wallS,
      cpuS: userS + sysS,
      userS,
      sysS,
      maxRssMiB: maxRssKiB / 1024,
      treeRssMiB: peak / 1024,
      exitCode: result.exitCode ?? -1,
      load1,
    };
  } finally {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(group);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/**
 * A Measurement rebuilt from a GNU `time -v` file alone (a run whose other figures were lost):
 * CPU is rusage user+sys of the waited-for tree, and the tree RSS is unknown (NaN).
 */
export function fromTimeFile(file: string): Measurement {
  const t = readFileSync(file, "utf8");
  const num = (re: RegExp) => Number(re.exec(t)?.[1] ?? NaN);
  const [h, mi, s] = (/Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(t)?.[1] ?? "").split(":").map(Number).reverse().concat([0, 0]);
  const userS = num(/User time \(seconds\): ([\d.]+)/);
  const sysS = num(/System time \(seconds\): ([\d.]+)/);
  return {
    wallS: (h ?? 0) + (mi ?? 0) * 60 + (s ?? 0) * 3600,
    cpuS: userS + sysS,
    userS,
    sysS,
    maxRssMiB: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
    treeRssMiB: NaN,
    exitCode: num(/Exit status: (\d+)/),
    load1: NaN,
  };
}

/** Writes a JSON file with a trailing newline. */
export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
