/**
 * Issue 3 end to end, `local: true`: the real cdktf CLI runs INSIDE a simulated Mac, as its admin
 * user (uid 501, passwordless sudo as on a Mac where the logged-in admin deploys), and deploys the
 * `mac-local` example stack to that same Mac; then `cdktf destroy` removes everything.
 *
 * The Mac's root is an overlay of the host's `/`, so this repository, node and terraform are visible
 * inside at the same paths; the Terraform state and cdktf.out live in a folder of the Mac's private
 * /tmp. The environment is passed with `env NAME=VALUE …` as argv: nothing is spliced into a shell.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { execa } from "execa";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Lab } from "../lab/lab.js";
import { REPO } from "../support/cdktf.js";
import { exists, instances, job, onMac, ownerAndMode, readPlist, setting } from "../support/mac.js";
import { smtpGreeting } from "../../src/executor/index.js";

const MAC = "mac1";
const USER = "admin";
const STACK = "mac-local";
const CONFIG = "/etc/postfix-in";
const LABEL = "org.postfix.in";
const PLIST = `/Library/LaunchDaemons/${LABEL}.plist`;
const BANNER = "$myhostname ESMTP deployed-locally";
const lab = new Lab({ instance: "l" });
/**
 * The repository as admin reaches it inside the Mac: bind-mounted there, so that a clone in a
 * folder admin may not enter (such as /root) is still usable, as a Mac admin's own checkout would be.
 */
const CHECKOUT = "/opt/cdktf-mac-postfix-under-test/";
let address: string;
/** Workspace folder inside the Mac (its /tmp): cdktf.out, the state, an empty Terraform CLI config. */
let dir: string | undefined;
/** Set once the destroy test has removed everything, so after() need not destroy again. */
let destroyed = false;

interface Run {
  exitCode: number;
  output: string;
}

/** `cdktf <command> mac-local --auto-approve` run inside the Mac as admin, from the repository. */
async function cdktfOnMac(command: "deploy" | "destroy"): Promise<Run> {
  assert.ok(dir, "the workspace was made in before()");
  const env = [
    "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    "CHECKPOINT_DISABLE=1",
    `TF_CLI_CONFIG_FILE=${dir}/terraformrc`,
    "CI=1",
    "FORCE_COLOR=0",
    `MAC_POSTFIX_STATE_DIR=${dir}`,
    `MAC_POSTFIX_STACKS=${STACK}`,
    `MAC_POSTFIX_SETTINGS=${JSON.stringify({ smtpd_banner: BANNER })}`,
  ];
  const argv = ["env", "-C", CHECKOUT, ...env, `${CHECKOUT}node_modules/.bin/cdktf`, command, STACK, "--auto-approve", "--output", `${dir}/cdktf.out`];
  const result = await lab.exec(MAC, argv, { user: USER, timeout: 600_000 });
  return { exitCode: result.exitCode ?? -1, output: `${String(result.stdout)}\n${String(result.stderr)}` };
}

function failure(run: Run): string {
  return `cdktf inside ${MAC} exited ${run.exitCode}:\n${run.output.slice(-6000)}`;
}

/** Folders a simulated Mac mounts its own of, hiding the host's: a clone there is copied out first. */
const MASKED_IN_MAC = ["/tmp/", "/run/", "/dev/"];
/** The repository as the Mac can see it: REPO, or a hard-linked copy of it in /var/tmp (removed in after()). */
let source = REPO;

before(async () => {
  if (MASKED_IN_MAC.some((prefix) => REPO.startsWith(prefix))) {
    source = `${await mkdtemp("/var/tmp/cdktf-mac-postfix-under-test-")}/`;
    // Hard links where /var/tmp shares REPO's file system (fast), a plain copy where it does not.
    const linked = await execa("cp", ["-al", `${REPO}.`, source], { reject: false });
    if (linked.exitCode !== 0) await execa("cp", ["-a", `${REPO}.`, source]);
  }
  const inventory = await lab.up({ hosts: 1 });
  const mac = inventory.find((h) => h.name === MAC);
  assert.ok(mac, `${MAC} is in the lab inventory`);
  address = mac.address;
  // A Mac sees the host's files through its overlay root, except where it mounts its own (/tmp, /run, /dev).
  const visible = await lab.exec(MAC, ["test", "-f", `${source}package.json`]);
  assert.equal(visible.exitCode, 0, `the repository ${source} is not visible inside ${MAC}`);
  await lab.exec(MAC, ["mkdir", "-p", CHECKOUT], { reject: true });
  if ((await lab.exec(MAC, ["mountpoint", "-q", CHECKOUT])).exitCode !== 0) await lab.exec(MAC, ["mount", "--bind", source, CHECKOUT], { reject: true });
  const readable = await lab.exec(MAC, ["test", "-r", `${CHECKOUT}package.json`], { user: USER });
  assert.equal(readable.exitCode, 0, `${USER} cannot read the repository at ${CHECKOUT} inside ${MAC}`);
  // The harness really runs cdktf as the unprivileged admin, so every privileged step needs the library's sudo.
  assert.equal((await lab.exec(MAC, ["id", "-u"], { user: USER, reject: true })).stdout, "501");
  dir = String((await lab.exec(MAC, ["mktemp", "-d", "/tmp/mac-postfix-cdktf-XXXXXX"], { user: USER, reject: true })).stdout).trim();
  await lab.exec(MAC, ["touch", `${dir}/terraformrc`], { user: USER, reject: true });
  assert.ok(!(await instances(lab, MAC)).some((row) => row[0] === "postfix-in"), "the Mac starts without postfix-in");
});

