// The simulated Mac lab itself, on a private lab instance ("t") so the default lab others use is untouched.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import plist from "plist";
import { Lab, type InventoryHost } from "./lab.js";
import { CANARY, HOSTILE } from "../executor/hostile.js";

const lab = new Lab({ instance: "t" });
let macs: InventoryHost[];

const out = async (p: Promise<{ stdout: unknown }>) => String((await p).stdout).trim();
const sh = (mac: string, script: string) => lab.exec(mac, ["/bin/sh", "-c", script]);

/** What the Mac's launchctl says about a system job ("" when launchd does not know it). */
async function jobState(mac: string, label: string): Promise<string> {
  const r = await lab.exec(mac, ["launchctl", "print", `system/${label}`]);
  return r.exitCode === 0 ? (/^\s*state = (.*)$/m.exec(String(r.stdout))?.[1] ?? "?") : "";
}

async function writeDaemon(mac: string, label: string, seconds: string): Promise<string> {
  const path = `/Library/LaunchDaemons/${label}.plist`;
  const xml = plist.build({ Label: label, ProgramArguments: ["/bin/sleep", seconds], RunAtLoad: true });
  await lab.exec(mac, ["/bin/sh", "-c", `cat > ${path} && chown root:wheel ${path} && chmod 0644 ${path}`], { input: xml, reject: true });
  return path;
}

