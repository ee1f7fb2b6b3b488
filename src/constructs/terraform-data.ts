/**
 * Terraform's built-in `terraform_data` resource, as cdktf's DataResource synthesizes it, minus
 * DataResource's per-resource validation: that runs `terraform version` once per resource at synth
 * (minutes for a fleet of a thousand Macs). The same check runs here once per stack instead.
 */
import { execFileSync } from "node:child_process";
import { anyToHclTerraform, anyToTerraform, hashMapper, hashMapperHcl, TerraformResource, TerraformStack, type ITerraformDependable, type LocalExecProvisioner } from "cdktf";
import type { Construct, IValidation } from "constructs";

/** terraform_data exists since Terraform 1.4. */
const MINIMUM = [1, 4] as const;

export interface TerraformDataConfig {
  /** Stored in state (here always JSON text); a change is recorded in place. */
  readonly input: string;
  /** A change replaces the resource. */
  readonly triggersReplace: Record<string, unknown>;
  readonly dependsOn?: ITerraformDependable[];
  readonly provisioners?: LocalExecProvisioner[];
}

/** Checks the Terraform that cdktf will run (TERRAFORM_BINARY_NAME, as cdktf reads it) is recent enough. */
class TerraformVersionValidation implements IValidation {
  validate(): string[] {
    const binary = process.env.TERRAFORM_BINARY_NAME || "terraform";
    let output: string;
    try {
      output = execFileSync(binary, ["version"], { stdio: "pipe" }).toString();
    } catch (error) {
      return [`Could not determine the version of ${binary} (terraform_data needs Terraform >= ${MINIMUM.join(".")}): ${(error as Error).message}`];
    }
    const [major, minor] = (/(\d+)\.(\d+)\.\d+/.exec(output) ?? []).slice(1).map(Number);
    if (major === undefined || minor === undefined) return [`Could not determine the version of ${binary} from: ${output.split("\n")[0]}`];
    const recent = major > MINIMUM[0] || (major === MINIMUM[0] && minor >= MINIMUM[1]);
    return recent ? [] : [`${binary} ${major}.${minor} is too old: terraform_data needs Terraform >= ${MINIMUM.join(".")}`];
  }
}

/**
 * cdktf's resource metadata minus the construct path. For each line of Terraform's output, the
 * cdktf CLI looks for the address of every resource whose metadata has a path, to append that
 * path to the line, building a regular expression per resource: its CPU time grows with lines
 * times resources: with it, a no-op `cdktf diff` of 1,000 Macs in one stack took 37 s instead of
 * 21 (bench/results/notes.md). A step's output already names its Mac and step, and its input names
 * its construct.
 */
export function withoutConstructPath(nodeMetadata: Record<string, unknown>): Record<string, unknown> {
  const { path: _path, ...metadata } = nodeMetadata.metadata as Record<string, unknown>;
  return { ...nodeMetadata, metadata };
}

const checkedStacks = new WeakSet<TerraformStack>();

export class TerraformData extends TerraformResource {
  private readonly config: TerraformDataConfig;

  constructor(scope: Construct, id: string, config: TerraformDataConfig) {
    super(scope, id, {
      terraformResourceType: "terraform_data",
      terraformGeneratorMetadata: { providerName: "terraform" },
      dependsOn: config.dependsOn,
      provisioners: config.provisioners,
    });
    this.config = config;
    const stack = TerraformStack.of(this);
    if (!checkedStacks.has(stack)) {
      checkedStacks.add(stack);
      stack.node.addValidation(new TerraformVersionValidation());
    }
  }

  protected override get constructNodeMetadata(): Record<string, unknown> {
    return withoutConstructPath(super.constructNodeMetadata);
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return { input: this.config.input, triggers_replace: hashMapper(anyToTerraform)(this.config.triggersReplace) };
  }

  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return { input: this.config.input, triggers_replace: hashMapperHcl(anyToHclTerraform)(this.config.triggersReplace) };
  }
}
