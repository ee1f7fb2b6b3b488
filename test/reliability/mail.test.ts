/**
 * No lost mail: messages held in the instance's queue (postsuper -h) on two simulated Macs survive a
 * settings update, a plist update (run mode switched and back), a reboot and a failed deploy, byte
 * for byte; a default destroy with mail queued changes nothing and says how many messages; destroy
 * with onDestroy "deport" keeps every queue file; only "discard-queue" deletes mail.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { InventoryHost } from "../lab/lab.js";
import { exists, instances, job, onMac } from "../support/mac.js";
import { assertDeployed, banner, freshLab, holdMessages, lab, labConnection, macSh, Project, queueSnapshot } from "./support.js";

const CONFIG = "/etc/postfix-in";
const LABEL = "org.postfix.in";
const PLIST = `/Library/LaunchDaemons/${LABEL}.plist`;
let macs: InventoryHost[];
let p: Project;
/** What every Mac's inventory entry adds, and each Mac's own additions. */
let common: Record<string, unknown> = {};
const own: Record<string, Record<string, unknown>> = {};
/** Each Mac's queue as it was when the messages were held. */
const held: Record<string, string[]> = {};

function writeInventory(): string {
  return p.writeJson("fleet.json", { hosts: macs.map((m) => ({ name: m.name, ...labConnection(m), ...common, ...own[m.name] })) });
}
const env = () => ({ MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_INVENTORY: writeInventory() });
const settings = (tag: string, extra: Record<string, string> = {}) => ({ settings: { smtpd_banner: `$myhostname ESMTP ${tag}`, ...extra } });

async function queuesIntact(when: string): Promise<void> {
  for (const m of macs) assert.deepEqual(await queueSnapshot(m.name), held[m.name], `${m.name}: the queue changed ${when}`);
}

async function serving(tag: string): Promise<void> {
  for (const m of macs) {
    assert.match(await banner(m.address), new RegExp(`ESMTP ${tag}`), m.name);
    assert.equal((await onMac(lab, m.name, ["/usr/sbin/postfix", "-c", CONFIG, "status"]).then(() => 0, () => 1)), 0, `${m.name}: master runs`);
  }
}

