/**
 * Confirms the instance serves: its job loaded (and running when supervised), `postfix status`
 * succeeds, and it answers SMTP with 220 from the deploying machine. Retries for a bounded time
 * while master starts.
 */
import { checkedMarkPath, type ReadinessStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { removeFile } from "./files.js";
import { domainExists, domainTarget, jobState, sleep } from "./launchctl.js";
import { masterPid, masterPidFile, masterRunning, stopMaster } from "./postfix.js";
import { smtpGreeting } from "./smtp.js";

const READY_TIMEOUT_MS = 60_000;
/** Probes are cheap (commands run through the lock holder, one TCP connect): poll often. */
const RETRY_MS = 250;
/**
 * A one-shot job (`postmulti -p start`, no KeepAlive) whose run ended without leaving master
 * running is started again, this far apart, until it has been started this many times, as
 * KeepAlive would: its start can fail for a moment after a master it replaces has stopped (say,
 * while that master's processes still hold the SMTP port).
 */
const ONE_SHOT_STARTS = 3;
const ONE_SHOT_RESTART_MS = 5_000;

export async function applyReadiness(ctx: StepContext, spec: ReadinessStep): Promise<void> {
  const domain = await domainTarget(ctx, spec.domain);
  if (!(await domainExists(ctx, domain))) {
    // A login-bound agent serves only while its user is logged in: nothing to confirm until then.
    ctx.log(`confirm (${domain} absent: the user is not logged in; the job starts at login)`, false);
    await removeCheckedMark(ctx, spec);
    return;
  }
  const service = `${domain}/${spec.label}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  /** Polls `probe` until it gives a value; a probe's error counts as "not yet", except a GiveUp. */
  const waitFor = async <T>(what: string, probe: () => Promise<T | false>): Promise<T> => {
    let last = "";
    for (;;) {
      try {
        const value = await probe();
        if (value !== false) return value;
      } catch (error) {
        if (error instanceof GiveUp) ctx.fail("readiness", error.message);
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
  let pidFile: string | undefined;
  const job = await waitFor(`job ${service} ${spec.expectRunning ? `running as the master of ${dir}` : "loaded"}`, async () => {
    const state = await jobState(ctx, service);
    if (!state || !spec.expectRunning) return state ?? false;
    pidFile ??= await masterPidFile(ctx, dir);
    const master = await masterPid(ctx, dir, pidFile);
    const supervised = master !== null && state.pid !== null && (await startedByJob(ctx, master, state.pid));
    if (state.state === "running" && supervised) return state;
    // Still seen a second later, so that a master launchd is just starting is not taken for a stray one.
    const stray = master !== null && !supervised;
    if (stray) strayFirstSeen ??= Date.now();
    if (stray && !strayStopped && Date.now() - strayFirstSeen! >= 1_000) {
      strayStopped = true;
      if (!(await stopMaster(ctx, dir, master, pidFile))) throw new GiveUp(`master pid ${master} runs outside ${service} and still runs 10 s after SIGTERM`);
      ctx.log(`stop master pid ${master}, which runs outside ${service}`, true);
    }
    return false;
  });
  ctx.log(`confirm job ${service} ${job.state ?? "loaded"}${job.pid ? ` (pid ${job.pid})` : ""}`, false);
  // Supervised, masterPid above has just seen `postfix status` succeed: nothing more to wait for.
  if (!spec.expectRunning) {
    let starts = 1;
    let lastStart = Date.now();
    await waitFor(`postfix -c ${dir} status once the start job ${service} has ended`, async () => {
      // While `postfix start` runs, its master already holds the lock (`status` says running) and may
      // yet die in its initialization, say when it cannot bind a port: judge only once the start ended.
      const state = await jobState(ctx, service);
      if (state?.pid != null) return false;
      if (await masterRunning(ctx, dir)) return true;
      const ended = state !== null && state.lastExitCode !== null;
      if (!ended || Date.now() - lastStart < ONE_SHOT_RESTART_MS) return false;
      const how = `its run ended with exit code ${state.lastExitCode} and master is not running`;
      if (starts >= ONE_SHOT_STARTS) throw new GiveUp(`job ${service} started ${starts} times; ${how}; Postfix's reason is in the Mac's system log`);
      await ctx.must("launchctl kickstart", [ctx.paths.launchctl, "kickstart", service]);
      starts++;
      lastStart = Date.now();
      ctx.log(`start job ${service} again (${how})`, true);
      return false;
    });
  }
  ctx.log("confirm postfix status", false);
  if (spec.smtp) {
    const { address, port } = spec.smtp;
    const greeting = await waitFor(`SMTP greeting at ${address}:${port}`, () =>
      smtpGreeting(address, port).catch((error: Error) => {
        // A name this machine cannot resolve will not resolve by waiting (the default is the Mac's SSH host, which may be an ~/.ssh/config alias).
        if (/\bENOTFOUND\b/.test(error.message)) throw new GiveUp(`the SMTP address ${address} does not resolve on this machine (${error.message}): set smtpAddress to an address it reaches, or to null to skip the SMTP check`);
        throw error;
      }),
    );
    ctx.log(`confirm SMTP ${address}:${port} "${greeting.banner}"`, false);
  }
  await removeCheckedMark(ctx, spec);
}

/**
 * A check mark no start took (a reload, a login agent, a one-shot job) is removed, so that a later
 * boot checks: the mark stands for the check a settings change ran moments ago.
 */
async function removeCheckedMark(ctx: StepContext, spec: ReadinessStep): Promise<void> {
  if (await removeFile(ctx, checkedMarkPath(spec.instance.configDirectory))) ctx.log("remove the check mark no start took", true);
}

/** Whether master is the job's own process, or its child: a login-bound agent starts master through `sudo -n`. */
async function startedByJob(ctx: StepContext, master: number, jobPid: number): Promise<boolean> {
  if (master === jobPid) return true;
  const ps = await ctx.run(["ps", "-o", "ppid=", "-p", String(master)], { root: true });
  return ps.exitCode === 0 && Number(ps.stdout.trim()) === jobPid;
}

/** Thrown by a probe when waiting longer cannot help: the step fails at once with its message. */
class GiveUp extends Error {}
