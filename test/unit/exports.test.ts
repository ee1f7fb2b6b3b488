/**
 * The package's entry point exports the fleet API: a user composes a fleet from `src/index.ts`
 * alone (what `import ... from "cdktf-mac-postfix"` gives) and synthesizes it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { LocalBackend, Testing } from "cdktf";
import type { Construct } from "constructs";
import {
  addressSegment,
  DEFAULT_SITE,
  fleetStacks,
  fleetTargets,
  FleetStack,
  InventoryError,
  ledgerPathFor,
  loadInventory,
  MacFleet,
  OPERATIONS,
  parseInventory,
  readInventory,
  readLedger,
  resultTable,
  runFleetOperation,
  type FleetMac,
  type FleetMember,
  type Inventory,
  type InventoryDocument,
  type Ledger,
  type MacFleetProps,
  type MacResult,
} from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "exports-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const document: InventoryDocument = {
  defaults: { user: "admin", settings: { mynetworks: "10.0.0.0/8" } },
  hosts: [
    { name: "mac1", address: "10.0.0.1", site: "east" },
    { name: "mac2", address: "10.0.0.2", site: "west", settings: { message_size_limit: 20480000 } },
  ],
  retired: [{ name: "mac0", address: "10.0.0.9" }],
};

type Synthesized = {
  resource: { terraform_data: Record<string, { input: string }> };
  removed?: { from: string }[];
  terraform: { backend?: Record<string, { path: string }> };
};

describe("the fleet API from the package's entry point", () => {
  test("MacFleet from an in-memory inventory synthesizes one instance per live Mac and tears the retired one down", () => {
    const props: MacFleetProps = { inventory: document };
    let fleet!: MacFleet;
    const json = JSON.parse(Testing.synthScope((scope: Construct) => (fleet = new MacFleet(scope, "fleet", props)))) as Synthesized;
    const members: FleetMember[] = [...fleet.members.values()];
    assert.deepEqual(members.map((m) => m.mac.name), ["mac1", "mac2"]);
    assert.deepEqual(Object.keys(json.resource.terraform_data).sort(), ["mac1", "mac2"].flatMap((m) => ["config", "instance", "job", "queue_guard", "readiness"].map((s) => `${m}_${s}`)).sort());
    const settings = (mac: string) => (JSON.parse(json.resource.terraform_data[`${mac}_config`]!.input) as { settings: Record<string, string> }).settings;
    assert.equal(settings("mac2").message_size_limit, "20480000");
    assert.equal(settings("mac1").mynetworks, "10.0.0.0/8");
    assert.ok(json.removed?.some((r) => r.from === "terraform_data.mac0_job"), JSON.stringify(json.removed));
    assert.deepEqual(fleet.vanished, []);
  });

  test("fleetStacks splits an inventory file by site, each stack with its own backend; the ledger sits beside the file", () => {
    const file = join(dir, "fleet.json");
    writeFileSync(file, JSON.stringify(document));
    const app = Testing.app();
    const stacks = fleetStacks(app, "fleet", { inventory: file, backend: (stack, site) => new LocalBackend(stack, { path: join(dir, `${site}.tfstate`) }) });
    assert.deepEqual([...stacks.keys()], ["east", "west", DEFAULT_SITE]);
    for (const [site, stack] of stacks) {
      assert.ok(stack instanceof FleetStack);
      const json = JSON.parse(Testing.synth(stack)) as Synthesized;
      assert.equal(json.terraform.backend?.local?.path, join(dir, `${site}.tfstate`));
    }
    assert.deepEqual([...stacks.get("east")!.fleet.members.keys()], ["mac1"]);
    assert.deepEqual([...stacks.get("west")!.fleet.members.keys()], ["mac2"]);
    const ledger: Ledger = readLedger(ledgerPathFor(file));
    assert.deepEqual(ledger.macs, { mac0: { status: "retired" }, mac1: { status: "live", site: "east" }, mac2: { status: "live", site: "west" } });
    assert.deepEqual(JSON.parse(readFileSync(ledgerPathFor(file), "utf8")), ledger);
  });

  test("the inventory loaders, their error and the operations' targets", () => {
    const file = join(dir, "fleet.yaml");
    writeFileSync(file, "hosts:\n  - { name: mac.one, address: 10.0.0.1 }\n");
    const inventory: Inventory = loadInventory(file);
    const mac: FleetMac = inventory.hosts[0]!;
    assert.equal(mac.segment, addressSegment("mac.one"));
    assert.equal(readInventory(inventory), inventory);
    assert.equal(parseInventory(document).hosts.length, 2);
    assert.throws(() => parseInventory({ hosts: [{ name: "mac1" }] }), (e: unknown) => e instanceof InventoryError && /address: is required/.test(e.message));

    const [target] = fleetTargets(inventory);
    assert.equal(target!.name, "mac.one");
    assert.equal(target!.instance.instance.name, "postfix-in");
    assert.deepEqual(target!.smtp, { address: "10.0.0.1", port: 25 });
    assert.ok(OPERATIONS.includes("verify"));
    assert.equal(typeof runFleetOperation, "function");
    const results: MacResult[] = [{ name: "mac.one", outcome: "done", summary: "matches the inventory", differences: [] }];
    assert.match(resultTable("verify", results), /^verify: 1 Mac: 1 done, 0 drift, 0 failed$/m);
  });
});