describe("no lost mail", { concurrency: false, timeout: 900_000 }, () => {
  before(async () => {
    macs = await freshLab(2);
    p = new Project();
    common = settings("m1");
    const run = await p.deploy("fleet", env());
    assertDeployed(run);
    for (const m of macs) held[m.name] = await holdMessages(m.name, CONFIG, 3, `held on ${m.name}`);
  });
  after(async () => {
    p?.dispose();
    await lab.release();
  });

  test("held messages are in the queue: three on each Mac", () => {
    for (const m of macs) assert.equal(held[m.name]!.length, 3);
  });

  test("a settings update keeps every queued message", async () => {
    common = settings("m2");
    assertDeployed(await p.deploy("fleet", env()));
    await serving("m2");
    await queuesIntact("after a settings update");
  });

  test("a plist update (run mode switched, and back) keeps every queued message", async () => {
    common = { ...settings("m2"), runMode: "postmulti-start" };
    assertDeployed(await p.deploy("fleet", env()), "switch to postmulti-start");
    await serving("m2");
    await queuesIntact("after the plist changed to postmulti-start");
    common = settings("m2");
    assertDeployed(await p.deploy("fleet", env()), "switch back to supervised");
    await serving("m2");
    for (const m of macs) assert.equal((await job(lab, m.name, LABEL)).state, "running", m.name);
    await queuesIntact("after the plist changed back to supervised");
  });

  test("a reboot keeps every queued message", async () => {
    await lab.reboot(macs[1]!.name);
    for (let i = 0; i < 60 && !(await banner(macs[1]!.address)).includes("m2"); i++) await new Promise((r) => setTimeout(r, 500));
    await serving("m2");
    await queuesIntact("after a reboot");
  });

  test("a failed deploy keeps every queued message, and so does the deploy that repairs it", async () => {
    const mainCf = await Promise.all(macs.map((m) => onMac(lab, m.name, ["cat", `${CONFIG}/main.cf`])));
    common = settings("m3", { default_process_limit: "lots" });
    const failed = await p.deploy("fleet", env());
    assert.notEqual(failed.exitCode, 0);
    assert.match(failed.output, /bad numerical configuration: default_process_limit = lots/);
    assert.deepEqual(await Promise.all(macs.map((m) => onMac(lab, m.name, ["cat", `${CONFIG}/main.cf`]))), mainCf);
    await serving("m2");
    await queuesIntact("after a failed deploy");
    common = settings("m3");
    assertDeployed(await p.deploy("fleet", env()));
    await serving("m3");
    await queuesIntact("after the repairing deploy");
  });

  test("a default destroy with mail queued changes nothing and says how many messages", async () => {
    const pids = await Promise.all(macs.map(async (m) => (await job(lab, m.name, LABEL)).pid));
    const mainCf = await Promise.all(macs.map((m) => onMac(lab, m.name, ["cat", `${CONFIG}/main.cf`])));
    const run = await p.destroy("fleet", env());
    assert.notEqual(run.exitCode, 0, "destroy must refuse");
    for (const m of macs) assert.match(run.output, new RegExp(`3 message\\(s\\) queued in postfix-in on ${m.name}`));
    // Only the steps with nothing on the Mac (readiness) may leave the state; the guard stops the rest.
    assert.doesNotMatch(run.output, /mac\d_(queue_guard|job|config|instance)(?: \([^)]*\))?: Destruction complete/);
    for (const [i, m] of macs.entries()) {
      assert.ok((await instances(lab, m.name)).some((r) => r[0] === "postfix-in"), m.name);
      assert.ok(await exists(lab, m.name, PLIST), m.name);
      assert.equal((await job(lab, m.name, LABEL)).pid, pids[i], `${m.name}: the job was not touched`);
      assert.equal(await onMac(lab, m.name, ["cat", `${CONFIG}/main.cf`]), mainCf[i]);
    }
    await serving("m3");
    await queuesIntact("after a refused destroy");
  });

  test('onDestroy "deport" keeps every queue file; only "discard-queue" deletes the mail', async () => {
    const [deported, discarded] = macs as [InventoryHost, InventoryHost];
    own[deported.name] = { onDestroy: "deport" };
    own[discarded.name] = { onDestroy: "discard-queue" };
    assertDeployed(await p.deploy("fleet", env()), "recording onDestroy");
    await queuesIntact("after onDestroy changed");
    // Names only: disabling and deporting rewrite main.cf's multi_instance settings.
    const configFiles = async () => (await macSh(deported.name, 'find "$1" -type f | sort', CONFIG)).split("\n");
    const configBefore = await configFiles();

    const run = await p.destroy("fleet", env());
    assertDeployed(run, "cdktf destroy");
    // deport: out of postmulti's list, every file kept, queued mail included.
    assert.ok(!(await instances(lab, deported.name)).some((r) => r[0] === "postfix-in"));
    assert.deepEqual(await queueSnapshot(deported.name), held[deported.name]);
    assert.deepEqual(await configFiles(), configBefore);
    assert.match(run.output, new RegExp(`\\[${deported.name}\\] instance postfix-in: deport: changed`));
    // discard-queue: the mail and the instance's folders are gone.
    assert.match(run.output, new RegExp(`\\[${discarded.name}\\] instance postfix-in: discard 3 queued message\\(s\\): changed`));
    assert.ok(!(await instances(lab, discarded.name)).some((r) => r[0] === "postfix-in"));
    for (const path of [CONFIG, "/var/spool/postfix-in", PLIST]) assert.ok(!(await exists(lab, discarded.name, path)), `${discarded.name}: ${path} is gone`);
  });
});
