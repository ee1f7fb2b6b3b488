/**
 * Idempotence and concurrency through the real cdktf CLI (the `mac-ssh` example stack).
 * - The same configuration deployed twice: Terraform runs nothing the second time; and deployed
 *   again from a fresh state (every step's program runs), every line of its log says "no change"
 *   and no file on the Mac is rewritten.
 * - Two deploys at one Mac at once, from two workspaces with their own states: the Mac lock
 *   serializes them (both queue behind a lock the test holds; let go, one creates the instance
 *   while the other waits, then finds it created), both finish, and main.cf is never seen
 *   half-written by a reader polling it throughout.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { InventoryHost } from "../lab/lab.js";
import { sshHost } from "../executor/lab-specs.js";
import { holdMacLock } from "../support/lock.js";
import { eventually, job } from "../support/mac.js";
import { assertDeployed, banner, freshLab, lab, macSh, macSshEnv, Project, stepLines, touchedAddresses } from "./support.js";

const CONFIG = "/etc/postfix-in";
const LABEL = "org.postfix.in";
const PLIST = `/Library/LaunchDaemons/${LABEL}.plist`;
let macs: InventoryHost[];
const projects: Project[] = [];
const project = () => {
  const p = new Project();
  projects.push(p);
  return p;
};
/** The banner, and a parameter of the user's own that nothing in Postfix refers to (postconf hides those). */
const withBanner = (mac: InventoryHost, tag: string) =>
  macSshEnv(mac, { MAC_POSTFIX_SETTINGS: JSON.stringify({ smtpd_banner: `$myhostname ESMTP ${tag}`, rel_site_note: `deployed as ${tag}` }) });

/** Inode, size and modification time of every file a deploy writes: a rewrite changes them. */
const fileStamps = (mac: string) => macSh(mac, 'stat -c "%n %i %s %Y.%y" "$@"', `${CONFIG}/main.cf`, `${CONFIG}/master.cf`, `${CONFIG}/.mac-postfix-managed.json`, PLIST, "/etc/postfix/main.cf");

