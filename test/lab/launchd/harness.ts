// Test harness: the real emulator bundle in a temporary LAUNCHD_ROOT, driven through the lab's launchctl.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import plist from "plist";
import { installMacUserland, LAUNCHCTL_PATH, LAUNCHD_NODE_FLAGS, MACLAB_LIBEXEC } from "./install.js";
import { files } from "./protocol.js";

export interface Run { stdout: string; stderr: string; code: number }

export const NOBODY = 65534;

export class Lab {
  readonly root: string;
  readonly bin: string;
  private daemon: ChildProcess | undefined;

  /** Installs the bundles into a fresh temp root (traversable by nobody, for jobs and non-root clients). */
  static async create(): Promise<Lab> {
    if (process.getuid!() !== 0) throw new Error("the launchd emulator tests must run as root (they spawn jobs as other users)");
    const root = mkdtempSync(join(tmpdir(), "launchd-test-"));
    chmodSync(root, 0o755);
    await installMacUserland(root);
    return new Lab(root);
  }

  private constructor(root: string) {
    this.root = root;
    this.bin = join(root, MACLAB_LIBEXEC);
  }

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  /** Starts launchd and waits until it serves its socket. */
  async start(): Promise<void> {
    assert.equal(this.daemon, undefined, "launchd already running");
    const child = spawn(process.execPath, [...LAUNCHD_NODE_FLAGS, join(this.bin, "launchd.mjs")], {
      env: { ...process.env, LAUNCHD_ROOT: this.root },
      stdio: ["ignore", "inherit", "inherit"],
    });
    this.daemon = child;
    await this.waitFor("launchd to listen", () => existsSync(files.socket(this.root)) && this.launchctl("list").code === 0);
  }

  /** SIGTERM (a shutdown) and the exit status launchd ended with. */
  async stop(): Promise<number | null> {
    const child = this.daemon;
    if (!child) return 0;
    this.daemon = undefined;
    if (child.exitCode !== null) return child.exitCode;
    const done = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    return done;
  }

  /** Stops launchd if running and removes the temp root. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Runs one of the installed bundles (defaults.mjs, ...) or, given a path in the root, that program, as `uid` in `cwd`. */
  run(bundle: string, args: string[], uid = 0, cwd?: string): Run {
    const [file, argv] = bundle.endsWith(".mjs") ? [process.execPath, [join(this.bin, bundle), ...args]] : [join(this.root, bundle), args];
    const r = spawnSync(file, argv, {
      env: { ...process.env, LAUNCHD_ROOT: this.root },
      encoding: "utf8",
      cwd,
      uid,
      gid: uid === 0 ? 0 : NOBODY,
    });
    if (r.error) throw r.error;
    return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? -1 };
  }

  launchctl(...args: string[]): Run {
    return this.run(LAUNCHCTL_PATH, args);
  }

  launchctlAs(uid: number, ...args: string[]): Run {
    return this.run(LAUNCHCTL_PATH, args, uid);
  }

  loginwindow(...args: string[]): Run {
    return this.run("loginwindow.mjs", args);
  }

  /** `launchctl print TARGET` as key → value of its top-level `k = v` lines. */
  info(target: string): Record<string, string> | undefined {
    const r = this.launchctl("print", target);
    if (r.code === 113) return undefined;
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(
      r.stdout.split("\n").flatMap((l) => {
        const m = /^\t([a-z ]+) = (.*)$/.exec(l);
        return m ? [[m[1]!, m[2]!]] : [];
      }),
    );
  }

  pid(target: string): number | undefined {
    const p = this.info(target)?.pid;
    return p === undefined ? undefined : Number(p);
  }

  /** Writes a job plist, root:root 0644 unless told otherwise. */
  writePlist(file: string, dict: plist.PlistObject, opts: { uid?: number; gid?: number; mode?: number } = {}): string {
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, plist.build(dict));
    chownSync(file, opts.uid ?? 0, opts.gid ?? 0);
    chmodSync(file, opts.mode ?? 0o644);
    return file;
  }

  /** A /bin/sh script file, mode 0755, in the temp root. */
  script(name: string, body: string): string {
    const file = this.path("jobs", name);
    mkdirSync(join(file, ".."), { recursive: true, mode: 0o755 });
    writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  }

  read(file: string): string {
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  }

  log(): string {
    return this.read(files.log(this.root));
  }

  /** Polls until `check` holds (15 s at most): conditions, never durations, are asserted. */
  async waitFor(what: string, check: () => boolean): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
