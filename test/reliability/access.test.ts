/**
 * Secrets and access, through the real cdktf CLI:
 * - a deploy with a passphrase-protected key (held by ssh-agent) leaves neither the key's body nor
 *   its passphrase in cdktf.out/, any state file or cdktf's output: only the key's path is recorded;
 * - SSH host keys are verified by default: an unknown or a wrong host key fails the deploy before
 *   anything reaches the Mac, and the only way to turn that off is MacHost's explicitly named
 *   `insecureIgnoreHostKey` (in an inventory too), which synth warns about;
 * - the plist is root:wheel 0644, and no file a deploy writes on the Mac is group- or world-writable.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import type { InventoryHost } from "../lab/lab.js";
import { instances, onMac, ownerAndMode } from "../support/mac.js";
import { assertDeployed, freshLab, lab, labConnection, macSh, macSshEnv, Project, touchedAddresses } from "./support.js";

const PLIST = "/Library/LaunchDaemons/org.postfix.in.plist";
let macs: InventoryHost[];
const projects: Project[] = [];
let agentPid: number | undefined;
const project = () => {
  const p = new Project();
  projects.push(p);
  return p;
};

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

/** The base64 body of an OpenSSH private key file, as one string and line by line. */
function keyBody(pem: string): string[] {
  const lines = pem.split("\n").filter((l) => l && !l.startsWith("-----"));
  return [lines.join(""), ...lines];
}

