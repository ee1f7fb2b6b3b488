/**
 * Group, main.cf settings and enablement of an instance. Settings change in place with postconf
 * and a reload (master keeps its PID), or a stop and start for the parameters master reads only at
 * start; a change Postfix rejects puts the previous main.cf back.
 */
import { checkedMarkPath, type InstanceConfigStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { readFile, removeFile, writeFileAtomic } from "./files.js";
import { sleep } from "./launchctl.js";
import { coolDown, explicitSettings, findInstance, masterPidFile, masterRunning, readPidFile, stopMaster } from "./postfix.js";

/** Which keys we manage, kept beside main.cf so a setting dropped from the spec is reverted. */
export const LEDGER_NAME = ".mac-postfix-managed.json";

export async function applyInstanceConfig(ctx: StepContext, spec: InstanceConfigStep): Promise<void> {
  const existing = await findInstance(ctx, spec.instance);
  if (!existing) ctx.fail("configure", `instance ${spec.instance.name} does not exist (its instance step must run first)`);
  const dir = existing.configDirectory;
  const postmulti = ctx.postfixCommand("postmulti");

  const group = spec.group ?? null;
  if (existing.group !== group) {
    await ctx.must("assign group", [postmulti, "-i", spec.instance.name, "-G", group ?? "-", "-e", "assign"], { pty: true });
    await coolDown(ctx, dir);
  }
  ctx.log(`group ${group ?? "-"}`, existing.group !== group);

  await applySettings(ctx, dir, spec.settings);

  if (existing.enabled !== spec.enabled) {
    await ctx.must(spec.enabled ? "enable" : "disable", [postmulti, "-i", spec.instance.name, "-e", spec.enabled ? "enable" : "disable"], { pty: true });
    await coolDown(ctx, dir);
  }
  ctx.log(spec.enabled ? "enable" : "disable", existing.enabled !== spec.enabled);
}

/**
 * Written beside main.cf before it changes and removed once master has the change, so that a run
 * interrupted in between (a cut connection, a killed deploy) leaves a mark the next run acts on:
 * otherwise it would find main.cf already as wanted, report "no change", and leave master on the
 * old configuration. Holds "reload" or "restart".
 */
export const PENDING_NAME = ".mac-postfix-pending";

/** Parameters master reads only when it starts: postconf(5) says to stop and start Postfix after changing them. */
export const RESTART_PARAMETERS: readonly string[] = ["inet_interfaces", "inet_protocols"];

async function applySettings(ctx: StepContext, dir: string, settings: Readonly<Record<string, string>>): Promise<void> {
  const mainCf = `${dir}/main.cf`;
  const ledgerPath = `${dir}/${LEDGER_NAME}`;
  const pendingPath = `${dir}/${PENDING_NAME}`;
  const managed = parseLedger(await readFile(ctx, ledgerPath));
  const current = await explicitSettings(ctx, dir);
  const pending = (await readFile(ctx, pendingPath))?.trim() ?? null;
  const wanted = Object.entries(settings);
  const toSet = wanted.filter(([name, value]) => current.get(name) !== value.trim());
  const toRevert = managed.filter((name) => !(name in settings) && current.has(name));
  const changed = [...toSet.map(([name]) => name), ...toRevert];
  const ledger = `${JSON.stringify(Object.keys(settings).sort())}\n`;

  if (changed.length === 0) {
    if (JSON.stringify(managed.slice().sort()) !== JSON.stringify(Object.keys(settings).sort())) await writeFileAtomic(ctx, ledgerPath, ledger, 0o644);
    ctx.log("settings", false);
    if (pending !== null) {
      ctx.note(`an earlier deploy changed ${mainCf} and was interrupted before master had the change`);
      await activate(ctx, dir, pending === "restart", null);
    }
    return;
  }

  const previous = await readFile(ctx, mainCf);
  if (previous === null) ctx.fail("settings", `${mainCf} does not exist`);
  const postconf = ctx.postfixCommand("postconf");
  // The ledger first: should we die midway, the next run still knows which keys are ours.
  await writeFileAtomic(ctx, ledgerPath, `${JSON.stringify([...new Set([...managed, ...Object.keys(settings)])].sort())}\n`, 0o644);
  const restart = pending === "restart" || changed.some((name) => RESTART_PARAMETERS.includes(name));
  await writeFileAtomic(ctx, pendingPath, restart ? "restart\n" : "reload\n", 0o644);
  const restore = async (why: string, detail: string): Promise<never> => {
    await writeFileAtomic(ctx, mainCf, previous, 0o644);
    ctx.note(`restored the previous ${mainCf}`);
    return ctx.fail("settings", why, detail);
  };

  if (toSet.length > 0) {
    const argv = [postconf, "-c", dir, "-e", ...toSet.map(([name, value]) => `${name}=${value}`)];
    const result = await ctx.run(argv, { root: true });
    if (result.exitCode !== 0) await restore(`\`postconf -e\` exited ${result.exitCode}`, result.stderr);
  }
  if (toRevert.length > 0) {
    const argv = [postconf, "-c", dir, "-X", ...toRevert];
    const result = await ctx.run(argv, { root: true });
    if (result.exitCode !== 0) await restore(`\`postconf -X\` exited ${result.exitCode}`, result.stderr);
  }
  await coolDown(ctx, dir);
  const check = await ctx.run([ctx.postfixCommand("postfix"), "-c", dir, "check"], { root: true, pty: true });
  if (check.exitCode !== 0) await restore(`\`postfix -c ${dir} check\` rejected the settings`, check.stdout + check.stderr);
  await writeFileAtomic(ctx, checkedMarkPath(dir), "", 0o600);
  for (const [name] of toSet) ctx.log(`set ${name}`, true);
  for (const name of toRevert) ctx.log(`revert ${name}`, true);

  await activate(ctx, dir, restart, previous);
  await writeFileAtomic(ctx, ledgerPath, ledger, 0o644);
}

/**
 * Gives a running master the main.cf now on disk: a reload (master keeps its PID), or a stop and
 * start when a RESTART_PARAMETERS parameter changed. If master will not run with it, `previous`
 * (when given) is put back and master brought back on it, and the step fails. Then clears the
 * pending mark; a stopped master needs nothing: it reads main.cf when it starts.
 */
async function activate(ctx: StepContext, dir: string, restart: boolean, previous: string | null): Promise<void> {
  const mainCf = `${dir}/main.cf`;
  const postfix = ctx.postfixCommand("postfix");
  const putBack = async (): Promise<void> => {
    if (previous === null) return;
    await writeFileAtomic(ctx, mainCf, previous, 0o644);
    ctx.note(`restored the previous ${mainCf}`);
  };
  if (await masterRunning(ctx, dir)) {
    if (restart) {
      // master runs (just asked): read its PID without asking `postfix status` again.
      const pidFile = await masterPidFile(ctx, dir);
      const pid = await readPidFile(ctx, pidFile);
      const stopped = pid === null || (await stopMaster(ctx, dir, pid, pidFile));
      const started = stopped ? await startAgain(ctx, dir) : { ok: false, text: `master (pid ${pid}) still runs 10 s after SIGTERM` };
      if (!started.ok) {
        await putBack();
        await startAgain(ctx, dir);
        ctx.fail(
          "restart",
          `master did not start again with the new settings (${RESTART_PARAMETERS.join(" and ")} take effect only when master starts); master's own reason is in the Mac's system log`,
          started.text,
        );
      }
      ctx.log(`restart (${RESTART_PARAMETERS.join(" or ")} changed: master reads them only when it starts)`, true);
    } else {
      const reload = await ctx.run([postfix, "-c", dir, "reload"], { root: true, pty: true });
      if (reload.exitCode !== 0 || !(await survives(ctx, dir))) {
        const text = reload.stdout + reload.stderr;
        await putBack();
        await bringBack(ctx, dir);
        ctx.fail("reload", `master did not survive \`postfix -c ${dir} reload\` with the new settings`, text);
      }
      ctx.log("reload", true);
    }
  }
  await removeFile(ctx, `${dir}/${PENDING_NAME}`);
}

/**
 * After master stopped: launchd restarts a supervised master (KeepAlive); otherwise start it
 * ourselves, with Postfix's own words when it will not start.
 */
async function startAgain(ctx: StepContext, dir: string): Promise<{ ok: boolean; text: string }> {
  for (let i = 0; i < 30; i++) {
    if ((await masterRunning(ctx, dir)) && (await survives(ctx, dir))) return { ok: true, text: "" };
    await sleep(500);
  }
  const start = await ctx.run([ctx.postfixCommand("postfix"), "-c", dir, "start"], { root: true, pty: true });
  return { ok: start.exitCode === 0 && (await survives(ctx, dir)), text: start.stdout + start.stderr };
}

function parseLedger(text: string | null): string[] {
  if (text === null) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((k): k is string => typeof k === "string") : [];
  } catch {
    return [];
  }
}

/** master re-reads main.cf after SIGHUP; a config it cannot live with ends it within a moment. */
async function survives(ctx: StepContext, dir: string): Promise<boolean> {
  for (let i = 0; i < 4; i++) {
    await sleep(500);
    if (!(await masterRunning(ctx, dir))) return false;
  }
  return true;
}

/** After restoring main.cf: launchd restarts a supervised master; otherwise start it ourselves. */
async function bringBack(ctx: StepContext, dir: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    if (await masterRunning(ctx, dir)) {
      await ctx.run([ctx.postfixCommand("postfix"), "-c", dir, "reload"], { root: true });
      return;
    }
    await sleep(500);
  }
  await ctx.run([ctx.postfixCommand("postfix"), "-c", dir, "start"], { root: true });
}
