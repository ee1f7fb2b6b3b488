// Account lookups in /etc/passwd and /etc/group, as getpwnam(3)/getgrnam(3) would do on the simulated Mac.
import { readFileSync } from "node:fs";

export interface Account { name: string; uid: number; gid: number; home: string; shell: string }

function rows(file: string): string[][] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(":"));
}

/** A user by short name or numeric uid. */
export function lookupUser(nameOrUid: string | number): Account | undefined {
  const key = String(nameOrUid);
  const row = rows("/etc/passwd").find((r) => r[0] === key || r[2] === key);
  if (!row) return undefined;
  const uid = Number(row[2]);
  // macOS keeps root's home at /var/root; Debian's /root is not where Mac tools look.
  return { name: row[0]!, uid, gid: Number(row[3]), home: uid === 0 ? "/var/root" : row[5]!, shell: row[6] ?? "/bin/sh" };
}

/** A group id by name or number. */
export function lookupGroup(nameOrGid: string): number | undefined {
  const row = rows("/etc/group").find((r) => r[0] === nameOrGid || r[2] === nameOrGid);
  return row ? Number(row[2]) : undefined;
}
