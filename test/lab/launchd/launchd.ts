// The simulated Mac's launchd: loads LaunchDaemons at boot, runs and supervises jobs, serves launchctl on a socket.
import { spawn } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { lookupUser } from "../macos/accounts.js";
import { readPlistDict, writePlistAtomic } from "../macos/plistfile.js";
import { preferencesFile } from "../macos/preferences.js";
import { Job, parseSignal } from "./job.js";
import { JobFileError, readJobFile } from "./jobspec.js";
import { parseLaunchctl } from "./launchctl.js";
import { domainName, encodeReply, errors, files, launchdRoot, type DomainRef, type Reply, type Request, type Target } from "./protocol.js";
import { formatDomain, formatJob, formatList, formatListEntry } from "./format.js";

const log = (line: string) => appendFileSync(files.log(), `${new Date().toISOString()} ${line}\n`);

class Domain {
  readonly jobs = new Map<string, Job>();
  constructor(
    readonly ref: DomainRef,
    /** The logged-in user for gui/<uid>; undefined for system. */
    readonly uid: number | undefined,
  ) {}
  get name(): string {
    return domainName(this.ref);
  }
  get overridesPath(): string {
    return files.overrides(this.uid);
  }
  /** The override database: label → disabled. Entries that are not booleans are ignored. */
  overrides(): Record<string, boolean> {
    try {
      return Object.fromEntries(Object.entries(readPlistDict(this.overridesPath)).filter((e): e is [string, boolean] => typeof e[1] === "boolean"));
    } catch (e) {
      log(`${this.overridesPath}: ignored: ${(e as Error).message}`);
      return {};
    }
  }
  isDisabled(label: string, hint = false): boolean {
    return this.overrides()[label] ?? hint;
  }
  setDisabled(label: string, disabled: boolean): void {
    writePlistAtomic(this.overridesPath, { ...this.overrides(), [label]: disabled });
  }
  /** Loads a plist into the domain; throws JobFileError (logged, reported as error 5) or a numbered failure. */
  load(path: string): Job {
    const spec = readJobFile(path, this.uid === undefined ? [0] : [0, this.uid]);
    const existing = this.jobs.get(spec.label);
    if (existing) throw existing.removing ? new Failure(errors.EALREADY) : new JobFileError(`service already loaded: ${spec.label}`);
    if (this.isDisabled(spec.label, spec.disabled)) throw new JobFileError(`service is disabled: ${spec.label}`);
    const job = new Job(spec, path, this.uid, log);
    this.jobs.set(spec.label, job);
    log(`${this.name}: loaded ${spec.label} from ${path}`);
    job.loaded();
    return job;
  }
  /** Boots a job out: it is gone from the domain only once it has drained. */
  async bootout(job: Job): Promise<void> {
    log(`${this.name}: booting out ${job.label}`);
    await job.remove();
    this.jobs.delete(job.label);
    log(`${this.name}: removed ${job.label}`);
  }
  /** Loads every plist of a folder as launchd does at boot or login, logging why a file is skipped. */
  loadFolder(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith(".plist")).sort();
    } catch {
      return;
    }
    for (const n of names) {
      try {
        this.load(join(dir, n));
      } catch (e) {
        log(`${this.name}: skipped ${join(dir, n)}: ${(e as Error).message}`);
      }
    }
  }
}

/** A launchd error number carried to the reply. */
class Failure extends Error {
  constructor(readonly error: readonly [number, string]) {
    super(error[1]);
  }
}

const system = new Domain({ type: "system" }, undefined);
const gui = new Map<number, Domain>();

const out = (stdout: string, code = 0): Reply => ({ stdout, stderr: "", code });
const fail = (stderr: string, code: number): Reply => ({ stdout: "", stderr, code });
const nonRootHint = "Try re-running the command as root for richer errors.\n";

function domainFor(ref: DomainRef): Domain | undefined {
  if (ref.type === "system") return system;
  return ref.type === "gui" ? gui.get(ref.uid) : undefined;
}

