/**
 * SSH connections counted on the Macs' side: each bench Mac's sshd is restarted by its own launchd
 * with `-E /var/log/sshd-bench.log` (the lab's sshd logs to syslog, which a simulated Mac lacks),
 * and every `Accepted publickey` line in that log is one connection that authenticated.
 * `restore` puts the lab's own plist back.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import plist from "plist";
import type { Lab } from "../test/lab/lab.js";

const LABEL = "com.openssh.sshd";
const PLIST = `/System/Library/LaunchDaemons/${LABEL}.plist`;
export const SSHD_LOG = "/var/log/sshd-bench.log";

async function must(lab: Lab, mac: string, argv: string[], input?: string): Promise<string> {
  const r = await lab.exec(mac, argv, { input });
  if (r.exitCode !== 0) throw new Error(`${mac}: ${argv.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
  return String(r.stdout);
}

/** Boots sshd out, waits until launchd has let it go, writes `job` and boots it in again. */
async function reload(lab: Lab, mac: string, job: Record<string, unknown>): Promise<void> {
  await lab.exec(mac, ["/bin/launchctl", "bootout", `system/${LABEL}`]);
  for (let i = 0; (await lab.exec(mac, ["/bin/launchctl", "print", `system/${LABEL}`])).exitCode !== 113; i++) {
    if (i > 100) throw new Error(`${mac}: sshd not booted out after 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await must(lab, mac, ["sh", "-c", `cat > ${PLIST}.tmp && chmod 644 ${PLIST}.tmp && mv ${PLIST}.tmp ${PLIST}`], plist.build(job as plist.PlistObject));
  await must(lab, mac, ["/bin/launchctl", "bootstrap", "system", PLIST]);
  for (let i = 0; (await lab.exec(mac, ["sh", "-c", "ss -Hltn sport = :22 | grep -q ."])).exitCode !== 0; i++) {
    if (i > 100) throw new Error(`${mac}: sshd not listening 10 s after bootstrap`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function current(lab: Lab, mac: string): Promise<Record<string, unknown> & { ProgramArguments: string[] }> {
  return plist.parse(await must(lab, mac, ["cat", PLIST])) as Record<string, unknown> & { ProgramArguments: string[] };
}

export async function enableSshdLog(lab: Lab, mac: string): Promise<void> {
  const job = await current(lab, mac);
  if (job.ProgramArguments.includes("-E")) return;
  await reload(lab, mac, { ...job, ProgramArguments: [...job.ProgramArguments, "-E", SSHD_LOG] });
}

export async function restoreSshd(lab: Lab, mac: string): Promise<void> {
  const job = await current(lab, mac);
  const i = job.ProgramArguments.indexOf("-E");
  if (i < 0) return;
  await reload(lab, mac, { ...job, ProgramArguments: job.ProgramArguments.filter((_, j) => j !== i && j !== i + 1) });
}

/** Connections accepted so far by the Mac's sshd. */
export async function acceptedConnections(lab: Lab, mac: string): Promise<number> {
  const text = await readFile(join(await lab.rootOf(mac), SSHD_LOG), "utf8").catch(() => "");
  return text.split("\n").filter((l) => l.includes("Accepted publickey")).length;
}
