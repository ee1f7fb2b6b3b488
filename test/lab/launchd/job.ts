// One loaded job: spawning it as launchd.plist(5) describes, KeepAlive, throttling, draining on stop.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { constants } from "node:os";
import { lookupGroup, lookupUser } from "../macos/accounts.js";
import { startsAtLoad, type JobSpec } from "./jobspec.js";

export type Log = (line: string) => void;

/** Signals launchd counts as a crash for KeepAlive.Crashed. */
const crashSignals = new Set(["SIGILL", "SIGTRAP", "SIGABRT", "SIGFPE", "SIGBUS", "SIGSEGV", "SIGSYS"]);
/** launchd reports a job it could not spawn as exit code 78 (EX_CONFIG). */
const EX_CONFIG = 78;

export interface LastExit { code?: number; signal?: NodeJS.Signals }

export class Job {
  pid: number | undefined;
  runs = 0;
  lastExit: LastExit | undefined;
  /** Set once bootout (or shutdown, logout) began: the job only drains from then on. */
  removing = false;
  private exited: Promise<void> = Promise.resolve();
  private lastStart = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private holdRestart = false;
  private watchers: FSWatcher[] = [];

  constructor(
    readonly spec: JobSpec,
    readonly path: string,
    /** uid whose domain holds the job: jobs of gui/<uid> run as that user. */
    private readonly domainUid: number | undefined,
    private readonly log: Log,
  ) {}

  get label(): string {
    return this.spec.label;
  }

  get state(): string {
    if (this.pid !== undefined) return "running";
    return this.restartTimer ? "spawn scheduled" : "not running";
  }

  /** KeepAlive.PathState: true when some path exists (or is absent) as asked. */
  private pathStateHolds(): boolean {
    const k = this.spec.keepAlive;
    return typeof k === "object" && Object.entries(k.pathState ?? {}).some(([path, want]) => existsSync(path) === want);
  }

  /** Called once the job is in its domain: RunAtLoad / KeepAlive start; QueueDirectories and PathState watches
   * (inotify on the folder, or on the parent folder of a PathState path). */
  loaded(): void {
    const k = this.spec.keepAlive;
    const pathParents = typeof k === "object" ? Object.keys(k.pathState ?? {}).map((p) => dirname(p)) : [];
    for (const dir of new Set([...this.spec.queueDirectories, ...pathParents])) {
      try {
        this.watchers.push(watch(dir, () => this.demand()));
      } catch (e) {
        this.log(`${this.label}: cannot watch ${dir}: ${(e as Error).message}`);
      }
    }
    if (startsAtLoad(this.spec)) this.start();
    else this.demand();
  }

  /** Starts now if not running (kickstart, start); clears a pending throttled restart. */
  start(): void {
    if (this.pid !== undefined || this.removing) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.spawnNow();
  }

  signal(sig: NodeJS.Signals | number): boolean {
    if (this.pid === undefined) return false;
    try {
      process.kill(this.pid, sig);
    } catch {
      return false;
    }
    return true;
  }

  /** SIGTERM, then SIGKILL after ExitTimeOut; resolves when the process has exited. No restart follows when
   * `hold` is set (kickstart -k restarts by itself). */
  async stop(hold: boolean): Promise<void> {
    this.holdRestart = hold;
    if (this.pid !== undefined) {
      // launchd.plist(5): an ExitTimeOut of zero is infinity.
      const timeout = this.spec.exitTimeOut;
      const killer = timeout > 0 ? setTimeout(() => this.signal("SIGKILL"), timeout * 1000) : undefined;
      this.signal("SIGTERM");
      await this.exited;
      clearTimeout(killer);
    }
    this.holdRestart = false;
  }

  /** Drains the job for bootout, logout or shutdown; it never runs again. */
  async remove(): Promise<void> {
    this.removing = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    for (const w of this.watchers) w.close();
    await this.stop(true);
  }

  /** Starts the job (throttled) when one of its QueueDirectories is non-empty or a PathState condition holds. */
  private demand(): void {
    if (this.pid !== undefined || this.restartTimer || this.removing) return;
    if (this.spec.queueDirectories.some(nonEmpty) || this.pathStateHolds()) this.scheduleStart();
  }

