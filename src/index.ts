export * from "./spec.js";
export * from "./validation.js";
export * from "./plist/launchd.js";
export * from "./constructs/mac-host.js";
export { ADDRESS_PREFIX_PATTERN, CLI_PATH, STEP_CLIENT_PATH, escapeTemplates, macStepAddress, macStepProvisioner, type MacStepName } from "./constructs/mac-step.js";
export * from "./constructs/postfix-instance.js";
export * from "./constructs/launch-job.js";
export * from "./constructs/launch-daemon.js";
export * from "./constructs/launch-agent.js";
export * from "./constructs/postfix-input-instance.js";
export * from "./constructs/logout-hook.js";
export * from "./constructs/sudo-rule.js";

// Fleets: an inventory of Macs deployed by one MacFleet, or split into one stack per site.
export {
  addressSegment,
  InventoryError,
  loadInventory,
  parseInventory,
  readInventory,
  type FleetConnection,
  type FleetInstanceProps,
  type FleetMac,
  type Inventory,
  type InventoryDocument,
  type InventoryOptions,
} from "./fleet/inventory.js";
export { DEFAULT_SITE, MacFleet, type FleetMember, type MacFleetProps } from "./fleet/mac-fleet.js";
export { FleetStack, fleetStacks, type FleetStackProps, type FleetStacksProps } from "./fleet/fleet-stack.js";
export { ledgerPathFor, readLedger, type Ledger, type LedgerEntry, type VanishedMac } from "./fleet/ledger.js";
// The operations `mac-postfix status|start|stop|reload|flush|verify` runs, for scripts of your own.
export { fleetTargets, OPERATIONS, runFleetOperation, type MacResult, type MacTarget, type Operation, type RunFleetOptions } from "./fleet/operations.js";
export { resultTable } from "./fleet/progress.js";
