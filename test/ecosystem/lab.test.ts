/**
 * The recipe's alternates and CDK Terrain end to end on a simulated Mac, each through a real CLI
 * (`cdktf` or `cdktn` deploy/destroy) in a throwaway project: the login-bound LaunchAgent in
 * gui/<uid>, the LogoutHook, and a cdktn deploy. On the lab instance "a" of this file alone; each
 * test has its own instance, label and address on mac1, logs `admin` in and out with the lab's
 * loginwindow, and removes what it made.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { smtpGreeting } from "../../src/executor/index.js";
import { DEFAULT_LOGOUT_HOOK_PATH } from "../../src/index.js";
import { ADMIN } from "../lab/base.js";
import { Lab, type InventoryHost } from "../lab/lab.js";
import type { EcoStack } from "./app.js";
import { ecoProject, failure, NODE20_SHIM, type EcoProjectOptions } from "./project.js";

const lab = new Lab({ instance: "a" });
const MAC = 1;
const LOGINWINDOW = "/usr/local/libexec/maclab/loginwindow";
const GUI = `gui/${ADMIN.uid}`;
const HOOK_MARKER = "/var/tmp/mac-postfix-eco-hook";
/** In a folder the Mac has: the next-but-one test covers the default path. */
const hookPath = "/usr/local/libexec/mac-postfix-eco-logout.sh";
let mac: InventoryHost;

/** One test's instance on the Mac: its name, launchd label and an address of its own. */
interface Subject {
  readonly name: string;
  readonly label: string;
  readonly address: string;
}
const subject = (tag: string, net: number): Subject => ({
  name: `postfix-eco${tag}`,
  label: `org.mac-postfix.eco.${tag}`,
  // In the lab's /16, beside the Macs' own addresses (x.y.1.n).
  get address() {
    return `${mac.address.split(".").slice(0, 2).join(".")}.${net}.${MAC}`;
  },
});
const SUBJECTS = { login: subject("login", 250), sudo: subject("sudo", 251), hook: subject("hook", 252), terrain: subject("terrain", 253) };

const sh = (script: string, ...args: string[]) => lab.exec(mac.name, ["/bin/sh", "-c", script, "sh", ...args]);
const loginwindow = (verb: "login" | "logout") => lab.exec(mac.name, [LOGINWINDOW, verb, ADMIN.name]);
const launchctlPrint = (target: string) => lab.exec(mac.name, ["launchctl", "print", target]);
const greeting = (s: Subject) => smtpGreeting(s.address, 25, 5_000).then((g) => g.banner, (e: Error) => e.message);
const masterUp = async (s: Subject) => (await lab.exec(mac.name, ["/usr/sbin/postfix", "-c", `/etc/${s.name}`, "status"])).exitCode === 0;

