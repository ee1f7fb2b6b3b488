/** `mac-postfix step apply|destroy`: one step from its spec's JSON, its output and exit code. */
import { parseStepSpec, runStep, StepError, type LockAgents } from "../executor/index.js";
import { STEP_ENV, type StepAction } from "../spec.js";

/**
 * Runs the step whose spec is specText, writing its log lines and any failure to write. Returns
 * the exit code: 0 when the step succeeded, 1 otherwise. Shared by the CLI and the step server
 * (which keeps idle lock holders in `agents` from one step to the next).
 */
export async function stepCommand(action: StepAction, specText: string | undefined, write: (text: string) => void, agents?: LockAgents): Promise<number> {
  const fail = (headline: string, detail = ""): number => {
    write(`${headline}\n${detail ? `${detail.replace(/^/gm, "  ")}\n` : ""}`);
    return 1;
  };
  let spec;
  try {
    spec = parseStepSpec(specText);
  } catch (error) {
    return fail(`mac-postfix: invalid step spec in $${STEP_ENV}: ${(error as Error).message}`);
  }
  try {
    await runStep(spec, action, { log: (line) => write(`${line}\n`), ...(agents ? { agents } : {}) });
    return 0;
  } catch (error) {
    if (error instanceof StepError) return fail(error.headline, error.detail);
    throw error;
  }
}

/** Whether value names a step action: "apply" or "destroy". */
export function isStepAction(value: string): value is StepAction {
  return value === "apply" || value === "destroy";
}
