// The simulated Mac lab: each Mac is a set of Linux namespaces with an overlay root, its own network
// namespace on a lab bridge, real OpenSSH and Postfix, and the launchd emulator under tini as PID 1.
import { quoteArg } from "../../src/transport/shell-quote.js";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type Result } from "execa";
import pLimit from "p-limit";
import { ADMIN, buildBase, seedMac, writeAtomic } from "./base.js";
import { BOOT_SCRIPT } from "./boot.js";
import { installMacUserland, LAUNCHD_COMMAND } from "./launchd/install.js";

const PREFIX_LENGTH = 16;
const NETNS_DIR = "/run/netns";
/** Present while /run/netns exists because a lab made it: the last lab to go down removes both. */
const NETNS_MARKER = "/run/mac-lab.netns";
const HERE = dirname(fileURLToPath(import.meta.url));
const MAC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export class LabError extends Error {}

export function macName(index: number): string {
  return `mac${index}`;
}

interface HostState {
  name: string;
  index: number;
  address: string;
  hostKey: string;
  cut: boolean;
  /** Host PID of the `unshare` process that holds the Mac's namespaces and waits for its PID 1. */
  unsharePid?: number;
  /** Host PID of the Mac's PID 1 (tini). */
  pid?: number;
}

interface LabState {
  hosts: HostState[];
}

export interface InventoryHost {
  name: string;
  address: string;
  port: number;
  user: string;
  identityFile: string;
  knownHostsFile: string;
}

export interface HostStatus {
  name: string;
  address: string;
  up: boolean;
  cut: boolean;
  pid?: number;
}

export interface ExecOptions {
  input?: string;
  /** Run as this account instead of root. */
  user?: string;
  /** Throw on a non-zero exit (default false). */
  reject?: boolean;
  timeout?: number;
  /** `inherit` hands the caller's terminal to the command (the CLI). */
  stdio?: "pipe" | "inherit";
}

export interface LabOptions {
  /** A separate lab beside the default one (own folder, bridge, namespaces and /16): one lowercase letter. */
  instance?: string;
}

/** Where one lab keeps its state and what it names its network objects. */
export class Layout {
  readonly dir: string;
  readonly bridge: string;
  readonly bridgeAddress: string;
  private readonly net: string;
  private readonly tag: string;

  constructor({ instance }: LabOptions = {}) {
    if (instance !== undefined && !/^[a-z]$/.test(instance)) throw new LabError(`lab instance must be one lowercase letter, not ${JSON.stringify(instance)}`);
    this.tag = instance ?? "";
    this.dir = instance ? `/run/mac-lab-${instance}` : "/run/mac-lab";
    this.bridge = `maclab${instance ?? "0"}`;
    this.net = `10.${instance ? 90 + instance.charCodeAt(0) - 97 : 89}`;
    this.bridgeAddress = `${this.net}.0.1`;
  }

  /** mac1 is 10.89.1.1, mac250 10.89.1.250, mac251 10.89.2.1: all in the lab's /16 with the bridge at .0.1. */
  address(index: number): string {
    return `${this.net}.${1 + Math.floor((index - 1) / 250)}.${1 + ((index - 1) % 250)}`;
  }

  get netnsPrefix(): string {
    return `maclab${this.tag}-`;
  }

  /** The host side of a Mac's veth pair (the Mac side is its eth0). */
  get vethPrefix(): string {
    return `mlab${this.tag}-`;
  }

  netns = (name: string) => `${this.netnsPrefix}${name}`;
  veth = (name: string) => `${this.vethPrefix}${name}`;
  get state() { return join(this.dir, "state.json"); }
  get base() { return join(this.dir, "base"); }
  get boot() { return join(this.dir, "boot.sh"); }
  get identityFile() { return join(this.dir, "id_ed25519"); }
  get knownHostsFile() { return join(this.dir, "known_hosts"); }
  host = (name: string) => join(this.dir, "hosts", name);
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new LabError("the Mac lab needs root (namespaces, mounts, network): run it as root");
}

