/**
 * A fleet of six simulated Macs (mac1..mac6 of the fleet tests' lab) through the real cdktf CLI and the fleet commands:
 * deploy, a one-Mac settings change, verify (clean and drifted), every operation with a Mac cut
 * off, an invalid inventory, retirement, and destroy.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import type { InventoryHost } from "../lab/lab.js";
import type { MacResult } from "../../src/fleet/operations.js";
import { eventually } from "../support/mac.js";
import { CdktfProject, entry, lab, labDefaults, labMacs, onMac, onMacStatus, ROOT, touchedAddresses } from "./helpers.js";

const NUMBERS = [1, 2, 3, 4, 5, 6];
let macs: InventoryHost[];
let project: CdktfProject;
let inventoryFile: string;
let settings12 = {};
let retired: object[] = [];

function writeInventory(overrides: { hosts?: object[] } = {}): void {
  const live = macs.filter((m) => !retired.some((r) => (r as { name: string }).name === m.name));
  project.inventory({
    defaults: { ...labDefaults(macs[0]!), settings: { mynetworks: "127.0.0.0/8, 10.0.0.0/8" } },
    hosts: overrides.hosts ?? live.map((m) => entry(m, m.name === "mac2" ? { settings: settings12 } : {})),
    retired,
  });
}

const deploy = () => project.deploy(["fleet"], { MAC_POSTFIX_INVENTORY: inventoryFile, MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_STATE_DIR: project.dir });

/** The package's CLI (built in lib/, as `npm test` does first). */
const CLI = join(ROOT, "lib/cli/mac-postfix.js");

/** A fleet command of the real CLI (not a TTY: plain progress lines on stderr). */
async function fleetCommand(operation: string, ...args: string[]): Promise<{ exitCode: number; results: MacResult[]; stderr: string }> {
  const run = await execa("node", [CLI, operation, "--inventory", inventoryFile, "--json", ...args], { reject: false });
  let results: MacResult[];
  try {
    results = (JSON.parse(run.stdout) as { results: MacResult[] }).results;
  } catch {
    throw new Error(`mac-postfix ${operation} printed no JSON (exit ${run.exitCode}):\n${run.stdout}\n${run.stderr}`);
  }
  return { exitCode: run.exitCode ?? 1, results, stderr: run.stderr };
}

const outcomes = (results: MacResult[]) => Object.fromEntries(results.map((r) => [r.name, r.outcome]));
const masterPid = async (name: string) => /pid = (\d+)/.exec(await onMac(name, ["/bin/launchctl", "print", "system/org.postfix.in"]))?.[1];
const setting = async (name: string, key: string) => (await onMac(name, ["/usr/sbin/postconf", "-c", "/etc/postfix-in", "-h", key])).trim();

