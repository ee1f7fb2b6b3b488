import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { LocalBackend, PgBackend, TerraformStack, Testing } from "cdktf";
import type { Construct } from "constructs";
import { stringify } from "yaml";
import { fleetStacks } from "../../src/fleet/fleet-stack.js";
import { InventoryError, parseInventory } from "../../src/fleet/inventory.js";
import { MacFleet, type MacFleetProps } from "../../src/fleet/mac-fleet.js";
import { fleetTargets, runFleetOperation } from "../../src/fleet/operations.js";

interface Synthesized {
  resource: Record<string, Record<string, { input?: string; triggers?: { spec: string }; provisioner?: Record<string, Record<string, unknown>>[] }>>;
  removed?: { from: string; lifecycle: { destroy: boolean }; provisioner?: Record<string, Record<string, unknown>>[] }[];
  terraform: { backend?: Record<string, Record<string, unknown>> };
}

function synth(props: MacFleetProps): { json: Synthesized; fleet: MacFleet } {
  let fleet!: MacFleet;
  const json = JSON.parse(Testing.synthScope((scope: Construct) => (fleet = new MacFleet(scope, "fleet", props)))) as Synthesized;
  return { json, fleet };
}

const dir = mkdtempSync(join(tmpdir(), "fleet-synth-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function inventoryFile(document: object): string {
  const file = join(mkdtempSync(join(dir, "case-")), "fleet.yaml");
  writeFileSync(file, stringify(document));
  return file;
}

const warnings = (fleet: MacFleet) => fleet.node.metadata.filter((m) => m.type === "@cdktf/warn").map((m) => String(m.data));
const destroyProvisioners = (p: Record<string, Record<string, unknown>>[] | undefined) => (p ?? []).filter((x) => x["local-exec"]?.when === "destroy");

const hosts = [
  { name: "mac1", address: "10.0.0.1" },
  { name: "mac17.lab", address: "10.0.0.17", settings: { message_size_limit: 20480000 } },
];

describe("MacFleet synth", () => {
  test("one MacHost and PostfixInputInstance per Mac; addresses and messages carry the Mac's name", () => {
    const { json, fleet } = synth({ inventory: { defaults: { user: "admin", settings: { mynetworks: "10.0.0.0/8" } }, hosts } });
    const segment17 = fleet.members.get("mac17.lab")!.mac.segment;
    assert.match(segment17, /^mac17_lab_[0-9a-f]{8}$/);
    const steps = ["config", "instance", "job", "queue_guard", "readiness"];
    assert.deepEqual(Object.keys(json.resource.terraform_data!).sort(), [...steps.map((s) => `mac17_lab_${segment17.slice(-8)}_${s}`), ...steps.map((s) => `mac1_${s}`)].sort());
    const config = JSON.parse(json.resource.terraform_data!.mac1_config!.input!) as { host: { name: string; connection: object }; settings: Record<string, string>; construct: string };
    assert.equal(config.host.name, "mac1");
    assert.deepEqual(config.host.connection, { transport: "ssh", host: "10.0.0.1", user: "admin" });
    assert.match(config.construct, /\/fleet\/mac1\/PostfixIn\/Instance$/);
    // Settings: the construct's defaults, then the inventory's defaults, then the host's own.
    assert.equal(config.settings.mynetworks, "10.0.0.0/8");
    assert.equal(config.settings.master_service_disable, "");
    const config17 = JSON.parse(json.resource.terraform_data![`${segment17}_config`]!.input!) as { settings: Record<string, string> };
    assert.equal(config17.settings.message_size_limit, "20480000");
    assert.equal(config17.settings.mynetworks, "10.0.0.0/8");
    assert.equal(config.settings.message_size_limit, undefined);
    assert.equal(json.removed, undefined);
  });

  test("a retired Mac gets removed blocks with lifecycle.destroy and the live resources' own destroy provisioners", () => {
    const { json } = synth({ inventory: { hosts, retired: [{ name: "mac0" }, { name: "mac9", address: "10.0.0.9", runMode: "postmulti-start" }] } });
    const removed = json.removed!;
    const froms = removed.map((r) => r.from).sort();
    const steps = ["config", "instance", "job", "queue_guard", "readiness"];
    // Every address the Mac could have: a retired entry need not say it was a login instance, with a sudo rule.
    const all = [...steps, "sudo_rule"].sort();
    assert.deepEqual(froms, [...all.map((s) => `terraform_data.mac0_${s}`), ...all.map((s) => `terraform_data.mac9_${s}`)]);
    for (const block of removed) assert.deepEqual(block.lifecycle, { destroy: true }, block.from);
    // Each block carries exactly the destroy provisioners the same step has on a live Mac.
    for (const step of steps) {
      const live = destroyProvisioners(json.resource.terraform_data![`mac1_${step}`]!.provisioner);
      const block = removed.find((r) => r.from === `terraform_data.mac0_${step}`)!;
      assert.deepEqual(block.provisioner ?? [], live, step);
    }
    const withProvisioner = removed.filter((r) => r.provisioner).map((r) => r.from.split(".")[1]);
    assert.deepEqual(withProvisioner.sort(), ["mac0_instance", "mac0_job", "mac0_queue_guard", "mac0_sudo_rule", "mac9_instance", "mac9_job", "mac9_queue_guard", "mac9_sudo_rule"]);
    const sudoRule = removed.find((r) => r.from === "terraform_data.mac0_sudo_rule")!.provisioner!;
    assert.deepEqual(sudoRule, removed.find((r) => r.from === "terraform_data.mac0_job")!.provisioner, "every step's teardown reads its spec from state");
    const provisioner = removed.find((r) => r.from === "terraform_data.mac0_job")!.provisioner![0]!["local-exec"]!;
    assert.equal(provisioner.command, "destroy");
    assert.deepEqual(provisioner.environment, { MAC_POSTFIX_STEP: "${self.input}" });
    // No retired Mac is also a live resource (Terraform refuses a removed block next to a live one).
    for (const from of froms) assert.equal(json.resource.terraform_data![from.split(".")[1]!], undefined);
  });

  test("null_resource fleets retire with null_resource addresses", () => {
    const { json } = synth({ inventory: { hosts: [hosts[0]!], retired: [{ name: "mac0" }] }, resourceType: "null_resource" });
    assert.ok(json.resource.null_resource!.mac1_job);
    const job = json.removed!.find((r) => r.from === "null_resource.mac0_job")!;
    assert.deepEqual(job.provisioner, destroyProvisioners(json.resource.null_resource!.mac1_job!.provisioner));
    assert.equal((job.provisioner![0]!["local-exec"]!.environment as Record<string, string>).MAC_POSTFIX_STEP, "${self.triggers.spec}");
  });

  test("the ledger records every Mac and warns when one vanishes", () => {
    const file = inventoryFile({ hosts: [...hosts, { name: "mac3", address: "10.0.0.3", site: "west" }] });
    const ledger = `${file}.ledger.json`;
    assert.deepEqual(warnings(synth({ inventory: file }).fleet), []);
    assert.deepEqual(JSON.parse(readFileSync(ledger, "utf8")), {
      version: 1,
      macs: { mac1: { status: "live" }, "mac17.lab": { status: "live" }, mac3: { status: "live", site: "west" } },
    });

    // mac3 deleted outright: Terraform would forget it and leave it configured.
    writeFileSync(file, stringify({ hosts }));
    const { fleet, json } = synth({ inventory: file });
    const [warning, ...more] = warnings(fleet);
    assert.deepEqual(more, []);
    assert.match(warning!, /Mac "mac3" was deployed from .*fleet\.yaml .* but is now in neither "hosts" nor "retired"/);
    assert.match(warning!, /Terraform will forget its resources and leave its Postfix instance and LaunchDaemon configured/);
    assert.match(warning!, /add it under "retired:"/);
    assert.equal(json.removed, undefined);
    assert.deepEqual(fleet.vanished.map((m) => m.name), ["mac3"]);
    // The warning repeats until the Mac is retired.
    assert.equal(warnings(synth({ inventory: file }).fleet).length, 1);

    writeFileSync(file, stringify({ hosts, retired: [{ name: "mac3" }] }));
    const retired = synth({ inventory: file });
    assert.deepEqual(warnings(retired.fleet), []);
    assert.equal(retired.json.removed!.length, 6);
    assert.equal(JSON.parse(readFileSync(ledger, "utf8")).macs.mac3.status, "retired");
    // Atomic writes leave no temp file behind.
    assert.deepEqual(readdirSync(join(file, "..")).sort(), ["fleet.yaml", "fleet.yaml.ledger.json"]);
  });

  test("nothing is synthesized, and no ledger written, from an invalid inventory", () => {
    const file = inventoryFile({ hosts: [...hosts, { name: "mac1", address: "10.0.0.2", port: "x" }] });
    let created = false;
    assert.throws(
      () =>
        Testing.synthScope((scope) => {
          new MacFleet(scope, "fleet", { inventory: file });
          created = true;
        }),
      (e: unknown) => e instanceof InventoryError && e.problems.length === 2 && e.problems.every((p) => p.startsWith(`${file}: hosts[2] (mac1): `)),
    );
    assert.equal(created, false);
    assert.equal(existsSync(`${file}.ledger.json`), false);
  });

  test("the composed example: the fleet after a change record, a deployment record after it, per-Mac outputs", async () => {
    await import("../../stacks/composed.js");
    const { buildStacks } = await import("../../stacks/registry.js");
    const file = inventoryFile({ hosts });
    const [stack] = buildStacks(Testing.app(), { MAC_POSTFIX_STACKS: "fleet-composed", MAC_POSTFIX_INVENTORY: file });
    const json = JSON.parse(Testing.synth(stack!)) as Synthesized & { output: Record<string, { value: unknown }>; resource: { terraform_data: Record<string, { depends_on?: string[]; input?: string }> } };
    const segment17 = Object.keys(json.output).find((o) => o.startsWith("mac17_lab_") && o.endsWith("_label"))!.replace(/_label$/, "");
    assert.deepEqual(json.output.mac1_smtp_endpoint!.value, "10.0.0.1:25");
    assert.deepEqual(json.output.mac1_label!.value, "org.postfix.in");
    assert.deepEqual(json.output.mac1_config_directory!.value, "/etc/postfix-in");
    assert.deepEqual(json.output[`${segment17}_smtp_endpoint`]!.value, "10.0.0.17:25");
    assert.deepEqual(json.resource.terraform_data.mac1_instance!.depends_on, ["terraform_data.change"]);
    assert.deepEqual(json.resource.terraform_data.deployment!.depends_on!.sort(), [`terraform_data.${segment17}_readiness`, "terraform_data.mac1_readiness"].sort());
  });

  test("split by site: one stack per site, each with its own backend", () => {
    const file = inventoryFile({
      hosts: [
        { name: "mac1", address: "10.0.0.1", site: "east" },
        { name: "mac2", address: "10.0.0.2", site: "west" },
        { name: "mac3", address: "10.0.0.3", site: "east" },
        { name: "mac4", address: "10.0.0.4" },
      ],
      retired: [{ name: "mac5", site: "west" }],
    });
    const app = Testing.app();
    const stacks = fleetStacks(app, "fleet", {
      inventory: file,
      backend: (stack: TerraformStack, site: string) =>
        site === "east" ? new PgBackend(stack, { connStr: `postgres://localhost/fleet_${site}` }) : new LocalBackend(stack, { path: `${site}.tfstate` }),
    });
    assert.deepEqual([...stacks.keys()], ["east", "west", "default"]);
    const json = (site: string) => JSON.parse(Testing.synth(stacks.get(site)!)) as Synthesized;
    const names = (j: Synthesized) => [...new Set(Object.keys(j.resource?.terraform_data ?? {}).map((id) => id.split("_")[0]))];
    assert.deepEqual(names(json("east")), ["mac1", "mac3"]);
    assert.deepEqual(names(json("west")), ["mac2"]);
    assert.deepEqual(names(json("default")), ["mac4"]);
    assert.deepEqual(json("east").terraform.backend, { pg: { conn_str: "postgres://localhost/fleet_east" } });
    assert.deepEqual(json("west").terraform.backend, { local: { path: "west.tfstate" } });
    assert.equal(json("west").removed!.length, 6);
    assert.equal(json("east").removed, undefined);
    assert.equal(stacks.get("east")!.node.id, "fleet-east");

    // Retired without its site: the ledger remembers it, so the teardown lands in west's state.
    writeFileSync(file, stringify({ hosts: [{ name: "mac1", address: "10.0.0.1", site: "east" }], retired: [{ name: "mac2" }] }));
    const later = fleetStacks(Testing.app(), "fleet", { inventory: file });
    assert.deepEqual([...later.keys()], ["east", "west"]);
    const west = JSON.parse(Testing.synth(later.get("west")!)) as Synthesized;
    assert.deepEqual(west.removed!.map((r) => r.from).sort(), ["config", "instance", "job", "queue_guard", "readiness", "sudo_rule"].map((s) => `terraform_data.mac2_${s}`));
    assert.equal((JSON.parse(Testing.synth(later.get("east")!)) as Synthesized).removed, undefined);

    // Nor does a site from defaults move it: the recorded site wins for a retired Mac.
    writeFileSync(file, stringify({ defaults: { site: "east" }, hosts: [{ name: "mac1", address: "10.0.0.1" }], retired: [{ name: "mac2" }] }));
    const withDefault = fleetStacks(Testing.app(), "fleet", { inventory: file });
    assert.deepEqual([...withDefault.keys()], ["east", "west"]);
    assert.equal((JSON.parse(Testing.synth(withDefault.get("west")!)) as Synthesized).removed!.length, 6);
    assert.equal((JSON.parse(Testing.synth(withDefault.get("east")!)) as Synthesized).removed, undefined);
    assert.equal(JSON.parse(readFileSync(`${file}.ledger.json`, "utf8")).macs.mac2.site, "west");
  });

  test("a damaged ledger is named, with what is wrong with it", () => {
    const file = inventoryFile({ hosts });
    writeFileSync(`${file}.ledger.json`, "{ half");
    assert.throws(() => synth({ inventory: file }), (e: unknown) => {
      assert.match(String(e), new RegExp(`${file.replaceAll(".", "\\.")}\\.ledger\\.json: not a fleet ledger \\(.*JSON.*\\); fix or delete it`));
      return true;
    });
  });

  test("problems between an entry's fields are named by the entry, every one at once", () => {
    const inventory = inventoryFile({
      hosts: [
        { name: "a", address: "10.0.0.1", lifecycle: "login" },
        { name: "b", address: "10.0.0.2", lifecycle: "login", loginUser: "admin", runMode: "postmulti-start" },
        { name: "c", address: "10.0.0.3" },
      ],
    });
    assert.throws(
      () => synth({ inventory }),
      (e: unknown) => {
        assert.ok(e instanceof InventoryError, String(e));
        assert.deepEqual(e.problems, [
          `${inventory}: hosts[0] (a): loginUser: is required when lifecycle is "login" (got undefined)`,
          `${inventory}: hosts[1] (b): runMode: must be "supervised" when lifecycle is "login": a "postmulti-start" master outlives the job, so logout would not stop it (got "postmulti-start")`,
        ]);
        return true;
      },
    );
  });

  test("split by site: a vanished Mac is warned about in a stack that exists, with sites only the ledger knows", () => {
    const file = inventoryFile({ hosts: [{ name: "mac1", address: "10.0.0.1", site: "west" }, { name: "mac2", address: "10.0.0.2", site: "west" }] });
    fleetStacks(Testing.app(), "fleet", { inventory: file });
    // mac1 keeps its recorded site without naming it; mac2 is deleted outright.
    writeFileSync(file, stringify({ hosts: [{ name: "mac1", address: "10.0.0.1" }] }));
    const stacks = fleetStacks(Testing.app(), "fleet", { inventory: file });
    assert.deepEqual([...stacks.keys()], ["west"]);
    assert.deepEqual(stacks.get("west")!.fleet.vanished.map((m) => m.name), ["mac2"]);
    assert.match(warnings(stacks.get("west")!.fleet).join("\n"), /Mac "mac2" was deployed from/);
  });
});

describe("fleet operations without a Mac", () => {
  test("a Mac whose transport cannot be opened fails alone, with the reason", async () => {
    const targets = fleetTargets(parseInventory({ hosts: [{ name: "mac1", address: "10.0.0.1" }, { name: "mac2", address: "10.0.0.2" }] }));
    const results = await runFleetOperation("verify", targets, {
      transport: (host) => {
        throw new Error(`no way to ${host.name}`);
      },
    });
    assert.deepEqual(results.map((r) => [r.name, r.outcome, r.summary]), [
      ["mac1", "failed", "no way to mac1"],
      ["mac2", "failed", "no way to mac2"],
    ]);
  });
});
