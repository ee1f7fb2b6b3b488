/**
 * The postmulti instance itself. apply: multi-instance support initialised, instance created.
 * destroy: by onDestroy, with the queue counted before anything changes.
 */
import type { InstanceStep, QueueGuardStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { removeFile } from "./files.js";
import { LEDGER_NAME, PENDING_NAME } from "./instance-config.js";
import { coolDown, explicitSettings, findInstance, masterRunning, queuedMessages, settingValue } from "./postfix.js";

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
  if (existing && (existing.name !== spec.instance.name || existing.configDirectory !== spec.instance.configDirectory)) {
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
  if (spec.onDestroy === "refuse-if-queued") await refuseIfQueued(ctx, dir, spec.instance.name);
  // postmulti -e destroy refuses unless the queue is empty, and leaves master's runtime files
  // (pid/, public/, private/, master.lock) in these folders: once it has succeeded they hold no
  // mail and go too. deport keeps every file.
  const leftovers = spec.onDestroy === "deport"
    ? []
    : await Promise.all(["queue_directory", "data_directory"].map((name) => settingValue(ctx, dir, name)));

  const postmulti = ctx.postfixCommand("postmulti");
  const running = await masterRunning(ctx, dir);
  if (running) await ctx.must("stop", [ctx.postfixCommand("postfix"), "-c", dir, "stop"], { pty: true });
  ctx.log("stop", running);

  if (spec.onDestroy === "discard-queue") {
    const count = (await queuedMessages(ctx, dir)) ?? 0;
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
  // settings change left) must go first (deport keeps them).
  if (finish === "destroy") for (const name of [LEDGER_NAME, PENDING_NAME]) await removeFile(ctx, `${dir}/${name}`);
  await ctx.must(finish, [postmulti, "-i", spec.instance.name, "-e", finish], { pty: true });
  ctx.log(finish, true);

  for (const path of leftovers) {
    if (!isSafeToRemove(path, ctx.paths.postfixConfigDirectory)) continue;
    const removed = await ctx.run(["test", "-e", path], { root: true });
    if (removed.exitCode === 0) await ctx.must(`remove ${path}`, ["rm", "-rf", "--", path]);
    ctx.log(`remove ${path}`, removed.exitCode === 0);
  }
}

/** Never rm -rf a shared or top-level folder, whatever the instance's main.cf says. */
function isSafeToRemove(path: string, primaryConfig: string): boolean {
  const shared = ["/var/spool/postfix", "/private/var/spool/postfix", "/var/lib/postfix", primaryConfig];
  return path.startsWith("/") && path.split("/").filter(Boolean).length >= 3 && !shared.includes(path) && !path.includes("/../");
}

/** The guard: fails, changing nothing, when the instance still holds mail. */
export async function refuseIfQueued(ctx: StepContext, configDirectory: string, name: string): Promise<void> {
  const count = await queuedMessages(ctx, configDirectory);
  if (count) {
    ctx.fail(
      "destroy",
      `${count} message(s) queued in ${name} on ${ctx.host.name}: deliver them first (postqueue -c ${configDirectory} -f), or set onDestroy to "deport" (keeps every file) or "discard-queue" (deletes the mail)`,
    );
  }
  ctx.log("queue empty", false);
}

export async function destroyQueueGuard(ctx: StepContext, spec: QueueGuardStep): Promise<void> {
  if (spec.onDestroy !== "refuse-if-queued") return ctx.log("queue guard", false);
  const existing = await findInstance(ctx, spec.instance);
  if (!existing) return ctx.log("queue guard", false);
  await refuseIfQueued(ctx, existing.configDirectory, spec.instance.name);
}