describe("a fleet of six Macs, end to end", { concurrency: false }, () => {
  before(async () => {
    macs = await labMacs(NUMBERS);
    project = new CdktfProject("stacks/main.ts", {});
    inventoryFile = join(project.dir, "fleet.yaml");
    writeInventory();
  });

  after(async () => {
    await lab.restore("mac5").catch(() => undefined);
    try {
      if (project) {
        const run = await project.cdktf(["destroy", "fleet", "--auto-approve"], { MAC_POSTFIX_INVENTORY: inventoryFile, MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_STATE_DIR: project.dir });
        assert.equal(run.exitCode, 0, run.output);
      }
    } finally {
      project?.dispose();
      await lab.release();
    }
  });

  test("the fleet deploys: every Mac serves, addresses carry the Mac's name", async () => {
    const output = await deploy();
    const touched = touchedAddresses(output);
    assert.equal(touched.length, NUMBERS.length * 5, touched.join("\n"));
    for (const n of NUMBERS) assert.ok(touched.includes(`terraform_data.mac${n}_job`), `mac${n}_job in ${touched.join(" ")}`);
    for (const mac of macs) {
      assert.match(await onMac(mac.name, ["/usr/sbin/postmulti", "-l"]), /^postfix-in\s+mta\s+y\s+\/etc\/postfix-in$/m);
      assert.equal(await setting(mac.name, "mynetworks"), "127.0.0.0/8, 10.0.0.0/8");
    }
  });

  test("verify finds nothing on a clean fleet", async () => {
    const { exitCode, results, stderr } = await fleetCommand("verify");
    assert.deepEqual(results.map((r) => [r.name, r.outcome, r.differences]), macs.map((m) => [m.name, "done", []]));
    assert.equal(exitCode, 0);
    assert.match(stderr, /^mac1: done: matches the inventory$/m);
  });

  test("on a terminal, a live per-Mac display with counts, then the table", async () => {
    // `script` gives the command a pty; stty gives it a size (log-update needs the row count).
    const command = `stty rows 40 cols 120; node ${CLI} status --inventory ${inventoryFile}`;
    const run = await execa("script", ["-qec", command, "/dev/null"], { reject: false });
    const raw = run.stdout.replaceAll("\r", "");
    assert.equal(run.exitCode, 0, raw);
    assert.match(raw, /\u001b\[2K/); // redrawn in place
    const screen = raw.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
    assert.match(screen, /^ {2}mac1 {2}waiting$/m);
    assert.match(screen, /^ {2}mac6 {2}done {5}postfix-in\/postfix-script: the Postfix mail system is running/m);
    assert.match(screen, /mac-postfix status: 0 done, 0 drift, 0 failed, 0 running, 6 waiting/);
    assert.match(screen, /mac-postfix status: 6 done, 0 drift, 0 failed, 0 running, 0 waiting/);
    assert.match(screen, /^status: 6 Macs: 6 done, 0 drift, 0 failed$/m);
  });

  test("a settings change for one Mac touches only that Mac", async () => {
    const pids = Object.fromEntries(await Promise.all(macs.map(async (m) => [m.name, await masterPid(m.name)] as const)));
    settings12 = { message_size_limit: 20480000 };
    writeInventory();
    const touched = touchedAddresses(await deploy());
    assert.ok(touched.length > 0);
    assert.deepEqual(touched.filter((a) => !a.startsWith("terraform_data.mac2_")), []);
    assert.equal(await setting("mac2", "message_size_limit"), "20480000");
    assert.equal(await setting("mac1", "message_size_limit"), "10240000");
    // The other Macs' masters were not restarted (nor mac2's: a settings change is a reload).
    for (const mac of macs) assert.equal(await masterPid(mac.name), pids[mac.name], mac.name);
  });

  test("verify reports a setting changed by hand and a job booted out by hand", async () => {
    await onMac("mac2", ["/usr/sbin/postconf", "-c", "/etc/postfix-in", "-e", "message_size_limit=1"]);
    await onMac("mac3", ["/bin/launchctl", "bootout", "system/org.postfix.in"]);
    // bootout is asynchronous: wait until launchd has let the job go.
    await eventually("launchd to let the booted-out job go", 30_000, async () => (await onMacStatus("mac3", ["/bin/launchctl", "print", "system/org.postfix.in"])).exitCode === 113);

    const { exitCode, results } = await fleetCommand("verify");
    assert.equal(exitCode, 2);
    assert.deepEqual(outcomes(results), { mac1: "done", mac2: "drift", mac3: "drift", mac4: "done", mac5: "done", mac6: "done" });
    assert.deepEqual(results.find((r) => r.name === "mac2")!.differences, ['setting message_size_limit: "1", want "20480000"']);
    const mac3 = results.find((r) => r.name === "mac3")!.differences;
    assert.ok(mac3.includes("job system/org.postfix.in: not loaded"), mac3.join("\n"));
    assert.ok(mac3.some((d) => d.startsWith("instance postfix-in: master not running")), mac3.join("\n"));
    assert.ok(mac3.some((d) => d.startsWith(`SMTP ${macs[2]!.address}:25: no 220 greeting`)), mac3.join("\n"));

    // Put both back: by hand on mac2, with `start` (bootstrap + kickstart) on mac3.
    await onMac("mac2", ["/usr/sbin/postconf", "-c", "/etc/postfix-in", "-e", "message_size_limit=20480000"]);
    const start = await fleetCommand("start", "--only", "mac3");
    assert.deepEqual(outcomes(start.results), { mac3: "done" });
    const again = await fleetCommand("verify");
    assert.equal(again.exitCode, 0, JSON.stringify(again.results, null, 2));
  });

  test("every operation with one Mac cut off: that Mac failed, the rest done", async () => {
    await lab.cut("mac5");
    try {
      for (const operation of ["status", "reload", "flush", "verify", "stop", "start"]) {
        const { exitCode, results, stderr } = await fleetCommand(operation, "--parallel", "6");
        assert.deepEqual(outcomes(results), { mac1: "done", mac2: "done", mac3: "done", mac4: "done", mac5: "failed", mac6: "done" }, `${operation}: ${JSON.stringify(results, null, 2)}`);
        assert.ok(results.find((r) => r.name === "mac5")!.summary.startsWith(`ssh to admin@${macs[4]!.address}`), operation);
        assert.equal(exitCode, 1, operation);
        assert.match(stderr, /^mac5: failed: ssh to /m, operation);
      }
    } finally {
      await lab.restore("mac5");
    }
    // stop then start left every reachable Mac serving.
    const { results } = await fleetCommand("status", "--only", "mac1,mac4");
    assert.deepEqual(outcomes(results), { mac1: "done", mac4: "done" });
  });

  test("an invalid inventory deploys nothing", async () => {
    const state = readFileSync(join(project.dir, "fleet.tfstate"), "utf8");
    const pids = await Promise.all(macs.map((m) => masterPid(m.name)));
    writeInventory({ hosts: [...macs.map((m) => entry(m)), { name: "mac2", address: "10.89.1.99", port: "22" }] });
    const run = await project.cdktf(["deploy", "fleet", "--auto-approve"], { MAC_POSTFIX_INVENTORY: inventoryFile, MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_STATE_DIR: project.dir });
    assert.notEqual(run.exitCode, 0);
    assert.match(run.output, /fleet\.yaml: hosts\[6\] \(mac2\): port: must be an integer \(got "22"\)/);
    assert.match(run.output, /fleet\.yaml: hosts\[6\] \(mac2\): name: duplicate name \(first at hosts\[1\] \(mac2\)\)/);
    assert.deepEqual(touchedAddresses(run.output), []);
    assert.equal(readFileSync(join(project.dir, "fleet.tfstate"), "utf8"), state);
    assert.deepEqual(await Promise.all(macs.map((m) => masterPid(m.name))), pids);
  });

  test("cdktf warns when a deployed Mac vanishes from the inventory instead of being retired", async () => {
    writeInventory({ hosts: macs.filter((m) => m.name !== "mac5").map((m) => entry(m, m.name === "mac2" ? { settings: settings12 } : {})) });
    const run = await project.cdktf(["synth"], { MAC_POSTFIX_INVENTORY: inventoryFile, MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_STATE_DIR: project.dir });
    writeInventory();
    assert.equal(run.exitCode, 0, run.output);
    assert.match(run.output.replace(/\s+/g, " "), /Mac "mac5" was deployed from .*fleet\.yaml .* but is now in neither "hosts" nor "retired"\. Terraform will forget its resources/);
  });

  test("retiring a Mac tears it down; the next deploy is a no-op", async () => {
    retired = [{ name: "mac6" }];
    writeInventory();
    const touched = touchedAddresses(await deploy());
    assert.deepEqual(touched, ["config", "instance", "job", "queue_guard", "readiness"].map((s) => `terraform_data.mac6_${s}`));
    assert.doesNotMatch(await onMac("mac6", ["/usr/sbin/postmulti", "-l"]), /postfix-in/);
    assert.equal((await onMacStatus("mac6", ["/bin/launchctl", "print", "system/org.postfix.in"])).exitCode, 113);
    assert.equal((await onMacStatus("mac6", ["test", "-e", "/Library/LaunchDaemons/org.postfix.in.plist"])).exitCode, 1);
    const state = JSON.parse(readFileSync(join(project.dir, "fleet.tfstate"), "utf8")) as { resources: { name: string }[] };
    assert.deepEqual(state.resources.filter((r) => r.name.startsWith("mac6_")), []);

    const second = await deploy();
    assert.deepEqual(touchedAddresses(second), []);
    assert.match(second, /No changes/);
  });
});
