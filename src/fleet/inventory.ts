/**
 * The fleet inventory: which Macs exist, how to reach them, and what each one's input instance looks like.
 *
 * ```yaml
 * defaults: { user: admin, settings: { inet_interfaces: all } }
 * hosts:
 *   - { name: mac1, address: 10.0.0.1, site: east }
 *   - { name: mac2, address: 10.0.0.2, settings: { message_size_limit: 20480000 } }
 * retired:
 *   - { name: mac0 }
 * ```
 *
 * Everything is checked before a construct exists; all problems are reported at once, each naming
 * the file, the entry and the field.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, resolve } from "node:path";
import { isMap, isScalar, parseDocument, visit } from "yaml";
import { INPUT_INSTANCE_DEFAULTS, type Lifecycle, type PostfixInputInstanceProps, type RunMode } from "../constructs/postfix-input-instance.js";
import { ON_DESTROY_VALUES } from "../constructs/postfix-instance.js";
import { MAC_DEFAULT_PATHS, type MacPaths } from "../spec.js";
import {
  showValue,
  validateAbsolutePath,
  validateBoolean,
  validateEnum,
  validateGroup,
  validateHost,
  validateInstanceName,
  validateKnownKeys,
  validateLabel,
  validateNonEmptyLine,
  validatePort,
  validateProxyJump,
  validateRecord,
  validateSettings,
  validateString,
  validateUser,
  ValidationError,
} from "../validation.js";

/** How the deploying machine reaches one Mac over SSH. */
export interface FleetConnection {
  /** Host name or address. */
  readonly address: string;
  readonly user?: string;
  readonly port?: number;
  /** Absolute path of the private key on the deploying machine. */
  readonly identityFile?: string;
  /** Absolute path of the known_hosts file on the deploying machine. */
  readonly knownHostsFile?: string;
  readonly proxyJump?: string;
}

/**
 * Per-Mac `PostfixInputInstance` props (see there); unset fields take the construct's defaults.
 * `settings` merge key by key: the construct's defaults, the inventory's defaults, the host's own.
 */
export type FleetInstanceProps = Pick<
  PostfixInputInstanceProps,
  "instanceName" | "group" | "label" | "settings" | "runMode" | "onDestroy" | "lifecycle" | "loginUser" | "smtpPort" | "smtpAddress" | "configDirectory"
>;

/** One Mac of the inventory, with defaults already merged in. */
export interface FleetMac {
  /** The name as written in the inventory; appears in messages and in the ledger. */
  readonly name: string;
  /** A Terraform-identifier-safe, deterministic form of `name`, used in construct ids and addresses. */
  readonly segment: string;
  /** Which entry of the inventory it is, e.g. `hosts[3] (mac17)`. */
  readonly where: string;
  /** Splitting key: Macs of one site share a stack when a fleet is split. */
  readonly site?: string;
  /** Absent only on a retired Mac that gives no address (its teardown reads everything from state). */
  readonly connection?: FleetConnection;
  readonly sudo?: boolean | "auto";
  readonly paths?: Partial<MacPaths>;
  /** MacHost's loudly named opt-out of host-key verification. */
  readonly insecureIgnoreHostKey?: boolean;
  readonly instance: FleetInstanceProps;
}

/** A validated inventory. */
export interface Inventory {
  /** The file it was read from, or the label given for an in-memory inventory. */
  readonly source: string;
  /** The file it was read from (absent for an in-memory inventory). */
  readonly file?: string;
  readonly hosts: readonly FleetMac[];
  readonly retired: readonly FleetMac[];
}

/** The raw shape of an inventory document (YAML, JSON or an object). */
export interface InventoryDocument {
  readonly defaults?: Record<string, unknown>;
  readonly hosts: readonly Record<string, unknown>[];
  readonly retired?: readonly Record<string, unknown>[];
}

/** Options for reading an in-memory inventory. */
export interface InventoryOptions {
  /** Name used in messages in place of a file name. Default "inventory". */
  readonly source?: string;
  /** Directory that relative key and known_hosts paths are resolved against. Default: the current directory. */
  readonly baseDirectory?: string;
  /** Defaults below the document's own `defaults` (the code's fleet-wide choices). */
  readonly defaults?: Readonly<Record<string, unknown>>;
}