/** Only root changes the system domain; a user may change their own gui domain. */
function mayChange(ref: DomainRef, uid: number): boolean {
  return uid === 0 || (ref.type !== "system" && ref.uid === uid);
}

function notFound(target: Target): Reply {
  const d = target.domain;
  const where = d.type === "system" ? "system" : `user ${d.type}: ${d.uid}`;
  return fail(`Could not find service "${target.label}" in domain for ${where}\n`, errors.ENOSERVICE[0]);
}

function numbered(prefix: string, [code, text]: readonly [number, string], uid: number): Reply {
  return fail(`${prefix}: ${code}: ${text}\n${uid === 0 ? "" : nonRootHint}`, code);
}

/** Loads a plist into a domain; returns the launchd error when it is refused. */
function tryBootstrap(ref: DomainRef, path: string, uid: number): readonly [number, string] | undefined {
  if (!mayChange(ref, uid)) return errors.EIO;
  const domain = domainFor(ref);
  if (!domain) return errors.ENOTSUP;
  try {
    domain.load(path);
    return undefined;
  } catch (e) {
    log(`${domain.name}: bootstrap ${path} refused: ${(e as Error).message}`);
    return e instanceof Failure ? e.error : errors.EIO;
  }
}

function bootstrap(ref: DomainRef, path: string, uid: number): Reply {
  const error = tryBootstrap(ref, path, uid);
  return error ? numbered("Bootstrap failed", error, uid) : out("");
}

