// Installs the simulated Mac's userland (launchd, launchctl, loginwindow, defaults, sw_vers, script) into a root folder.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));

/** Where the bundles live inside the Mac. */
export const MACLAB_LIBEXEC = "/usr/local/libexec/maclab";
export const LAUNCHD_BUNDLE = `${MACLAB_LIBEXEC}/launchd.mjs`;
/** V8 flags that keep an idle launchd small (one runs per simulated Mac). */
export const LAUNCHD_NODE_FLAGS = ["--max-semi-space-size=1", "--max-old-space-size=32"];
/** argv that starts the emulator inside a Mac (as a child of tini); LAUNCHD_ROOT unset means "/". */
export const LAUNCHD_COMMAND: readonly string[] = [process.execPath, ...LAUNCHD_NODE_FLAGS, LAUNCHD_BUNDLE];

const entries = {
  launchd: join(here, "launchd.ts"),
  loginwindow: join(here, "../macos/loginwindow.ts"),
  defaults: join(here, "../macos/defaults.ts"),
  sw_vers: join(here, "../macos/sw_vers.ts"),
};

/** launchctl is a perl client (launchctl.pl); /bin/launchctl works through Debian's /bin → /usr/bin. */
export const LAUNCHCTL_PATH = "usr/bin/launchctl";
/**
 * script(1) with macOS's arguments (../macos/script.pl), over Debian's util-linux script, which the
 * Mac's /usr/bin/script hides and which is kept here.
 */
const SCRIPT_PATH = "usr/bin/script";
const UTIL_LINUX_SCRIPT_PATH = `${MACLAB_LIBEXEC.slice(1)}/util-linux-script`;

/** Wrapper scripts: path inside the root → bundle name. */
const wrappers: Record<string, keyof typeof entries> = {
  "usr/bin/defaults": "defaults",
  "usr/bin/sw_vers": "sw_vers",
  [`${MACLAB_LIBEXEC.slice(1)}/loginwindow`]: "loginwindow",
};

export async function installMacUserland(rootDir: string): Promise<void> {
  const outdir = join(rootDir, MACLAB_LIBEXEC);
  await build({
    entryPoints: entries,
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
    // plist's dependencies are CommonJS and call require() for node builtins.
    banner: { js: 'import { createRequire as __maclabRequire } from "node:module"; const require = __maclabRequire(import.meta.url);' },
  });
  mkdirSync(join(rootDir, "usr/bin"), { recursive: true });
  for (const [from, to] of [
    [join(here, "launchctl.pl"), LAUNCHCTL_PATH],
    ["/usr/bin/script", UTIL_LINUX_SCRIPT_PATH],
  ] as const) {
    copyFileSync(from, join(rootDir, to));
    chmodSync(join(rootDir, to), 0o755);
  }
  const scriptFront = readFileSync(join(here, "../macos/script.pl"), "utf8").replace("@UTIL_LINUX_SCRIPT@", `/${UTIL_LINUX_SCRIPT_PATH}`);
  writeFileSync(join(rootDir, SCRIPT_PATH), scriptFront);
  chmodSync(join(rootDir, SCRIPT_PATH), 0o755);
  for (const [path, entry] of Object.entries(wrappers)) {
    const file = join(rootDir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `#!/bin/sh\nexec ${process.execPath} ${MACLAB_LIBEXEC}/${entry}.mjs "$@"\n`, { mode: 0o755 });
    chmodSync(file, 0o755);
  }
}
