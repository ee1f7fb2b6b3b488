/** A sudoers drop-in for one user and exact commands: checked by visudo, then installed root:wheel 0440. */
import type { SudoRuleStep } from "../spec.js";
import type { StepContext } from "./context.js";
import { ensureFile, removeFile } from "./files.js";

/**
 * The drop-in's text. Every word was checked against SUDOERS_WORD, so it needs no escaping;
 * no user text goes into the comment.
 */
export function sudoersRule(spec: Pick<SudoRuleStep, "user" | "commands">): string {
  const commands = spec.commands.map((command) => command.join(" ")).join(", ");
  return `# Managed by cdktf-mac-postfix; cdktf destroy removes it.\n${spec.user} ALL = (root) NOPASSWD: ${commands}\n`;
}

export async function applySudoRule(ctx: StepContext, spec: SudoRuleStep): Promise<void> {
  const check = [spec.host.paths.visudo, "-c", "-q", "-f"];
  ctx.log(`write ${spec.path}`, await ensureFile(ctx, spec.path, sudoersRule(spec), 0o440, check));
}

export async function destroySudoRule(ctx: StepContext, spec: SudoRuleStep): Promise<void> {
  ctx.log(`remove ${spec.path}`, await removeFile(ctx, spec.path));
}
