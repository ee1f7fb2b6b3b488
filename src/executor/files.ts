/**
 * Files on the Mac. Writes are atomic: a temp file in the same folder gets the content (from
 * stdin), owner and mode, then is renamed over the target, so a reader never sees half a file.
 * The scripts are constants; paths and modes travel as argv elements, content as stdin.
 */
import type { StepContext } from "./context.js";

const WRITE_SCRIPT = `set -e
tmp=$(mktemp "$1/.mac-postfix.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chown "$2" "$tmp"
chmod "$3" "$tmp"
mv -f "$tmp" "$4"
trap - EXIT`;

const READ_SCRIPT = `if [ -e "$1" ]; then cat -- "$1"; else exit 3; fi`;

export interface FileMeta {
  readonly content: string;
  readonly uid: number;
  readonly gid: number;
  /** Permission bits, e.g. 0o644. */
  readonly mode: number;
}

/** The file's content, or null when it does not exist. */
export async function readFile(ctx: StepContext, path: string): Promise<string | null> {
  const result = await ctx.run(["/bin/sh", "-c", READ_SCRIPT, "sh", path], { root: true });
  if (result.exitCode === 3) return null;
  if (result.exitCode !== 0) ctx.failed(`read ${path}`, ["cat", path], result);
  return result.stdout;
}

/** Owner and mode, portable between BSD (macOS) and GNU stat: asked of perl, which both have. */
export async function statFile(ctx: StepContext, path: string): Promise<Omit<FileMeta, "content"> | null> {
  const result = await ctx.run(["perl", "-e", `my @s = stat(shift) or exit 3; printf "%d %d %o\\n", $s[4], $s[5], $s[2] & 07777;`, path], { root: true });
  if (result.exitCode === 3) return null;
  if (result.exitCode !== 0) ctx.failed(`stat ${path}`, ["stat", path], result);
  const [uid, gid, mode] = result.stdout.trim().split(" ");
  return { uid: Number(uid), gid: Number(gid), mode: parseInt(mode!, 8) };
}

/** Writes content atomically as uid 0 gid 0 (root:wheel on macOS) with the given mode. */
export async function writeFileAtomic(ctx: StepContext, path: string, content: string, mode: number): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await ctx.must(`write ${path}`, ["/bin/sh", "-c", WRITE_SCRIPT, "sh", dir, "0:0", mode.toString(8), path], { stdin: content });
}

/** Whether the file lacks this content, owner root:wheel (0:0) or mode: then it must be (re)written. */
export async function fileDiffers(ctx: StepContext, path: string, content: string, mode: number): Promise<boolean> {
  const [current, meta] = await Promise.all([readFile(ctx, path), statFile(ctx, path)]);
  return current !== content || !meta || meta.uid !== 0 || meta.gid !== 0 || meta.mode !== mode;
}

/** Makes the file hold exactly this content, owner and mode (atomically); says whether anything changed. */
export async function ensureFile(ctx: StepContext, path: string, content: string, mode: number): Promise<boolean> {
  if (!(await fileDiffers(ctx, path, content, mode))) return false;
  await writeFileAtomic(ctx, path, content, mode);
  return true;
}

/** Removes the file; says whether it was there. */
export async function removeFile(ctx: StepContext, path: string): Promise<boolean> {
  const meta = await statFile(ctx, path);
  if (!meta) return false;
  await ctx.must(`remove ${path}`, ["rm", "-f", "--", path]);
  return true;
}
