/**
 * Files on the Mac. Writes are atomic: a temp file in the same folder gets the content (from
 * stdin), owner and mode, then is renamed over the target, so a reader never sees half a file.
 * Each operation is a constant perl program (every Mac has perl): paths and modes travel as
 * arguments, content as stdin. Under the Mac lock, the lock holder runs such a program in a fork
 * of itself, with no program started at all (see lock.ts).
 */
import type { RunResult } from "../transport/index.js";
import type { StepContext } from "./context.js";

// The temp file's name has a dot: sudo skips such files in sudoers.d while one is being written.
// The sixth argument is the content's size in bytes: content that arrives short is never installed.
// Arguments after it are a check command, run on the temp file (its output to stderr) before it
// replaces the target; the check's failure is the write's exit status.
const WRITE_PROGRAM = `use Fcntl qw(O_WRONLY O_CREAT O_EXCL);
my ($dir, $uid, $gid, $mode, $target, $size, @check) = @ARGV;
my ($tmp, $fh);
for my $try (1 .. 100) {
  $tmp = sprintf("%s/.mac-postfix.%06d", $dir, int(rand(1000000)));
  last if sysopen($fh, $tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
  die "create $tmp: $!\\n" unless $!{EEXIST} && $try < 100;
}
my $fail = sub { my ($status, $message) = @_; unlink $tmp; print STDERR $message if defined $message; exit $status };
binmode STDIN; binmode $fh;
my $content = do { local $/; <STDIN> } // "";
length($content) == $size or $fail->(1, "received " . length($content) . " of $size bytes on stdin\\n");
print {$fh} $content;
close($fh) or $fail->(1, "write $tmp: $!\\n");
chown($uid, $gid, $tmp) or $fail->(1, "chown $tmp: $!\\n");
chmod(oct($mode), $tmp) or $fail->(1, "chmod $tmp: $!\\n");
if (@check) {
  open(my $stdout, ">&", \\*STDOUT); open(STDOUT, ">&", \\*STDERR);
  my $status = system { $check[0] } @check, $tmp;
  open(STDOUT, ">&", $stdout);
  $fail->($status == -1 ? 127 : ($status >> 8) || 1, $status == -1 ? "$check[0]: $!\\n" : undef) if $status != 0;
}
rename($tmp, $target) or $fail->(1, "rename $tmp to $target: $!\\n");`;

// Exit 3: no such file.
const READ_PROGRAM = `my $path = shift; open(my $fh, "<", $path) or exit($!{ENOENT} ? 3 : do { print STDERR "$path: $!\\n"; 1 });
if (-d $fh) { print STDERR "$path: is a folder\\n"; exit 1 }
binmode $fh; binmode STDOUT; local $/; my $content = <$fh>; print $content if defined $content;`;
const STAT_PROGRAM = `my @s = stat(shift) or exit 3; printf "%d %d %o\\n", $s[4], $s[5], $s[2] & 07777;`;
const REMOVE_PROGRAM = `my $path = shift; lstat($path) or exit 3; unlink($path) or do { print STDERR "$path: $!\\n"; exit 1 };`;

/**
 * Runs one of the programs above as root. Exit 3 is "no such file" (null) where `absent` says the
 * program means it so; any other failure fails the step with the program's own words, not its text.
 */
async function runFileProgram(
  ctx: StepContext,
  action: string,
  program: string,
  args: readonly string[],
  { stdin, absent = false }: { stdin?: string; absent?: boolean } = {},
): Promise<RunResult | null> {
  const result = await ctx.run(["perl", "-e", program, ...args], { root: true, ...(stdin === undefined ? {} : { stdin }) });
  if (absent && result.exitCode === 3) return null;
  if (result.exitCode !== 0) ctx.fail(action, `exited ${result.exitCode}`, `${result.stdout}\n${result.stderr}`);
  return result;
}

export interface FileMeta {
  readonly content: string;
  readonly uid: number;
  readonly gid: number;
  /** Permission bits, e.g. 0o644. */
  readonly mode: number;
}

/** The file's content, or null when it does not exist. */
export async function readFile(ctx: StepContext, path: string): Promise<string | null> {
  const result = await runFileProgram(ctx, `read ${path}`, READ_PROGRAM, [path], { absent: true });
  return result && result.stdout;
}

/** Owner and mode, portable between BSD (macOS) and GNU stat: asked of perl, which both have. */
export async function statFile(ctx: StepContext, path: string): Promise<Omit<FileMeta, "content"> | null> {
  const result = await runFileProgram(ctx, `stat ${path}`, STAT_PROGRAM, [path], { absent: true });
  if (!result) return null;
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
  const size = String(Buffer.byteLength(content, "utf8"));
  await runFileProgram(ctx, `write ${path}`, WRITE_PROGRAM, [parentOf(path), "0", "0", mode.toString(8), path, size, ...check], { stdin: content });
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
  return (await runFileProgram(ctx, `remove ${path}`, REMOVE_PROGRAM, [path], { absent: true })) !== null;
}
