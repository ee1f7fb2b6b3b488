// A minimal defaults(1): read, write (strings), delete of ~/Library/Preferences/DOMAIN.plist for the calling user.
import { rmSync } from "node:fs";
import plist from "plist";
import { lookupUser } from "./accounts.js";
import { readPlistDict, writePlistAtomic, type PlistDict } from "./plistfile.js";
import { preferencesFile } from "./preferences.js";

const uid = process.getuid!();
const [verb, domain, key, value, ...rest] = process.argv.slice(2);

function die(message: string, code = 1): never {
  process.stderr.write(message + "\n");
  process.exit(code);
}

/** defaults prints plist values in the old NeXTSTEP style; strings that are plain words stay unquoted. */
function render(v: plist.PlistValue, indent = ""): string {
  if (typeof v === "string") return /^[A-Za-z0-9_./-]+$/.test(v) ? v : `"${v.replace(/["\\]/g, "\\$&")}"`;
  if (typeof v === "boolean") return v ? "1" : "0";
  if (typeof v === "number") return String(v);
  if (Array.isArray(v)) return `(\n${v.map((x) => `${indent}    ${render(x, indent + "    ")}`).join(",\n")}\n${indent})`;
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return `{length = ${v.length}, bytes = 0x${v.toString("hex")}}`;
  const entries = Object.entries(v as PlistDict).map(([k, x]) => `${indent}    ${render(k)} = ${render(x, indent + "    ")};`);
  return `{\n${entries.join("\n")}\n${indent}}`;
}

if (verb === undefined || domain === undefined) die("Usage: defaults read|write|delete DOMAIN [KEY] [VALUE]", 255);
// A domain given as an absolute path names the plist file itself (with or without .plist), as on macOS.
const file = domain.startsWith("/") ? (domain.endsWith(".plist") ? domain : `${domain}.plist`) : preferencesFile(uid, domain);
const prefs = readPlistDict(file);
const absent = () => die(`\nThe domain/default pair of (${domain}, ${key}) does not exist`);

switch (verb) {
  case "read":
    if (value !== undefined) die("Usage: defaults read DOMAIN [KEY]", 255);
    if (key === undefined) {
      if (Object.keys(prefs).length === 0) die(`\nDomain ${domain} does not exist`);
      process.stdout.write(render(prefs) + "\n");
    } else if (key in prefs) {
      // A string read on its own is printed as is; quoting only happens inside arrays and dictionaries.
      const v = prefs[key]!;
      process.stdout.write((typeof v === "string" ? v : render(v)) + "\n");
    }
    else absent();
    break;
  case "write": {
    if (key === undefined || value === undefined || rest.length > 0) die("Usage: defaults write DOMAIN KEY VALUE (strings only here)", 255);
    const user = lookupUser(uid);
    writePlistAtomic(file, { ...prefs, [key]: value }, user && { uid: user.uid, gid: user.gid });
    break;
  }
  case "delete":
    if (value !== undefined) die("Usage: defaults delete DOMAIN [KEY]", 255);
    if (key === undefined) {
      if (Object.keys(prefs).length === 0) die(`\nDomain (${domain}) not found.\nDefaults have not been changed.`);
      rmSync(file);
    } else if (key in prefs) {
      const { [key]: _removed, ...kept } = prefs;
      writePlistAtomic(file, kept);
    } else absent();
    break;
  default:
    die(`Unrecognized verb: ${verb}`, 255);
}
