/**
 * Issue 3 end to end: the real cdktf CLI deploys the `mac-ssh` example stack to a simulated Mac over
 * real SSH, updates it in place, refuses a destroy while mail is queued, survives a reboot, and
 * destroys it completely.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Lab } from "../lab/lab.js";
import { cdktf, cdktfFailure, cdktfWorkspace, type CdktfWorkspace } from "../support/cdktf.js";
import { eventually, exists, instances, job, onMac, ownerAndMode, readPlist, sendMail, setting } from "../support/mac.js";
import { smtpGreeting } from "../../src/executor/index.js";

const MAC = "mac1";
const CONFIG = "/etc/postfix-in";
const LABEL = "org.postfix.in";
const PLIST = `/Library/LaunchDaemons/${LABEL}.plist`;
const lab = new Lab({ instance: "d" });
let ws: CdktfWorkspace | undefined;
let address: string;
/** Set by the last test once its destroy has removed everything, so after() need not destroy again. */
let destroyed = false;

function workspace(): CdktfWorkspace {
  assert.ok(ws, "the cdktf workspace was made in before()");
  return ws;
}

const settings = (banner: string) => ({ MAC_POSTFIX_SETTINGS: JSON.stringify({ smtpd_banner: `$myhostname ESMTP ${banner}` }) });

before(async () => {
  const inventory = await lab.up({ hosts: 1 });
  const mac = inventory.find((h) => h.name === MAC);
  assert.ok(mac, `${MAC} is in the lab inventory`);
  address = mac.address;
  ws = await cdktfWorkspace({
    MAC_POSTFIX_STACKS: "mac-ssh",
    MAC_HOST: mac.address,
    MAC_USER: mac.user,
    MAC_IDENTITY_FILE: mac.identityFile,
    MAC_KNOWN_HOSTS: mac.knownHostsFile,
  });
});

after(async () => {
  try {
    // Leave the Mac as we found it even when a test failed midway (the lab stays up with MAC_LAB_KEEP=1).
    // Destroy-time steps read onDestroy from the state, so deploy discard-queue into it first.
    if (ws && !destroyed) {
      const cleanup = { ...settings("second"), MAC_POSTFIX_ON_DESTROY: "discard-queue" };
      await cdktf(ws, "deploy", ["mac-ssh"], cleanup);
      const result = await cdktf(ws, "destroy", ["mac-ssh"], cleanup);
      if (result.exitCode !== 0) console.error(`cleanup: ${cdktfFailure(result)}`);
    }
  } finally {
    await lab.release();
  }
});

test("cdktf deploy creates the instance, its LaunchDaemon, and it answers SMTP", async () => {
  const result = await cdktf(workspace(), "deploy", ["mac-ssh"], settings("first"));
  assert.equal(result.exitCode, 0, cdktfFailure(result));

  assert.deepEqual(
    (await instances(lab, MAC)).find((row) => row[0] === "postfix-in"),
    ["postfix-in", "mta", "y", CONFIG],
  );
  assert.equal(await setting(lab, MAC, CONFIG, "master_service_disable"), "");
  assert.equal(await setting(lab, MAC, CONFIG, "authorized_submit_users"), "root");
  assert.equal(await setting(lab, MAC, CONFIG, "inet_interfaces"), "all");
  assert.equal(await setting(lab, MAC, CONFIG, "smtpd_banner"), "$myhostname ESMTP first");

  assert.equal(await ownerAndMode(lab, MAC, PLIST), "0 0 644");
  const daemon = await readPlist(lab, MAC, PLIST);
  assert.equal(daemon.Label, LABEL);
  assert.equal(daemon.Program, undefined);
  assert.deepEqual((daemon.ProgramArguments as string[]).slice(3), ["mac-postfix-start", CONFIG, "/usr/sbin/postfix", "/usr/libexec/postfix/master", `${CONFIG}/.mac-postfix-checked`]);
  assert.equal(daemon.RunAtLoad, true);
  assert.equal(daemon.KeepAlive, true);

  const running = await job(lab, MAC, LABEL);
  assert.equal(running.exitCode, 0);
  assert.equal(running.state, "running");
  assert.ok(running.pid && running.pid > 1);

  const greeting = await smtpGreeting(address, 25);
  assert.match(greeting.banner, /^220 mac1\.lab ESMTP first/);
  assert.match(await sendMail(address, 25, "admin@mac1.lab", "remote source"), /^250 .*queued as/);
  // The recipe's step 5 from the local side: mail submitted on the Mac itself, as root.
  await onMac(lab, MAC, ["/usr/sbin/sendmail", "-C", CONFIG, "-f", "root@mac1.lab", "admin@mac1.lab"], "Subject: local source\n\nlocal source\n");
  await eventually("both messages in admin's mailbox", 20_000, async () => {
    const box = String((await lab.exec(MAC, ["cat", "/var/mail/admin"])).stdout);
    return box.includes("Subject: remote source") && box.includes("Subject: local source");
  });
});

