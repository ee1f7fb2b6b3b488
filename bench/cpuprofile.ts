/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): milliseconds of CPU per package or
 * source file (self time), and the heaviest functions by inclusive time.
 *   tsx bench/cpuprofile.ts FILE.cpuprofile [top]
 */
import { readFileSync } from "node:fs";

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

/** node_modules/<pkg> or the repository-relative file a frame belongs to. */
const owner = (url: string) => (url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1] ?? url.replace(/^file:\/\/.*?\/work\/main\//, "")) || "(native/gc)";

export function summarise(profile: Profile, top = 15): { byOwnerMs: [string, number][]; heaviest: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  profile.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const byOwner = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, ms] of self) {
    const o = owner(byId.get(id)!.callFrame.url);
    byOwner.set(o, (byOwner.get(o) ?? 0) + ms);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const key = `${f.functionName || "(anonymous)"} ${owner(f.url)}:${f.lineNumber + 1}`;
      if (!seen.has(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
      seen.add(key);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, Math.round(v)] as [string, number]);
  return { byOwnerMs: sorted(byOwner), heaviest: sorted(inclusive) };
}

if (process.argv[1]?.endsWith("cpuprofile.ts")) {
  const s = summarise(JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Profile, Number(process.argv[3] ?? 15));
  for (const [k, v] of s.byOwnerMs) console.log(`${String(v).padStart(7)} ms self  ${k}`);
  console.log();
  for (const [k, v] of s.heaviest) console.log(`${String(v).padStart(7)} ms incl  ${k}`);
}