/** A main.cf as Postfix writes it: whole lines of comments, `name = value` or continuations, ending in a newline. */
function wholeMainCf(text: string): boolean {
  return text.endsWith("\n") && text.split("\n").slice(0, -1).every((l) => /^(#.*|\s*|[A-Za-z0-9_]+ =( .*)?|\s+\S.*)$/.test(l)) && /^multi_instance_name = postfix-in$/m.test(text);
}

describe("idempotence and concurrency", { concurrency: false, timeout: 600_000 }, () => {
  before(async () => {
    macs = await freshLab(2);
  });
  after(async () => {
    for (const p of projects) p.dispose();
    await lab.release();
  });

  test("the same configuration deployed twice: the second deploy runs nothing; from a fresh state every step logs no change and nothing is rewritten", async () => {
    const mac = macs[0]!;
    const first = project();
    assertDeployed(await first.deploy("mac-ssh", withBanner(mac, "same")));
    const stamps = await fileStamps(mac.name);
    const pid = (await job(lab, mac.name, LABEL)).pid;

    const second = await first.deploy("mac-ssh", withBanner(mac, "same"));
    assertDeployed(second);
    assert.match(second.output, /No changes\. Your infrastructure matches the configuration\./);
    assert.deepEqual(touchedAddresses(second.output), []);
    assert.doesNotMatch(second.output, /local-exec/);

    // State lost, or a second workspace: every step's program runs against the configured Mac.
    const fresh = await project().deploy("mac-ssh", withBanner(mac, "same"));
    assertDeployed(fresh);
    const lines = stepLines(fresh.output);
    for (const kind of ["instance postfix-in", "instance-config postfix-in", "launch-job org.postfix.in", "readiness org.postfix.in"]) {
      assert.ok(lines.some((l) => l.startsWith(`[mac] ${kind}: `)), `no log line from ${kind}:\n${lines.join("\n")}`);
    }
    assert.deepEqual(lines.filter((l) => !l.endsWith(": no change")), [], "a step changed something");
    assert.ok(lines.length >= 12, lines.join("\n"));
    assert.equal(await fileStamps(mac.name), stamps, "a file on the Mac was rewritten");
    assert.equal((await job(lab, mac.name, LABEL)).pid, pid, "master was restarted");

    // A setting dropped from the configuration is taken out of main.cf, the user's own parameter too.
    const dropped = await first.deploy("mac-ssh", macSshEnv(mac, { MAC_POSTFIX_SETTINGS: JSON.stringify({ smtpd_banner: "$myhostname ESMTP same" }) }));
    assertDeployed(dropped);
    assert.ok(stepLines(dropped.output).includes("[mac] instance-config postfix-in: revert rel_site_note: changed"), stepLines(dropped.output).join("\n"));
    assert.doesNotMatch(await macSh(mac.name, 'cat "$1"', `${CONFIG}/main.cf`), /rel_site_note/);
  });

  test("two deploys at one Mac at once are serialized by the Mac lock; main.cf is never half-written", async () => {
    const mac = macs[1]!;
    const [c, d] = [project(), project()];
    // However far apart the two CLIs reach their first step, their instance steps meet on the
    // Mac's lock: both queue behind this one first.
    const lock = await holdMacLock(sshHost(mac));
    const deploys = [c.start(["deploy", "mac-ssh", "--auto-approve"], withBanner(mac, "from-C")), d.start(["deploy", "mac-ssh", "--auto-approve"], withBanner(mac, "from-D"))];
    // Judge main.cf from the moment the first deploy's instance step has created the instance:
    // while `postmulti -e create` builds it, main.cf is Postfix's to write, not ours.
    const created = () => deploys.some((x) => /mac_instance(?: \([^)]*\))?: Creation complete/.test(x.output()));
    let polling = true;
    const seen: string[] = [];
    let torn: string | undefined;
    const reader = (async () => {
      while (polling) {
        const judged = created();
        // A marker after the content: what the reader gets keeps main.cf's own last newline.
        const r = await lab.exec(mac.name, ["/bin/sh", "-c", 'cat "$1" && echo "<end>"', "sh", `${CONFIG}/main.cf`]);
        if (judged && r.exitCode === 0) {
          const text = String(r.stdout).replace(/<end>$/, "");
          seen.push(text);
          if (!wholeMainCf(text)) torn ??= text;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let runs;
    try {
      await eventually("both deploys to wait for the Mac lock", 300_000, async () =>
        deploys.every((x) => x.output().includes("waiting for another deploy's lock on this Mac")),
      );
      await lock.release();
      runs = await Promise.all(deploys.map((x) => x.done));
    } finally {
      await lock.release();
      polling = false;
      await reader;
    }
    for (const run of runs) assertDeployed(run);
    const creates = runs.flatMap((run) => stepLines(run.output).filter((l) => l.startsWith("[mac] instance postfix-in: create: ")));
    assert.deepEqual(creates.sort(), ["[mac] instance postfix-in: create: changed", "[mac] instance postfix-in: create: no change"], "the instance steps were not serialized");
    const badLines = (text: string) => text.split("\n").slice(0, -1).filter((l) => !/^(#.*|\s*|[A-Za-z0-9_]+ =( .*)?|\s+\S.*)$/.test(l));
    assert.equal(torn, undefined, `main.cf was read half-written: ${JSON.stringify({ end: torn?.slice(-200), badLines: torn && badLines(torn), named: torn && /^multi_instance_name = postfix-in$/m.test(torn) })}`);
    assert.ok(seen.length > 20, `only ${seen.length} reads of main.cf`);
    assert.ok(new Set(seen.map((t) => /^smtpd_banner = (.*)$/m.exec(t)?.[1])).size >= 2, "the reader saw only one version");
    // The last deploy to configure the Mac wins; what main.cf says is what the instance serves.
    const final = /^smtpd_banner = \$myhostname ESMTP (from-[CD])$/m.exec(seen.at(-1)!)?.[1];
    assert.ok(final, seen.at(-1));
    assert.match(await banner(mac.address), new RegExp(`ESMTP ${final}`));
    assert.equal((await job(lab, mac.name, LABEL)).state, "running");
    assert.equal((await macSh(mac.name, 'stat -c "%u %g %a" "$1"', "/var/run/cdktf-mac-postfix.lock")).trim(), "0 0 644");
  });
});