test("a settings change is applied in place: postconf and reload, master keeps its PID", async () => {
  const before = await job(lab, MAC, LABEL);
  const result = await cdktf(workspace(), "deploy", ["mac-ssh"], settings("second"));
  assert.equal(result.exitCode, 0, cdktfFailure(result));
  const output = String(result.all);
  assert.match(output, /instance-config postfix-in: set smtpd_banner: changed/);
  assert.match(output, /instance-config postfix-in: reload: changed/);
  assert.doesNotMatch(output, /terraform_data\.mac_(instance|job)(?: \([^)]*\))?: (Destroying|Creating|Modifying)/, "neither the instance nor the job is replaced");
  assert.equal(await setting(lab, MAC, CONFIG, "smtpd_banner"), "$myhostname ESMTP second");
  const afterwards = await job(lab, MAC, LABEL);
  assert.equal(afterwards.state, "running");
  assert.equal(afterwards.pid, before.pid, "master was reloaded, not restarted");
  assert.match((await smtpGreeting(address, 25)).banner, /ESMTP second/);
});

test("a second deploy of the same configuration changes nothing", async () => {
  const pidBefore = (await job(lab, MAC, LABEL)).pid;
  const result = await cdktf(workspace(), "deploy", ["mac-ssh"], settings("second"));
  assert.equal(result.exitCode, 0, cdktfFailure(result));
  const output = String(result.all);
  assert.match(output, /No changes\. Your infrastructure matches the configuration\./);
  assert.match(output, /Resources: 0 added, 0 changed, 0 destroyed/);
  assert.doesNotMatch(output, /Creation complete|Destruction complete|Modifications complete|Provisioning with/);
  assert.equal((await job(lab, MAC, LABEL)).pid, pidBefore, "master untouched");
});

test("after a reboot of the Mac, launchd brings the instance back", async () => {
  // A file on the Mac's tmpfs /run and the host PID of its PID 1 show that the Mac really restarted.
  await onMac(lab, MAC, ["touch", "/run/before-reboot"]);
  const pid1 = (await lab.status()).find((h) => h.name === MAC)?.pid;
  assert.ok(pid1, `${MAC} is up`);
  await lab.reboot(MAC);
  assert.notEqual((await lab.status()).find((h) => h.name === MAC)?.pid, pid1, "a new PID 1");
  assert.ok(!(await exists(lab, MAC, "/run/before-reboot")), "/run was emptied by the reboot");
  await eventually("the instance to answer SMTP after reboot", 60_000, async () => (await smtpGreeting(address, 25, 2_000)).banner.includes("ESMTP second"));
  assert.equal((await job(lab, MAC, LABEL)).state, "running");
});

test("a default destroy with mail queued fails, names the count and changes nothing", async () => {
  // Hold one message so it stays queued whatever the Mac's network does.
  await onMac(lab, MAC, ["/usr/sbin/sendmail", "-C", CONFIG, "-f", "root@mac1.lab", "someone@example.invalid"], "Subject: held\n\nheld\n");
  await eventually("the message to reach the queue", 20_000, async () => {
    await onMac(lab, MAC, ["/usr/sbin/postsuper", "-c", CONFIG, "-h", "ALL"]);
    return !(await onMac(lab, MAC, ["/usr/sbin/postqueue", "-c", CONFIG, "-p"])).includes("Mail queue is empty");
  });
  const pidBefore = (await job(lab, MAC, LABEL)).pid;

  const result = await cdktf(workspace(), "destroy", ["mac-ssh"]);
  assert.notEqual(result.exitCode, 0, "destroy must fail while mail is queued");
  assert.match(String(result.all), /1 message\(s\) queued in postfix-in/);

  const still = await job(lab, MAC, LABEL);
  assert.equal(still.state, "running");
  assert.equal(still.pid, pidBefore, "the job was not touched");
  assert.ok(await exists(lab, MAC, PLIST));
  assert.ok((await instances(lab, MAC)).some((row) => row[0] === "postfix-in"));
  assert.doesNotMatch(await onMac(lab, MAC, ["/usr/sbin/postqueue", "-c", CONFIG, "-p"]), /Mail queue is empty/);
});

test("destroy with discard-queue removes everything it made", async () => {
  assert.doesNotMatch(await onMac(lab, MAC, ["/usr/sbin/postqueue", "-c", CONFIG, "-p"]), /Mail queue is empty/, "the held message is still queued");
  const update = await cdktf(workspace(), "deploy", ["mac-ssh"], { ...settings("second"), MAC_POSTFIX_ON_DESTROY: "discard-queue" });
  assert.equal(update.exitCode, 0, cdktfFailure(update));
  const result = await cdktf(workspace(), "destroy", ["mac-ssh"], { ...settings("second"), MAC_POSTFIX_ON_DESTROY: "discard-queue" });
  assert.equal(result.exitCode, 0, cdktfFailure(result));
  assert.match(String(result.all), /instance postfix-in: discard 1 queued message\(s\): changed/);
  destroyed = true;

  assert.ok(!(await instances(lab, MAC)).some((row) => row[0] === "postfix-in"));
  assert.equal((await job(lab, MAC, LABEL)).exitCode, 113);
  for (const path of [PLIST, CONFIG, "/var/spool/postfix-in", "/var/lib/postfix-in"]) assert.ok(!(await exists(lab, MAC, path)), `${path} is gone`);
  await assert.rejects(smtpGreeting(address, 25, 2_000));
});
