/** Shared helpers of the unit tests: synthesize a stack and read its resources. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing, TerraformStack } from "cdktf";
import type { IConstruct } from "constructs";

export interface Synthesized {
  readonly json: string;
  readonly stack: TerraformStack;
  /** Resources by type, then logical id; a terraform_data `input` (a step's JSON text) decoded. */
  readonly resources: Record<string, Record<string, Record<string, any>>>;
  readonly provider?: Record<string, unknown>;
}

/** Builds a stack named "stack" with `build` and synthesizes it. */
export function synth(build: (stack: TerraformStack) => void): Synthesized {
  const stack = new TerraformStack(Testing.app(), "stack");
  build(stack);
  const json = Testing.synth(stack);
  const parsed = JSON.parse(json);
  for (const resource of Object.values<Record<string, any>>(parsed.resource?.terraform_data ?? {})) {
    if (typeof resource.input === "string") resource.input = JSON.parse(resource.input);
  }
  return { json, stack, resources: parsed.resource ?? {}, provider: parsed.provider };
}

/**
 * The stack's cdk.tf.json as `cdktf synth` writes it, `//` metadata included (Testing.synth strips
 * it): resources by type, then logical id.
 */
export function writtenResources(stack: TerraformStack): Record<string, Record<string, Record<string, any>>> {
  return JSON.parse(readFileSync(join(Testing.fullSynth(stack), "stacks", stack.node.id, "cdk.tf.json"), "utf8")).resource;
}

/** Warning messages that cdktf annotations attached to `construct` or below. */
export function warnings(construct: IConstruct): string[] {
  return construct.node
    .findAll()
    .flatMap((c) => c.node.metadata)
    .filter((m) => m.type === "@cdktf/warn")
    .map((m) => String(m.data));
}

/** Environment for running terraform and cdktf offline, with an empty CLI config of our own. */
export function terraformEnv(): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), "mac-postfix-tf."));
  const config = join(dir, "terraformrc");
  writeFileSync(config, "");
  return { ...process.env, CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: config, TF_IN_AUTOMATION: "1" };
}
