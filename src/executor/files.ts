/**
 * Files on the Mac. Writes are atomic: a temp file in the same folder gets the content (from
 * stdin), owner and mode, then is renamed over the target, so a reader never sees half a file.
 * The scripts are constants; paths and modes travel as argv elements, content as stdin.
 */
import type { StepContext } from "./context.js";

// The temp file's name has a dot: sudo skips such files in sudoers.d while one is being written.
// Arguments after the fourth are a check command, run on the temp file before it replaces the target.
const WRITE_SCRIPT = `set -e
tmp=$(mktemp "$1/.mac-postfix.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chown "$2" "$tmp"
chmod "$3" "$tmp"
target=$4
shift 4
if [ $# -gt 0 ]; then "$@" "$tmp" >&2; fi
mv -f "$tmp" "$target"
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

/** The folder a path is in. */
const parentOf = (path: string): string => path.slice(0, path.lastIndexOf("/")) || "/";

/**
 * Writes content atomically as uid 0 gid 0 (root:wheel on macOS) with the given mode. `check` is
 * an argv that must accept the new file (its path is appended) before it replaces the old one.
 */
export async function writeFileAtomic(ctx: StepContext, path: string, content: string, mode: number, check: readonly string[] = []): Promise<void> {
  await ctx.must(`write ${path}`, ["/bin/sh", "-c", WRITE_SCRIPT, "sh", parentOf(path), "0:0", mode.toString(8), path, ...check], { stdin: content });
}

/** Whether the file lacks this content, owner root:wheel (0:0) or mode: then it must be (re)written. */
export async function fileDiffers(ctx: StepContext, path: string, content: string, mode: number): Promise<boolean> {
  const [current, meta] = await Promise.all([readFile(ctx, path), statFile(ctx, path)]);
  return current !== content || !meta || meta.uid !== 0 || meta.gid !== 0 || meta.mode !== mode;
}

/** Makes the file hold exactly this content, owner and mode (atomically); says whether anything changed. */
export async function ensureFile(ctx: StepContext, path: string, content: string, mode: number, check: readonly string[] = []): Promise<boolean> {
  if (!(await fileDiffers(ctx, path, content, mode))) return false;
  await writeFileAtomic(ctx, path, content, mode, check);
  return true;
}

/** Creates the file's folder (and missing parents), owned by root, mode 0755, unless it exists; says whether it did. */
export async function ensureParentDirectory(ctx: StepContext, path: string): Promise<boolean> {
  const dir = parentOf(path);
  if (await statFile(ctx, dir)) return false;
  await ctx.must(`create ${dir}`, ["mkdir", "-p", "-m", "0755", "--", dir]);
  return true;
}

/** Removes the file's folder if it is empty; says whether it did. */
export async function removeEmptyParentDirectory(ctx: StepContext, path: string): Promise<boolean> {
  const result = await ctx.run(["rmdir", "--", parentOf(path)], { root: true });
  return result.exitCode === 0;
}

/** Removes the file; says whether it was there. */
export async function removeFile(ctx: StepContext, path: string): Promise<boolean> {
  const meta = await statFile(ctx, path);
  if (!meta) return false;
  await ctx.must(`remove ${path}`, ["rm", "-f", "--", path]);
  return true;
}
