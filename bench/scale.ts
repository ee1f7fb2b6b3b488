/**
 * Scale on paper and in synth: `cdktf synth` of fleets of 1, 10, 50 and 1,000 Macs, as users run
 * it and with the App's `skipValidation` (no construct validations; a CPU profile of the app shows
 * what they cost), then a no-op
 * `terraform plan` of the 1,000-Mac fleet against a state holding all its resources. That state
 * is made by real `terraform apply`s of the same configuration with the provisioners left out
 * (provisioners are not part of state), a hundred Macs at a time (fixture.ts says why), so the
 * plan of the real configuration must find nothing to do.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { Layout } from "../test/lab/lab.js";
import { summarise } from "./cpuprofile.js";
import { writeFleetInventory } from "./fleet.js";
import { fromTimeFile, measure, type Measurement } from "./measure.js";
import { BIN, cdktfArgv, cdktfProject, LAB_INSTANCE, REPO, toolEnv, WORK } from "./workspace.js";

export const SYNTH_SIZES = [1, 10, 50, 1000];
const PLAN_SIZE = 1000;
const PROFILE_SIZE = 50;

export interface SynthPoint {
  size: number;
  resources: number;
  /** `cdktf synth fleet` as users run it. */
  cli: Measurement[];
  /** The same with BENCH_SKIP_VALIDATION=1 (App `skipValidation`). */
  skipValidation: Measurement[];
}

export interface ScaleResults {
  started: string;
  synth: SynthPoint[];
  /** CPU profile (`node --cpu-prof`) of the app (what `cdktf synth` runs) for PROFILE_SIZE Macs. */
  profile?: { size: number } & ReturnType<typeof summarise>;
  plan?: {
    size: number;
    resources: number;
    fixture: Measurement & { reusedFrom?: string };
    plan: Measurement;
    noChanges: boolean;
    diff: Measurement;
    command: string;
    /** Set when the figures are an earlier run's, kept because this run could not repeat them. */
    carriedFrom?: { run: string; why: string };
  };
}

/** Lab-shaped inventory hosts that need not exist (synth and plan never connect). */
function paperHosts(n: number) {
  const layout = new Layout({ instance: LAB_INSTANCE });
  return Array.from({ length: n }, (_, i) => ({
    name: `mac${i + 1}`,
    address: layout.address(i + 1),
    port: 22,
    user: "admin",
    identityFile: layout.identityFile,
    knownHostsFile: layout.knownHostsFile,
  }));
}