function labelOf(path: string): string | undefined {
  try {
    const label = readPlistDict(path).Label;
    return typeof label === "string" ? label : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a bootout and returns at once: launchd answers before the job has drained. */
function bootout(target: Target, path: string | undefined, uid: number): Reply {
  if (!mayChange(target.domain, uid)) return numbered("Boot-out failed", errors.EPERM, uid);
  const domain = domainFor(target.domain);
  if (!domain) return numbered("Boot-out failed", errors.ENOTSUP, uid);
  const label = path === undefined ? target.label : labelOf(path);
  const job = label === undefined ? undefined : domain.jobs.get(label);
  if (!job) return numbered("Boot-out failed", path === undefined ? errors.ESRCH : errors.EIO, uid);
  if (job.removing) return numbered("Boot-out failed", errors.EALREADY, uid);
  void domain.bootout(job);
  return out("");
}

function setEnabled(target: Target, disabled: boolean, uid: number): Reply {
  const verb = disabled ? "Disable" : "Enable";
  if (!mayChange(target.domain, uid)) return numbered(`${verb} failed`, errors.EPERM, uid);
  const ref = target.domain;
  if (ref.type === "user") return numbered(`${verb} failed`, errors.ENOTSUP, uid);
  // The override database exists whether or not the user is logged in, as on a Mac.
  const domain = domainFor(ref) ?? new Domain(ref, ref.type === "gui" ? ref.uid : undefined);
  domain.setDisabled(target.label!, disabled);
  log(`${domain.name}: ${target.label} ${disabled ? "disabled" : "enabled"}`);
  return out("");
}

async function kickstart(target: Target, kill: boolean, printPid: boolean, uid: number): Promise<Reply> {
  const domain = domainFor(target.domain);
  const job = domain?.jobs.get(target.label!);
  if (!domain || !job || job.removing) return notFound(target);
  const failed = (e: readonly [number, string]) =>
    fail(`Could not kickstart service "${job.label}": ${e[0]}: ${e[1]}\n${uid === 0 ? "" : nonRootHint}`, e[0]);
  if (!mayChange(target.domain, uid)) return failed(errors.EPERM);
  if (domain.isDisabled(job.label, job.spec.disabled)) return failed(errors.EDISABLED);
  if (kill) await job.stop(true);
  job.start();
  return out(printPid && job.pid !== undefined ? `${job.pid}\n` : "");
}

function print(target: Target): Reply {
  const domain = domainFor(target.domain);
  if (target.label === undefined) {
    if (!domain) return fail(`Could not print domain: ${errors.ENOTSUP[0]}: ${errors.ENOTSUP[1]}\n`, errors.ENOTSUP[0]);
    return out(formatDomain(domain.name, [...domain.jobs.values()], domain.overrides()));
  }
  const job = domain?.jobs.get(target.label);
  return job && domain ? out(formatJob(domain.name, job)) : notFound(target);
}

function printDisabled(ref: DomainRef): Reply {
  const uid = ref.type === "system" ? undefined : ref.uid;
  const domain = domainFor(ref) ?? new Domain(ref, uid);
  const lines = Object.entries(domain.overrides()).map(([l, d]) => `\t"${l}" => ${d ? "disabled" : "enabled"}\n`);
  return out(`disabled services = {\n${lines.join("")}}\nlogin item associations = {\n}\n`);
}

function killJob(signal: string, target: Target, uid: number): Reply {
  const sig = parseSignal(signal);
  if (sig === undefined) return fail(`Unrecognized signal: ${signal}\n`, 64);
  const domain = domainFor(target.domain);
  const job = domain?.jobs.get(target.label!);
  if (!job) return notFound(target);
  if (!mayChange(target.domain, uid)) return numbered("Could not signal service", errors.EPERM, uid);
  return job.signal(sig) ? out("") : numbered("Could not signal service", errors.ESRCH, uid);
}

/** The legacy verbs act on the caller's own domain: system for root, gui/<uid> for a user. */
function legacyDomain(uid: number): DomainRef {
  return uid === 0 ? { type: "system" } : { type: "gui", uid };
}

async function legacyLoad(op: "load" | "unload", paths: string[], write: boolean, uid: number): Promise<Reply> {
  const ref = legacyDomain(uid);
  let stderr = "";
  for (const path of paths) {
    const label = labelOf(path);
    if (write && label !== undefined && mayChange(ref, uid)) setEnabled({ domain: ref, label }, op === "unload", uid);
    if (op === "load") {
      const error = tryBootstrap(ref, path, uid);
      if (error) stderr += `Load failed: ${error[0]}: ${error[1]}\n`;
    } else {
      const job = label === undefined ? undefined : domainFor(ref)?.jobs.get(label);
      if (!job || !mayChange(ref, uid)) stderr += `Unload failed: ${errors.EIO[0]}: ${errors.EIO[1]}\n`;
      // Legacy unload waits for the job to go, unlike bootout.
      else if (!job.removing) await domainFor(ref)!.bootout(job);
    }
  }
  if (stderr && uid !== 0) stderr += "Try running `launchctl bootstrap` as root for richer errors.\n";
  // launchctl(1): the legacy subcommands "only return a non-zero exit code due to improper usage".
  return { stdout: "", stderr, code: 0 };
}

function list(label: string | undefined, uid: number): Reply {
  const domain = domainFor(legacyDomain(uid));
  const jobs = domain ? [...domain.jobs.values()] : [];
  if (label === undefined) return out(formatList(jobs));
  const job = jobs.find((j) => j.label === label);
  return job ? out(formatListEntry(job, domain!.name)) : fail(`Could not find service "${label}" in domain for port\n`, 113);
}

function legacyStartStop(op: "start" | "stop", label: string, uid: number): Reply {
  const ref = legacyDomain(uid);
  const job = domainFor(ref)?.jobs.get(label);
  if (job && mayChange(ref, uid) && !job.removing) {
    if (op === "start") job.start();
    else job.signal("SIGTERM");
  }
  return out("");
}

/** loginwindow's login: create gui/<uid>, load /Library/LaunchAgents, start RunAtLoad agents as the user. */
function login(user: string, uid: number): Reply {
  if (uid !== 0) return fail("loginwindow: must be run as root\n", 1);
  const account = lookupUser(user);
  if (!account) return fail(`loginwindow: unknown user: ${user}\n`, 1);
  if (gui.has(account.uid)) return out("");
  const domain = new Domain({ type: "gui", uid: account.uid }, account.uid);
  gui.set(account.uid, domain);
  log(`login: ${account.name} (gui/${account.uid})`);
  domain.loadFolder(files.agentDir());
  return out("");
}

/** loginwindow's logout: SIGTERM every agent (SIGKILL after ExitTimeOut), remove the domain, run the LogoutHook. */
async function logout(user: string, uid: number): Promise<Reply> {
  if (uid !== 0) return fail("loginwindow: must be run as root\n", 1);
  const account = lookupUser(user);
  const domain = account && gui.get(account.uid);
  if (!account || !domain) return fail(`loginwindow: ${user} is not logged in\n`, 1);
  await Promise.all([...domain.jobs.values()].map((j) => domain.bootout(j)));
  gui.delete(account.uid);
  log(`logout: ${account.name} (gui/${account.uid})`);
  await runLogoutHook(account.name);
  return out("");
}

/** The deprecated hook: root's com.apple.loginwindow LogoutHook, run as root with the user's short name as $1. */
async function runLogoutHook(user: string): Promise<void> {
  let hook: unknown;
  try {
    hook = readPlistDict(preferencesFile(0, "com.apple.loginwindow")).LogoutHook;
  } catch (e) {
    log(`LogoutHook: cannot read loginwindow preferences: ${(e as Error).message}`);
    return;
  }
  if (typeof hook !== "string") return;
  log(`LogoutHook: running ${hook} ${user}`);
  await new Promise<void>((resolve) => {
    const child = spawn(hook, [user], { stdio: "ignore", cwd: "/", env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" } });
    child.once("error", (e) => (log(`LogoutHook: ${e.message}`), resolve()));
    child.once("exit", (code, signal) => (log(`LogoutHook: exited ${signal ?? code}`), resolve()));
  });
}

async function handle(req: Request): Promise<Reply> {
  const { uid } = req;
  switch (req.op) {
    case "bootstrap":
      return bootstrap(req.domain, req.path, uid);
    case "bootout":
      return bootout(req.target, req.path, uid);
    case "enable":
    case "disable":
      return setEnabled(req.target, req.op === "disable", uid);
    case "kickstart":
      return kickstart(req.target, req.kill, req.printPid, uid);
    case "print":
      return print(req.target);
    case "print-disabled":
      return printDisabled(req.domain);
    case "kill":
      return killJob(req.signal, req.target, uid);
    case "load":
    case "unload":
      return legacyLoad(req.op, req.paths, req.write, uid);
    case "list":
      return list(req.label, uid);
    case "start":
    case "stop":
      return legacyStartStop(req.op, req.label, uid);
    case "login":
      return login(req.user, uid);
    case "logout":
      return logout(req.user, uid);
    case "launchctl": {
      const parsed = parseLaunchctl(req.argv, uid, req.cwd);
      return "op" in parsed ? handle(parsed) : parsed;
    }
  }
}

function serve(conn: Socket): void {
  const chunks: Buffer[] = [];
  conn.on("data", (c: Buffer) => chunks.push(c));
  conn.on("error", () => conn.destroy());
  conn.on("end", () => {
    void (async () => {
      let reply: Reply;
      try {
        reply = await handle(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Request);
      } catch (e) {
        log(`request failed: ${(e as Error).stack}`);
        reply = fail(`launchd: ${(e as Error).message}\n`, 1);
      }
      conn.end(encodeReply(reply));
    })();
  });
}

function main(): void {
  for (const f of [files.socket(), files.log(), files.overrides(undefined)]) mkdirSync(dirname(f), { recursive: true });
  log(`launchd starting (pid ${process.pid}, LAUNCHD_ROOT ${launchdRoot()})`);
  for (const dir of files.systemDaemonDirs()) system.loadFolder(dir);
  rmSync(files.socket(), { force: true });
  const server = createServer({ allowHalfOpen: true }, serve);
  server.listen(files.socket(), () => chmodSync(files.socket(), 0o666));
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log("shutdown: stopping every job");
    server.close();
    const domains = [system, ...gui.values()];
    await Promise.all(domains.flatMap((d) => [...d.jobs.values()].map((j) => d.bootout(j))));
    rmSync(files.socket(), { force: true });
    log("shutdown: done");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
}

main();
