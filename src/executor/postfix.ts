/** Facts about Postfix instances on a Mac, the queue count that guards destroys, and stopping a master. */
import type { InstanceIdentity } from "../spec.js";
import type { StepContext } from "./context.js";
import { sleep } from "./launchctl.js";

export interface ListedInstance {
  readonly name: string;
  readonly group: string | null;
  readonly enabled: boolean;
  readonly configDirectory: string;
}

/** `postmulti -l -a`: one line an instance, `name group y|n dir` ("-" for none). */
export async function listInstances(ctx: StepContext): Promise<ListedInstance[]> {
  const argv = [ctx.postfixCommand("postmulti"), "-l", "-a"];
  const result = await ctx.run(argv, { root: true });
  if (result.exitCode !== 0) ctx.failed("postmulti -l", argv, result);
  return result.stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 4)
    .map(([name, group, enabled, ...dir]) => ({
      name: name!,
      group: group === "-" ? null : group!,
      enabled: enabled === "y",
      configDirectory: dir.join(" "),
    }));
}

export async function findInstance(ctx: StepContext, instance: InstanceIdentity): Promise<ListedInstance | undefined> {
  return (await listInstances(ctx)).find((i) => i.name === instance.name || i.configDirectory === instance.configDirectory);
}

/** Parameters set explicitly in DIR/main.cf (`postconf -n`), by name. */
export async function explicitSettings(ctx: StepContext, configDirectory: string, names: readonly string[] = []): Promise<Map<string, string>> {
  const argv = [ctx.postfixCommand("postconf"), "-c", configDirectory, "-n", ...names];
  const result = await ctx.run(argv, { root: true });
  if (result.exitCode !== 0) ctx.failed("postconf -n", argv, result);
  const settings = new Map<string, string>();
  for (const line of result.stdout.split("\n")) {
    const match = /^(\S+) =(?: (.*))?$/.exec(line);
    if (match) settings.set(match[1]!, match[2] ?? "");
  }
  // postconf -n leaves out a parameter of the user's own that nothing refers to, and names it, value
  // and all, in a warning: without these, such a setting would be "changed" at every run and never reverted.
  const unused = "/main.cf: unused parameter: ";
  for (const line of result.stderr.split("\n")) {
    const at = line.indexOf(unused);
    const match = at < 0 ? null : /^([A-Za-z0-9_]+)=(.*)$/.exec(line.slice(at + unused.length));
    if (match && !settings.has(match[1]!) && (names.length === 0 || names.includes(match[1]!))) settings.set(match[1]!, match[2]!);
  }
  return settings;
}

/**
 * Postfix pauses, up to two seconds, before it reads a main.cf changed within the last second, in
 * case an editor is still writing it ("pausing to let ... cool down"). postconf and postmulti
 * replace main.cf whole (a temp file renamed over it), and under the Mac lock nobody else edits
 * it, so after each of their edits we set the file's mtime back past that window (only when it is
 * newer): the next Postfix command, or master starting, reads it at once instead of pausing.
 */
export async function coolDown(ctx: StepContext, ...configDirectories: string[]): Promise<void> {
  const script = "my $past = time - 2; for my $file (@ARGV) { my @s = stat $file or next; utime $s[8], $past, $file if $s[9] > $past }";
  await ctx.must("set main.cf's mtime back", ["perl", "-e", script, "--", ...configDirectories.map((dir) => `${dir}/main.cf`)]);
}

/** One parameter's effective value (`postconf -c DIR -h NAME`), default included. */
export async function settingValue(ctx: StepContext, configDirectory: string, name: string): Promise<string> {
  const argv = [ctx.postfixCommand("postconf"), "-c", configDirectory, "-h", "--", name];
  const result = await ctx.run(argv, { root: true });
  if (result.exitCode !== 0 || result.stderr.includes("warning: unknown parameter")) ctx.failed(`postconf -h ${name}`, argv, result);
  return result.stdout.replace(/\n$/, "");
}

/** Whether the instance's master runs (`postfix -c DIR status` exits 0). */
export async function masterRunning(ctx: StepContext, configDirectory: string): Promise<boolean> {
  const result = await ctx.run([ctx.postfixCommand("postfix"), "-c", configDirectory, "status"], { root: true });
  return result.exitCode === 0;
}

/** The running master's PID, or null when master does not run. `pidFile`: from masterPidFile. */
export async function masterPid(ctx: StepContext, configDirectory: string, pidFile: string): Promise<number | null> {
  if (!(await masterRunning(ctx, configDirectory))) return null;
  return readPidFile(ctx, pidFile);
}

/**
 * Where master writes its PID when it starts: `<queue_directory>/pid/master.pid`. It costs a
 * postconf: a step asks once and passes it on.
 */
export async function masterPidFile(ctx: StepContext, configDirectory: string): Promise<string> {
  return `${await settingValue(ctx, configDirectory, "queue_directory")}/pid/master.pid`;
}

/** The PID a pid file holds, or null when it is missing or holds none. */
export async function readPidFile(ctx: StepContext, path: string): Promise<number | null> {
  const result = await ctx.run(["cat", "--", path], { root: true });
  const pid = Number(result.stdout.trim());
  return result.exitCode === 0 && Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * Ends master `pid` with SIGTERM, as `postfix stop` does, and waits up to 10 s for that process to
 * go; false when it is still there. Not `postfix stop` itself: it waits until no master holds the
 * instance's lock, and launchd starts a KeepAlive master again as soon as one exits (at once when it
 * ran longer than ThrottleInterval). When launchd's new master takes the lock first, `postfix stop`
 * waits 5 s, says "stopping the Postfix mail system with force" and exits 1 (its awk's `exit 0`
 * runs the END rule's `exit 1`, so the kill never happens). `pidFile`: from masterPidFile.
 */
export async function stopMaster(ctx: StepContext, configDirectory: string, pid: number, pidFile: string): Promise<boolean> {
  await ctx.run(["kill", "-TERM", String(pid)], { root: true });
  for (let i = 0; i < 20; i++) {
    if (!(await masterRunning(ctx, configDirectory)) || (await readPidFile(ctx, pidFile)) !== pid) return true;
    await sleep(500);
  }
  return false;
}

const QUEUES = ["maildrop", "incoming", "active", "deferred", "hold", "corrupt"];

/**
 * Messages queued for the instance: files under its queue directory's queues (this works with
 * master down and needs no parsing of postqueue's human output). Null when the queue dir is gone.
 */
export async function queuedMessages(ctx: StepContext, configDirectory: string): Promise<number | null> {
  return messagesIn(ctx, await settingValue(ctx, configDirectory, "queue_directory"));
}

/** Messages in a queue directory's queues, as queuedMessages counts them (for one whose main.cf is gone). */
export async function messagesIn(ctx: StepContext, queueDirectory: string): Promise<number | null> {
  const result = await ctx.run(
    ["/bin/sh", "-c", `cd "$1" 2>/dev/null || exit 3; shift; find "$@" -type f 2>/dev/null | wc -l`, "sh", queueDirectory, ...QUEUES],
    { root: true },
  );
  if (result.exitCode === 3) return null;
  const count = Number(result.stdout.trim());
  if (!Number.isInteger(count)) ctx.failed("count queued messages", ["find", queueDirectory], result);
  return count;
}
