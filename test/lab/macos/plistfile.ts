// XML property lists on disk, always through the `plist` package and always replaced atomically.
import { mkdirSync, readFileSync, renameSync, writeFileSync, chownSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import plist from "plist";

export type PlistDict = Record<string, plist.PlistValue>;

/** Parses an XML plist file; throws on unreadable or malformed files. */
export function readPlist(path: string): plist.PlistValue {
  return plist.parse(readFileSync(path, "utf8"));
}

/** Reads a plist whose root must be a dictionary; a missing file is an empty dictionary. */
export function readPlistDict(path: string): PlistDict {
  let value: plist.PlistValue;
  try {
    value = readPlist(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw e;
  }
  if (!isDict(value)) throw new Error(`${path}: the root of the property list is not a dictionary`);
  return value;
}

export function isDict(v: unknown): v is PlistDict {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);
}

/** Writes a temp file in the same folder and renames it over the target, so readers never see half a file. */
export function writePlistAtomic(path: string, value: plist.PlistValue, owner?: { uid: number; gid: number }): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, plist.build(value) + "\n", { mode: 0o644 });
  if (owner) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, path);
}
