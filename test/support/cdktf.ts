/**
 * Runs the real cdktf CLI against this repository's stacks (cdktf.json at the repo root), with a
 * private output folder and state folder per test so runs never share Terraform state.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type Result } from "execa";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CDKTF = join(REPO, "node_modules", ".bin", "cdktf");

export interface CdktfWorkspace {
  /** Private folder holding cdktf.out and the stacks' state files. */
  readonly dir: string;
  /** Environment every cdktf run of this workspace gets (merged over process.env). */
  readonly env: Record<string, string>;
}

/** A fresh workspace: its own output and state folders and a Terraform CLI config of its own. */
export async function cdktfWorkspace(env: Record<string, string>): Promise<CdktfWorkspace> {
  const dir = await mkdtemp(join(tmpdir(), "mac-postfix-cdktf-"));
  const cliConfig = join(dir, "terraformrc");
  await writeFile(cliConfig, "");
  return {
    dir,
    env: {
      CHECKPOINT_DISABLE: "1",
      TF_CLI_CONFIG_FILE: cliConfig,
      CI: "1",
      FORCE_COLOR: "0",
      MAC_POSTFIX_STATE_DIR: dir,
      ...env,
    },
  };
}

/**
 * `cdktf <command> <stack> --auto-approve` in the workspace; never throws on a non-zero exit.
 * `env` adds to (and overrides) the workspace's environment for this run only.
 */
export async function cdktf(
  ws: CdktfWorkspace,
  command: "deploy" | "destroy" | "synth" | "diff",
  stacks: string[],
  env: Record<string, string> = {},
): Promise<Result> {
  const approve = command === "deploy" || command === "destroy" ? ["--auto-approve"] : [];
  return execa(CDKTF, [command, ...stacks, ...approve, "--output", join(ws.dir, "cdktf.out")], {
    cwd: REPO,
    env: { ...ws.env, ...env },
    reject: false,
    all: true,
    timeout: 600_000,
  });
}

/** A readable failure message for an unexpected cdktf exit. */
export function cdktfFailure(result: Result): string {
  return `cdktf exited ${result.exitCode}:\n${String(result.all).slice(-6000)}`;
}

/** Resource addresses cdktf's output says were created, destroyed or changed. */
export function touchedAddresses(output: string): string[] {
  const found = new Set<string>();
  for (const match of output.matchAll(/\b((?:terraform_data|null_resource)\.[A-Za-z0-9_-]+)(?: \([^)]*\))?: (?:Creating|Destroying|Modifying)\.\.\./g)) found.add(match[1]!);
  return [...found].sort();
}