after(async () => {
  try {
    if (dir && !destroyed) {
      const result = await cdktfOnMac("destroy");
      if (result.exitCode !== 0) console.error(`cleanup: ${failure(result)}`);
    }
  } finally {
    await lab.release();
    if (source !== REPO) await rm(source, { recursive: true, force: true });
  }
});

test("cdktf deploy run on the Mac itself sets up postfix-in and its LaunchDaemon there", async () => {
  const result = await cdktfOnMac("deploy");
  assert.equal(result.exitCode, 0, failure(result));
  assert.match(result.output, /Apply complete! Resources: 5 added, 0 changed, 0 destroyed/);
  // "local" is this Mac: the readiness step reached its SMTP service on the Mac's own loopback.
  assert.match(result.output, /confirm SMTP 127\.0\.0\.1:25 "220 mac1\.lab ESMTP deployed-locally"/);

  assert.deepEqual(
    (await instances(lab, MAC)).find((row) => row[0] === "postfix-in"),
    ["postfix-in", "mta", "y", CONFIG],
  );
  assert.equal(await setting(lab, MAC, CONFIG, "master_service_disable"), "");
  assert.equal(await setting(lab, MAC, CONFIG, "inet_interfaces"), "all");
  assert.equal(await setting(lab, MAC, CONFIG, "smtpd_banner"), BANNER);

  assert.equal(await ownerAndMode(lab, MAC, PLIST), "0 0 644", "root:wheel 0644");
  assert.equal((await onMac(lab, MAC, ["stat", "-c", "%U:%G", PLIST])).trim(), "root:wheel");
  const daemon = await readPlist(lab, MAC, PLIST);
  assert.equal(daemon.Label, LABEL);
  assert.deepEqual((daemon.ProgramArguments as string[]).slice(3), ["mac-postfix-start", CONFIG, "/usr/sbin/postfix", "/usr/libexec/postfix/master", `${CONFIG}/.mac-postfix-checked`]);

  const running = await job(lab, MAC, LABEL);
  assert.equal(running.exitCode, 0);
  assert.equal(running.state, "running");
  // The job's first start took the mark of the check the settings step had just run (readiness
  // found none to remove), then became master: launchd's process is master itself.
  assert.doesNotMatch(result.output, /remove the check mark/);
  assert.equal(await exists(lab, MAC, `${CONFIG}/.mac-postfix-checked`), false);
  assert.equal(await onMac(lab, MAC, ["cat", `/proc/${running.pid}/cmdline`]), `/usr/libexec/postfix/master\0-c\0${CONFIG}\0`);
  assert.ok(running.pid && running.pid > 1);

  const greeting = await smtpGreeting(address, 25);
  assert.match(greeting.banner, /^220 mac1\.lab ESMTP deployed-locally/);
});

test("cdktf destroy run on the Mac removes the instance, its LaunchDaemon and every queue", async () => {
  const result = await cdktfOnMac("destroy");
  assert.equal(result.exitCode, 0, failure(result));
  assert.match(result.output, /Destroy complete! Resources: 5 destroyed/);
  assert.match(result.output, /queue-guard postfix-in: queue empty/);
  assert.match(result.output, /launch-job org\.postfix\.in: bootout: changed/);
  assert.match(result.output, /instance postfix-in: destroy: changed/);
  destroyed = true;

  assert.ok(!(await instances(lab, MAC)).some((row) => row[0] === "postfix-in"));
  assert.doesNotMatch(await setting(lab, MAC, "/etc/postfix", "multi_instance_directories"), /postfix-in/);
  assert.equal((await job(lab, MAC, LABEL)).exitCode, 113, "launchctl knows no such job");
  assert.doesNotMatch(await onMac(lab, MAC, ["ps", "-eo", "args"]), /postfix-in/, "no process of the instance is left");
  await assert.rejects(smtpGreeting(address, 25, 2_000));
  // The default onDestroy (refuse-if-queued) ends with `postmulti -e destroy`, which refuses unless
  // the queue is empty; the executor then removes what postmulti leaves (pid/, public/, private/,
  // master.lock), so nothing of the instance is left.
  for (const path of [PLIST, CONFIG, "/var/spool/postfix-in", "/var/lib/postfix-in"]) assert.ok(!(await exists(lab, MAC, path)), `${path} is gone`);
});
