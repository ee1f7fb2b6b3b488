/**
 * Confirms the instance serves: its job loaded (and running when supervised), `postfix status`
 * succeeds, and it answers SMTP with 220 from the deploying machine. Retries for a bounded time
 * while master starts.
 */
import type { ReadinessStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { domainExists, domainTarget, jobState, sleep } from "./launchctl.js";
import { masterPid, masterRunning, stopMaster } from "./postfix.js";
import { smtpGreeting } from "./smtp.js";

const READY_TIMEOUT_MS = 60_000;
/** Probes are cheap (commands run through the lock holder, one TCP connect): poll often. */
const RETRY_MS = 250;

export async function applyReadiness(ctx: StepContext, spec: ReadinessStep): Promise<void> {
  const domain = await domainTarget(ctx, spec.domain);
  if (!(await domainExists(ctx, domain))) {
    // A login-bound agent serves only while its user is logged in: nothing to confirm until then.
    ctx.log(`confirm (${domain} absent: the user is not logged in; the job starts at login)`, false);
    return;
  }
  const service = `${domain}/${spec.label}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const waitFor = async <T>(what: string, probe: () => Promise<T | false>): Promise<T> => {
    let last = "";
    for (;;) {
      try {
        const value = await probe();
        if (value !== false) return value;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) ctx.fail("readiness", `${what} not confirmed within ${READY_TIMEOUT_MS / 1000} s`, last);
      await sleep(RETRY_MS);
    }
  };

  const dir = spec.instance.configDirectory;
  // Supervised, the job's own process (or its child, under sudo) must be the master: a master
  // started outside launchd (by the "postmulti-start" job this one replaced, or by hand) holds the
  // instance's lock, and launchd's master then exits at every start while `postfix status` still
  // says the instance runs.
  let strayFirstSeen: number | undefined;
  let strayStopped = false;
  const job = await waitFor(`job ${service} ${spec.expectRunning ? `running as the master of ${dir}` : "loaded"}`, async () => {
    const state = await jobState(ctx, service);
    if (!state || !spec.expectRunning) return state ?? false;
    const master = await masterPid(ctx, dir);
    const supervised = master !== null && state.pid !== null && (await startedByJob(ctx, master, state.pid));
    if (state.state === "running" && supervised) return state;
    // Still seen a second later, so that a master launchd is just starting is not taken for a stray one.
    const stray = master !== null && !supervised;
    if (stray) strayFirstSeen ??= Date.now();
    if (stray && !strayStopped && Date.now() - strayFirstSeen! >= 1_000) {
      strayStopped = true;
      if (!(await stopMaster(ctx, dir, master))) ctx.fail("readiness", `master pid ${master} runs outside ${service} and still runs 10 s after SIGTERM`);
      ctx.log(`stop master pid ${master}, which runs outside ${service}`, true);
    }
    return false;
  });
  ctx.log(`confirm job ${service} ${job.state ?? "loaded"}${job.pid ? ` (pid ${job.pid})` : ""}`, false);
  await waitFor(`postfix -c ${dir} status`, () => masterRunning(ctx, dir));
  ctx.log("confirm postfix status", false);
  if (spec.smtp) {
    const { address, port } = spec.smtp;
    const greeting = await waitFor(`SMTP greeting at ${address}:${port}`, () => smtpGreeting(address, port));
    ctx.log(`confirm SMTP ${address}:${port} "${greeting.banner}"`, false);
  }
}

/** Whether master is the job's own process, or its child: a login-bound agent starts master through `sudo -n`. */
async function startedByJob(ctx: StepContext, master: number, jobPid: number): Promise<boolean> {
  if (master === jobPid) return true;
  const ps = await ctx.run(["ps", "-o", "ppid=", "-p", String(master)], { root: true });
  return ps.exitCode === 0 && Number(ps.stdout.trim()) === jobPid;
}
