/**
 * Where the time of a `cdktf deploy`/`destroy` goes, read from its timestamped log (bench/measure.ts
 * stamps every line): the CLI's start and synth until Terraform speaks, `terraform init` and
 * `plan`, the apply, and the duration of each resource step (from "Creating..." to "Creation
 * complete", or the same for destruction), grouped by step (instance, config, job, ...); and for
 * Ansible, the time of each task over all hosts.
 */
export interface StepProfile {
  /** Seconds from the start to the first line of `terraform init` (CLI start-up and synth). */
  synthS?: number;
  /** From `terraform init` to the first resource action (init, plan and the plan's display). */
  initPlanS?: number;
  /** A no-op: from `terraform init` to Terraform's "No changes." */
  initNoChangesS?: number;
  /** From the first resource action to "Apply complete!"/"Destroy complete!". */
  applyS?: number;
  /**
   * Per step and action (e.g. "config create", "job destroy"): how many resources, the median, max
   * and total seconds each took, and the median seconds until the step's program printed its
   * first line (step client and server, SSH connection, sudo, lock: the fixed cost of a step).
   */
  steps: Record<string, { count: number; medianS: number; maxS: number; sumS: number; firstOutputMedianS?: number }>;
}

const LINE = /^\s*([\d.]+) (.*)$/;
const STEP = /(?:terraform_data|null_resource)\.\w*?_(instance|config|job|readiness|queue_guard|logout_hook|r\d+)\b.*?: (Creating\.\.\.|Destroying\.\.\.|Creation complete|Destruction complete)/;

export function stepProfile(log: string): StepProfile {
  const lines = log.split("\n").flatMap((l) => {
    const m = LINE.exec(l);
    return m ? [{ t: Number(m[1]), text: m[2]! }] : [];
  });
  const first = (re: RegExp) => lines.find((l) => re.test(l.text))?.t;
  const init = first(/Initializing the backend|Initializing provider plugins/);
  const action = first(/: (Creating|Destroying|Modifying)\.\.\./);
  const done = first(/(Apply|Destroy) complete!/);
  const noChanges = first(/No changes\./);

  const started = new Map<string, number>();
  const firstOutput = new Map<string, number>();
  const durations = new Map<string, number[]>();
  const firsts = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  for (const { t, text } of lines) {
    // The address alone: cdktf may append the construct path in parentheses, or nothing but ":".
    const address = /((?:terraform_data|null_resource)\.[\w-]+)/.exec(text)?.[1];
    if (address === undefined) continue;
    if (/\(local-exec\): \[/.test(text) && !firstOutput.has(address)) firstOutput.set(address, t);
    const m = STEP.exec(text);
    if (!m) continue;
    if (m[2]!.endsWith("...")) {
      started.set(address, t);
      firstOutput.delete(address);
    } else if (started.has(address)) {
      const key = `${/^r\d+$/.test(m[1]!) ? "bare" : m[1]!} ${m[2]!.startsWith("Creation") ? "create" : "destroy"}`;
      push(durations, key, t - started.get(address)!);
      if (firstOutput.has(address)) push(firsts, key, firstOutput.get(address)! - started.get(address)!);
      started.delete(address);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const steps = Object.fromEntries(
    [...durations].map(([key, ds]) => [
      key,
      {
        count: ds.length,
        medianS: median(ds),
        maxS: Math.max(...ds),
        sumS: ds.reduce((a, b) => a + b, 0),
        ...(firsts.has(key) ? { firstOutputMedianS: median(firsts.get(key)!) } : {}),
      },
    ]),
  );
  return {
    ...(init !== undefined ? { synthS: init } : {}),
    ...(init !== undefined && action !== undefined ? { initPlanS: action - init } : {}),
    ...(init !== undefined && noChanges !== undefined ? { initNoChangesS: noChanges - init } : {}),
    ...(action !== undefined && done !== undefined ? { applyS: done - action } : {}),
    steps,
  };
}

/** Seconds each Ansible task took over all hosts (from its TASK line to the next TASK or the recap). */
export function taskProfile(log: string): Record<string, number> {
  const marks = log.split("\n").flatMap((l) => {
    const m = /^\s*([\d.]+) (?:TASK \[(.*)\]|PLAY RECAP)/.exec(l);
    return m ? [{ t: Number(m[1]), task: m[2] }] : [];
  });
  if (!marks.length) return {};
  return {
    "(start-up, until the first task)": marks[0]!.t,
    ...Object.fromEntries(marks.slice(0, -1).map((m, i) => [m.task ?? "", Number((marks[i + 1]!.t - m.t).toFixed(3))])),
  };
}
