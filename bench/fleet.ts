/**
 * What the benchmark deploys, derived once from the lab and the library: the fleet inventory file
 * MacFleet reads, and for Ansible the very same job (instance, settings, plist bytes) taken from
 * the constructs MacFleet builds from that inventory, so both tools write identical content.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App, TerraformResource, TerraformStack } from "cdktf";
import { MacFleet } from "../lib/fleet/mac-fleet.js";
import { checkedMarkPath } from "../lib/spec.js";
import type { InventoryHost } from "../test/lab/lab.js";

/** The settings change every Mac gets in the "change" phase. */
export const CHANGED_SETTINGS = { message_size_limit: "20480000" };

/** The lab's subnet is the only one the instances accept mail from (as stacks/inventory/lab.yaml does). */
const mynetworks = (hosts: readonly InventoryHost[]) => `127.0.0.0/8, ${hosts[0]!.address.split(".").slice(0, 2).join(".")}.0.0/16`;

/** Writes the MacFleet inventory (JSON) for these lab hosts; `change` adds CHANGED_SETTINGS. */
export function writeFleetInventory(file: string, hosts: readonly InventoryHost[], change = false): void {
  const [first] = hosts;
  const document = {
    defaults: {
      user: first!.user,
      port: first!.port,
      identityFile: first!.identityFile,
      knownHostsFile: first!.knownHostsFile,
      settings: { mynetworks: mynetworks(hosts), ...(change ? CHANGED_SETTINGS : {}) },
    },
    hosts: hosts.map((h) => ({ name: h.name, address: h.address })),
  };
  writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
}

/**
 * Writes, for Ansible, the inventory (YAML-compatible JSON) and the per-Mac job MacFleet makes
 * from `inventoryFile`: instance name, group, config directory, settings, label, plist path, and
 * the plist file with the constructs' exact bytes. Returns the inventory file, the number of
 * Terraform resources MacFleet makes for these Macs and how many per Mac run a step at creation.
 */
export function writeAnsibleInventory(dir: string, inventoryFile: string, hosts: readonly InventoryHost[]): { file: string; resources: number; createStepsPerMac: number } {
  mkdirSync(dir, { recursive: true });
  const fleet = new MacFleet(new TerraformStack(new App({ outdir: join(dir, "scratch.out") }), "model"), "fleet", { inventory: inventoryFile, ledger: false });
  const plists = new Map<string, string>();
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const ansibleHosts = Object.fromEntries(
    [...fleet.members].map(([name, { input }]) => {
      let plistFile = plists.get(input.daemon.plist);
      if (plistFile === undefined) {
        plistFile = join(dir, `plist-${plists.size}.xml`);
        writeFileSync(plistFile, input.daemon.plist);
        plists.set(input.daemon.plist, plistFile);
      }
      const h = byName.get(name)!;
      return [
        name,
        {
          ansible_host: h.address,
          ansible_port: h.port,
          instance_name: input.instance.name,
          instance_group: input.instance.instanceStep.group,
          config_directory: input.configDirectory,
          checked_mark: checkedMarkPath(input.configDirectory),
          settings: input.instance.settings,
          label: input.label,
          plist_path: input.plistPath,
          plist_src: plistFile,
          smtp_address: input.smtpEndpoint?.address ?? h.address,
          smtp_port: input.smtpEndpoint?.port ?? 25,
        },
      ];
    }),
  );
  const [first] = hosts;
  const inventory = {
    all: {
      hosts: ansibleHosts,
      vars: {
        ansible_user: first!.user,
        ansible_ssh_private_key_file: first!.identityFile,
        ansible_ssh_common_args: `-o UserKnownHostsFile=${first!.knownHostsFile} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes`,
        ansible_become: true,
      },
    },
  };
  const file = join(dir, "ansible-inventory.json");
  writeFileSync(file, `${JSON.stringify(inventory, null, 2)}\n`);
  // How many Terraform resources the fleet has (the terraform floor deploys as many bare ones), and
  // how many of them run a step at creation (the bound on SSH connections per Mac in a full deploy).
  const all = fleet.node.findAll().filter((c): c is TerraformResource => c instanceof TerraformResource);
  const createSteps = all.filter((r) => {
    const body = Object.values((r.toTerraform() as { resource: Record<string, Record<string, { provisioner?: object[] }>> }).resource)[0]!;
    return (Object.values(body)[0]!.provisioner ?? []).some((p) => (Object.values(p)[0] as { when?: string }).when !== "destroy");
  }).length;
  return { file, resources: all.length, createStepsPerMac: createSteps / fleet.members.size };
}
