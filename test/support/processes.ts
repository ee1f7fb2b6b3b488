/** Processes of this machine, as /proc shows them. */
import { readdirSync, readFileSync } from "node:fs";

/** Every descendant of `pid` (children first found via /proc), deepest last. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parents) if (parent === p && !found.includes(child)) (found.push(child), walk(child));
  };
  walk(pid);
  return found;
}

/** The program name of pid (its comm), or undefined once it has ended. */
export function programOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}