export async function scale(parallelism: number, reps = 2): Promise<ScaleResults> {
  const results: ScaleResults = { started: new Date().toISOString(), synth: [] };
  for (const n of SYNTH_SIZES) {
    const dir = join(WORK, `scale-${n}`);
    // The 1,000-Mac state takes half an hour to make: an earlier run's is kept (with its apply's figures).
    for (const entry of existsSync(dir) ? readdirSync(dir) : []) {
      if (n !== PLAN_SIZE || !["state", "fixture", "fixture-apply.log", "fixture-apply.log.time", "fixture-config.sha256"].includes(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
    }
    cdktfProject(dir);
    const inventory = join(dir, "inventory.json");
    writeFleetInventory(inventory, paperHosts(n));
    const env = { ...toolEnv(dir), BENCH_STATE_DIR: join(dir, "state"), BENCH_INVENTORY: inventory };
    const skip = { ...env, BENCH_SKIP_VALIDATION: "1" };
    const point: SynthPoint = { size: n, resources: 0, cli: [], skipValidation: [] };
    // At 1,000 Macs the validated synth takes minutes: one run.
    for (let rep = 1; rep <= (n === PLAN_SIZE ? 1 : reps); rep++) {
      point.cli.push(await measure(cdktfArgv("synth", "fleet", dir), { cwd: dir, env, logFile: join(dir, `synth-${rep}.log`) }));
      console.log(`cdktf synth n=${n} rep=${rep}: ${point.cli.at(-1)!.wallS.toFixed(1)} s`);
    }
    for (let rep = 1; rep <= reps; rep++) {
      point.skipValidation.push(await measure(cdktfArgv("synth", "fleet", dir), { cwd: dir, env: skip, logFile: join(dir, `synth-skip-${rep}.log`) }));
      console.log(`cdktf synth (skipValidation) n=${n} rep=${rep}: ${point.skipValidation.at(-1)!.wallS.toFixed(1)} s`);
    }
    const config = JSON.parse(readFileSync(join(dir, "cdktf.out/stacks/fleet/cdk.tf.json"), "utf8")) as { resource: Record<string, Record<string, Record<string, unknown>>>; removed?: unknown };
    point.resources = Object.values(config.resource).reduce((a, r) => a + Object.keys(r).length, 0);
    results.synth.push(point);

    if (n === PROFILE_SIZE) {
      // The app alone, as `cdktf synth` runs it, under the V8 profiler (Node refuses --cpu-prof in NODE_OPTIONS).
      const profDir = join(dir, "cpu-prof");
      await execa("node", ["--cpu-prof", `--cpu-prof-dir=${profDir}`, "--import", "tsx", join(REPO, "bench", "app.ts")], {
        cwd: REPO,
        env: { ...process.env, ...env, CDKTF_OUTDIR: join(dir, "prof.out") },
      });
      const profiles = readdirSync(profDir).map((f) => JSON.parse(readFileSync(join(profDir, f), "utf8")));
      const app = profiles.find((p) => JSON.stringify(p.nodes.map((x: { callFrame: { url: string } }) => x.callFrame.url)).includes("bench/app.ts"));
      if (app) results.profile = { size: n, ...summarise(app, 12) };
    }

    if (n === PLAN_SIZE) {
      // The state: the same resources (same inputs, same backend path), applied without provisioners.
      const fixture = join(dir, "fixture");
      mkdirSync(fixture, { recursive: true });
      for (const r of Object.values(config.resource)) for (const body of Object.values(r)) delete body.provisioner;
      delete config.removed;
      const fixtureConfig = JSON.stringify(config);
      writeFileSync(join(fixture, "main.tf.json"), fixtureConfig);
      const stackDir = join(dir, "cdktf.out/stacks/fleet");
      for (const d of [fixture, stackDir]) await execa("terraform", ["init", "-input=false"], { cwd: d, env: { ...process.env, ...env } });
      const p = `-parallelism=${parallelism}`;
      const applyTime = join(dir, "fixture-apply.log.time");
      const statePath = join(dir, "state", "fleet.tfstate");
      // An earlier state serves only if it was applied from exactly this configuration: else the plan is not a no-op.
      const madeFrom = join(dir, "fixture-config.sha256");
      const configHash = createHash("sha256").update(fixtureConfig).digest("hex");
      const kept = existsSync(applyTime) && existsSync(statePath) && existsSync(madeFrom) && readFileSync(madeFrom, "utf8") === configHash;
      const fixtureRun = kept
        ? { ...fromTimeFile(applyTime), reusedFrom: statSync(applyTime).mtime.toISOString() }
        : await measure([join(BIN, "tsx"), join(REPO, "bench", "fixture.ts"), fixture, String(parallelism)], { cwd: fixture, env, logFile: join(dir, "fixture-apply.log") });
      if (!kept && fixtureRun.exitCode === 0) writeFileSync(madeFrom, configHash);
      console.log(`state fixture n=${n}: ${fixtureRun.wallS.toFixed(1)} s (exit ${fixtureRun.exitCode}${kept ? ", kept from an earlier run" : ""})`);
      const planArgv = ["terraform", "plan", "-detailed-exitcode", "-input=false", "-no-color", p];
      const plan = await measure(planArgv, { cwd: stackDir, env, logFile: join(dir, "plan.log") });
      // cdktf's own no-op plan (synth included), without the validation's minutes.
      const diff = await measure(cdktfArgv("diff", "fleet", dir, ["--terraform-parallelism", String(parallelism)]), { cwd: dir, env: skip, logFile: join(dir, "diff.log") });
      results.plan = {
        size: n,
        resources: point.resources,
        fixture: fixtureRun,
        plan,
        noChanges: plan.exitCode === 0 && /No changes\./.test(readFileSync(join(dir, "plan.log"), "utf8")),
        diff,
        command: `${planArgv.join(" ")} (in cdktf.out/stacks/fleet)`,
      };
      console.log(`plan n=${n}: ${plan.wallS.toFixed(1)} s (exit ${plan.exitCode}), cdktf diff ${diff.wallS.toFixed(1)} s (exit ${diff.exitCode})`);
    }
  }
  return results;
}
