/**
 * A launchd job: its plist (root:wheel 0644, written atomically, only when it differs), enabled,
 * bootstrapped, and kickstarted when asked. A changed plist boots the job out first, waiting
 * until launchd has let it go, so the new definition is what gets loaded.
 */
import type { LaunchJobStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { fileDiffers, removeFile, writeFileAtomic } from "./files.js";
import { bootoutAndWait, domainExists, domainTarget, isDisabled, jobState } from "./launchctl.js";

const PLIST_MODE = 0o644;

export async function applyLaunchJob(ctx: StepContext, spec: LaunchJobStep): Promise<void> {
  const domain = await domainTarget(ctx, spec.domain);
  const service = `${domain}/${spec.label}`;
  const launchctl = ctx.paths.launchctl;

  const live = await domainExists(ctx, domain);
  const differs = await fileDiffers(ctx, spec.path, spec.plist, PLIST_MODE);
  if (differs) {
    const bootedOut = live && (await bootoutAndWait(ctx, service));
    ctx.log("bootout (plist changed)", bootedOut);
    await writeFileAtomic(ctx, spec.path, spec.plist, PLIST_MODE);
  }
  ctx.log(`write ${spec.path}`, differs);
  if (!live) {
    ctx.log(`bootstrap (${domain} absent: the user is not logged in; launchd loads it at login)`, false);
    return;
  }

  const disabled = await isDisabled(ctx, domain, spec.label);
  if (disabled) await ctx.must("launchctl enable", [launchctl, "enable", service]);
  ctx.log("enable", disabled);

  const loaded = await jobState(ctx, service);
  if (!loaded) await ctx.must("launchctl bootstrap", [launchctl, "bootstrap", domain, spec.path]);
  ctx.log("bootstrap", !loaded);
  const state = loaded ?? (await jobState(ctx, service));

  const running = state?.state === "running";
  if (spec.kickstart && !running) await ctx.must("launchctl kickstart", [launchctl, "kickstart", service]);
  ctx.log("kickstart", spec.kickstart && !running);
}

export async function destroyLaunchJob(ctx: StepContext, spec: LaunchJobStep): Promise<void> {
  const domain = await domainTarget(ctx, spec.domain);
  ctx.log("bootout", (await domainExists(ctx, domain)) && (await bootoutAndWait(ctx, `${domain}/${spec.label}`)));
  ctx.log(`remove ${spec.path}`, await removeFile(ctx, spec.path));
}
