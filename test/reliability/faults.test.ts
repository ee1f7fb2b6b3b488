/**
 * Faults on a fleet of three simulated Macs, deployed with the real cdktf CLI: a Mac unreachable at
 * deploy time, an SSH connection cut in the middle of a step, a cdktf deploy killed with SIGKILL in
 * the middle of a step, settings Postfix rejects (postfix check, and a master that will not run with
 * them), a reboot, and master killed with SIGKILL under launchd. Each ends with the fleet serving
 * what the inventory says, repaired by nothing but the next `cdktf deploy`.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import type { InventoryHost } from "../lab/lab.js";
import { eventually, exists, instances, job, onMac, ownerAndMode } from "../support/mac.js";
import { join } from "node:path";
import { execa } from "execa";
import { assertDeployed, banner, freshLab, killTree, lab, labConnection, macSshEnv, Project, ROOT, stateResources, stateServer, stepLines, touchedAddresses } from "./support.js";

const CONFIG = "/etc/postfix-in";
const LABEL = "org.postfix.in";
let macs: InventoryHost[];
let p: Project;
/** Each Mac's smtpd_banner tag and extra settings, as the inventory says. */
const wanted: Record<string, { tag: string; extra?: Record<string, string> }> = {};

function writeInventory(): string {
  return p.writeJson("fleet.json", {
    hosts: macs.slice(0, 3).map((m) => ({ name: m.name, ...labConnection(m), settings: { smtpd_banner: `$myhostname ESMTP ${wanted[m.name]!.tag}`, ...wanted[m.name]!.extra } })),
  });
}

const deploy = () => p.deploy("fleet", { MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_INVENTORY: writeInventory() });
const startDeploy = () => p.start(["deploy", "fleet", "--auto-approve"], { MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_INVENTORY: writeInventory() });
const masterPid = async (mac: string) => (await job(lab, mac, LABEL)).pid;
const mainCf = (mac: string) => onMac(lab, mac, ["cat", `${CONFIG}/main.cf`]);

/** The Mac serves with the banner the inventory gives it. */
async function serves(mac: InventoryHost, tag: string, within = 30_000): Promise<void> {
  await eventually(`${mac.name} to greet with "${tag}"`, within, async () => (await banner(mac.address)).includes(`ESMTP ${tag}`));
  assert.equal((await job(lab, mac.name, LABEL)).state, "running", mac.name);
}

/** The executor's failure line for a Mac, as the CLI prints it under Terraform. */
function failureLine(output: string, mac: string): string | undefined {
  return output.split("\n").find((l) => l.includes(`(local-exec): [${mac}] `) && l.includes(" failed: "));
}

