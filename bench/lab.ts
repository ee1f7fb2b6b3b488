// Lab performance bars: `up --hosts 50` <= 60 s, `down` <= 30 s, an idle simulated Mac <= 60 MB (PSS).
// Runs on a private lab instance ("b") so the default lab is left alone. Usage: npx tsx bench/lab.ts [hosts]
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { Lab } from "../test/lab/lab.js";

const hosts = Number(process.argv[2] ?? 50);
const lab = new Lab({ instance: "b" });

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** PSS of every process in the Mac's PID namespace, plus the host-side `unshare` that holds its namespaces. */
function macPssKiB(pid1: number): { inside: number; holder: number; processes: number } {
  const ns = readlinkSync(`/proc/${pid1}/ns/pid`);
  let inside = 0;
  let processes = 0;
  for (const p of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      if (readlinkSync(`/proc/${p}/ns/pid`) !== ns) continue;
    } catch {
      continue;
    }
    inside += pssKiB(Number(p));
    processes++;
  }
  const holder = pssKiB(Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid1}/status`, "utf8"))![1]));
  return { inside, holder, processes };
}

await lab.down();
const up = await timed(() => lab.up({ hosts }));
const again = await timed(() => lab.up({ hosts }));
// Let every Mac settle into idle (launchd started, sshd listening) before measuring memory.
await new Promise((r) => setTimeout(r, 3000));
const mem = (await lab.status()).map((s) => macPssKiB(s.pid!));
const mb = (kib: number) => kib / 1024;
const inside = mem.map((m) => mb(m.inside));
const total = mem.map((m) => mb(m.inside + m.holder));
const down = await timed(() => lab.down());

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows: [string, string, string, string][] = [
  [`up --hosts ${hosts}`, `${up.toFixed(1)} s`, "<= 60 s", up <= 60 ? "ok" : "MISSED"],
  [`up --hosts ${hosts} again (no-op)`, `${again.toFixed(1)} s`, "", ""],
  ["down", `${down.toFixed(1)} s`, "<= 30 s", down <= 30 ? "ok" : "MISSED"],
  ["idle Mac PSS, its processes (mean)", `${avg(inside).toFixed(1)} MB`, "<= 60 MB", Math.max(...inside) <= 60 ? "ok" : "MISSED"],
  ["idle Mac PSS, + host-side unshare (max)", `${Math.max(...total).toFixed(1)} MB`, "<= 60 MB", Math.max(...total) <= 60 ? "ok" : "MISSED"],
  ["processes per idle Mac", String(avg(mem.map((m) => m.processes))), "", ""],
];
const width = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), ["measure", "value", "bar", ""][i]!.length));
const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i]!)).join("  ");
console.log(line(["measure", "value", "bar", ""]));
for (const r of rows) console.log(line(r));
