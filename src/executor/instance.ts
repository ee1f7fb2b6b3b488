/**
 * The postmulti instance itself. apply: multi-instance support initialised, instance created.
 * destroy: by onDestroy, with the queue counted before anything changes.
 */
import { CHECKED_MARK_NAME, type InstanceStep, type QueueGuardStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { removeFile } from "./files.js";
import { LEDGER_NAME, PENDING_NAME } from "./instance-config.js";
import { coolDown, explicitSettings, findInstance, listInstances, masterRunning, messagesIn, queuedMessages, settingValue } from "./postfix.js";

export async function applyInstance(ctx: StepContext, spec: InstanceStep): Promise<void> {
  const primary = ctx.paths.postfixConfigDirectory;
  const current = await explicitSettings(ctx, primary, ["multi_instance_enable", "multi_instance_wrapper"]);
  const initialised = current.get("multi_instance_enable") === "yes" && (current.get("multi_instance_wrapper") ?? "") !== "";
  if (!initialised) {
    await ctx.must("postmulti -e init", [ctx.postfixCommand("postmulti"), "-e", "init"], { pty: true });
    await coolDown(ctx, primary);
  }
  ctx.log("init", !initialised);

  const existing = await findInstance(ctx, spec.instance);
  if (existing && (existing.name !== spec.instance.name || !(await sameFolder(ctx, existing.configDirectory, spec.instance.configDirectory)))) {
    ctx.fail("create", `${existing.configDirectory} is already postmulti's instance ${existing.name}; wanted ${spec.instance.name} at ${spec.instance.configDirectory}`);
  }
  if (!existing) {
    await ctx.must("create", [
      ctx.postfixCommand("postmulti"),
      "-I", spec.instance.name,
      ...(spec.group ? ["-G", spec.group] : []),
      "-e", "create",
      `config_directory=${spec.instance.configDirectory}`,
    ], { pty: true });
  }
  ctx.log("create", !existing);
  if (!existing) await coolDown(ctx, primary, spec.instance.configDirectory);
}

export async function destroyInstance(ctx: StepContext, spec: InstanceStep): Promise<void> {
  const existing = await findInstance(ctx, spec.instance);
  if (!existing) {
    ctx.log("destroy", false);
    return;
  }
  const dir = existing.configDirectory;
  const refuse = spec.onDestroy === "refuse-if-queued";
  if (refuse) await refuseIfQueued(ctx, dir, spec.instance.name);
  // postmulti -e destroy does not check the queue (it deletes the config dir with mail queued) and
  // leaves the queue and data dirs, with master's runtime files: we remove them once they hold no
  // mail. deport keeps every file.
  const [queueDirectory, dataDirectory] = spec.onDestroy === "deport"
    ? []
    : await Promise.all(["queue_directory", "data_directory"].map((name) => settingValue(ctx, dir, name)));

  // Counted in the queue directory read above: no postconf each time (deport reads none and needs no count).
  const queued = async () => (queueDirectory === undefined ? 0 : ((await messagesIn(ctx, queueDirectory)) ?? 0));

  const postmulti = ctx.postfixCommand("postmulti");
  const postfix = ctx.postfixCommand("postfix");
  const running = await masterRunning(ctx, dir);
  if (running) await ctx.must("stop", [postfix, "-c", dir, "stop"], { pty: true });
  ctx.log("stop", running);
  if (refuse && running) {
    // A running master may have accepted mail since the count: count again, and put master back if so.
    const count = await queued();
    if (count > 0) {
      await ctx.must("start", [postfix, "-c", dir, "start"], { pty: true });
      ctx.note(`started ${spec.instance.name} again`);
      failQueued(ctx, count, dir, spec.instance.name);
    }
  }

  if (spec.onDestroy === "discard-queue") {
    const count = await queued();
    if (count > 0) await ctx.must("discard queue", [ctx.postfixCommand("postsuper"), "-c", dir, "-d", "ALL"], { pty: true });
    ctx.log(`discard ${count} queued message(s)`, count > 0);
  }
  if (existing.enabled) {
    await ctx.must("disable", [postmulti, "-i", spec.instance.name, "-e", "disable"], { pty: true });
    await coolDown(ctx, dir);
  }
  ctx.log("disable", existing.enabled);

  const finish = spec.onDestroy === "deport" ? "deport" : "destroy";
  // postmulti removes the config dir only when empty: our ledger (and a pending mark an interrupted
  // settings change left) must go first (deport keeps them). A check mark goes either way: it was for
  // a start of this instance, and a start after a re-import must check.
  const ours = finish === "destroy" ? [LEDGER_NAME, PENDING_NAME, CHECKED_MARK_NAME] : [CHECKED_MARK_NAME];
  for (const name of ours) await removeFile(ctx, `${dir}/${name}`);
  await ctx.must(finish, [postmulti, "-i", spec.instance.name, "-e", finish], { pty: true });
  ctx.log(finish, true);

  let arrived = 0;
  for (const path of await removableFolders(ctx, [queueDirectory, dataDirectory].filter((p) => p !== undefined))) {
    // Local submissions (postdrop) reach the maildrop with master stopped: a last look before removing it.
    if (refuse && path.given === queueDirectory) {
      arrived = (await messagesIn(ctx, path.physical)) ?? 0;
      if (arrived > 0) continue;
    }
    await ctx.must(`remove ${path.given}`, ["rm", "-rf", "--", path.physical]);
    ctx.log(`remove ${path.given}`, true);
  }
  if (arrived > 0) {
    ctx.fail(
      `remove ${queueDirectory}`,
      `${arrived} message(s) arrived in ${queueDirectory} while ${spec.instance.name} was destroyed: the instance is gone, the folder is kept with the mail; deliver or remove it by hand`,
    );
  }
}

/**
 * Of an instance's leftover folders, those that exist and may go, each with its path on the Mac
 * with symlinks resolved. Never a top-level folder, nor one that is or holds the primary
 * instance's config, queue or data directory or another instance's config directory, whatever
 * the instance's main.cf says (`/var/spool/postfix/`, a symlink, `/private/...`).
 */
async function removableFolders(ctx: StepContext, given: readonly string[]): Promise<{ given: string; physical: string }[]> {
  const primary = ctx.paths.postfixConfigDirectory;
  const inUse = [
    primary,
    ...(await Promise.all(["queue_directory", "data_directory"].map((name) => settingValue(ctx, primary, name)))),
    ...(await listInstances(ctx)).map((instance) => instance.configDirectory),
  ];
  const physical = await physicalPaths(ctx, [...given, ...inUse]);
  const kept = physical.slice(given.length).filter((path) => path !== null);
  const removable: { given: string; physical: string }[] = [];
  given.forEach((path, i) => {
    const resolved = physical[i];
    if (resolved === null || resolved === undefined) return;
    const clash = kept.find((other) => other === resolved || other.startsWith(`${resolved}/`));
    if (resolved.split("/").filter(Boolean).length < 3 || clash !== undefined) {
      ctx.note(`kept ${path}: ${clash === undefined ? "a top-level folder" : `it is or holds ${clash}, which Postfix still uses`}`);
      return;
    }
    removable.push({ given: path, physical: resolved });
  });
  return removable;
}

/**
 * Whether two paths name one folder on the Mac: postmulti lists an instance made the recipe's way
 * under the primary's `/private/etc/...`, which `/etc/...` links to.
 */
async function sameFolder(ctx: StepContext, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const [first, second] = await physicalPaths(ctx, [a, b]);
  return first !== null && first === second;
}

/** Each path as the Mac resolves it (`cd -P`, `pwd -P`), or null when it is not a folder there. */
async function physicalPaths(ctx: StepContext, paths: readonly string[]): Promise<(string | null)[]> {
  const script = `for p do (cd -P -- "$p" 2>/dev/null && printf '%s\\0' "$(pwd -P)") || printf '\\0'; done`;
  const result = await ctx.run(["/bin/sh", "-c", script, "sh", ...paths], { root: true });
  const resolved = result.stdout.split("\0").slice(0, paths.length);
  if (result.exitCode !== 0 || resolved.length !== paths.length) ctx.failed("resolve folders", ["/bin/sh", "-c", script], result);
  return resolved.map((path) => (path === "" ? null : path));
}

/** The guard: fails, changing nothing, when the instance still holds mail. */
export async function refuseIfQueued(ctx: StepContext, configDirectory: string, name: string): Promise<void> {
  const count = await queuedMessages(ctx, configDirectory);
  if (count) failQueued(ctx, count, configDirectory, name);
  ctx.log("queue empty", false);
}

/** Fails a destroy that found `count` messages queued, saying how to go on. */
function failQueued(ctx: StepContext, count: number, configDirectory: string, name: string): never {
  return ctx.fail(
    "destroy",
    `${count} message(s) queued in ${name} on ${ctx.host.name}: deliver them first (postqueue -c ${configDirectory} -f), or set onDestroy to "deport" (keeps every file) or "discard-queue" (deletes the mail)`,
  );
}

export async function destroyQueueGuard(ctx: StepContext, spec: QueueGuardStep): Promise<void> {
  if (spec.onDestroy !== "refuse-if-queued") return ctx.log("queue guard", false);
  const existing = await findInstance(ctx, spec.instance);
  if (!existing) return ctx.log("queue guard", false);
  await refuseIfQueued(ctx, existing.configDirectory, spec.instance.name);
}