  private scheduleStart(): void {
    const wait = Math.max(0, this.lastStart + this.spec.throttleInterval * 1000 - Date.now());
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, wait);
  }

  private spawnNow(): void {
    const s = this.spec;
    this.lastStart = Date.now();
    this.runs++;
    const fds: number[] = [];
    let child: ChildProcess;
    try {
      const who = this.identity();
      const open = (path: string | undefined, flags: string) => {
        const fd = openSync(path ?? "/dev/null", flags, 0o644);
        fds.push(fd);
        return fd;
      };
      const stdio = [open(s.standardInPath, "r"), open(s.standardOutPath, "a"), open(s.standardErrorPath, "a")];
      // The child inherits the umask at fork, and spawn forks synchronously.
      const umask = s.umask === undefined ? undefined : process.umask(s.umask);
      try {
        child = spawn(s.executable, s.argv.slice(1), {
          argv0: s.argv[0],
          detached: true, // setsid: the job gets its own session and process group, as under launchd
          stdio,
          cwd: s.workingDirectory ?? "/",
          env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", ...who.env, ...s.environment },
          uid: who.uid,
          gid: who.gid,
        });
      } finally {
        if (umask !== undefined) process.umask(umask);
      }
    } catch (e) {
      this.log(`${this.label}: could not spawn: ${(e as Error).message}`);
      this.exit({ code: EX_CONFIG });
      return;
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    this.pid = child.pid;
    let spawnFailed = false;
    this.exited = new Promise((resolve) => {
      child.once("error", (e) => {
        if (child.pid !== undefined) return;
        spawnFailed = true;
        this.log(`${this.label}: could not spawn ${s.executable}: ${e.message}`);
        this.exit({ code: EX_CONFIG });
        resolve();
      });
      child.once("exit", (code, signal) => {
        if (spawnFailed) return;
        this.exit(signal ? { signal } : { code: code ?? 0 });
        resolve();
      });
    });
    if (this.pid !== undefined) this.log(`${this.label}: started, pid ${this.pid}`);
  }

  private identity(): { uid?: number; gid?: number; env: Record<string, string> } {
    const s = this.spec;
    // In a gui/<uid> domain every job runs as that user; UserName only counts for the system domain.
    const userKey = this.domainUid !== undefined ? this.domainUid : s.userName;
    const user = userKey === undefined ? undefined : lookupUser(userKey);
    if (userKey !== undefined && !user) throw new Error(`no such user: ${userKey}`);
    let gid = user?.gid;
    if (s.groupName !== undefined) {
      gid = lookupGroup(s.groupName);
      if (gid === undefined) throw new Error(`no such group: ${s.groupName}`);
    }
    const env: Record<string, string> = user
      ? { USER: user.name, LOGNAME: user.name, HOME: user.home, SHELL: user.shell }
      : {};
    return { uid: user?.uid, gid, env };
  }

  private exit(status: LastExit): void {
    const pid = this.pid;
    this.pid = undefined;
    this.lastExit = status;
    this.log(`${this.label}: ${pid ?? "spawn"} exited ${status.signal ? `on ${status.signal}` : `with code ${status.code}`}`);
    // launchd kills what is left of the job's process group unless told to abandon it.
    if (pid !== undefined && !this.spec.abandonProcessGroup) {
      try {
        process.kill(-pid, "SIGTERM");
      } catch {
        // the group is already empty
      }
    }
    if (this.removing || this.holdRestart) return;
    if (this.keptAlive(status)) this.scheduleStart();
    else this.demand(); // QueueDirectories and PathState
  }

  private keptAlive(status: LastExit): boolean {
    const k = this.spec.keepAlive;
    if (typeof k === "boolean") return k;
    const crashed = status.signal !== undefined && crashSignals.has(status.signal);
    const success = status.code === 0;
    return (
      (k.successfulExit === true && success) ||
      (k.successfulExit === false && !success) ||
      (k.crashed === true && crashed) ||
      (k.crashed === false && !crashed)
    );
  }
}

function nonEmpty(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/** Signal by name (TERM, SIGTERM) or number, as `launchctl kill` accepts it. */
export function parseSignal(s: string): NodeJS.Signals | number | undefined {
  if (/^\d+$/.test(s)) return Number(s);
  const name = (s.toUpperCase().startsWith("SIG") ? s.toUpperCase() : `SIG${s.toUpperCase()}`) as NodeJS.Signals;
  return name in constants.signals ? name : undefined;
}
