/**
 * Turns bench/results/results.json into BENCHMARKS.md and bench/results/deploy-time.svg: every
 * figure in them comes from that file. `tsx bench/report.ts` regenerates both; `npm run bench`
 * calls it at the end.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { Phase, Results, Run, Tool } from "./run.js";
import type { Measurement } from "./measure.js";
import { REPO, RESULTS } from "./workspace.js";

const TOOL_NAMES: Record<Tool, string> = {
  cdktf: "cdktf-mac-postfix (cdktf deploy)",
  "cdktf-skipvalidation": "cdktf-mac-postfix, App skipValidation",
  ansible: "Ansible playbook",
  "terraform-floor": "floor: bare terraform_data (cdktf deploy)",
  "ssh-floor": "floor: ssh true",
};
const PHASES: Phase[] = ["deploy", "noop", "change", "destroy"];
const PHASE_NAMES: Record<Phase, string> = { deploy: "full deploy", noop: "no-op redeploy", change: "settings change", destroy: "destroy" };

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "–");
/** One decimal, or three when one would round a figure onto the target it is compared with. */
const againstTarget = (x: number, target: number) => (f1(x) === f1(target) && x !== target ? x.toFixed(3) : f1(x));

interface Cell {
  tool: Tool;
  phase: Phase;
  size: number;
  runs: Run[];
  wall: number;
  wallMin: number;
  wallMax: number;
  cpu: number;
  maxRss: number;
  treeRss: number;
  sshMin: number;
  sshMax: number;
  /** Median 1-minute load average when the runs started: what else the machine was doing. */
  load: number;
}

function cells(results: Results): Cell[] {
  const out: Cell[] = [];
  for (const size of results.sizes) {
    for (const tool of Object.keys(TOOL_NAMES) as Tool[]) {
      for (const phase of PHASES) {
        const runs = results.runs.filter((r) => r.tool === tool && r.phase === phase && r.size === size && r.m.exitCode === 0);
        if (!runs.length) continue;
        const of = (k: keyof Measurement) => runs.map((r) => r.m[k] as number);
        const ssh = runs.flatMap((r) => r.sshPerMac);
        out.push({
          tool, phase, size, runs,
          wall: median(of("wallS")), wallMin: Math.min(...of("wallS")), wallMax: Math.max(...of("wallS")),
          cpu: median(of("cpuS")), maxRss: median(of("maxRssMiB")), treeRss: median(of("treeRssMiB")),
          sshMin: Math.min(...ssh), sshMax: Math.max(...ssh),
          load: median(of("load1")),
        });
      }
    }
  }
  return out;
}

/** Least-squares line y = a + b·x. */
export function fit(points: [number, number][]): { a: number; b: number; r2: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const b = sxx === 0 ? 0 : sxy / sxx;
  const a = my - b * mx;
  const ssTot = points.reduce((s, [, y]) => s + (y - my) ** 2, 0);
  const ssRes = points.reduce((s, [x, y]) => s + (y - a - b * x) ** 2, 0);
  return { a, b, r2: ssTot === 0 ? 1 : 1 - ssRes / ssTot };
}

async function chart(all: Cell[]): Promise<string> {
  const values = all
    .filter((c) => c.phase === "deploy")
    .map((c) => ({ size: c.size, tool: TOOL_NAMES[c.tool], wall: Number(c.wall.toFixed(2)), min: Number(c.wallMin.toFixed(2)), max: Number(c.wallMax.toFixed(2)) }));
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "Full deploy: wall time against fleet size (median; bars span min–max)",
    width: 520,
    height: 320,
    data: { values },
    encoding: {
      x: { field: "size", type: "quantitative", title: "Macs in the fleet", axis: { values: [...new Set(values.map((v) => v.size))] } },
      color: { field: "tool", type: "nominal", title: null, legend: { orient: "top-left", direction: "vertical", labelLimit: 400 } },
    },
    layer: [
      { mark: { type: "line", point: true }, encoding: { y: { field: "wall", type: "quantitative", title: "wall time (s)" } } },
      { mark: { type: "rule" }, encoding: { y: { field: "min", type: "quantitative" }, y2: { field: "max" } } },
    ],
    config: { background: "white", font: "sans-serif" },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return view.toSVG();
}

