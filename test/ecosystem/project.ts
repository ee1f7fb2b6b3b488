/**
 * A throwaway cdktf project for the ecosystem tests: its own folder with a cdktf.json whose app runs
 * `app.ts` via `npx tsx`, its own node_modules, Terraform CLI config and state. The same project
 * serves the cdktf and the cdktn CLI (both read cdktf.json).
 *
 * node_modules links this repository's packages. With `installed`, it is laid out as a CDK Terrain
 * user's after `npm install cdktf-mac-postfix cdktf@npm:cdktn@^0.24`: this package (package.json and
 * lib/) and @cdktf/provider-null are copied in, and `cdktf` is cdktn, so every import of "cdktf"
 * (ours, the null provider's) gets cdktn.
 */
import { cp, mkdir, mkdtemp, readdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type Result } from "execa";
import { ECO_LIBRARY, ECO_STACK, type EcoStack } from "./app.js";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
const MODULES = join(REPO, "node_modules");
export const NODE20_SHIM = fileURLToPath(new URL("node20-shim.cjs", import.meta.url));

export interface EcoProjectOptions {
  /** Install this package and alias cdktf to cdktn, as a cdktn user would. */
  readonly installed?: boolean;
  /** Extra environment for every CLI run (e.g. NODE_OPTIONS with NODE20_SHIM). */
  readonly env?: Record<string, string>;
}

export interface EcoProject {
  readonly dir: string;
  readonly spec: EcoStack;
  /** `<framework> deploy|destroy|synth <stack>` in the project; never throws on a non-zero exit. */
  run(command: "deploy" | "destroy" | "synth"): Promise<Result>;
}

export async function ecoProject(spec: EcoStack, { installed = false, env: extraEnv = {} }: EcoProjectOptions = {}): Promise<EcoProject> {
  const dir = await mkdtemp(join(tmpdir(), `mac-postfix-eco-${spec.framework}-`));
  const env: Record<string, string> = { CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: join(dir, "terraformrc"), CI: "1", FORCE_COLOR: "0", DISABLE_VERSION_CHECK: "1", [ECO_STACK]: JSON.stringify(spec), ...extraEnv };
  if (installed) {
    await layOutAsCdktnUser(join(dir, "node_modules"));
    env[ECO_LIBRARY] = join(dir, "node_modules", "cdktf-mac-postfix", "lib", "index.js");
  } else {
    await symlink(MODULES, join(dir, "node_modules"));
  }
  await writeFile(join(dir, "terraformrc"), "");
  const app = `npx tsx ${fileURLToPath(new URL("app.ts", import.meta.url))}`;
  await writeFile(join(dir, "cdktf.json"), JSON.stringify({ language: "typescript", app, projectId: `eco-${spec.name}`, sendCrashReports: "false", terraformProviders: [], context: {} }));
  return {
    dir,
    spec,
    run: (command) =>
      execa(join(MODULES, ".bin", spec.framework), [command, spec.name, ...(command === "synth" ? [] : ["--auto-approve"])], {
        cwd: dir, env, reject: false, all: true, timeout: 600_000,
      }),
  };
}

/** node_modules as `npm install cdktf-mac-postfix cdktf@npm:cdktn@^0.24` would leave it (see the top). */
export async function layOutAsCdktnUser(modules: string): Promise<void> {
  await mkdir(join(modules, "@cdktf"), { recursive: true });
  const link = (from: string, name: string) => symlink(join(MODULES, from), join(modules, name));
  for (const name of await readdir(MODULES)) if (name !== "cdktf" && name !== "@cdktf") await link(name, name);
  for (const name of await readdir(join(MODULES, "@cdktf"))) {
    if (name === "provider-null") await cp(join(MODULES, "@cdktf", name), join(modules, "@cdktf", name), { recursive: true });
    else await link(join("@cdktf", name), join("@cdktf", name));
  }
  await link("cdktn", "cdktf");
  const own = join(modules, "cdktf-mac-postfix");
  await cp(join(REPO, "lib"), join(own, "lib"), { recursive: true });
  await cp(join(REPO, "package.json"), join(own, "package.json"));
}

/** A readable failure message: the command, its exit code and the end of its output. */
export function failure(result: Result): string {
  return `${result.command}\nexited ${result.exitCode}:\n${String(result.all).slice(-5000)}`;
}
