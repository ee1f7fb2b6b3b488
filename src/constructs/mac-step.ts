/**
 * Turns a StepSpec into the Terraform resource that carries it, with the provisioners that run
 * this package's CLI. Internal to the constructs; the address helpers are exported for fleets
 * (e.g. to write `removed` blocks).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NullProvider } from "@cdktf/provider-null/lib/provider/index.js";
import { Resource as NullResource } from "@cdktf/provider-null/lib/resource/index.js";
import { TerraformProvider, TerraformStack, type ITerraformDependable, type LocalExecProvisioner, type TerraformResource } from "cdktf";
import type { Construct } from "constructs";
import { specOnTheWire, STEP_ENV, type StepAction, type StepSpec } from "../spec.js";
import { ValidationError } from "../validation.js";
import type { MacHost, MacResourceType } from "./mac-host.js";
import { TerraformData, withoutConstructPath } from "./terraform-data.js";

/** The step names used in addresses: `<addressPrefix>_<step>`. */
export type MacStepName = "instance" | "config" | "job" | "readiness" | "queue_guard" | "logout_hook" | "sudo_rule";

/** Matches an `addressPrefix`: a Terraform identifier. */
export const ADDRESS_PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** The Terraform address of a step synthesized with an `addressPrefix`, e.g. `terraform_data.mac17_job`. */
export function macStepAddress(resourceType: MacResourceType, addressPrefix: string, step: MacStepName): string {
  return `${resourceType}.${addressPrefix}_${step}`;
}

/** This package's built programs folder, found from the package root (works from src via tsx and from lib). */
const PROGRAMS: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cdktf-mac-postfix: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return join(dir, "lib", "cli");
})();

/** Absolute path of this package's CLI (`mac-postfix step …`, fleet operations). */
export const CLI_PATH: string = join(PROGRAMS, "mac-postfix.js");

/** Absolute path of the step client the provisioners run (see src/cli/step-client.pl). */
export const STEP_CLIENT_PATH: string = join(PROGRAMS, "step-client.pl");

/** Terraform expression, inside a provisioner, of the step's spec (JSON text). */
function specExpression(resourceType: MacResourceType): string {
  return resourceType === "terraform_data" ? "${self.input}" : "${self.triggers.spec}";
}

/**
 * The local-exec provisioner that runs a step for a resource of the given type: the step client,
 * which hands it to the user's step server (or runs `mac-postfix step <action>` itself). No shell:
 * `interpreter` is the argv, the spec travels in the environment.
 */
export function macStepProvisioner(resourceType: MacResourceType, action: StepAction): LocalExecProvisioner {
  return {
    type: "local-exec",
    interpreter: ["perl", STEP_CLIENT_PATH],
    command: action,
    environment: { [STEP_ENV]: specExpression(resourceType) },
    ...(action === "destroy" ? { when: "destroy" as const } : {}),
  };
}

/**
 * Escapes Terraform template sequences so a user's `${...}` or `%{...}` reaches the Mac verbatim
 * instead of being evaluated by Terraform. Applied to every string (and key) of a spec.
 */
export function escapeTemplates<T>(value: T): T {
  if (typeof value === "string") return value.replace(/([$%])\{/g, (_m, sigil: string) => `${sigil}${sigil}{`) as T;
  if (Array.isArray(value)) return value.map(escapeTemplates) as T;
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [escapeTemplates(k), escapeTemplates(v)])) as T;
  }
  return value;
}

export interface MacStepProps {
  /** The Mac the step runs on (gives the resource type). */
  readonly host: MacHost;
  /** What the step does; becomes the resource's input. */
  readonly spec: StepSpec;
  /**
   * What identifies the step's object on the Mac: a change replaces the resource (destroy then
   * create), any other change of `spec` is recorded in place. terraform_data only: a
   * null_resource is replaced on any change.
   */
  readonly replaceOn: Readonly<Record<string, unknown>>;
  /** Actions that have a provisioner: "apply" at create, "destroy" at destroy. */
  readonly actions: readonly StepAction[];
  /** Resources to create before this one (and destroy after it). */
  readonly dependsOn?: ITerraformDependable[];
  /** Deterministic address: the logical id becomes `<addressPrefix>_<step>`. */
  readonly addressPrefix?: string;
  /** Step name used with `addressPrefix`. */
  readonly step: MacStepName;
}

/** Validates an optional addressPrefix prop. */
export function validateAddressPrefix(where: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !ADDRESS_PREFIX_PATTERN.test(value)) {
    throw new ValidationError(where, "addressPrefix", `must match ${ADDRESS_PREFIX_PATTERN}`, value);
  }
  return value;
}

/** The null provider's resource, with the metadata TerraformData gives a step. */
class StepNullResource extends NullResource {
  protected override get constructNodeMetadata(): Record<string, unknown> {
    return withoutConstructPath(super.constructNodeMetadata);
  }
}

/** Creates the resource that carries one step. */
export function macStep(scope: Construct, id: string, props: MacStepProps): TerraformResource {
  const { resourceType } = props.host;
  const provisioners = props.actions.map((action) => macStepProvisioner(resourceType, action));
  // The spec travels as one JSON string: Terraform's plan still shows it field by field
  // (`jsonencode({...})`), and the state holds no type description beside each value, which
  // halves the state Terraform rewrites after every resource (and its CPU time doing so).
  const spec = escapeTemplates(JSON.stringify(specOnTheWire(props.spec)));
  let resource: TerraformResource;
  if (resourceType === "terraform_data") {
    resource = new TerraformData(scope, id, {
      input: spec,
      triggersReplace: escapeTemplates(props.replaceOn),
      dependsOn: props.dependsOn,
      provisioners,
    });
  } else {
    addNullProvider(scope);
    resource = new StepNullResource(scope, id, {
      triggers: { spec },
      dependsOn: props.dependsOn,
      provisioners,
    });
  }
  if (props.addressPrefix !== undefined) resource.overrideLogicalId(`${props.addressPrefix}_${props.step}`);
  return resource;
}

/** Adds the `null` provider to the scope's stack unless one is there already. */
function addNullProvider(scope: Construct): void {
  const stack = TerraformStack.of(scope);
  const present = stack.node.children.some((c) => c instanceof TerraformProvider && c.terraformResourceType === "null");
  if (!present) new NullProvider(stack, "null");
}
