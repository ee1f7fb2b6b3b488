/** Read-only looks at a simulated Mac that the end-to-end tests assert on. */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { createTransport } from "nodemailer";
import plist from "plist";
import type { Lab } from "../lab/lab.js";

/** Runs argv as root inside the Mac and returns stdout; fails the test on a non-zero exit. */
export async function onMac(lab: Lab, mac: string, argv: string[], input?: string): Promise<string> {
  const result = await lab.exec(mac, argv, { input });
  assert.equal(result.exitCode, 0, `${mac}: ${argv.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
  return String(result.stdout);
}

/** `postmulti -l` as [name, group, enabled, config directory] rows. */
export async function instances(lab: Lab, mac: string): Promise<string[][]> {
  return (await onMac(lab, mac, ["/usr/sbin/postmulti", "-l"])).split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/));
}

/** One main.cf parameter of the instance in `configDirectory`. */
export async function setting(lab: Lab, mac: string, configDirectory: string, name: string): Promise<string> {
  return (await onMac(lab, mac, ["/usr/sbin/postconf", "-c", configDirectory, "-h", name])).trimEnd();
}

/** `launchctl print system/LABEL`: exit code and the parsed `state` and `pid` lines. */
export async function job(lab: Lab, mac: string, label: string): Promise<{ exitCode: number; state?: string; pid?: number }> {
  const result = await lab.exec(mac, ["/bin/launchctl", "print", `system/${label}`]);
  const text = String(result.stdout);
  const pid = /^\s*pid = (\d+)/m.exec(text)?.[1];
  return { exitCode: result.exitCode ?? -1, state: /^\s*state = (\S+)/m.exec(text)?.[1], pid: pid === undefined ? undefined : Number(pid) };
}

/** Owner uid, gid and octal mode of a file on the Mac, e.g. "0 0 644". */
export async function ownerAndMode(lab: Lab, mac: string, path: string): Promise<string> {
  return (await onMac(lab, mac, ["stat", "-c", "%u %g %a", path])).trim();
}

/** The plist at `path`, parsed with the plist package. */
export async function readPlist(lab: Lab, mac: string, path: string): Promise<Record<string, unknown>> {
  return plist.parse(await onMac(lab, mac, ["cat", path])) as Record<string, unknown>;
}

/** Whether a path exists on the Mac. */
export async function exists(lab: Lab, mac: string, path: string): Promise<boolean> {
  return (await lab.exec(mac, ["test", "-e", path])).exitCode === 0;
}

/** Sends one message over a real SMTP conversation; returns the server's final answer. */
export async function sendMail(address: string, port: number, to: string, subject: string): Promise<string> {
  const transport = createTransport({ host: address, port, secure: false, ignoreTLS: true, name: "deployer.lab", connectionTimeout: 10_000 });
  try {
    const info = await transport.sendMail({ from: "tester@deployer.lab", to, subject, text: `${subject}\n` });
    return info.response;
  } finally {
    transport.close();
  }
}

/** Polls `probe` until it returns true, for at most `ms`; fails with `what` otherwise. */
export async function eventually(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(250);
  }
}