describe("secrets and access", { concurrency: false, timeout: 600_000 }, () => {
  before(async () => {
    macs = await freshLab(2);
  });
  after(async () => {
    if (agentPid) process.kill(agentPid, "SIGTERM");
    for (const p of projects) p.dispose();
    await lab.release();
  });

  test("no private key material or passphrase in cdktf.out/, the state or the output; only the key's path", async () => {
    const mac = macs[0]!;
    const p = project();
    // A key of its own, encrypted, unlocked in an ssh-agent: the deploy needs the passphrase's effect, never the passphrase.
    const key = join(p.dir, "deploy_key");
    const passphrase = `rel-${randomBytes(12).toString("hex")}`;
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "reliability", "-f", key]);
    await onMac(lab, mac.name, ["/bin/sh", "-c", 'cat >> /Users/admin/.ssh/authorized_keys'], readFileSync(`${key}.pub`, "utf8"));
    const agent = await execa("ssh-agent", ["-s", "-a", join(p.dir, "agent.sock")]);
    agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)![1]);
    const askpass = join(p.dir, "askpass");
    writeFileSync(askpass, `#!/bin/sh\necho '${passphrase}'\n`);
    chmodSync(askpass, 0o700);
    const agentEnv = { SSH_AUTH_SOCK: join(p.dir, "agent.sock") };
    await execa("ssh-add", [key], { env: { ...agentEnv, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: "none" }, stdin: "ignore" });

    const run = await p.deploy("mac-ssh", { ...macSshEnv(mac, { MAC_IDENTITY_FILE: key }), ...agentEnv });
    assertDeployed(run);
    const secrets = [passphrase, ...keyBody(readFileSync(key, "utf8")), ...keyBody(readFileSync(mac.identityFile, "utf8"))];
    const searched = [...filesUnder(join(p.dir, "cdktf.out")), ...readdirSync(p.dir).filter((f) => f.includes("tfstate")).map((f) => join(p.dir, f))];
    assert.ok(searched.some((f) => f.endsWith("mac-ssh.tfstate")) && searched.some((f) => f.endsWith("cdk.tf.json")), searched.join("\n"));
    for (const file of searched) {
      const text = readFileSync(file, "utf8");
      for (const secret of secrets) assert.ok(!text.includes(secret), `${file} holds secret material (${secret.slice(0, 8)}…)`);
    }
    for (const secret of secrets) assert.ok(!run.output.includes(secret), "cdktf's output holds secret material");
    // What is recorded is the path, which is what the step needs.
    assert.ok(readFileSync(p.statePath("mac-ssh"), "utf8").includes(key));
    for (const file of searched) assert.equal(statSync(file).mode & 0o022, 0, `${file} is group- or world-writable`);
  });

  test("an unknown host key fails the deploy, naming the Mac, before anything reaches it", async () => {
    const mac = macs[1]!;
    const p = project();
    const empty = join(p.dir, "known_hosts");
    writeFileSync(empty, "");
    const run = await p.deploy("mac-ssh", macSshEnv(mac, { MAC_KNOWN_HOSTS: empty }));
    assert.notEqual(run.exitCode, 0);
    assert.match(run.output, new RegExp(`\\[mac\\] instance postfix-in \\(\\S+\\): apply failed: .*ssh to admin@${mac.address.replaceAll(".", "\\.")} failed`));
    assert.match(run.output, /No ED25519 host key is known for .* and you have requested strict checking|Host key verification failed/);
    assert.ok(!(await instances(lab, mac.name)).some((r) => r[0] === "postfix-in"));
  });

  test("a wrong host key (another Mac's) fails the deploy the same way", async () => {
    const [mac1, mac2] = macs as [InventoryHost, InventoryHost];
    const p = project();
    const wrong = join(p.dir, "known_hosts");
    const theirs = readFileSync(mac1.knownHostsFile, "utf8").split("\n").find((l) => l.startsWith(`${mac1.name}.lab,`))!;
    writeFileSync(wrong, `${mac2.address} ${theirs.split(" ").slice(1).join(" ")}\n`);
    const run = await p.deploy("mac-ssh", macSshEnv(mac2, { MAC_KNOWN_HOSTS: wrong }));
    assert.notEqual(run.exitCode, 0);
    assert.match(run.output, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    assert.ok(!(await instances(lab, mac2.name)).some((r) => r[0] === "postfix-in"));
  });

  test("turning verification off takes the explicitly named insecureIgnoreHostKey, which synth warns about; nothing else turns it off", async () => {
    const mac = macs[1]!;
    const p = project();
    const empty = join(p.dir, "known_hosts");
    writeFileSync(empty, "");
    const entry = { name: mac.name, ...labConnection(mac), knownHostsFile: empty };
    // Look-alike options are not options: an inventory refuses unknown fields.
    const lookalikes = [{ strictHostKeyChecking: false }, { StrictHostKeyChecking: "no" }, { sshOptions: ["-oStrictHostKeyChecking=no"] }, { insecureIgnoreHostKey: "yes" }];
    const refused = await p.deploy("fleet", {
      MAC_POSTFIX_STACKS: "fleet",
      MAC_POSTFIX_INVENTORY: p.writeJson("fleet.json", { hosts: lookalikes.map((l, i) => ({ ...entry, name: `look${i}`, instanceName: `postfix-look${i}`, label: `org.look${i}`, ...l })) }),
    });
    assert.notEqual(refused.exitCode, 0);
    lookalikes.forEach((l, i) => assert.match(refused.output, new RegExp(`hosts\\[${i}\\] \\(look${i}\\): ${Object.keys(l)[0]}: (unknown field|must be true or false)`)));
    assert.deepEqual(touchedAddresses(refused.output), []);
    const inventory = p.writeJson("fleet.json", { hosts: [{ ...entry, insecureIgnoreHostKey: true }] });
    const run = await p.deploy("fleet", { MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_INVENTORY: inventory });
    assertDeployed(run);
    assert.match(run.output.replace(/\s+/g, " "), /insecureIgnoreHostKey is set: the SSH host key of \S+ is not verified/);
    assert.ok((await instances(lab, mac.name)).some((r) => r[0] === "postfix-in"));
  });

  test("the plist is root:wheel 0644; no file a deploy writes on the Mac is group- or world-writable", async () => {
    for (const mac of [macs[0]!, macs[1]!]) {
      assert.equal(await ownerAndMode(lab, mac.name, PLIST), "0 0 644", mac.name);
      const paths = ["/etc/postfix-in", PLIST, "/etc/postfix/main.cf", "/var/run/cdktf-mac-postfix.lock"];
      const writable = await macSh(mac.name, 'find "$@" -perm /022 ! -type l', ...paths);
      assert.equal(writable, "", `${mac.name}: group- or world-writable`);
      const notRoot = await macSh(mac.name, 'find "$@" ! -user root', ...paths);
      assert.equal(notRoot, "", `${mac.name}: not owned by root`);
      for (const file of ["main.cf", "master.cf", ".mac-postfix-managed.json"]) {
        assert.match(await ownerAndMode(lab, mac.name, `/etc/postfix-in/${file}`), /^0 0 6[04]4$/, `${mac.name}: ${file}`);
      }
    }
  });
});
