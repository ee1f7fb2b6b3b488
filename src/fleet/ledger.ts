/**
 * The retirement ledger: every Mac name a fleet has ever deployed, kept in a JSON file beside the
 * inventory. Terraform forgets a Mac whose resources vanish from the configuration and leaves it
 * configured; the ledger is how the fleet notices that a Mac was deleted instead of retired.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { FleetMac, Inventory } from "./inventory.js";

export interface LedgerEntry {
  /** "live" while in `hosts` (and after vanishing, until retired); "retired" once in `retired`. */
  readonly status: "live" | "retired";
  /** The site it was last deployed in. */
  readonly site?: string;
}

export interface Ledger {
  readonly version: 1;
  readonly macs: Readonly<Record<string, LedgerEntry>>;
}

/** A Mac that was live in the ledger and is now in neither `hosts` nor `retired`. */
export interface VanishedMac extends LedgerEntry {
  readonly name: string;
}

/** The ledger file of an inventory file. */
export function ledgerPathFor(inventoryFile: string): string {
  return `${inventoryFile}.ledger.json`;
}

/** The ledger a fleet keeps: the one given, or `<inventory file>.ledger.json`; none for an in-memory inventory. */
export function fleetLedger(inventory: Inventory, ledger: string | false | undefined): string | false {
  return ledger ?? (inventory.file === undefined ? false : ledgerPathFor(inventory.file));
}

export function readLedger(path: string): Ledger {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, macs: {} };
    throw e;
  }
  const notLedger = (why: string) => new Error(`${path}: not a fleet ledger (${why}); fix or delete it`);
  let ledger: Ledger;
  try {
    ledger = JSON.parse(text) as Ledger;
  } catch (e) {
    throw notLedger((e as Error).message);
  }
  if (ledger?.version !== 1 || typeof ledger.macs !== "object" || ledger.macs === null) throw notLedger('expected {"version": 1, "macs": {...}}');
  return ledger;
}

/**
 * The site a Mac belongs to, if any says: a live Mac's own, else the one the ledger recorded; a
 * retired Mac's recorded one first, since its resources stay in the state of the site it was
 * deployed in, whatever its entry (or `defaults`) now says.
 */
export function lastSite(mac: FleetMac, recorded: Readonly<Record<string, LedgerEntry>>, retired: boolean): string | undefined {
  const last = recorded[mac.name]?.site;
  return retired ? (last ?? mac.site) : (mac.site ?? last);
}

/**
 * Records the inventory's Macs in the ledger (atomically, only when something changed) and
 * returns the ones that vanished. A vanished Mac stays "live" in the ledger, so the warning
 * repeats until it is retired or its ledger entry is deleted by hand.
 */
export function updateLedger(path: string, inventory: Inventory): VanishedMac[] {
  const before = readLedger(path);
  const macs: Record<string, LedgerEntry> = { ...before.macs };
  const listed = new Set<string>();
  for (const [status, list] of [["live", inventory.hosts], ["retired", inventory.retired]] as const) {
    for (const mac of list) {
      listed.add(mac.name);
      const site = lastSite(mac, before.macs, status === "retired");
      macs[mac.name] = site === undefined ? { status } : { status, site };
    }
  }
  const after: Ledger = { version: 1, macs: Object.fromEntries(Object.entries(macs).sort(([a], [b]) => a.localeCompare(b))) };
  const text = `${JSON.stringify(after, null, 2)}\n`;
  if (text !== `${JSON.stringify(before, null, 2)}\n`) writeAtomically(path, text);
  return Object.entries(macs)
    .filter(([name, entry]) => entry.status === "live" && !listed.has(name))
    .map(([name, entry]) => ({ name, ...entry }));
}

/** Temp file in the same folder, then rename: a reader sees the old ledger or the new one, never half. */
function writeAtomically(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o644 });
  renameSync(temp, path);
}
