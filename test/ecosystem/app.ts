/**
 * The app of the ecosystem tests' temporary projects (cdktf.json runs it with `npx tsx`): one stack
 * built with `cdktf` or with CDK Terrain (`cdktn`), from the JSON description in ECO_STACK.
 */
import type { Construct } from "constructs";
import type { LaunchAgentProps, LogoutHookProps, MacHostProps, PostfixInputInstanceProps, PostfixInstanceProps } from "../../src/index.js";

type Without<T, K extends keyof T> = Omit<T, K>;
/** What a stack holds; every construct is optional. */
export interface EcoStack {
  readonly framework: "cdktf" | "cdktn";
  readonly name: string;
  readonly host: MacHostProps;
  readonly input?: Without<PostfixInputInstanceProps, "host" | "dependsOn">;
  /** A bare instance and a LaunchAgent that runs it (the agent's argv is the test's choice). */
  readonly instance?: Without<PostfixInstanceProps, "host" | "dependsOn">;
  readonly agent?: Without<LaunchAgentProps, "host" | "dependsOn">;
  readonly logoutHook?: Without<LogoutHookProps, "host" | "dependsOn">;
}

export const ECO_STACK = "ECO_STACK";
/** Absolute path of the library's entry point to use instead of this repository's src (an installed copy). */
export const ECO_LIBRARY = "ECO_LIBRARY";

type Library = typeof import("../../src/index.js");
const { LaunchAgent, LogoutHook, MacHost, PostfixInputInstance, PostfixInstance } = (await import(process.env[ECO_LIBRARY] ?? "../../src/index.js")) as Library;

/** Builds the stack into `app` (a cdktf or cdktn App: our constructs accept either). */
export function buildEcoStack(framework: typeof import("cdktf") | typeof import("cdktn"), app: Construct, spec: EcoStack): Construct {
  const stack = new framework.TerraformStack(app, spec.name);
  const host = new MacHost(stack, "mac", spec.host);
  if (spec.input) new PostfixInputInstance(stack, "input", { host, ...spec.input });
  const instance = spec.instance && new PostfixInstance(stack, "instance", { host, ...spec.instance });
  if (spec.agent) new LaunchAgent(stack, "agent", { host, ...spec.agent, dependsOn: instance ? [instance.configResource] : undefined });
  if (spec.logoutHook) new LogoutHook(stack, "hook", { host, ...spec.logoutHook });
  return stack;
}

if (process.env[ECO_STACK]) {
  const spec = JSON.parse(process.env[ECO_STACK]) as EcoStack;
  const framework = spec.framework === "cdktn" ? await import("cdktn") : await import("cdktf");
  const app = new framework.App();
  buildEcoStack(framework, app, spec);
  app.synth();
}
