import { Annotations, type ITerraformDependable, TerraformResource, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { MacHost, type MacHostProps, type MacResourceType } from "../constructs/mac-host.js";
import { PostfixInputInstance } from "../constructs/postfix-input-instance.js";
import { showValue, ValidationError } from "../validation.js";
import { InventoryError, readInventory, type FleetMac, type Inventory, type InventoryDocument } from "./inventory.js";
import { fleetLedger, lastSite, readLedger, updateLedger, type LedgerEntry, type VanishedMac } from "./ledger.js";
import { inScratchStack } from "./scratch.js";

/** The site of Macs that name none, when a fleet is split by site. */
export const DEFAULT_SITE = "default";

export interface MacFleetProps {
  /**
   * The Macs: the path of a YAML or JSON inventory file, an inventory document, or an inventory
   * already loaded with `loadInventory`/`parseInventory`. Validated before any construct is made.
   */
  readonly inventory: string | InventoryDocument | Inventory;
  /**
   * Fleet-wide defaults below the inventory's own `defaults`: any inventory field but `name` and
   * `address` (connection fields, `sudo`, `paths`, and `PostfixInputInstance` props).
   */
  readonly defaults?: Readonly<Record<string, unknown>>;
  /**
   * Only the Macs of this site (Macs naming no site belong to `DEFAULT_SITE`); every Mac when unset.
   * Used to split a fleet into one stack per site (see `fleetStacks`).
   */
  readonly site?: string;
  /**
   * Resource type of every step.
   * @default "terraform_data"
   */
  readonly resourceType?: MacResourceType;
  /**
   * The retirement ledger file, or false for none.
   * @default `<inventory file>.ledger.json` for an inventory file; none for an in-memory inventory
   */
  readonly ledger?: string | false;
  /** Resources every Mac's instance is created after (and destroyed before). */
  readonly dependsOn?: ITerraformDependable[];
}

/** One live Mac of the fleet. */
export interface FleetMember {
  /** The inventory entry, defaults merged. */
  readonly mac: FleetMac;
  readonly host: MacHost;
  readonly input: PostfixInputInstance;
}

/** `removed` blocks collected per stack: cdktf overrides replace a key, so every fleet appends to one list. */
const removedBlocks = new WeakMap<TerraformStack, object[]>();

/**
 * A fleet of Macs from an inventory: one `MacHost` and one `PostfixInputInstance` per live Mac,
 * with Terraform addresses that carry the Mac's name (`terraform_data.mac17_job`). Retired Macs
 * are torn down through `removed` blocks that run the same destroy steps as the live resources.
 */
export class MacFleet extends Construct {
  /** The validated inventory (all of it, whatever `site` selects). */
  readonly inventory: Inventory;
  /** The live Macs this fleet deploys, by name, in inventory order. */
  readonly members: ReadonlyMap<string, FleetMember>;
  /** The Macs in the ledger that are in neither `hosts` nor `retired` (each also a warning annotation). */
  readonly vanished: readonly VanishedMac[];

  constructor(scope: Construct, id: string, props: MacFleetProps) {
    super(scope, id);
    this.inventory = readInventory(props.inventory, props.defaults);
    // MacHost validates it.
    const resourceType = props.resourceType ?? "terraform_data";
    const ledger = fleetLedger(this.inventory, props.ledger);
    const recorded = ledger === false ? {} : readLedger(ledger).macs;
    const inSite = (retired: boolean) => (mac: FleetMac) => props.site === undefined || siteOf(mac, recorded, retired) === props.site;

    const members = new Map<string, FleetMember>();
    const problems: string[] = [];
    for (const mac of this.inventory.hosts.filter(inSite(false))) {
      try {
        // The MacHost is named after the Mac (its name appears in every step's messages); its
        // instance lives under it, so construct paths read `<fleet>/mac17/PostfixIn`.
        const host = new MacHost(this, mac.name, { ...hostProps(mac), resourceType });
        const input = new PostfixInputInstance(host, "PostfixIn", { host, ...mac.instance, dependsOn: props.dependsOn, addressPrefix: mac.segment });
        members.set(mac.name, { mac, host, input });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        // Problems between fields (lifecycle and loginUser, say) surface as the constructs are
        // built: each is named by its entry, like the inventory's own, and all are reported at once.
        problems.push(`${this.inventory.source}: ${mac.where}: ${error.field}: ${error.problem} (got ${showValue(error.value)})`);
      }
    }
    if (problems.length > 0) throw new InventoryError(this.inventory.source, problems);
    this.members = members;

    const retired = this.inventory.retired.filter(inSite(true));
    if (retired.length > 0) {
      const stack = TerraformStack.of(this);
      let blocks = removedBlocks.get(stack);
      if (blocks === undefined) {
        blocks = [];
        removedBlocks.set(stack, blocks);
        stack.addOverride("removed", blocks);
      }
      blocks.push(...retirementBlocks(retired, resourceType));
    }

    this.vanished = ledger === false ? [] : updateLedger(ledger, this.inventory).filter((mac) => this.owns(mac, props.site, recorded));
    for (const mac of this.vanished) {
      Annotations.of(this).addWarning(
        `Mac "${mac.name}" was deployed from ${this.inventory.source} (ledger ${ledger}) but is now in neither "hosts" nor "retired". ` +
          `Terraform will forget its resources and leave its Postfix instance and LaunchDaemon configured on that Mac at the next deploy. ` +
          `To tear it down, add it under "retired:" (- name: ${mac.name}) before that deploy (once a deploy has forgotten it, retiring it is a no-op: ` +
          `put it back under "hosts:", deploy, then retire it); to keep it configured and silence this warning, delete its entry from the ledger.`,
      );
    }
  }

  /**
   * Whether a vanished Mac's warning belongs to this fleet: its last site, or the first of the
   * sites that have a stack (as fleetStacks makes them) if that one is gone.
   */
  private owns(mac: VanishedMac, site: string | undefined, recorded: Readonly<Record<string, LedgerEntry>>): boolean {
    if (site === undefined) return true;
    const sites = fleetSites(this.inventory, recorded).sort();
    const last = mac.site ?? DEFAULT_SITE;
    return sites.includes(last) ? last === site : sites[0] === site;
  }
}

/** The site whose stack holds a Mac (see lastSite): a retired Mac's `removed` blocks land in the state that holds its resources. */
export function siteOf(mac: FleetMac, recorded: Readonly<Record<string, LedgerEntry>>, retired: boolean): string {
  return lastSite(mac, recorded, retired) ?? DEFAULT_SITE;
}

/** The sites of an inventory's Macs, live and retired, in the order they first appear: one stack each. */
export function fleetSites(inventory: Inventory, recorded: Readonly<Record<string, LedgerEntry>>): string[] {
  return [...new Set([...inventory.hosts.map((mac) => siteOf(mac, recorded, false)), ...inventory.retired.map((mac) => siteOf(mac, recorded, true))])];
}

/** MacHost props of an inventory entry. A retired Mac without an address needs none: its teardown reads state. */
function hostProps(mac: FleetMac): MacHostProps {
  const { connection, sudo, paths, insecureIgnoreHostKey } = mac;
  const common = { ...(sudo === undefined ? {} : { sudo }), ...(paths === undefined ? {} : { paths }) };
  if (connection === undefined) return { ...common, local: true };
  const { address, ...ssh } = connection;
  return { ...common, ssh: { host: address, ...ssh }, ...(insecureIgnoreHostKey === undefined ? {} : { insecureIgnoreHostKey }) };
}

/**
 * The `removed` blocks that tear down a retired Mac: one per resource its input instance could
 * have, each with that resource's own destroy-time provisioners (taken from a throwaway build of
 * the same constructs, so they cannot drift apart). The spec each provisioner reads is the
 * resource's `input` in state, so the build needs none of the entry's settings; it is a login
 * instance, whose resources include the sudo rule, because a retired entry (`- name: mac0`) need
 * not say what it was. A block whose address is not in state is a no-op.
 */
function retirementBlocks(macs: readonly FleetMac[], resourceType: MacResourceType): object[] {
  return inScratchStack((stack) => {
    for (const mac of macs) {
      const host = new MacHost(stack, mac.name, { ...hostProps(mac), resourceType });
      new PostfixInputInstance(host, "PostfixIn", { host, lifecycle: "login", loginUser: "retired", addressPrefix: mac.segment });
    }
    return stack.node
      .findAll()
      .filter((c): c is TerraformResource => c instanceof TerraformResource)
      .map((resource) => {
        const rendered = resource.toTerraform() as { resource: Record<string, Record<string, { provisioner?: { [type: string]: { when?: string } }[] }>> };
        const body = rendered.resource[resource.terraformResourceType]![resource.friendlyUniqueId]!;
        const provisioner = (body.provisioner ?? []).filter((p) => Object.values(p)[0]?.when === "destroy");
        return {
          from: `${resource.terraformResourceType}.${resource.friendlyUniqueId}`,
          // OpenTofu's default is to forget; Terraform's is to destroy. Say it.
          lifecycle: { destroy: true },
          ...(provisioner.length > 0 ? { provisioner } : {}),
        };
      });
  });
}
