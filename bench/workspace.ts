/** Paths and cdktf project folders shared by the benchmark's parts. */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { writeJson } from "./measure.js";

export const REPO = fileURLToPath(new URL("..", import.meta.url));
export const RESULTS = join(REPO, "bench", "results");
export const BIN = join(REPO, "node_modules", ".bin");
export const ANSIBLE = join(REPO, "bench", "ansible");
export const WORK = "/tmp/mac-postfix-bench";
export const LAB_INSTANCE = "p";

/** A private Terraform CLI config, telemetry off, no colour, CI mode for cdktf. */
export function toolEnv(dir: string): Record<string, string> {
  const rc = join(dir, "terraformrc");
  if (!existsSync(rc)) writeFileSync(rc, "");
  return { CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: rc, CI: "1", FORCE_COLOR: "0", NO_COLOR: "1" };
}

/** A cdktf project folder whose app is bench/app.ts. */
export function cdktfProject(dir: string): void {
  mkdirSync(dir, { recursive: true });
  // tsx as node's loader: one node process for the synth, where the tsx command starts two.
  const app = `node --import ${import.meta.resolve("tsx")} ${join(REPO, "bench", "app.ts")}`;
  writeJson(join(dir, "cdktf.json"), { language: "typescript", app, projectId: "mac-postfix-bench", sendCrashReports: "false", terraformProviders: [], terraformModules: [], context: {} });
}

export const cdktfArgv = (command: string, stack: string, dir: string, extra: string[] = []) => [
  join(BIN, "cdktf"), command, stack, "--output", join(dir, "cdktf.out"), ...extra,
];

/**
 * Ends this checkout's step server (SIGTERM: it removes its socket and exits), so that the next
 * run starts one of its own, as a first deploy would.
 */
export async function stopStepServer(): Promise<void> {
  await execa("pkill", ["-TERM", "-f", `^node ${join(REPO, "lib", "cli", "step-server.js")} `], { reject: false });
}

/** Asks every ControlMaster with a socket in dir to exit. */
export async function closeMasters(dir: string): Promise<void> {
  const sockets = existsSync(dir) ? readdirSync(dir) : [];
  await Promise.all(sockets.map((s) => execa("ssh", ["-o", `ControlPath=${join(dir, s)}`, "-O", "exit", "x"], { reject: false })));
}