/** Installs what test/lab/debian-packages.txt lists and dpkg lacks (apt-get update once, then install -y). */
export async function ensurePackages(): Promise<string[]> {
  const wanted = readFileSync(join(HERE, "debian-packages.txt"), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
  const { stdout } = await execa("dpkg-query", ["-W", "-f", "${Package} ${Status}\n", ...wanted], { reject: false });
  const installed = new Set(stdout.split("\n").filter((l) => l.endsWith(" install ok installed")).map((l) => l.split(" ")[0]));
  const missing = wanted.filter((p) => !installed.has(p));
  if (missing.length) {
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    await execa("apt-get", ["update", "-qq"], { env });
    await execa("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
  }
  return missing;
}

function isMounted(path: string): boolean {
  return readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === path);
}

/** Alive and not a zombie (an orphaned `unshare` may wait as a zombie until init reaps it). */
function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function sshdAnswers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port: 22, timeout: 1000 });
    s.once("data", (d) => {
      s.destroy();
      resolve(d.toString().startsWith("SSH-"));
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

export class Lab {
  readonly l: Layout;
  /** Whether this object's `up` created the lab (then `release` takes it down). */
  private created = false;

  constructor(options: LabOptions = {}) {
    this.l = new Layout(options);
  }

  private async readState(): Promise<LabState | undefined> {
    try {
      return JSON.parse(await readFile(this.l.state, "utf8")) as LabState;
    } catch {
      return undefined;
    }
  }

  private async writeState(state: LabState): Promise<void> {
    await writeAtomic(this.l.state, JSON.stringify(state, null, 2), 0o600);
  }

  private async host(name: string): Promise<{ state: LabState; host: HostState }> {
    const state = await this.readState();
    const host = state?.hosts.find((h) => h.name === name);
    if (!state || !host) throw new LabError(`no simulated Mac named ${name} (is the lab up?)`);
    return { state, host };
  }

  private async running(name: string): Promise<HostState> {
    const { host } = await this.host(name);
    if (!alive(host.pid)) throw new LabError(`${name} is not running`);
    return host;
  }

  /**
   * Runs `fn` while holding the lab's lock (`<dir>.lock`, beside the state tmpfs so `down` can remove it):
   * test files of several engineers bring the same lab up at once. A lock whose process is gone is stale.
   */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const lock = `${this.l.dir}.lock`;
    await until("the lab lock", 600_000, async () => {
      try {
        await writeFile(lock, String(process.pid), { flag: "wx" });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const owner = Number(await readFile(lock, "utf8").catch(() => ""));
        if (owner && !alive(owner)) await rm(lock, { force: true });
        return undefined;
      }
    });
    try {
      return await fn();
    } finally {
      await rm(lock, { force: true });
    }
  }

  /** Brings the lab up with at least `hosts` Macs (mac1..macN); idempotent; restarts any Mac that has stopped. */
  async up({ hosts = 1 }: { hosts?: number } = {}): Promise<InventoryHost[]> {
    requireRoot();
    return this.locked(async () => {
      await ensurePackages();
      if (!isMounted(this.l.dir)) {
        await mkdir(this.l.dir, { recursive: true, mode: 0o700 });
        await execa("mount", ["-t", "tmpfs", "-o", "mode=0700", "maclab", this.l.dir]);
      }
      let state = await this.readState();
      if (!state) {
        state = await this.create();
        this.created = true;
      }
      // Rewritten each time, so a lab brought up by an older checkout boots with this one's script.
      await writeAtomic(this.l.boot, BOOT_SCRIPT, 0o755);

      await this.ensureBridge();
      const added: HostState[] = [];
      for (let i = state.hosts.length + 1; i <= hosts; i++) {
        added.push({ name: macName(i), index: i, address: this.l.address(i), hostKey: "", cut: false });
      }
      state.hosts.push(...added);
      const hostsFile = etcHosts(this.l, state.hosts);
      const limit = pLimit(8);
      await this.addNetworks(added);
      await Promise.all(
        added.map((h) =>
          limit(async () => {
            const d = this.l.host(h.name);
            for (const sub of ["upper", "work", "root"]) await mkdir(join(d, sub), { recursive: true });
            h.hostKey = await seedMac({ upper: join(d, "upper"), hostname: `${h.name}.lab`, hosts: hostsFile });
          }),
        ),
      );
      // Macs already running learn the new names; new ones got the file in their seed.
      if (added.length) {
        await Promise.all(
          state.hosts.filter((h) => !added.includes(h) && alive(h.pid)).map((h) => writeAtomic(`/proc/${h.pid}/root/etc/hosts`, hostsFile)),
        );
      }
      await writeAtomic(this.l.knownHostsFile, state.hosts.map((h) => `${h.name}.lab,${h.address} ${h.hostKey}\n`).join(""));
      await Promise.all(state.hosts.filter((h) => !alive(h.pid)).map((h) => limit(() => this.boot(h))));
      await this.writeState(state);
      await Promise.all(state.hosts.filter((h) => !h.cut).map((h) => until(`sshd on ${h.name}`, 30_000, () => sshdAnswers(h.address))));
      return this.inventory();
    });
  }

  /** First `up`: the lab's key pair, the boot script and the shared base layer. */
  private async create(): Promise<LabState> {
    const state: LabState = { hosts: [] };
    if (!existsSync(NETNS_DIR)) await writeFile(NETNS_MARKER, "");
    await rm(this.l.identityFile, { force: true });
    await rm(`${this.l.identityFile}.pub`, { force: true });
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "mac-lab", "-f", this.l.identityFile]);
    await rm(this.l.base, { recursive: true, force: true });
    await mkdir(this.l.base);
    await buildBase({
      root: this.l.base,
      adminPublicKey: await readFile(`${this.l.identityFile}.pub`, "utf8"),
      installUserland: installMacUserland,
    });
    await this.writeState(state);
    return state;
  }

  private async ensureBridge(): Promise<void> {
    const { exitCode } = await execa("ip", ["link", "show", this.l.bridge], { reject: false, stdout: "ignore", stderr: "ignore" });
    if (exitCode === 0) return;
    await execa("ip", ["-batch", "-"], {
      input: [`link add ${this.l.bridge} type bridge`, `addr add ${this.l.bridgeAddress}/${PREFIX_LENGTH} dev ${this.l.bridge}`, `link set ${this.l.bridge} up`, ""].join("\n"),
    });
  }

  /** Network namespaces and veth pairs, serially in one `ip -batch` (the first `netns add` creates /run/netns). */
  private async addNetworks(hosts: HostState[]): Promise<void> {
    if (!hosts.length) return;
    // Leftovers of an interrupted `up` would make `add` fail.
    await execa("ip", ["-force", "-batch", "-"], { input: hosts.map((h) => `netns del ${this.l.netns(h.name)}\n`).join(""), reject: false, stderr: "ignore" });
    await execa("ip", ["-batch", "-"], {
      input: hosts
        .flatMap((h) => [
          `netns add ${this.l.netns(h.name)}`,
          `link add ${this.l.veth(h.name)} type veth peer name eth0 netns ${this.l.netns(h.name)}`,
          `link set ${this.l.veth(h.name)} master ${this.l.bridge}`,
          `link set ${this.l.veth(h.name)} up`,
          "",
        ])
        .join("\n"),
    });
    const limit = pLimit(8);
    await Promise.all(
      hosts.map((h) =>
        limit(() =>
          execa("ip", ["-n", this.l.netns(h.name), "-batch", "-"], {
            input: [`link set lo up`, `addr add ${h.address}/${PREFIX_LENGTH} dev eth0`, `link set eth0 up`, ""].join("\n"),
          }),
        ),
      ),
    );
  }

  /** Power-on: namespaces, overlay root, tini as PID 1 running the launchd emulator. */
  private async boot(h: HostState): Promise<void> {
    const d = this.l.host(h.name);
    // tini is PID 1 (it reaps orphans, as launchd does on a Mac); the emulator is its only child.
    const init = ["/usr/bin/tini", "--", ...LAUNCHD_COMMAND];
    const argv = [`--net=${join(NETNS_DIR, this.l.netns(h.name))}`, "--", "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--propagation", "private", "--",
      "bash", this.l.boot, join(d, "console.log"), h.name, `${h.name}.lab`, this.l.base, join(d, "upper"), join(d, "work"), join(d, "root"), "--", ...init];
    const child = execa("nsenter", argv, {
      detached: true, cleanup: false, reject: false, stdio: "ignore", env: { PATH: MAC_PATH }, extendEnv: false,
    });
    child.unref();
    h.unsharePid = child.pid;
    h.pid = await until(`PID 1 of ${h.name}`, 5000, () => {
      try {
        const pid = Number(readFileSync(`/proc/${h.unsharePid}/task/${h.unsharePid}/children`, "utf8").trim().split(" ")[0]);
        return pid > 0 ? pid : undefined;
      } catch {
        throw new LabError(`${h.name} failed to boot: see ${join(d, "console.log")}`);
      }
    });
  }

  /** Ends every process of the Mac: SIGTERM to PID 1 (tini passes it to launchd), SIGKILL after `graceMs`. */
  private async halt(h: HostState, graceMs: number): Promise<void> {
    if (alive(h.pid) && graceMs > 0) {
      process.kill(h.pid!, "SIGTERM");
      await until(`${h.name} to shut down`, graceMs, () => !alive(h.pid)).catch(() => undefined);
    }
    if (alive(h.pid)) process.kill(h.pid!, "SIGKILL");
    await until(`${h.name} to power off`, 10_000, () => !alive(h.pid) && !alive(h.unsharePid));
    h.pid = h.unsharePid = undefined;
  }

  /** Every process of the Mac ends, then it boots as at power-on; its files persist. */
  async reboot(name: string, { graceMs = 10_000 }: { graceMs?: number } = {}): Promise<void> {
    requireRoot();
    return this.locked(async () => {
      const { state, host } = await this.host(name);
      await writeAtomic(this.l.boot, BOOT_SCRIPT, 0o755);
      await this.halt(host, graceMs);
      await this.boot(host);
      await this.writeState(state);
      if (!host.cut) await until(`sshd on ${name}`, 30_000, () => sshdAnswers(host.address));
    });
  }

  /** Unplugs the Mac: its host-side veth goes down, so nothing reaches it (SSH times out). */
  async cut(name: string): Promise<void> {
    await this.setLink(name, false);
  }

  async restore(name: string): Promise<void> {
    await this.setLink(name, true);
  }

  private async setLink(name: string, up: boolean): Promise<void> {
    requireRoot();
    return this.locked(async () => {
      const { state, host } = await this.host(name);
      await execa("ip", ["link", "set", this.l.veth(name), up ? "up" : "down"]);
      host.cut = !up;
      await this.writeState(state);
      if (up && alive(host.pid)) await until(`sshd on ${name}`, 30_000, () => sshdAnswers(host.address));
    });
  }

  /** For test files: takes the lab down if this object brought it up, unless MAC_LAB_KEEP=1 leaves it for the next file. */
  async release(): Promise<void> {
    if (this.created && process.env.MAC_LAB_KEEP !== "1") await this.down();
  }

  /** Removes every process, mount, network namespace, link, address and file the lab made; idempotent. */
  async down(): Promise<void> {
    requireRoot();
    return this.locked(async () => {
      // Each Mac's `unshare` holds its namespaces; killing its PID 1 ends every process in the Mac.
      const unshares = labProcesses(this.l);
      for (const u of unshares) for (const c of childrenOf(u)) process.kill(c, "SIGKILL");
      await until("the Macs to power off", 20_000, () => unshares.every((p) => !alive(p)));

      const namespaces = listNetns(this.l);
      if (namespaces.length) await execa("ip", ["-force", "-batch", "-"], { input: namespaces.map((n) => `netns del ${n}\n`).join(""), reject: false });
      await execa("ip", ["link", "del", this.l.bridge], { reject: false, stderr: "ignore" });
      await until("the lab's links to go", 20_000, async () => !(await labLinks(this.l)).length);
      if (existsSync(NETNS_MARKER) && (!existsSync(NETNS_DIR) || !readdirSync(NETNS_DIR).length)) {
        if (isMounted(NETNS_DIR)) await execa("umount", [NETNS_DIR]);
        await rm(NETNS_DIR, { recursive: true, force: true });
        await rm(NETNS_MARKER, { force: true });
      }
      if (isMounted(this.l.dir)) await execa("umount", [this.l.dir]);
      await rm(this.l.dir, { recursive: true, force: true });
    });
  }

  async status(): Promise<HostStatus[]> {
    const state = await this.readState();
    return (state?.hosts ?? []).map((h) => ({ name: h.name, address: h.address, up: alive(h.pid), cut: h.cut, ...(alive(h.pid) ? { pid: h.pid } : {}) }));
  }

  async inventory(): Promise<InventoryHost[]> {
    const state = await this.readState();
    return (state?.hosts ?? []).map((h) => ({
      name: h.name,
      address: h.address,
      port: 22,
      user: ADMIN.name,
      identityFile: this.l.identityFile,
      knownHostsFile: this.l.knownHostsFile,
    }));
  }

  /** The Mac's root folder as seen from the host (through its PID 1). */
  async rootOf(name: string): Promise<string> {
    return `/proc/${(await this.running(name)).pid}/root`;
  }

  /** Runs argv as root (or `user`) inside the Mac, in all its namespaces; does not throw on non-zero unless `reject`. */
  async exec(name: string, argv: string[], { input, user, reject = false, timeout, stdio = "pipe" }: ExecOptions = {}): Promise<Result> {
    requireRoot();
    const { pid } = await this.running(name);
    const as = user ? ["setpriv", `--reuid=${user}`, `--regid=${await this.primaryGroup(name, user)}`, "--init-groups", "--reset-env", "--"] : [];
    return execa("nsenter", [`--target=${pid}`, "--all", "--root", "--wd", "--", ...as, ...argv], {
      ...(stdio === "inherit" ? { stdio } : { input }),
      reject,
      timeout,
      env: { PATH: MAC_PATH, HOME: "/var/root", USER: "root", LOGNAME: "root", SHELL: "/bin/sh", LANG: "C.UTF-8" },
      extendEnv: false,
    });
  }

  private async primaryGroup(name: string, user: string): Promise<string> {
    const passwd = await readFile(join(await this.rootOf(name), "etc/passwd"), "utf8");
    const row = passwd.split("\n").find((l) => l.startsWith(`${user}:`));
    if (!row) throw new LabError(`no account ${user} on ${name}`);
    return row.split(":")[3]!;
  }

  /** The ssh command line (without the remote command) that logs in to the Mac as admin with the lab's key. */
  async sshCommand(name: string): Promise<string[]> {
    const { host } = await this.host(name);
    return [
      "ssh",
      "-i", this.l.identityFile,
      "-o", "IdentitiesOnly=yes",
      "-o", `UserKnownHostsFile=${this.l.knownHostsFile}`,
      "-o", "StrictHostKeyChecking=yes",
      "-o", "BatchMode=yes",
      "-o", "ConnectTimeout=5",
      "-p", "22",
      "-l", ADMIN.name,
      host.address,
    ];
  }

  /** Runs argv as admin over real SSH (each argument quoted for the remote shell); does not throw on non-zero unless `reject`. */
  async ssh(name: string, argv: string[], { input, reject = false, timeout }: Omit<ExecOptions, "user"> = {}): Promise<Result> {
    const [cmd, ...args] = await this.sshCommand(name);
    return execa(cmd!, [...args, "--", ...argv.map(quoteArg)], { input, reject, timeout });
  }
}

