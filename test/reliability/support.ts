/**
 * What the reliability suite's files share: the suite's own lab instance ("r"), throwaway cdktf
 * projects driven through the real cdktf CLI, and looks at the Macs (queues, canaries, step logs).
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa, type ResultPromise } from "execa";
import { Lab, type InventoryHost } from "../lab/lab.js";
import { eventually, onMac } from "../support/mac.js";
import { descendants } from "../support/processes.js";
import { CANARY_PREFIX } from "./corpus.js";
export { touchedAddresses } from "../support/cdktf.js";

export const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "node_modules", ".bin");

/** The suite's private lab: nobody else deploys to these Macs or competes for their port 25. */
export const lab = new Lab({ instance: "r" });

/** A clean lab of `hosts` Macs: this file starts from fresh Macs whatever an earlier run left. */
export async function freshLab(hosts: number): Promise<InventoryHost[]> {
  if (process.getuid?.() !== 0) throw new Error("the reliability suite needs root for the Mac lab (namespaces, mounts, network): run it as root");
  await lab.down();
  return lab.up({ hosts });
}

export interface CdktfRun {
  readonly exitCode: number;
  readonly output: string;
}

/** A running cdktf command: `waitFor` resolves once its output matches; `done` when it ends. */
export interface CdktfProcess {
  readonly pid: number;
  readonly done: Promise<CdktfRun>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  output(): string;
}

/**
 * A throwaway cdktf project (its own cdktf.json, cdktf.out, Terraform CLI config and state files)
 * whose app is `app` (default: the repository's example stacks, stacks/main.ts).
 */
export class Project {
  readonly dir = mkdtempSync(join(tmpdir(), "rel-cdktf-"));

  constructor(app: string = join(ROOT, "stacks/main.ts")) {
    writeFileSync(
      join(this.dir, "cdktf.json"),
      JSON.stringify({ language: "typescript", app: `${join(BIN, "tsx")} ${app}`, projectId: "reliability", sendCrashReports: "false", terraformProviders: [], terraformModules: [], context: {} }),
    );
    writeFileSync(join(this.dir, "terraformrc"), "");
  }

  env(extra: Record<string, string>): Record<string, string> {
    return { ...extra, MAC_POSTFIX_STATE_DIR: this.dir, CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: join(this.dir, "terraformrc"), CI: "1", FORCE_COLOR: "0", NO_COLOR: "1" };
  }

  /** Starts `cdktf <args>` in the project. */
  start(args: string[], env: Record<string, string> = {}): CdktfProcess {
    const child: ResultPromise = execa(join(BIN, "cdktf"), args, { cwd: this.dir, reject: false, all: true, env: this.env(env), timeout: 600_000 });
    let output = "";
    const waiters: { pattern: RegExp; resolve: () => void }[] = [];
    const started = Date.now();
    child.all!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      // REL_TRACE=<file>: every chunk of cdktf's output with the seconds since start, for finding slow steps.
      if (process.env.REL_TRACE) appendFileSync(process.env.REL_TRACE, chunk.toString().replace(/^/gm, `${((Date.now() - started) / 1000).toFixed(1)} `));
      for (const w of waiters.filter((w) => w.pattern.test(output))) w.resolve();
    });
    const done = child.then((result) => ({ exitCode: result.exitCode ?? 1, output: output || String(result.all ?? "") }));
    return {
      pid: child.pid!,
      done,
      output: () => output,
      waitFor: (pattern, timeoutMs = 300_000) =>
        new Promise<void>((resolve, reject) => {
          if (pattern.test(output)) return resolve();
          const timer = setTimeout(() => reject(new Error(`cdktf's output did not match ${pattern} within ${timeoutMs} ms:\n${output.slice(-4000)}`)), timeoutMs);
          waiters.push({ pattern, resolve: () => (clearTimeout(timer), resolve()) });
          void done.then((run) => (clearTimeout(timer), reject(new Error(`cdktf ended (exit ${run.exitCode}) before its output matched ${pattern}:\n${run.output.slice(-4000)}`))));
        }),
    };
  }

  /** Runs `cdktf <args>` to the end; never throws on a non-zero exit. */
  cdktf(args: string[], env: Record<string, string> = {}): Promise<CdktfRun> {
    return this.start(args, env).done;
  }

  deploy(stack: string, env: Record<string, string> = {}): Promise<CdktfRun> {
    return this.cdktf(["deploy", stack, "--auto-approve"], env);
  }

  destroy(stack: string, env: Record<string, string> = {}): Promise<CdktfRun> {
    return this.cdktf(["destroy", stack, "--auto-approve"], env);
  }

  /** The stack's local state file (MAC_POSTFIX_STATE_DIR points the stacks here). */
  statePath(stack: string): string {
    return join(this.dir, `${stack}.tfstate`);
  }

  /** Terraform's working directory for the stack. */
  workdir(stack: string): string {
    return join(this.dir, "cdktf.out", "stacks", stack);
  }

  /** Writes a JSON file (an inventory) into the project; returns its path. */
  writeJson(name: string, document: unknown): string {
    const path = join(this.dir, name);
    writeFileSync(path, JSON.stringify(document, null, 2));
    return path;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Fails with the end of cdktf's output unless it exited 0. */
export function assertDeployed(run: CdktfRun, what = "cdktf"): void {
  assert.equal(run.exitCode, 0, `${what} exited ${run.exitCode}:\n${run.output.slice(-8000)}`);
}

/** The executor's log lines in cdktf's output: `[host] kind subject: action: changed|no change`. */
export function stepLines(output: string): string[] {
  return [...output.matchAll(/\(local-exec\): (\[[^\]\n]+\] [^\n]*?: (?:changed|no change))\s*$/gm)].map((m) => m[1]!);
}