/** Every problem found in an inventory, each a full message with file, entry and field. */
export class InventoryError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source}: invalid inventory (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  ${problems.join("\n  ")}`);
    this.name = "InventoryError";
  }
}

/** Checks one field's value and returns it typed; throws `ValidationError` naming where, field and value. */
type FieldValidator = (where: string, field: string, value: unknown) => unknown;

const RUN_MODES: readonly RunMode[] = ["supervised", "postmulti-start"];
const LIFECYCLES: readonly Lifecycle[] = ["boot", "login"];
const PATH_KEYS: readonly (keyof MacPaths)[] = Object.keys(MAC_DEFAULT_PATHS) as (keyof MacPaths)[];

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SITE_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

const matching = (pattern: RegExp, what: string): FieldValidator => (where, field, value) => {
  if (!pattern.test(validateString(where, field, value))) throw new ValidationError(where, field, what, value);
  return value;
};

/** A key or known_hosts path: relative ones are taken from the inventory's folder, `~/` from the home folder. */
const localPath =
  (base: string): FieldValidator =>
  (where, field, value) => {
    const path = validateNonEmptyLine(where, field, value);
    return validateAbsolutePath(where, field, path === "~" || path.startsWith("~/") ? homedir() + path.slice(1) : resolve(base, path));
  };

/** The fields a host entry, a retired entry and `defaults` may carry (`address` only on entries). */
function fieldValidators(base: string): Readonly<Record<string, FieldValidator>> {
  return {
    address: validateHost,
    user: validateUser,
    port: validatePort,
    identityFile: localPath(base),
    knownHostsFile: localPath(base),
    proxyJump: validateProxyJump,
    sudo: (where, field, value) => validateEnum<boolean | "auto">(where, field, value, [true, false, "auto"]),
    insecureIgnoreHostKey: validateBoolean,
    paths: (where, field, value) => {
      const record = validateRecord(where, field, value);
      validateKnownKeys(where, field, record, PATH_KEYS);
      for (const [key, path] of Object.entries(record)) validateAbsolutePath(where, `${field}.${key}`, path);
      return record;
    },
    site: matching(SITE_PATTERN, "must start with a letter and hold only letters, digits, '_' and '-' (at most 63)"),
    instanceName: validateInstanceName,
    group: validateGroup,
    label: validateLabel,
    runMode: (where, field, value) => validateEnum(where, field, value, RUN_MODES),
    onDestroy: (where, field, value) => validateEnum(where, field, value, ON_DESTROY_VALUES),
    lifecycle: (where, field, value) => validateEnum(where, field, value, LIFECYCLES),
    loginUser: validateUser,
    smtpPort: validatePort,
    smtpAddress: (where, field, value) => (value === null ? null : validateHost(where, field, value)),
    configDirectory: validateAbsolutePath,
    // YAML reads `message_size_limit: 10485760` as a number, main.cf holds strings; null drops a default.
    settings: (where, field, value) => {
      const record = validateRecord(where, field, value);
      const given = Object.entries(record).filter(([, v]) => v !== null);
      const strings = Object.fromEntries(given.map(([k, v]) => [k, typeof v === "number" && Number.isFinite(v) ? String(v) : v]));
      return { ...Object.fromEntries(Object.keys(record).map((k) => [k, null])), ...validateSettings(where, field, strings) };
    },
  };
}

/**
 * A Terraform-identifier-safe form of a Mac's name, stable across runs. Names that are already
 * safe are kept as they are; others get their unsafe characters replaced and a short hash of the
 * original appended, so two different names never share a segment.
 */
export function addressSegment(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return name;
  const cleaned = name.replace(/[^A-Za-z0-9_]/g, "_");
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return `${/^[A-Za-z_]/.test(cleaned) ? "" : "m"}${cleaned}_${hash}`;
}

/** Reads and validates an inventory file (`.json` as JSON, anything else as YAML). */
export function loadInventory(file: string, options: Omit<InventoryOptions, "source" | "baseDirectory"> = {}): Inventory {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new InventoryError(file, [`${file}: cannot read the inventory: ${(e as Error).message}`]);
  }
  let document: unknown;
  try {
    document = file.endsWith(".json") ? JSON.parse(text) : parseYamlInventory(text);
  } catch (e) {
    throw new InventoryError(file, [`${file}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message.split("\n")[0]}`]);
  }
  const inventory = parseInventory(document, { ...options, source: file, baseDirectory: dirname(resolve(file)) });
  return { ...inventory, file: resolve(file) };
}

/**
 * A YAML inventory as data. A `settings` value YAML would read as a number keeps the text it was
 * written as: main.cf holds text, and `compatibility_level: 3.10` is not 3.1 (nor `0x10` 16).
 */
function parseYamlInventory(text: string): unknown {
  const document = parseDocument(text);
  if (document.errors.length > 0) throw document.errors[0]!;
  visit(document, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || pair.key.value !== "settings" || !isMap(pair.value)) return;
      for (const setting of pair.value.items) {
        const value = setting.value;
        if (isScalar(value) && typeof value.value === "number" && value.range) value.value = text.slice(value.range[0], value.range[1]);
      }
    },
  });
  return document.toJS();
}

/** An inventory from a file path, a document, or one already validated (then `defaults` must be unset). */
export function readInventory(inventory: string | InventoryDocument | Inventory, defaults?: Readonly<Record<string, unknown>>): Inventory {
  if (typeof inventory === "string") return loadInventory(inventory, { defaults });
  if (!("source" in inventory)) return parseInventory(inventory, { defaults });
  if (defaults !== undefined) throw new Error(`${inventory.source}: give defaults when the inventory is loaded, not with an already loaded one`);
  return inventory;
}

/** Validates an inventory document already in memory. Throws `InventoryError` listing every problem. */
export function parseInventory(document: unknown, options: InventoryOptions = {}): Inventory {
  const source = options.source ?? "inventory";
  const base = options.baseDirectory ?? process.cwd();
  const problems: string[] = [];
  const report = (problem: string) => problems.push(problem);
  // Every message starts with the source, then the entry, then the field.
  const at = (where: string, field: string, problem: string, value?: unknown) =>
    report(`${source}: ${where}: ${field}: ${problem}${value === undefined ? "" : ` (got ${showValue(value)})`}`);

  if (!isRecord(document)) {
    throw new InventoryError(source, [`${source}: must be a mapping with "hosts" (and optionally "defaults", "retired") (got ${showValue(document)})`]);
  }
  for (const key of Object.keys(document)) {
    if (!["defaults", "hosts", "retired"].includes(key)) report(`${source}: ${key}: unknown field (expected defaults, hosts, retired)`);
  }
  const readDefaults = (raw: unknown, where: string): Entry => {
    if (raw === undefined) return {};
    if (isRecord(raw)) return readEntry(raw, `${source}: ${where}`, false, report, base);
    report(`${source}: ${where}: must be a mapping (got ${showValue(raw)})`);
    return {};
  };
  const defaults = mergeEntries(readDefaults(options.defaults, "defaults (from code)"), readDefaults(document.defaults, "defaults"));

  const readList = (key: "hosts" | "retired"): FleetMac[] => {
    const list = document[key];
    if (list === undefined && key === "retired") return [];
    if (!Array.isArray(list)) {
      report(`${source}: ${key}: must be a list of hosts (got ${showValue(list)})`);
      return [];
    }
    return list.flatMap((raw: unknown, index): FleetMac[] => {
      const name = isRecord(raw) && typeof raw.name === "string" ? raw.name : undefined;
      const where = `${key}[${index}]${name === undefined ? "" : ` (${name})`}`;
      if (!isRecord(raw)) {
        report(`${source}: ${where}: must be a mapping with at least "name"${key === "hosts" ? ' and "address"' : ""} (got ${showValue(raw)})`);
        return [];
      }
      const entry = mergeEntries(defaults, readEntry(raw, `${source}: ${where}`, true, report, base));
      if (key === "hosts" && raw.address === undefined) at(where, "address", "is required");
      if (name === undefined) at(where, "name", raw.name === undefined ? "is required" : "must be a string", raw.name);
      else if (!NAME_PATTERN.test(name)) at(where, "name", "must start with a letter or digit and hold only letters, digits, '.', '_' and '-' (at most 63)", name);
      else return [toMac(name, where, entry)];
      return [];
    });
  };
  const hosts = readList("hosts");
  const retired = readList("retired");

  // One name, one Mac: case-insensitively (host names are), and after making it an address segment.
  const names = new Map<string, string>();
  const segments = new Map<string, string>();
  for (const mac of [...hosts, ...retired]) {
    const first = names.get(mac.name.toLowerCase());
    if (first !== undefined) {
      const liveAndRetired = first.startsWith("hosts") && mac.where.startsWith("retired");
      at(mac.where, "name", liveAndRetired ? `is both live (${first}) and retired; keep it in one list` : `duplicate name (first at ${first})`, mac.name);
      continue;
    }
    names.set(mac.name.toLowerCase(), mac.where);
    const clash = segments.get(mac.segment.toLowerCase());
    if (clash !== undefined) at(mac.where, "name", `maps to the same Terraform address segment "${mac.segment}" as ${clash}; rename one`, mac.name);
    segments.set(mac.segment.toLowerCase(), mac.where);
  }
  // Two entries on one Mac with the same instance, launchd label (one plist) or config directory
  // would fight over it; defaults filled in, so an entry that leaves one out still collides.
  const taken = new Map<string, string>();
  for (const mac of hosts) {
    const c = mac.connection;
    const theMac = c === undefined ? ["local"] : [c.address.toLowerCase(), c.port ?? 22, c.proxyJump ?? ""];
    const { instanceName = INPUT_INSTANCE_DEFAULTS.instanceName, label = INPUT_INSTANCE_DEFAULTS.label, configDirectory } = mac.instance;
    for (const [field, value] of [["instanceName", instanceName], ["label", label], ["configDirectory", configDirectory]] as const) {
      if (value === undefined) continue;
      const key = JSON.stringify([...theMac, field, value]);
      const first = taken.get(key);
      if (first !== undefined) at(mac.where, field, `same Mac and ${field} as ${first}; give one another ${field} or remove it`, value);
      else taken.set(key, mac.where);
    }
  }

  if (problems.length > 0) throw new InventoryError(source, problems);
  return { source, hosts, retired };
}

/** Fields of one entry after validation; `settings` values may be null (drop the default). */
type Entry = Record<string, unknown> & { settings?: Record<string, string | null>; paths?: Record<string, string> };

/** Validates every field of one entry (or of `defaults`), reporting each bad one. */
function readEntry(raw: Record<string, unknown>, where: string, individual: boolean, report: (problem: string) => void, base: string): Entry {
  const validators = fieldValidators(base);
  const allowed = Object.keys(validators).filter((f) => individual || f !== "address");
  const entry: Entry = {};
  for (const [field, value] of Object.entries(raw)) {
    if (individual && field === "name") continue;
    if (!allowed.includes(field)) {
      report(`${where}: ${field}: unknown field (expected one of ${[...(individual ? ["name"] : []), ...allowed].join(", ")})`);
      continue;
    }
    try {
      entry[field] = validators[field]!(where, field, value);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      report(e.message);
    }
  }
  return entry;
}

/** Later entries win; `settings` and `paths` merge key by key. */
function mergeEntries(...entries: Entry[]): Entry {
  const merged: Entry = {};
  for (const entry of entries) {
    for (const [field, value] of Object.entries(entry)) {
      merged[field] = field === "settings" || field === "paths" ? { ...(merged[field] as object | undefined), ...(value as object) } : value;
    }
  }
  return merged;
}

const CONNECTION_FIELDS = ["user", "port", "identityFile", "knownHostsFile", "proxyJump"] as const;
const INSTANCE_FIELDS = ["instanceName", "group", "label", "settings", "runMode", "onDestroy", "lifecycle", "loginUser", "smtpPort", "smtpAddress", "configDirectory"] as const;

function toMac(name: string, where: string, entry: Entry): FleetMac {
  const pick = (fields: readonly string[]) => Object.fromEntries(fields.filter((f) => entry[f] !== undefined).map((f) => [f, entry[f]]));
  const settings = entry.settings === undefined ? undefined : (Object.fromEntries(Object.entries(entry.settings).filter(([, v]) => v !== null)) as Record<string, string>);
  return {
    name,
    segment: addressSegment(name),
    where,
    ...pick(["site", "sudo", "paths", "insecureIgnoreHostKey"]),
    ...(entry.address === undefined ? {} : { connection: { address: entry.address as string, ...pick(CONNECTION_FIELDS) } }),
    instance: { ...pick(INSTANCE_FIELDS), ...(settings === undefined ? {} : { settings }) },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