function etcHosts(l: Layout, hosts: HostState[]): string {
  return [
    "127.0.0.1\tlocalhost",
    "255.255.255.255\tbroadcasthost",
    "::1\tlocalhost",
    `${l.bridgeAddress}\thost.lab`,
    ...hosts.map((h) => `${h.address}\t${h.name}.lab ${h.name}`),
    "",
  ].join("\n");
}

/** The `unshare` processes of the lab's Macs (found by the boot script in their arguments, so also after a lost state). */
function labProcesses(l: Layout): number[] {
  const found: number[] = [];
  for (const p of readdirNumeric("/proc")) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("unshare") && argv.includes(l.boot) && alive(p)) found.push(p);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function readdirNumeric(dir: string): number[] {
  return readdirSync(dir).filter((e) => /^\d+$/.test(e)).map(Number);
}

/** The lab's network namespaces. */
function listNetns(l: Layout): string[] {
  return existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(l.netnsPrefix)) : [];
}

/** The lab's links left in the host's namespace. */
async function labLinks(l: Layout): Promise<string[]> {
  const { stdout } = await execa("ip", ["-br", "link"]);
  return stdout.split("\n").map((l) => l.split(/[\s@]/)[0]!).filter((n) => n === l.bridge || n.startsWith(l.vethPrefix));
}
