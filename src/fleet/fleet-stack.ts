import { TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { readInventory } from "./inventory.js";
import { fleetLedger, readLedger } from "./ledger.js";
import { DEFAULT_SITE, fleetSites, MacFleet, type MacFleetProps } from "./mac-fleet.js";

export interface FleetStacksProps extends Omit<MacFleetProps, "site"> {
  /**
   * Gives a stack its backend (`new PgBackend(stack, {...})`, `new S3Backend(stack, {...})`, ...).
   * Called once per stack, before its fleet is built. Each site needs its own state: give each a
   * distinct key or path; with `PgBackend`, a distinct database (the pg backend's locks are per
   * database and collide between schemas of one database, hashicorp/terraform#33217).
   * @default local state, `terraform.<stack>.tfstate`
   */
  readonly backend?: (stack: TerraformStack, site: string) => void;
  /**
   * Name of the stack of a site.
   * @default `<id>-<site>`
   */
  readonly stackName?: (site: string) => string;
}

/**
 * Splits a fleet into one stack per `site` (Macs naming none go to `DEFAULT_SITE`), each with its
 * own state and backend, so that cdktf deploys them in parallel (`cdktf deploy '<id>-*'`) and no
 * state file holds the whole fleet. Returns the stacks by site, in order of first appearance.
 */
export function fleetStacks(scope: Construct, id: string, props: FleetStacksProps): ReadonlyMap<string, FleetStack> {
  const { backend, stackName = (site: string) => `${id}-${site}`, ...fleetProps } = props;
  // Read and validate once; every stack shares the result.
  const inventory = readInventory(props.inventory, props.defaults);
  const ledger = fleetLedger(inventory, props.ledger);
  const recorded = ledger === false ? {} : readLedger(ledger).macs;
  const sites = fleetSites(inventory, recorded);
  const stacks = new Map<string, FleetStack>();
  for (const site of sites) {
    stacks.set(site, new FleetStack(scope, stackName(site), { ...fleetProps, inventory, defaults: undefined, site, backend }));
  }
  return stacks;
}

export interface FleetStackProps extends MacFleetProps {
  /** Gives the stack its backend; see `FleetStacksProps.backend`. */
  readonly backend?: (stack: TerraformStack, site: string) => void;
}

/** A stack holding one `MacFleet` (all of it, or one site), with the backend of your choice. */
export class FleetStack extends TerraformStack {
  /** The fleet in this stack. */
  readonly fleet: MacFleet;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id);
    const { backend, ...fleetProps } = props;
    backend?.(this, props.site ?? DEFAULT_SITE);
    this.fleet = new MacFleet(this, "Fleet", fleetProps);
  }
}