describe("simulated Mac lab", { timeout: 150_000 }, () => {
  before(async () => {
    await lab.down();
    macs = await lab.up({ hosts: 2 });
  });
  after(() => lab.down());

  test("inventory lists each Mac with its own address and the lab's key and known_hosts", () => {
    assert.deepEqual(macs.map((m) => m.name), ["mac1", "mac2"]);
    assert.notEqual(macs[0]!.address, macs[1]!.address);
    for (const m of macs) {
      assert.equal(m.user, "admin");
      assert.equal(m.port, 22);
      assert.ok(existsSync(m.identityFile) && existsSync(m.knownHostsFile));
      assert.match(readFileSync(m.knownHostsFile, "utf8"), new RegExp(`^${m.name}\\.lab,${m.address.replace(/\./g, "\\.")} ssh-ed25519 `, "m"));
    }
  });

  test("up is idempotent and keeps the Macs it has", async () => {
    const before = await lab.status();
    assert.deepEqual(await lab.up({ hosts: 1 }), macs);
    assert.deepEqual(await lab.status(), before);
  });

  test("sshd lets admin in with the lab's key, checking the host key", async () => {
    assert.equal(await out(lab.ssh("mac1", ["id", "-un"], { reject: true })), "admin");
    // mac2's known_hosts line under mac1's address: the client must refuse mac1's real key.
    const m1 = macs[0]!;
    const forged = `${m1.knownHostsFile}.forged`;
    const mac2Key = readFileSync(m1.knownHostsFile, "utf8").split("\n").find((l) => l.startsWith("mac2.lab,"))!.split(" ").slice(1).join(" ");
    writeFileSync(forged, `${m1.address} ${mac2Key}\n`);
    const ssh = (await lab.sshCommand("mac1")).map((a) => (a === `UserKnownHostsFile=${m1.knownHostsFile}` ? `UserKnownHostsFile=${forged}` : a));
    const r = await execa(ssh[0]!, [...ssh.slice(1), "true"], { reject: false });
    assert.equal(r.exitCode, 255);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  test("root may not log in over SSH", async () => {
    const ssh = (await lab.sshCommand("mac1")).map((a) => (a === "admin" ? "root" : a));
    const r = await execa(ssh[0]!, [...ssh.slice(1), "true"], { reject: false });
    assert.equal(r.exitCode, 255);
    assert.match(r.stderr, /Permission denied/);
  });

  test("admin has passwordless sudo", async () => {
    assert.equal((await lab.ssh("mac1", ["sudo", "-n", "true"])).exitCode, 0);
    assert.equal(await out(lab.ssh("mac1", ["sudo", "-n", "id", "-u"], { reject: true })), "0");
  });

  test("exec runs as root, or as another account with its groups", async () => {
    assert.equal(await out(lab.exec("mac1", ["id", "-un"], { reject: true })), "root");
    assert.equal(await out(lab.exec("mac1", ["id", "-Gn"], { user: "admin", reject: true })), "staff admin");
    assert.equal(await out(lab.exec("mac1", ["sh", "-c", "cat; echo \"$HOME\""], { user: "admin", input: "in\n", reject: true })), "in\n/Users/admin");
    assert.equal((await lab.exec("mac1", ["false"])).exitCode, 1);
    await assert.rejects(lab.exec("mac1", ["false"], { reject: true }));
  });

  test("each Mac has its own hostname and address, and knows the others by name", async () => {
    for (const m of macs) {
      assert.equal(await out(lab.ssh(m.name, ["hostname"], { reject: true })), `${m.name}.lab`);
      assert.match(await out(lab.exec(m.name, ["ip", "-br", "addr", "show", "eth0"], { reject: true })), new RegExp(` ${m.address.replace(/\./g, "\\.")}/16`));
    }
    const greeting = await out(lab.exec("mac2", ["bash", "-c", "exec 3<>/dev/tcp/mac1.lab/22; head -c 4 <&3"], { reject: true }));
    assert.equal(greeting, "SSH-");
  });

  test("accounts and folders look like a Mac", async () => {
    assert.equal(await out(lab.exec("mac1", ["stat", "-c", "%U:%G %a", "/Library/LaunchDaemons"], { reject: true })), "root:wheel 755");
    assert.equal(await out(lab.exec("mac1", ["stat", "-c", "%U:%G %a", "/Library/LaunchAgents"], { reject: true })), "root:wheel 755");
    assert.equal(await out(lab.exec("mac1", ["getent", "group", "wheel"], { reject: true })), "wheel:x:0:");
    assert.match(await out(lab.exec("mac1", ["getent", "passwd", "root"], { reject: true })), /:\/var\/root:/);
    assert.match(await out(lab.exec("mac1", ["getent", "passwd", "admin"], { reject: true })), /^admin:[^:]*:\d+:\d+:[^:]*:\/Users\/admin:\/bin\/bash$/);
    assert.equal((await lab.exec("mac1", ["test", "-d", "/var/root"])).exitCode, 0);
    assert.equal((await lab.exec("mac1", ["test", "-d", "/var/db/com.apple.xpc.launchd"])).exitCode, 0);
    assert.equal(await out(lab.exec("mac1", ["readlink", "/private/etc"], { reject: true })), "../etc");
    assert.match(await out(lab.exec("mac1", ["sw_vers", "-productVersion"], { reject: true })), /^14\./);
  });

  test("script takes macOS's argv form: the command's arguments verbatim under a fresh pty, its exit code kept; util-linux's form passes through", async () => {
    const values = HOSTILE.filter((v) => v.length < 1000);
    const echo = ["perl", "-e", 'print join("\\0", -t STDERR ? "tty" : "no tty", @ARGV, "end")', "--", ...values];
    const r = await lab.exec("mac1", ["script", "-q", "/dev/null", ...echo]);
    assert.equal(r.exitCode, 0, String(r.stderr));
    // The pty turns each \n into \r\n on the way out.
    assert.deepEqual(String(r.stdout).split("\0"), ["tty", ...values.map((v) => v.replaceAll("\n", "\r\n")), "end"]);
    assert.equal((await lab.exec("mac1", ["script", "-q", "/dev/null", "sh", "-c", "exit 7"])).exitCode, 7);
    assert.notEqual((await lab.exec("mac1", ["test", "-e", CANARY])).exitCode, 0, "a hostile argument was run by a shell");
    // util-linux's form, which the library's local transport uses where it sees Linux, passes through.
    assert.equal((await lab.exec("mac1", ["script", "-qec", "test -t 2 && exit 4", "/dev/null"])).exitCode, 4);
  });

  test("Postfix is at the macOS paths with Apple's defaults, the primary not listening", async () => {
    assert.equal((await lab.exec("mac1", ["test", "-x", "/usr/libexec/postfix/master"])).exitCode, 0);
    assert.equal(await out(lab.exec("mac1", ["postconf", "-h", "daemon_directory"], { reject: true })), "/usr/libexec/postfix");
    assert.equal(await out(lab.exec("mac1", ["postconf", "-h", "inet_interfaces"], { reject: true })), "loopback-only");
    assert.equal(await out(lab.exec("mac1", ["postconf", "-h", "mynetworks"], { reject: true })), "127.0.0.0/8, [::1]/128");
    assert.equal(await out(lab.exec("mac1", ["postconf", "-M", "smtp/inet"], { reject: true })), "");
    assert.deepEqual([...new Set((await out(lab.exec("mac1", ["postconf", "-F", "-h", "*/*/chroot"], { reject: true }))).split("\n"))], ["n"]);
    assert.equal((await lab.exec("mac2", ["postfix", "start"])).exitCode, 0);
    try {
      assert.equal((await lab.exec("mac2", ["postfix", "status"])).exitCode, 0);
      const ports = (await out(lab.exec("mac2", ["ss", "-Hltun"], { reject: true }))).split("\n").map((l) => l.split(/\s+/)[4]!.replace(/.*:/, ""));
      assert.deepEqual([...new Set(ports)], ["22"]);
    } finally {
      await lab.exec("mac2", ["postfix", "stop"], { reject: true });
    }
  });

  test("a postmulti instance created on mac1 exists nowhere else", async () => {
    await lab.exec("mac1", ["postmulti", "-e", "init"], { reject: true });
    await lab.exec("mac1", ["postmulti", "-I", "postfix-in", "-G", "mta", "-e", "create"], { reject: true });
    assert.match(await out(lab.exec("mac1", ["postmulti", "-l"], { reject: true })), /^postfix-in\s+mta\s+n\s+\/etc\/postfix-in$/m);
    // The new instance keeps an smtpd in master.cf, switched off by master_service_disable until enabled.
    assert.match(await out(lab.exec("mac1", ["postconf", "-c", "/etc/postfix-in", "-M", "smtp/inet"], { reject: true })), /smtpd$/);
    assert.doesNotMatch(await out(lab.exec("mac2", ["postmulti", "-l"], { reject: true })), /postfix-in/);
    assert.equal((await lab.exec("mac2", ["test", "-e", "/etc/postfix-in"])).exitCode, 1);
    assert.doesNotMatch(await out(execa("postmulti", ["-l"])), /postfix-in/);
    assert.ok(!existsSync("/etc/postfix-in"));
  });

  test("reboot: every process ends, files persist, launchd boots sshd and enabled jobs but not disabled ones", async () => {
    const enabled = await writeDaemon("mac1", "lab.test.enabled", "1001");
    await lab.exec("mac1", ["launchctl", "enable", "system/lab.test.enabled"], { reject: true });
    await lab.exec("mac1", ["launchctl", "bootstrap", "system", enabled], { reject: true });
    const disabled = await writeDaemon("mac1", "lab.test.disabled", "1002");
    await lab.exec("mac1", ["launchctl", "bootstrap", "system", disabled], { reject: true });
    await lab.exec("mac1", ["launchctl", "disable", "system/lab.test.disabled"], { reject: true });
    await sh("mac1", "setsid sleep 1003 </dev/null >/dev/null 2>&1 &");
    await sh("mac1", "echo kept > /var/root/marker");
    assert.equal(await jobState("mac1", "lab.test.enabled"), "running");
    assert.equal((await lab.exec("mac1", ["pgrep", "-f", "sleep 1003"])).exitCode, 0);
    const pidBefore = (await lab.status()).find((s) => s.name === "mac1")!.pid;

    await lab.reboot("mac1");

    assert.notEqual((await lab.status()).find((s) => s.name === "mac1")!.pid, pidBefore);
    assert.equal((await lab.exec("mac1", ["pgrep", "-f", "sleep 1003"])).exitCode, 1);
    assert.equal(await out(lab.exec("mac1", ["cat", "/var/root/marker"], { reject: true })), "kept");
    assert.equal(await out(lab.exec("mac1", ["ps", "-o", "comm=", "-p", "1"], { reject: true })), "tini");
    assert.equal(await jobState("mac1", "com.openssh.sshd"), "running");
    assert.equal(await jobState("mac1", "lab.test.enabled"), "running");
    assert.notEqual(await jobState("mac1", "lab.test.disabled"), "running");
    assert.equal((await lab.exec("mac1", ["pgrep", "-f", "sleep 1002"])).exitCode, 1);
    assert.equal(await out(lab.ssh("mac1", ["hostname"], { reject: true })), "mac1.lab");
    assert.match(await out(lab.exec("mac1", ["postmulti", "-l"], { reject: true })), /^postfix-in /m);
  });

  test("cut makes a Mac unreachable over SSH and restore brings it back", async () => {
    await lab.cut("mac2");
    const r = await lab.ssh("mac2", ["true"]);
    assert.equal(r.exitCode, 255);
    assert.equal((await lab.ssh("mac1", ["true"])).exitCode, 0);
    await lab.restore("mac2");
    assert.equal((await lab.ssh("mac2", ["true"])).exitCode, 0);
  });

  test("down leaves no process, mount, namespace, link, address or file behind, and can run again", async () => {
    const pids = (await lab.status()).map((s) => s.pid!);
    await lab.down();
    await lab.down();
    const mounts = readFileSync("/proc/mounts", "utf8");
    assert.ok(!mounts.includes(lab.l.dir) && !/maclabt-/.test(mounts), "lab mounts remain");
    assert.equal(existsSync(lab.l.dir), false);
    const { stdout: netns } = await execa("ip", ["netns", "list"]);
    assert.doesNotMatch(netns, /maclabt-/);
    const { stdout: links } = await execa("ip", ["-br", "addr"]);
    assert.doesNotMatch(links, new RegExp(`${lab.l.bridge}|${lab.l.vethPrefix}|${lab.l.bridgeAddress.replace(/\.0\.1$/, "").replace(/\./g, "\\.")}\\.`));
    for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `process ${pid} remains`);
    assert.deepEqual(await lab.status(), []);
  });
});
