/** The recipe's LogoutHook (deprecated by Apple): script root:wheel 0755, registered with loginwindow. */
import type { LogoutHookStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { ensureFile, ensureParentDirectory, removeEmptyParentDirectory, removeFile } from "./files.js";

const DOMAIN = "com.apple.loginwindow";
const KEY = "LogoutHook";
/** A folder of this name is ours (the default script's), so destroy removes it once empty. */
const OWN_FOLDER = "cdktf-mac-postfix";

/** The name of the folder the script is in. */
const folderName = (path: string): string => path.split("/").at(-2) ?? "";

async function registeredHook(ctx: StepContext): Promise<string | null> {
  const result = await ctx.run(["defaults", "read", DOMAIN, KEY], { root: true });
  return result.exitCode === 0 ? result.stdout.replace(/\n$/, "") : null;
}

export async function applyLogoutHook(ctx: StepContext, spec: LogoutHookStep): Promise<void> {
  ctx.log(`create the script's folder`, await ensureParentDirectory(ctx, spec.path));
  ctx.log(`write ${spec.path}`, await ensureFile(ctx, spec.path, spec.script, 0o755));
  const registered = (await registeredHook(ctx)) === spec.path;
  if (!registered) await ctx.must("defaults write", ["defaults", "write", DOMAIN, KEY, spec.path]);
  ctx.log(`register ${KEY}`, !registered);
}

export async function destroyLogoutHook(ctx: StepContext, spec: LogoutHookStep): Promise<void> {
  const registered = (await registeredHook(ctx)) === spec.path;
  if (registered) await ctx.must("defaults delete", ["defaults", "delete", DOMAIN, KEY]);
  ctx.log(`unregister ${KEY}`, registered);
  ctx.log(`remove ${spec.path}`, await removeFile(ctx, spec.path));
  if (folderName(spec.path) === OWN_FOLDER) ctx.log(`remove the script's folder`, await removeEmptyParentDirectory(ctx, spec.path));
}