export async function writeReport(results: Results): Promise<void> {
  const all = cells(results);
  const cell = (tool: Tool, phase: Phase, size: number) => all.find((c) => c.tool === tool && c.phase === phase && c.size === size);
  const big = Math.max(...results.sizes);
  const model = results.model[big];
  const yes = (ok: boolean | undefined) => (ok === undefined ? "not measured" : ok ? "**met**" : "**missed**");

  // Targets of issue 6.
  const ours = cell("cdktf", "deploy", big);
  const theirs = cell("ansible", "deploy", big);
  const oursNoop = cell("cdktf", "noop", big);
  const oursNoopSkip = cell("cdktf-skipvalidation", "noop", big);
  const theirsNoop = cell("ansible", "noop", big);
  const noopSsh = results.runs.filter((r) => r.tool === "cdktf" && r.phase === "noop").flatMap((r) => r.sshPerMac);
  const deploySsh = results.runs.filter((r) => r.tool === "cdktf" && r.phase === "deploy").flatMap((r) => r.sshPerMac);
  const synth1000 = results.scale?.synth.find((p) => p.size === 1000);
  const synthWall = synth1000 ? median(synth1000.cli.map((m) => m.wallS)) : NaN;
  const synthMem = synth1000 ? Math.max(...synth1000.cli.map((m) => m.treeRssMiB)) : NaN;
  const targets: [string, string, boolean | undefined][] = [
    [`Full deploy of ${big} Macs in at most 60 s`, `${againstTarget(ours?.wall ?? NaN, 60)} s (runs: ${(ours?.runs ?? []).map((r) => f1(r.m.wallS)).join(", ")})`, ours && ours.wall <= 60],
    [`… and at most half of Ansible's time for the same job`, `${f1(ours?.wall ?? NaN)} s vs ${f1(theirs?.wall ?? NaN)} s (ratio ${((ours?.wall ?? NaN) / (theirs?.wall ?? NaN)).toFixed(3)}; half is ${f1((theirs?.wall ?? NaN) / 2)} s)`, ours && theirs && ours.wall <= theirs.wall / 2],
    [`A no-op redeploy opens no SSH connection`, `${Math.max(...noopSsh)} connections on any Mac in any no-op run (${noopSsh.length} Mac-runs)`, noopSsh.length ? Math.max(...noopSsh) === 0 : undefined],
    [`… and takes at most a tenth of Ansible's no-op run (${big} Macs)`, `${f1(oursNoop?.wall ?? NaN)} s vs ${f1(theirsNoop?.wall ?? NaN)} s (ratio ${((oursNoop?.wall ?? NaN) / (theirsNoop?.wall ?? NaN)).toFixed(2)}); with the App's \`skipValidation\`: ${f1(oursNoopSkip?.wall ?? NaN)} s (ratio ${((oursNoopSkip?.wall ?? NaN) / (theirsNoop?.wall ?? NaN)).toFixed(2)})`, oursNoop && theirsNoop && oursNoop.wall <= theirsNoop.wall / 10],
    [`At most one SSH connection per Mac per resource step in a full deploy (${model?.createStepsPerMac ?? "?"} steps run at creation per Mac)`, `${Math.min(...deploySsh)}–${Math.max(...deploySsh)} per Mac`, deploySsh.length && model ? Math.max(...deploySsh) <= model.createStepsPerMac : undefined],
    [`Synthesizing a 1,000-Mac fleet takes at most 10 s`, `${f1(synthWall)} s (\`cdktf synth\`)`, synth1000 ? synthWall <= 10 : undefined],
    [`… and at most 1 GiB of memory`, `${f0(synthMem)} MiB (peak RSS summed over the process tree)`, synth1000 ? synthMem <= 1024 : undefined],
  ];

  const lines: string[] = [];
  const p = (...s: string[]) => lines.push(...s);
  const m = results.machine;
  p(
    "# Benchmarks",
    "",
    "<!-- Generated by bench/report.ts from bench/results/results.json: do not edit by hand; `npx tsx bench/report.ts` regenerates it. -->",
    "",
    `Fleet deploys of this library on simulated Macs from the lab (issue 6), side by side in one run with an Ansible playbook doing the same job and with two floors: bare \`terraform_data\` resources (what cdktf + Terraform cost with nothing to run) and \`ssh <mac> true\` to every Mac (what SSH costs). Run started ${results.started}, finished ${results.finished ?? "(unfinished)"}; Terraform parallelism = Ansible forks = xargs -P = **${results.parallelism}** for every tool. Repetitions per fleet size: ${Object.entries(results.reps).map(([n, r]) => `${n} Macs × ${r}`).join(", ")}; figures are medians over them (min–max shown for wall time).`,
    "",
    "## Targets of issue 6",
    "",
    "| Target | Measured | Result |",
    "|---|---|---|",
    ...targets.map(([t, v, ok]) => `| ${t} | ${v} | ${yes(ok)} |`),
    "",
    "Where a target is missed, [Where the time goes](#where-the-time-goes) shows why.",
    ...runNotes(),
    "",
    "## Results",
    "",
    "Wall time is the median (min–max). CPU is user+sys of every process the command started, ssh ControlMasters that fork away included (a cgroup v1 `cpuacct` group per command). *Max RSS* is the largest single process (GNU `/usr/bin/time -v`); *tree RSS* is the peak of the RSS summed over all processes of the command, sampled every 100 ms. *SSH/Mac* is the number of connections each Mac's sshd accepted during the run (`Accepted publickey` lines in its own log), min–max over Macs and repetitions. *Load* is the 1-minute load average when the command started (median): above 2 on this 2-core machine, something else was competing for the CPU.",
    "",
    "| Macs | Phase | Tool | Wall s | CPU s | Max RSS MiB | Tree RSS MiB | SSH/Mac | Load |",
    "|---:|---|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const size of results.sizes) {
    for (const phase of PHASES) {
      for (const c of all.filter((x) => x.size === size && x.phase === phase)) {
        const changed = c.phase === "noop" && c.runs.some((r) => r.unchanged === false) ? " ⚠ changed something" : "";
        p(`| ${size} | ${PHASE_NAMES[phase]} | ${TOOL_NAMES[c.tool]}${changed} | ${f1(c.wall)} (${f1(c.wallMin)}–${f1(c.wallMax)}) | ${f1(c.cpu)} | ${f0(c.maxRss)} | ${f0(c.treeRss)} | ${c.sshMin === c.sshMax ? c.sshMin : `${c.sshMin}–${c.sshMax}`} | ${f1(c.load)} |`);
      }
    }
  }
  const failed = results.runs.filter((r) => r.m.exitCode !== 0);
  for (const e of results.errors ?? []) p("", `**Stopped early** at ${e}`);
  if (failed.length) p("", `Failed runs (left out of the medians): ${failed.map((r) => `${r.tool} ${r.phase} ${r.size} Macs rep ${r.rep} (exit ${r.m.exitCode})`).join("; ")}.`);
  p(
    "",
    `The terraform floor deploys as many bare \`terraform_data\` resources as the fleet has (${Object.entries(results.model).map(([n, x]) => `${x.resources} for ${n} Macs`).join(", ")}); its "settings change" row does not exist (nothing to change). The ssh floor has one row, under full deploy.`,
    "",
    "![Deploy time against fleet size](bench/results/deploy-time.svg)",
    "",
  );

  // Projection: least squares over the measured fleet sizes.
  p("## Growth with fleet size", "", "Least-squares lines *t = a + b·n* through the medians at each measured fleet size, projected to larger fleets (a projection, not a measurement):", "", "| What | a (s) | b (s per Mac) | R² | projected 100 Macs | projected 1,000 Macs |", "|---|---:|---:|---:|---:|---:|");
  for (const tool of Object.keys(TOOL_NAMES) as Tool[]) {
    for (const phase of ["deploy", "noop"] as Phase[]) {
      const pts = results.sizes.map((n) => [n, cell(tool, phase, n)?.wall ?? NaN] as [number, number]).filter(([, y]) => Number.isFinite(y));
      if (pts.length < 2) continue;
      const { a, b, r2 } = fit(pts);
      p(`| ${TOOL_NAMES[tool]}, ${PHASE_NAMES[phase]} | ${f1(a)} | ${b.toFixed(3)} | ${r2.toFixed(3)} | ${f0(a + 100 * b)} s | ${f0(a + 1000 * b)} s |`);
    }
  }
  const scale = results.scale;
  if (scale) {
    for (const [label, key] of [["`cdktf synth`", "cli"], ["`cdktf synth`, App `skipValidation`", "skipValidation"]] as const) {
      const pts = scale.synth.map((s) => [s.size, median(s[key].map((x) => x.wallS))] as [number, number]);
      const { a, b, r2 } = fit(pts);
      p(`| ${label} (points at ${scale.synth.map((s) => s.size).join(", ")} Macs) | ${f1(a)} | ${b.toFixed(4)} | ${r2.toFixed(3)} | ${f1(a + 100 * b)} s | ${f1(a + 1000 * b)} s |`);
    }
    p(
      "",
      "## Scale: synth and plan",
      "",
      `Synth runs on fleets that need not exist (\`cdktf synth\` never connects). Started ${scale.started}. Repetitions: 1 for the validated synth of 1,000 Macs (it takes minutes), otherwise as listed.`,
      "",
      "| Macs | Resources | Variant | Runs | Wall s (median) | CPU s | Max RSS MiB | Tree RSS MiB | Load avg at start |",
      "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const s of scale.synth) {
      for (const [label, ms] of [["`cdktf synth fleet`", s.cli], ["same, `skipValidation`", s.skipValidation]] as const) {
        const med = (k: keyof Measurement) => median(ms.map((x) => x[k] as number));
        p(`| ${s.size} | ${s.resources} | ${label} | ${ms.length} | ${f1(med("wallS"))} | ${f1(med("cpuS"))} | ${f0(med("maxRssMiB"))} | ${f0(med("treeRssMiB"))} | ${f1(med("load1"))} |`);
      }
    }
    if (scale.plan) {
      const pl = scale.plan;
      if (pl.carriedFrom) p("", `The plan figures below were measured in the run of ${pl.carriedFrom.run}, not in this one: ${pl.carriedFrom.why}`);
      p(
        "",
        `No-op plan of ${pl.size} Macs (${pl.resources} resources) against a state holding all of them (made by \`terraform apply -parallelism=${results.parallelism}\` of the same configuration without provisioners, 100 Macs at a time with the states joined by \`bench/fixture.ts\`: ${f1(pl.fixture.wallS)} s wall, ${f1(pl.fixture.cpuS)} s CPU, ${f0(pl.fixture.maxRssMiB)} MiB max RSS${pl.fixture.reusedFrom ? `; that state was made by an earlier run of the same code, finished ${pl.fixture.reusedFrom}, whose figures come from its GNU time file` : ""}):`,
        "",
        "| Command | Wall s | CPU s | Max RSS MiB | Tree RSS MiB | Result |",
        "|---|---:|---:|---:|---:|---|",
        `| \`${pl.command}\` | ${f1(pl.plan.wallS)} | ${f1(pl.plan.cpuS)} | ${f0(pl.plan.maxRssMiB)} | ${f0(pl.plan.treeRssMiB)} | ${pl.noChanges ? "No changes" : `exit ${pl.plan.exitCode}: changes or error`} |`,
        `| \`cdktf diff fleet\` (synth with \`skipValidation\` + init + plan) | ${f1(pl.diff.wallS)} | ${f1(pl.diff.cpuS)} | ${f0(pl.diff.maxRssMiB)} | ${f0(pl.diff.treeRssMiB)} | exit ${pl.diff.exitCode} |`,
      );
    }
  }

  // Profiles.
  p("", "## Where the time goes", "");
  const prof = (tool: Tool, phase: Phase) => results.runs.filter((r) => r.tool === tool && r.phase === phase && r.size === big && r.steps);
  p(
    `Each command's output is stamped line by line with the seconds since its start (logs under \`/tmp/mac-postfix-bench/\`), which splits a \`cdktf deploy\` into: CLI start and synth (until Terraform's first line), \`terraform init\` + plan, and the apply; and gives each resource step's duration ("Creating..." to "Creation complete") and how long its program took to print its first line (the step client reaching the step server, SSH connection, sudo, the Mac-side lock). Medians over the repetitions at ${big} Macs:`,
    "",
    "| Phase | Wall s | CLI + synth s | init + plan s | apply s |",
    "|---|---:|---:|---:|---:|",
  );
  for (const tool of ["cdktf", "cdktf-skipvalidation", "terraform-floor"] as Tool[]) {
    for (const phase of PHASES) {
      const rs = prof(tool, phase);
      if (!rs.length) continue;
      const med = (k: "synthS" | "initPlanS" | "applyS" | "initNoChangesS") => median(rs.map((r) => r.steps![k] ?? NaN).filter(Number.isFinite));
      p(`| ${TOOL_NAMES[tool]}, ${PHASE_NAMES[phase]} | ${f1(median(rs.map((r) => r.m.wallS)))} | ${f1(med("synthS"))} | ${f1(phase === "noop" ? med("initNoChangesS") : med("initPlanS"))} | ${phase === "noop" ? "–" : f1(med("applyS"))} |`);
    }
  }
  p("", `Steps of the ${big}-Mac runs (first repetition): how many ran, median and max seconds each, total step-seconds, and the median fixed cost before the step's program printed its first line:`, "", "| Phase | Step | Count | Median s | Max s | Sum s | Start-up median s |", "|---|---|---:|---:|---:|---:|---:|");
  for (const phase of ["deploy", "change", "destroy"] as Phase[]) {
    const r = prof("cdktf", phase)[0];
    for (const [step, s] of Object.entries(r?.steps?.steps ?? {})) {
      if (s.sumS < 0.05) continue;
      p(`| ${PHASE_NAMES[phase]} | ${step} | ${s.count} | ${f1(s.medianS)} | ${f1(s.maxS)} | ${f0(s.sumS)} | ${s.firstOutputMedianS === undefined ? "–" : f1(s.firstOutputMedianS)} |`);
    }
  }
  const ansibleRuns = (phase: Phase) => results.runs.filter((r) => r.tool === "ansible" && r.phase === phase && r.size === big && r.tasks)[0];
  p("", `Ansible at ${big} Macs (first repetition), seconds per task over all Macs (forks = ${results.parallelism}):`, "", "| Task | full deploy | no-op | settings change |", "|---|---:|---:|---:|");
  for (const task of Object.keys(ansibleRuns("deploy")?.tasks ?? {})) {
    p(`| ${task} | ${(["deploy", "noop", "change"] as Phase[]).map((ph) => f1(ansibleRuns(ph)?.tasks?.[task] ?? NaN)).join(" | ")} |`);
  }
  if (scale?.profile) {
    p(
      "",
      `CPU profile of the app that \`cdktf synth\` runs, for ${scale.profile.size} Macs (\`node --cpu-prof --import tsx bench/app.ts\`, summarised by \`bench/cpuprofile.ts\`): self time by package, then the heaviest call paths (inclusive):`,
      "",
      "| Self ms | Where |",
      "|---:|---|",
      ...scale.profile.byOwnerMs.slice(0, 8).map(([k, v]) => `| ${v} | \`${k}\` |`),
      "",
      "| Inclusive ms | Function |",
      "|---:|---|",
      ...scale.profile.heaviest.slice(0, 16).map(([k, v]) => `| ${v} | \`${k}\` |`),
    );
  }

  // Machine and commands.
  p("", "## Machine", "", "| | |", "|---|---|", ...Object.entries(m).map(([k, v]) => `| ${k} | ${v} |`), "");
  const example = (tool: Tool, phase: Phase) => results.runs.find((r) => r.tool === tool && r.phase === phase && r.size === big)?.command;
  p(
    "## Exact commands",
    "",
    "The whole run: `npm run bench` (= `npm run build && tsx bench/run.ts`), with the options given in the run's log; `npx tsx bench/report.ts` rebuilds this file and the chart from `bench/results/results.json`. Each measured command, as run (at the largest fleet; `$WORK` is that fleet's folder under `/tmp/mac-postfix-bench/`, `.` the repository), under `sh -c 'echo $$ > <cgroup>/cgroup.procs && exec /usr/bin/time -v -o <file> \"$@\"'`:",
    "",
    "```sh",
  );
  for (const tool of Object.keys(TOOL_NAMES) as Tool[]) for (const phase of PHASES) {
    const c = example(tool, phase);
    if (c) p(`# ${TOOL_NAMES[tool]}, ${PHASE_NAMES[phase]}`, c);
  }
  p("```", "");
  p(readFileSync(join(REPO, "bench", "method.md"), "utf8").trimEnd(), "");
  writeFileSync(join(REPO, "BENCHMARKS.md"), lines.join("\n"));
  writeFileSync(join(RESULTS, "deploy-time.svg"), await chart(all));
}

if (process.argv[1]?.endsWith("report.ts")) await writeReport(JSON.parse(readFileSync(join(RESULTS, "results.json"), "utf8")) as Results);

/** bench/results/notes.md, written by hand after a run (conditions, what changed, what is next), if present. */
function runNotes(): string[] {
  const path = new URL("./results/notes.md", import.meta.url);
  return existsSync(path) ? ["", readFileSync(path, "utf8").trimEnd()] : [];
}