async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let last!: T;
  for (let i = 0; i < 120; i++) {
    last = await probe();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${what}: still ${JSON.stringify(last)}`);
}
const serving = (s: Subject) => eventually(`${s.name} answers SMTP`, () => greeting(s), (b) => b.startsWith("220 "));
const silent = (s: Subject) => eventually(`${s.name} stops`, async () => ({ master: await masterUp(s), smtp: await greeting(s) }), (v) => !v.master && !v.smtp.startsWith("220"));

function project(framework: EcoStack["framework"], contents: Omit<EcoStack, "framework" | "name" | "host">, options?: EcoProjectOptions) {
  const host = { ssh: { host: mac.address, user: mac.user, identityFile: mac.identityFile, knownHostsFile: mac.knownHostsFile } };
  return ecoProject({ framework, name: "eco", host, ...contents }, options);
}

async function deploy(p: Awaited<ReturnType<typeof project>>, command: "deploy" | "destroy" = "deploy"): Promise<string> {
  const result = await p.run(command);
  assert.equal(result.exitCode, 0, failure(result));
  return String(result.all);
}

/** A bare instance and a LaunchAgent that runs its master as root through `sudo -n` (the lab's admin may). */
const sudoAgent = (s: Subject) => ({
  instance: { name: s.name, settings: { master_service_disable: "", authorized_submit_users: "root", inet_interfaces: s.address } },
  agent: { user: ADMIN.name, label: s.label, programArguments: ["/usr/bin/sudo", "-n", "/usr/libexec/postfix/master", "-c", `/etc/${s.name}`], runAtLoad: true, keepAlive: true },
});

/** Whatever a test left on the Mac, whatever state it is in. */
async function scrub(s: Subject): Promise<void> {
  await sh(`launchctl bootout "$3/$2" 2>/dev/null; launchctl bootout "system/$2" 2>/dev/null
    rm -f "/Library/LaunchAgents/$2.plist" "/Library/LaunchDaemons/$2.plist"
    postfix -c "/etc/$1" stop 2>/dev/null; postmulti -i "$1" -e disable 2>/dev/null; postmulti -i "$1" -e destroy 2>/dev/null
    rm -rf "/etc/$1" "/var/spool/$1" "/var/lib/$1"; true`, s.name, s.label, GUI);
}

/** The plist is installed root:wheel 0644 in /Library/LaunchAgents. */
async function assertAgentPlist(s: Subject): Promise<void> {
  const stat = await lab.exec(mac.name, ["stat", "-c", "%U:%G %a", `/Library/LaunchAgents/${s.label}.plist`]);
  assert.equal(stat.stdout, "root:wheel 644", String(stat.stderr));
}

/** Serving at login, SIGTERM at logout, serving again at the next login; then destroy leaves nothing. */
async function loginLogoutCycle(p: Awaited<ReturnType<typeof project>>, s: Subject): Promise<void> {
  await assertAgentPlist(s);
  const print = String((await launchctlPrint(`${GUI}/${s.label}`)).stdout);
  assert.match(print, /state = running/);
  const pid = /^\tpid = (\d+)$/m.exec(print)?.[1];
  assert.ok(pid, print);
  assert.match(await serving(s), /^220 /);

  assert.equal((await loginwindow("logout")).exitCode, 0);
  assert.equal((await launchctlPrint(GUI)).exitCode, 125, "the gui domain is gone");
  const log = await sh(`grep -F "$1: $2 exited" /var/log/launchd.log`, s.label, pid);
  assert.equal(String(log.stdout).split(" ").slice(1).join(" "), `${s.label}: ${pid} exited on SIGTERM`);
  await silent(s);

  assert.equal((await loginwindow("login")).exitCode, 0);
  assert.match(await serving(s), /^220 /);
  assert.match(String((await launchctlPrint(`${GUI}/${s.label}`)).stdout), /state = running/);

  await deploy(p, "destroy");
  assert.equal((await lab.exec(mac.name, ["test", "-e", `/Library/LaunchAgents/${s.label}.plist`])).exitCode, 1);
  assert.equal((await launchctlPrint(`${GUI}/${s.label}`)).exitCode, 113);
  assert.doesNotMatch(String((await lab.exec(mac.name, ["postmulti", "-l"])).stdout), new RegExp(`^${s.name} `, "m"));
  await silent(s);
}

describe("the recipe's alternates and CDK Terrain on a simulated Mac", { timeout: 1_200_000 }, () => {
  before(async () => {
    mac = (await lab.up({ hosts: MAC }))[MAC - 1]!;
    for (const s of Object.values(SUBJECTS)) {
      await scrub(s);
      const added = await sh(`ip addr add "$1/16" dev eth0 2>/dev/null; ip addr show dev eth0 | grep -q "inet $1/"`, s.address);
      assert.equal(added.exitCode, 0, `could not give ${mac.name} the address ${s.address}`);
    }
    await loginwindow("logout");
    assert.equal((await loginwindow("login")).exitCode, 0, "loginwindow login admin");
  });
  after(async () => {
    if (mac) {
      await loginwindow("logout");
      await sh(`defaults delete com.apple.loginwindow LogoutHook 2>/dev/null; rm -f "$1" "$2" "$3"; true`, HOOK_MARKER, DEFAULT_LOGOUT_HOOK_PATH, hookPath);
      for (const s of Object.values(SUBJECTS)) {
        await scrub(s);
        await sh(`ip addr del "$1/16" dev eth0 2>/dev/null; true`, s.address);
      }
    }
    await lab.release();
  });

  it('PostfixInputInstance lifecycle "login": a LaunchAgent in gui/<uid> that serves at login and stops at logout', async () => {
    const s = SUBJECTS.login;
    const p = await project("cdktf", {
      input: { instanceName: s.name, label: s.label, lifecycle: "login", loginUser: ADMIN.name, settings: { inet_interfaces: s.address }, smtpAddress: s.address },
    });
    await deploy(p);
    // The agent runs as admin; sudo lets admin run exactly this check and this master as root, through the drop-in.
    const rule = `/etc/sudoers.d/cdktf-mac-postfix-${s.name}`;
    assert.equal(String((await lab.exec(mac.name, ["stat", "-c", "%U:%G %a", rule])).stdout), "root:wheel 440");
    const allowed = String((await lab.exec(mac.name, ["sudo", "-l", "-U", ADMIN.name])).stdout);
    assert.match(allowed, new RegExp(`\\(root\\) NOPASSWD: /usr/sbin/postfix -c /etc/${s.name} check,\\s+/usr/libexec/postfix/master -c /etc/${s.name}$`, "m"));
    assert.match(String((await launchctlPrint(`${GUI}/${s.label}`)).stdout), /program = \/bin\/sh/);
    await loginLogoutCycle(p, s);
    assert.equal((await lab.exec(mac.name, ["test", "-e", rule])).exitCode, 1, `${rule} is left after destroy`);
  });

  it("the agent machinery end to end: a LaunchAgent that runs the instance's master through sudo -n", async () => {
    const s = SUBJECTS.sudo;
    const p = await project("cdktf", sudoAgent(s));
    await deploy(p);
    await loginLogoutCycle(p, s);
  });

  it("a LaunchAgent deployed while its user is logged out is installed for the next login", async () => {
    const s = SUBJECTS.sudo;
    const p = await project("cdktf", sudoAgent(s));
    assert.equal((await loginwindow("logout")).exitCode, 0);
    try {
      // gui/501 does not exist until login (bootstrap would fail with 125): the plist waits for it.
      await deploy(p);
      await assertAgentPlist(s);
    } finally {
      assert.equal((await loginwindow("login")).exitCode, 0);
    }
    assert.match(await serving(s), /^220 /);
    await deploy(p, "destroy");
    await silent(s);
  });

  it("LogoutHook: registered as root, script root-owned, run at logout (stops the instance), deprecation warning, destroy removes both", async () => {
    const s = SUBJECTS.hook;
    const script = `#!/bin/sh\n/usr/sbin/postmulti -i ${s.name} -p stop\necho "$1" > ${HOOK_MARKER}\n`;
    const path = hookPath;
    const p = await project("cdktf", {
      input: { instanceName: s.name, label: s.label, runMode: "postmulti-start", settings: { inet_interfaces: s.address }, smtpAddress: s.address },
      logoutHook: { script, path },
    });
    const output = await deploy(p);
    assert.match(output, /LogoutHook is deprecated by Apple/);
    const registered = await lab.exec(mac.name, ["defaults", "read", "com.apple.loginwindow", "LogoutHook"]);
    assert.equal(String(registered.stdout).trim(), path);
    const stat = await lab.exec(mac.name, ["stat", "-c", "%u %a", path]);
    const [uid, mode] = String(stat.stdout).split(" ");
    assert.equal(uid, "0");
    assert.equal(Number.parseInt(mode!, 8) & 0o022, 0, `mode ${mode} is group- or world-writable`);
    assert.equal(String((await lab.exec(mac.name, ["cat", path])).stdout), script.trimEnd());
    assert.match(await serving(s), /^220 /);

    await sh(`rm -f "$1"`, HOOK_MARKER);
    assert.equal((await loginwindow("logout")).exitCode, 0);
    assert.equal(String((await lab.exec(mac.name, ["cat", HOOK_MARKER])).stdout), ADMIN.name);
    await silent(s);
    assert.equal((await loginwindow("login")).exitCode, 0);

    await deploy(p, "destroy");
    const gone = await lab.exec(mac.name, ["defaults", "read", "com.apple.loginwindow", "LogoutHook"]);
    assert.notEqual(gone.exitCode, 0, String(gone.stdout));
    assert.equal((await lab.exec(mac.name, ["test", "-e", path])).exitCode, 1, `${path} is left`);
  });

  it("LogoutHook at its default path deploys on a Mac that lacks the script's folder, and destroy removes it", async () => {
    const p = await project("cdktf", { logoutHook: { script: "#!/bin/sh\nexit 0\n" } });
    await sh(`rm -rf "$1"`, DEFAULT_LOGOUT_HOOK_PATH.slice(0, DEFAULT_LOGOUT_HOOK_PATH.lastIndexOf("/")));
    await deploy(p);
    const registered = await lab.exec(mac.name, ["defaults", "read", "com.apple.loginwindow", "LogoutHook"]);
    assert.equal(String(registered.stdout).trim(), DEFAULT_LOGOUT_HOOK_PATH);
    assert.equal(String((await lab.exec(mac.name, ["stat", "-c", "%U:%G %a", DEFAULT_LOGOUT_HOOK_PATH])).stdout), "root:wheel 755");
    await deploy(p, "destroy");
    assert.notEqual((await lab.exec(mac.name, ["defaults", "read", "com.apple.loginwindow", "LogoutHook"])).exitCode, 0);
    assert.equal((await lab.exec(mac.name, ["test", "-e", DEFAULT_LOGOUT_HOOK_PATH])).exitCode, 1);
    assert.equal((await lab.exec(mac.name, ["test", "-e", "/Library/Scripts/cdktf-mac-postfix"])).exitCode, 1, "its folder is removed");
  });

  it("cdktn deploy and destroy (cdktn-cli 0.24 on Node 20 with the shim, cdktf aliased to cdktn)", async () => {
    const s = SUBJECTS.terrain;
    const p = await project("cdktn", { input: { instanceName: s.name, label: s.label, settings: { inet_interfaces: s.address }, smtpAddress: s.address } }, {
      installed: true,
      env: { NODE_OPTIONS: `--require ${NODE20_SHIM}` },
    });
    const output = await deploy(p);
    assert.match(output, /readiness .*confirm SMTP/);
    assert.match(String((await launchctlPrint(`system/${s.label}`)).stdout), /state = running/);
    assert.match(await serving(s), /^220 /);
    await deploy(p, "destroy");
    assert.equal((await launchctlPrint(`system/${s.label}`)).exitCode, 113);
    assert.doesNotMatch(String((await lab.exec(mac.name, ["postmulti", "-l"])).stdout), new RegExp(`^${s.name} `, "m"));
    await silent(s);
  });
});
