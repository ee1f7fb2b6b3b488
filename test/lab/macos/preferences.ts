// Where macOS keeps a user's preference domains: ~/Library/Preferences/DOMAIN.plist (root's home is /var/root).
import { join } from "node:path";
import { lookupUser } from "./accounts.js";

export function preferencesFile(uid: number, domain: string): string {
  const user = lookupUser(uid);
  if (!user) throw new Error(`no account with uid ${uid}`);
  return join(user.home, "Library/Preferences", `${domain}.plist`);
}