describe("faults", { concurrency: false, timeout: 900_000 }, () => {
  before(async () => {
    // mac4 is for the remote-backend deploy: the mac-ssh stack's instance would clash with the fleet's.
    macs = await freshLab(4);
    p = new Project();
    for (const m of macs.slice(0, 3)) wanted[m.name] = { tag: "v1" };
  });
  after(async () => {
    for (const m of macs ?? []) await lab.restore(m.name).catch(() => undefined);
    p?.dispose();
    await lab.release();
  });

  test("a Mac unreachable at deploy time fails naming it while the others complete; the next deploy finishes it", async () => {
    const [mac1, mac2, mac3] = macs as [InventoryHost, InventoryHost, InventoryHost];
    await lab.cut(mac2.name);
    let run;
    try {
      run = await deploy();
    } finally {
      await lab.restore(mac2.name);
    }
    assert.notEqual(run.exitCode, 0);
    const line = failureLine(run.output, mac2.name);
    assert.ok(line, run.output.slice(-3000));
    assert.match(line, new RegExp(`\\[mac2\\] instance postfix-in \\(\\S+\\): apply failed: .*ssh to admin@${mac2.address.replaceAll(".", "\\.")} failed`));
    assert.match(run.output, /Connection timed out|No route to host|Connection refused/);
    assert.equal(failureLine(run.output, mac1.name), undefined);
    assert.equal(failureLine(run.output, mac3.name), undefined);
    await serves(mac1, "v1");
    await serves(mac3, "v1");
    assert.ok(!(await instances(lab, mac2.name)).some((r) => r[0] === "postfix-in"), "nothing reached mac2");
    const pids = [await masterPid(mac1.name), await masterPid(mac3.name)];

    const again = await deploy();
    assertDeployed(again);
    assert.deepEqual(touchedAddresses(again.output).filter((a) => !a.startsWith("terraform_data.mac2_")), [], "only mac2 was deployed");
    await serves(mac2, "v1");
    assert.deepEqual([await masterPid(mac1.name), await masterPid(mac3.name)], pids, "mac1 and mac3 were not touched");
  });

  test("an SSH connection cut in the middle of a step fails the deploy; the next deploy repairs it", async () => {
    const mac2 = macs[1]!;
    wanted.mac2 = { tag: "v2-after-cut" };
    const running = startDeploy();
    // The settings step has taken the Mac's lock and started: cut the cable under it.
    await running.waitFor(/\[mac2\] instance-config postfix-in: group mta: no change/);
    await lab.cut(mac2.name);
    const run = await running.done;
    await lab.restore(mac2.name);
    assert.notEqual(run.exitCode, 0, "the cut must fail the deploy");
    const line = failureLine(run.output, mac2.name);
    assert.ok(line, run.output.slice(-3000));
    // Cut under the settings step; should that step have just finished, the next one on mac2 is the one cut.
    assert.match(line, /\[mac2\] (instance-config|launch-job|readiness) \S+ \(\S+\): \S+ failed: .*ssh to admin@\S+ failed/);

    const again = await deploy();
    assertDeployed(again);
    await serves(mac2, "v2-after-cut");
    assert.match(await mainCf(mac2.name), /^smtpd_banner = \$myhostname ESMTP v2-after-cut$/m);
  });

  test("a cdktf deploy killed with SIGKILL in the middle of a step is repaired by the next deploy", async (t) => {
    const mac1 = macs[0]!;
    wanted.mac1 = { tag: "v3-after-kill" };
    const running = startDeploy();
    // Kill the whole deploy (cdktf, terraform, mac-postfix, ssh) the moment main.cf on the Mac has changed:
    // postconf -e is done, and `postfix check` and the reload are still to come.
    await running.waitFor(/mac1_config(?: \([^)]*\))?: Provisioning with 'local-exec'/);
    await eventually("main.cf on mac1 to change", 60_000, async () => (await mainCf(mac1.name)).includes("v3-after-kill"));
    const killed = killTree(running.pid);
    const run = await running.done;
    t.diagnostic(`killed ${killed.length} processes; cdktf exit ${run.exitCode}; banner then: ${await banner(mac1.address)}`);
    assert.notEqual(run.exitCode, 0);
    const lockInfo = `${p.dir}/.fleet.tfstate.lock.info`;
    t.diagnostic(`state lock info left behind: ${existsSync(lockInfo)}`);

    const again = await deploy();
    assertDeployed(again, "the deploy after the kill");
    // The settings were already in main.cf; master must still be given them.
    const lines = stepLines(again.output);
    assert.ok(lines.includes("[mac1] instance-config postfix-in: reload: changed"), lines.join("\n"));
    await serves(mac1, "v3-after-kill", 5_000);
    assert.ok(stateResources(p.statePath("fleet")).some((r) => r.name === "mac1_config"));
  });

  test("a deploy killed with SIGKILL under a remote backend leaves a stale state lock; terraform force-unlock and the next deploy repair it", async (t) => {
    const mac4 = macs[3]!;
    const server = await stateServer();
    const remote = new Project(join(ROOT, "test/reliability/http-app.ts"));
    try {
      const env = macSshEnv(mac4, { REL_HTTP_STATE: server.url, MAC_POSTFIX_SETTINGS: JSON.stringify({ smtpd_banner: "$myhostname ESMTP remote" }) });
      const running = remote.start(["deploy", "mac-ssh", "--auto-approve"], env);
      await running.waitFor(/\[mac\] instance-config postfix-in: group mta: no change/);
      killTree(running.pid);
      await running.done;
      const stale = server.lock();
      assert.ok(stale, "the backend holds no lock after the kill");

      const blocked = await remote.deploy("mac-ssh", env);
      assert.notEqual(blocked.exitCode, 0);
      assert.match(blocked.output, /Error acquiring the state lock/);
      assert.ok(blocked.output.includes(stale.ID), "the error gives the lock's ID");

      // What the user does: in the stack's Terraform folder, force-unlock with that ID, then deploy.
      const unlock = await execa("terraform", ["force-unlock", "-force", stale.ID], { cwd: remote.workdir("mac-ssh"), env: remote.env({}), reject: false, all: true });
      assert.equal(unlock.exitCode, 0, String(unlock.all));
      assert.equal(server.lock(), null);
      const again = await remote.deploy("mac-ssh", env);
      assertDeployed(again, "the deploy after force-unlock");
      t.diagnostic(`steps after the kill: ${stepLines(again.output).filter((l) => l.endsWith(": changed")).join("; ")}`);
      await serves(mac4, "remote");
    } finally {
      remote.dispose();
      await server.close();
    }
  });

  test("a setting postfix check rejects: main.cf restored byte for byte, the instance serves on, the deploy fails with Postfix's words", async () => {
    const mac3 = macs[2]!;
    const before = await mainCf(mac3.name);
    const pid = await masterPid(mac3.name);
    wanted.mac3 = { tag: "v1", extra: { default_process_limit: "lots" } };
    const run = await deploy();
    assert.notEqual(run.exitCode, 0);
    const line = failureLine(run.output, mac3.name);
    assert.match(line ?? "", /\[mac3\] instance-config postfix-in \(\S+\): settings failed: `postfix -c \/etc\/postfix-in check` rejected the settings/);
    assert.match(run.output, /bad numerical configuration: default_process_limit = lots/);
    assert.match(run.output, /\[mac3\] instance-config postfix-in: restored the previous \/etc\/postfix-in\/main\.cf/);
    assert.equal(await mainCf(mac3.name), before);
    assert.equal(await ownerAndMode(lab, mac3.name, `${CONFIG}/main.cf`), "0 0 644");
    assert.equal(await masterPid(mac3.name), pid, "master was not restarted");
    await serves(mac3, "v1");
  });

  test("inet_interfaces, which master reads only when it starts, is applied with a stop and start", async () => {
    const mac3 = macs[2]!;
    const pid = await masterPid(mac3.name);
    // launchd brings a KeepAlive master back at once only after it ran ThrottleInterval (10 s):
    // an older master is what a restart meets on a Mac, and its successor must not be taken for it.
    const age = Number((await onMac(lab, mac3.name, ["ps", "-o", "etimes=", "-p", String(pid)])).trim());
    if (age < 11) await sleep((11 - age) * 1000);
    wanted.mac3 = { tag: "v1", extra: { inet_interfaces: mac3.address } };
    const run = await deploy();
    assertDeployed(run);
    assert.ok(stepLines(run.output).includes("[mac3] instance-config postfix-in: restart (inet_interfaces or inet_protocols changed: master reads them only when it starts): changed"), stepLines(run.output).join("\n"));
    assert.notEqual(await masterPid(mac3.name), pid);
    const listening = await onMac(lab, mac3.name, ["ss", "-Hltn", "sport = :25"]);
    assert.match(listening, new RegExp(`${mac3.address.replaceAll(".", "\\.")}:25 `));
    assert.doesNotMatch(listening, /0\.0\.0\.0:25 /, "master still listens on every address");
    await serves(mac3, "v1");
  });

  test("settings master will not start with: main.cf restored, the instance serves on its old configuration, the deploy fails with Postfix's words", async () => {
    const mac3 = macs[2]!;
    const before = await mainCf(mac3.name);
    // Another program holds 127.0.0.1:25, so a master for every address cannot bind port 25.
    const rogue = (await onMac(lab, mac3.name, ["/bin/sh", "-c", 'setsid perl -MIO::Socket::INET -e \'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 25, Listen => 5) or die "bind: $!"; sleep 600\' </dev/null >/dev/null 2>&1 & echo $!'])).trim();
    try {
      wanted.mac3 = { tag: "v1" };
      const run = await deploy();
      assert.notEqual(run.exitCode, 0);
      const line = failureLine(run.output, mac3.name);
      assert.match(line ?? "", /\[mac3\] instance-config postfix-in \(\S+\): restart failed: master did not start again with the new settings/);
      assert.match(run.output, /postfix-in\/postfix-script: fatal: mail system startup failed/);
      assert.match(run.output, /\[mac3\] instance-config postfix-in: restored the previous \/etc\/postfix-in\/main\.cf/);
      assert.equal(await mainCf(mac3.name), before);
      await serves(mac3, "v1");
    } finally {
      await onMac(lab, mac3.name, ["kill", rogue]);
    }
    // With the port free, the same deploy goes through.
    wanted.mac3 = { tag: "v4" };
    assertDeployed(await deploy());
    await serves(mac3, "v4");
    assert.match(await onMac(lab, mac3.name, ["ss", "-Hltn", "sport = :25"]), /0\.0\.0\.0:25 /);
  });

  test("a reboot brings the instance back", async () => {
    const mac1 = macs[0]!;
    const boot = async () => (await lab.status()).find((h) => h.name === mac1.name)?.pid;
    const before = await boot();
    await lab.reboot(mac1.name);
    assert.notEqual(await boot(), before, "the Mac booted again");
    await serves(mac1, "v3-after-kill", 60_000);
  });

  test("a reboot after the queue lost a folder: the job's postfix check makes it again before master starts", async () => {
    const mac1 = macs[0]!;
    const queue = (await onMac(lab, mac1.name, ["/usr/sbin/postconf", "-c", CONFIG, "-h", "queue_directory"])).trim();
    const wantedOwner = await ownerAndMode(lab, mac1.name, `${queue}/private`);
    assert.equal(await exists(lab, mac1.name, `${CONFIG}/.mac-postfix-checked`), false, "no mark of a deploy's check lets the boot skip its own");
    // Without the folder of master's private sockets, a master started directly exits at once.
    await onMac(lab, mac1.name, ["rm", "-rf", `${queue}/private`]);
    await lab.reboot(mac1.name);
    await serves(mac1, "v3-after-kill", 60_000);
    assert.equal(await ownerAndMode(lab, mac1.name, `${queue}/private`), wantedOwner);
  });

  test("master killed with SIGKILL in supervised mode is restarted by launchd", async () => {
    const mac3 = macs[2]!;
    const pid = await masterPid(mac3.name);
    assert.ok(pid);
    await onMac(lab, mac3.name, ["kill", "-KILL", String(pid)]);
    await eventually("launchd to restart master", 30_000, async () => {
      const now = await job(lab, mac3.name, LABEL);
      return now.state === "running" && now.pid !== undefined && now.pid !== pid;
    });
    await serves(mac3, "v4");
  });

  test("after all of it, a deploy changes nothing", async () => {
    const run = await deploy();
    assertDeployed(run);
    assert.match(run.output, /No changes\. Your infrastructure matches the configuration\./);
    assert.deepEqual(touchedAddresses(run.output), []);
    assert.deepEqual(stepLines(run.output), []);
    for (const m of macs.slice(0, 3)) assert.equal((await job(lab, m.name, LABEL)).state, "running");
  });
});
