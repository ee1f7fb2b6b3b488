/** What the fleet's end-to-end tests share: lab Macs, a throwaway cdktf project, and the real cdktf CLI. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { stringify } from "yaml";
import { Lab, type InventoryHost } from "../lab/lab.js";
export { touchedAddresses } from "../support/cdktf.js";

export const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "node_modules", ".bin");

/** The fleet tests' own lab instance ("f"): no other test deploys to its Macs. Test files `release()` it. */
export const lab = new Lab({ instance: "f" });

/** The lab's Macs with these numbers (bringing the lab up to the highest one). */
export async function labMacs(numbers: readonly number[]): Promise<InventoryHost[]> {
  if (process.getuid?.() !== 0) throw new Error("the fleet's end-to-end tests need root for the Mac lab: run them as root");
  await lab.up({ hosts: Math.max(...numbers) });
  const all = await lab.inventory();
  return numbers.map((n) => {
    const mac = all.find((h) => h.name === `mac${n}`);
    if (!mac) throw new Error(`the lab has no mac${n}`);
    return mac;
  });
}

/** Runs a command inside a Mac as root; throws with its output unless it exits 0. */
export async function onMac(name: string, argv: string[]): Promise<string> {
  const result = await lab.exec(name, argv);
  if (result.exitCode !== 0) throw new Error(`${name}: ${argv.join(" ")} exited ${result.exitCode}: ${result.stdout}${result.stderr}`);
  return String(result.stdout);
}

/** Like onMac, and returns the exit code instead of throwing. */
export async function onMacStatus(name: string, argv: string[]): Promise<{ exitCode: number; output: string }> {
  const result = await lab.exec(name, argv);
  return { exitCode: result.exitCode ?? 1, output: `${result.stdout}${result.stderr}` };
}

export interface CdktfRun {
  readonly exitCode: number;
  readonly output: string;
}

/** A temp cdktf project whose app runs `stackFile` (a path under ROOT) with `env`. */
export class CdktfProject {
  readonly dir = mkdtempSync(join(tmpdir(), "fleet-cdktf-"));

  constructor(
    stackFile: string,
    private readonly env: Record<string, string>,
  ) {
    writeFileSync(
      join(this.dir, "cdktf.json"),
      JSON.stringify({ language: "typescript", app: `${join(BIN, "tsx")} ${join(ROOT, stackFile)}`, projectId: "fleet-test", sendCrashReports: "false", terraformProviders: [], terraformModules: [], context: {} }),
    );
    // Our own (empty) CLI config: no provider mirror, no credentials, no checkpoint.
    writeFileSync(join(this.dir, "terraformrc"), "");
  }

  /** Removes the project folder (state included). */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Writes an inventory file into the project and returns its path. */
  inventory(document: object, name = "fleet.yaml"): string {
    const path = join(this.dir, name);
    writeFileSync(path, stringify(document));
    return path;
  }

  /** Runs the real cdktf CLI (`deploy`, `destroy`, `synth`, ...) and returns its exit code and output. */
  async cdktf(args: string[], env: Record<string, string> = {}): Promise<CdktfRun> {
    const result = await execa(join(BIN, "cdktf"), [...args], {
      cwd: this.dir,
      reject: false,
      all: true,
      env: this.cdktfEnv(env),
    });
    return { exitCode: result.exitCode ?? 1, output: String(result.all) };
  }

  /** Starts the cdktf CLI; `waitFor` resolves once its output matches, `done` when it ends. */
  start(args: string[], env: Record<string, string> = {}): { waitFor: (pattern: RegExp) => Promise<void>; done: Promise<CdktfRun> } {
    const child = execa(join(BIN, "cdktf"), args, { cwd: this.dir, reject: false, all: true, env: this.cdktfEnv(env) });
    let output = "";
    const waiters: { pattern: RegExp; resolve: () => void }[] = [];
    child.all!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      for (const w of waiters.filter((w) => w.pattern.test(output))) w.resolve();
    });
    const done = child.then((result) => ({ exitCode: result.exitCode ?? 1, output }));
    return {
      done,
      waitFor: (pattern) =>
        new Promise((resolve, reject) => {
          if (pattern.test(output)) return resolve();
          waiters.push({ pattern, resolve });
          void done.then((run) => reject(new Error(`cdktf ended (exit ${run.exitCode}) before its output matched ${pattern}:\n${run.output}`)));
        }),
    };
  }

  private cdktfEnv(env: Record<string, string>): Record<string, string> {
    return { ...this.env, ...env, CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: join(this.dir, "terraformrc"), CI: "1", FORCE_COLOR: "0", NO_COLOR: "1" };
  }

  /** `cdktf deploy --auto-approve`, failing with its output unless it succeeds. */
  async deploy(stacks: string[], env: Record<string, string> = {}): Promise<string> {
    const run = await this.cdktf(["deploy", ...stacks, "--auto-approve"], env);
    if (run.exitCode !== 0) throw new Error(`cdktf deploy failed (exit ${run.exitCode}):\n${run.output}`);
    return run.output;
  }
}

/** The inventory entry of a lab Mac. */
export function entry(mac: InventoryHost, extra: object = {}): object {
  return { name: mac.name, address: mac.address, ...extra };
}

/** Inventory defaults for lab Macs. */
export function labDefaults(mac: InventoryHost): object {
  return { user: mac.user, identityFile: mac.identityFile, knownHostsFile: mac.knownHostsFile };
}
