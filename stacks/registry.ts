/**
 * The example stacks `stacks/main.ts` can build. Every module in stacks/ (other than main.ts and
 * this file) registers its stacks with `defineStack`; `MAC_POSTFIX_STACKS` (comma-separated names)
 * picks which ones are built, by default every stack whose required environment variables are set.
 */
import { join } from "node:path";
import { App, LocalBackend, TerraformStack } from "cdktf";
import type { OnDestroy } from "../src/spec.js";
import type { Lifecycle, MacResourceType, PostfixInputInstanceProps, RunMode } from "../src/index.js";

export interface StackDefinition {
  /** Stack name, as given to `cdktf deploy <name>`. */
  readonly name: string;
  /** One line for listings. */
  readonly description: string;
  /** Environment variables the stack cannot do without. */
  readonly requires?: readonly string[];
  /** Adds the stack's constructs to `stack`. */
  readonly build: (stack: TerraformStack, env: NodeJS.ProcessEnv) => void;
}

const definitions = new Map<string, StackDefinition>();

/** Registers a stack; names are unique. */
export function defineStack(definition: StackDefinition): void {
  if (definitions.has(definition.name)) throw new Error(`stacks: stack ${definition.name} is defined twice`);
  definitions.set(definition.name, definition);
}

/** Every registered stack, by name. */
export function registeredStacks(): readonly StackDefinition[] {
  return [...definitions.values()];
}

/**
 * Builds the selected stacks into `app`. With `MAC_POSTFIX_STATE_DIR`, each stack keeps its local
 * state in `<dir>/<name>.tfstate` (tests use it to keep their states apart).
 */
export function buildStacks(app: App, env: NodeJS.ProcessEnv): TerraformStack[] {
  const selected = env.MAC_POSTFIX_STACKS?.split(",").map((s) => s.trim()).filter(Boolean);
  const missing = (d: StackDefinition) => (d.requires ?? []).filter((v) => !env[v]);
  let chosen: StackDefinition[];
  if (selected === undefined || selected.length === 0) {
    chosen = registeredStacks().filter((d) => missing(d).length === 0);
  } else {
    chosen = selected.map((name) => {
      const d = definitions.get(name);
      if (!d) throw new Error(`MAC_POSTFIX_STACKS: no stack named ${JSON.stringify(name)}; known: ${[...definitions.keys()].join(", ")}`);
      const absent = missing(d);
      if (absent.length > 0) throw new Error(`stack ${name} needs the environment variable(s) ${absent.join(", ")}`);
      return d;
    });
  }
  return chosen.map((d) => {
    const stack = new TerraformStack(app, d.name);
    if (env.MAC_POSTFIX_STATE_DIR) new LocalBackend(stack, { path: join(env.MAC_POSTFIX_STATE_DIR, `${d.name}.tfstate`) });
    d.build(stack, env);
    return stack;
  });
}

function parseJsonObject(name: string, text: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name}: not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${name}: must be a JSON object`);
  return value as Record<string, string>;
}

/**
 * PostfixInputInstance props (other than host) from the environment; the constructs validate them:
 * MAC_POSTFIX_SETTINGS (JSON object of main.cf settings), MAC_POSTFIX_RUN_MODE, MAC_POSTFIX_ON_DESTROY,
 * MAC_POSTFIX_LIFECYCLE, MAC_POSTFIX_LOGIN_USER, MAC_POSTFIX_SMTP_PORT.
 */
export function inputInstanceOptionsFromEnv(env: NodeJS.ProcessEnv): Omit<PostfixInputInstanceProps, "host"> {
  return {
    settings: env.MAC_POSTFIX_SETTINGS ? parseJsonObject("MAC_POSTFIX_SETTINGS", env.MAC_POSTFIX_SETTINGS) : undefined,
    runMode: (env.MAC_POSTFIX_RUN_MODE || undefined) as RunMode | undefined,
    onDestroy: (env.MAC_POSTFIX_ON_DESTROY || undefined) as OnDestroy | undefined,
    lifecycle: (env.MAC_POSTFIX_LIFECYCLE || undefined) as Lifecycle | undefined,
    loginUser: env.MAC_POSTFIX_LOGIN_USER || undefined,
    smtpPort: env.MAC_POSTFIX_SMTP_PORT ? Number(env.MAC_POSTFIX_SMTP_PORT) : undefined,
  };
}

/** MacHost props common to both example hosts: MAC_POSTFIX_RESOURCE_TYPE, MAC_POSTFIX_PATHS (JSON object). */
export function hostOptionsFromEnv(env: NodeJS.ProcessEnv): { resourceType?: MacResourceType; paths?: Record<string, string> } {
  return {
    resourceType: (env.MAC_POSTFIX_RESOURCE_TYPE || undefined) as MacResourceType | undefined,
    paths: env.MAC_POSTFIX_PATHS ? parseJsonObject("MAC_POSTFIX_PATHS", env.MAC_POSTFIX_PATHS) : undefined,
  };
}