/** Inventory fields every lab Mac needs. */
export function labConnection(mac: InventoryHost): Record<string, string> {
  return { address: mac.address, user: mac.user, identityFile: mac.identityFile, knownHostsFile: mac.knownHostsFile };
}

/** Environment for the `mac-ssh` example stack aimed at a lab Mac. */
export function macSshEnv(mac: InventoryHost, extra: Record<string, string> = {}): Record<string, string> {
  return { MAC_POSTFIX_STACKS: "mac-ssh", MAC_HOST: mac.address, MAC_USER: mac.user, MAC_IDENTITY_FILE: mac.identityFile, MAC_KNOWN_HOSTS: mac.knownHostsFile, ...extra };
}

/** Runs a sh script (a constant) as root inside the Mac, values as "$1"...; returns stdout. */
export async function macSh(mac: string, script: string, ...args: string[]): Promise<string> {
  return onMac(lab, mac, ["/bin/sh", "-c", script, "sh", ...args]);
}

/** Every queue file of the instance, with its SHA-256: `<hash>  <queue>/<id>` sorted. */
export async function queueSnapshot(mac: string, queueDirectory = "/var/spool/postfix-in"): Promise<string[]> {
  const out = await macSh(mac, 'cd "$1" || exit 1; find maildrop incoming active deferred hold corrupt -type f 2>/dev/null | sort | while read -r f; do sha256sum "$f"; done', queueDirectory);
  return out.split("\n").filter(Boolean);
}

/**
 * Submits `count` messages to the instance on the Mac and puts them all on hold, so they stay
 * queued whatever the network does; resolves once every one is in the hold queue.
 */
export async function holdMessages(mac: string, configDirectory: string, count: number, tag: string): Promise<string[]> {
  for (let i = 0; i < count; i++) {
    await onMac(lab, mac, ["/usr/sbin/sendmail", "-C", configDirectory, "-f", "root", `nobody-${i}@example.invalid`], `Subject: ${tag} ${i}\n\nkeep me\n`);
  }
  let snapshot: string[] = [];
  await eventually(`${count} messages held in ${configDirectory} on ${mac}`, 30_000, async () => {
    await lab.exec(mac, ["/usr/sbin/postsuper", "-c", configDirectory, "-h", "ALL"]);
    snapshot = await queueSnapshot(mac);
    return snapshot.length === count && snapshot.every((line) => / hold\//.test(line));
  });
  return snapshot;
}

/** Removes canaries an earlier, failed run may have left on this machine (only ours, by prefix). */
export function clearHostCanaries(): void {
  for (const f of readdirSync("/tmp")) if (`/tmp/${f}`.startsWith(CANARY_PREFIX)) rmSync(`/tmp/${f}`, { force: true });
}

/** Fails if any hostile payload ran: no canary file on this machine or in any of the Macs. */
export async function assertNoCanaries(macs: readonly string[]): Promise<void> {
  const onHost = readdirSync("/tmp").filter((f) => `/tmp/${f}`.startsWith(CANARY_PREFIX));
  assert.deepEqual(onHost, [], "a payload ran on the deploying machine");
  for (const mac of macs) {
    const found = await macSh(mac, 'for d in /tmp / /var/root /Users/admin /private/tmp; do for f in "$d"/rel-canary-*; do [ -e "$f" ] && echo "$f"; done; done; true');
    assert.equal(found, "", `a payload ran inside ${mac}`);
  }
}

/** The state file's resources (empty when there is no state). */
export function stateResources(path: string): { type: string; name: string }[] {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { resources: { type: string; name: string }[] }).resources;
  } catch {
    return [];
  }
}

/** SIGKILL to a process we started and to each of its descendants, by pid (as a crash or `kill -9` would). */
export function killTree(pid: number): number[] {
  const all = [pid, ...descendants(pid)];
  for (const p of all) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return all;
}

/** The SMTP banner of the Mac's instance, or the error it gave. */
export async function banner(address: string): Promise<string> {
  const { smtpGreeting } = await import("../../src/executor/smtp.js");
  return smtpGreeting(address, 25, 3_000).then((g) => g.banner, (e: Error) => `error: ${e.message}`);
}

/** A Terraform `http` backend that keeps state and locks in memory, as a remote backend would. */
export interface StateServer {
  readonly url: string;
  /** The lock held now (Terraform's lock info), if any. */
  lock(): { ID: string } | null;
  close(): Promise<void>;
}

export async function stateServer(): Promise<StateServer> {
  const { createServer } = await import("node:http");
  let state: Buffer | null = null;
  let lock: { ID: string } | null = null;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const send = (status: number, data?: string | Buffer) => (res.writeHead(status), res.end(data));
      // Terraform adds ?ID=<lock id> to state requests made under a lock.
      const path = new URL(req.url ?? "/", "http://state").pathname;
      if (path === "/state") {
        if (req.method === "GET") return state ? send(200, state) : send(404);
        if (req.method === "POST") return (state = body), send(200);
        if (req.method === "DELETE") return (state = null), send(200);
      }
      if (path === "/lock") {
        if (req.method === "LOCK") {
          if (lock) return send(423, JSON.stringify(lock));
          lock = JSON.parse(body.toString()) as { ID: string };
          return send(200);
        }
        // UNLOCK: a holder's unlock, or `terraform force-unlock`.
        if (req.method === "UNLOCK") return (lock = null), send(200);
      }
      send(405);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, lock: () => lock, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
