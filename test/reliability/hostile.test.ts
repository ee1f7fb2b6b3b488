/**
 * Hostile input through the deploy path (the real cdktf CLI, Terraform, the mac-postfix program, SSH
 * and the Mac). test/unit/hostile.test.ts shows each construct refuses or carries a value into the
 * step spec; this file shows what happens after that: a refused value stops `cdktf deploy` before
 * anything reaches a Mac, and an accepted one arrives on the Mac as the very same bytes (read back
 * with postconf -h, from the plist, from the argv and environment launchd really gave a job, and
 * from the files ssh really opened). Every payload that would run tries to create a canary file;
 * none may exist afterwards, on this machine or in any Mac.
 */
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import type { InventoryHost } from "../lab/lab.js";
import { exists, instances, job, onMac, readPlist } from "../support/mac.js";
import { parseInventory } from "../../src/fleet/inventory.js";
import { CORPUS } from "./corpus.js";
import { assertNoCanaries, clearHostCanaries, lab, freshLab, labConnection, Project, ROOT, stateResources, touchedAddresses } from "./support.js";

/** One inventory field: how a value is put into an entry, and the field name errors must give. */
interface Field {
  readonly name: string;
  readonly put: (value: string) => Record<string, unknown>;
  /** The field as a ValidationError names it. */
  readonly named: (value: string) => string;
}

const FIELDS: readonly Field[] = [
  { name: "name", put: (v) => ({ name: v }), named: () => "name" },
  { name: "address", put: (v) => ({ address: v }), named: () => "address" },
  { name: "user", put: (v) => ({ user: v }), named: () => "user" },
  { name: "port", put: (v) => ({ port: v }), named: () => "port" },
  { name: "identityFile", put: (v) => ({ identityFile: v }), named: () => "identityFile" },
  { name: "knownHostsFile", put: (v) => ({ knownHostsFile: v }), named: () => "knownHostsFile" },
  { name: "proxyJump", put: (v) => ({ proxyJump: v }), named: () => "proxyJump" },
  { name: "site", put: (v) => ({ site: v }), named: () => "site" },
  { name: "instanceName", put: (v) => ({ instanceName: v }), named: () => "instanceName" },
  { name: "group", put: (v) => ({ group: v }), named: () => "group" },
  { name: "label", put: (v) => ({ label: v }), named: () => "label" },
  { name: "settings (name)", put: (v) => ({ settings: { [v]: "x" } }), named: (v) => `settings.${v}` },
  { name: "settings (value)", put: (v) => ({ settings: { rel_value: v } }), named: () => "settings.rel_value" },
  { name: "configDirectory", put: (v) => ({ configDirectory: v }), named: () => "configDirectory" },
  { name: "paths.daemonDirectory", put: (v) => ({ paths: { daemonDirectory: v } }), named: () => "paths.daemonDirectory" },
  { name: "loginUser", put: (v) => ({ lifecycle: "login", loginUser: v }), named: () => "loginUser" },
  { name: "smtpAddress", put: (v) => ({ smtpAddress: v }), named: () => "smtpAddress" },
  { name: "sudo", put: (v) => ({ sudo: v }), named: () => "sudo" },
  { name: "onDestroy", put: (v) => ({ onDestroy: v }), named: () => "onDestroy" },
];

/** Whether the library's own inventory check takes the value in that field (an entry made only for it). */
function accepted(mac: InventoryHost, field: Field, value: string, base: string): boolean {
  try {
    parseInventory({ hosts: [{ name: "probe", ...labConnection(mac), ...field.put(value) }] }, { baseDirectory: base });
    return true;
  } catch {
    return false;
  }
}

/**
 * `postconf -h` output minus its own newline: the value exactly as main.cf holds it. postconf hides
 * a user-defined parameter nothing refers to ("unused parameter"); the -o reference makes it used.
 */
async function mainCfValue(mac: string, dir: string, name: string): Promise<string> {
  const out = await onMac(lab, mac, ["/usr/sbin/postconf", "-c", dir, "-o", `rel_read=\${${name}}`, "-h", "--", name]);
  return out.endsWith("\n") ? out.slice(0, -1) : out;
}

/** What the Mac looks like to a deploy: instances, launchd plists, files a step would write. */
async function macFootprint(mac: string): Promise<string> {
  return onMac(lab, mac, ["/bin/sh", "-c", "postmulti -l -a; ls -la /Library/LaunchDaemons; ls -d /etc/postfix* /var/spool/postfix*; ls -la /var/run/cdktf-mac-postfix.lock 2>&1; postconf -h multi_instance_enable multi_instance_directories"]);
}

let macs: InventoryHost[];
const projects: Project[] = [];
const project = (app?: string) => {
  const p = new Project(app);
  projects.push(p);
  return p;
};

describe("hostile input on the deploy path", { concurrency: false, timeout: 900_000 }, () => {
  before(async () => {
    clearHostCanaries();
    macs = await freshLab(3);
  });
  after(async () => {
    for (const p of projects) p.dispose();
    await lab.release();
  });

  test(`the corpus has at least 40 values, each field is tried with all of them`, () => {
    assert.ok(CORPUS.length >= 40, String(CORPUS.length));
    assert.ok(FIELDS.length >= 15);
  });

  test("every refused inventory value stops cdktf deploy before Terraform runs; each problem names file, entry and field; nothing reaches a Mac", async (t) => {
    const [mac] = macs;
    const p = project();
    const before = await macFootprint(mac!.name);
    const inventory = join(p.dir, "fleet.json");
    const entries: Record<string, unknown>[] = [];
    const expected: { index: number; text: string; nameField: boolean }[] = [];
    let acceptedCount = 0;
    FIELDS.forEach((field, f) =>
      CORPUS.forEach((value, v) => {
        if (accepted(mac!, field, value, p.dir)) return void acceptedCount++;
        const name = `f${f}v${v}`;
        const entry = { name, ...labConnection(mac!), instanceName: `postfix-${name}`, label: `org.rel.${name}`, ...field.put(value) };
        expected.push({ index: entries.length, text: `${inventory}: hosts[${entries.length}] (${entry.name}): ${field.named(value)}: `, nameField: field.name === "name" });
        entries.push(entry);
      }),
    );
    assert.ok(entries.length > 500, `only ${entries.length} refused values`);
    p.writeJson("fleet.json", { hosts: entries });
    const run = await p.deploy("fleet", { MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_INVENTORY: inventory });

    assert.notEqual(run.exitCode, 0, "the deploy must fail");
    assert.match(run.output, new RegExp(`invalid inventory \\(\\d+ problems\\)`));
    // A refused name is shown as typed, control characters and all: for those, the entry's index must appear.
    // cdktf drops escape sequences from what it prints: compare up to the first control character.
    const shown = (text: string) => text.split(/[\u0000-\u001f]/)[0]!;
    const missing = expected.filter((e) => !run.output.includes(e.nameField ? `${inventory}: hosts[${e.index}] (` : shown(e.text))).map((e) => e.text);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${expected.length} problems not reported, e.g. above`);
    assert.deepEqual(touchedAddresses(run.output), []);
    assert.doesNotMatch(run.output, /local-exec/);
    assert.deepEqual(stateResources(p.statePath("fleet")), []);
    assert.equal(await macFootprint(mac!.name), before, "the Mac changed");
    assert.ok(acceptedCount > 0);
    t.diagnostic(`${FIELDS.length} fields x ${CORPUS.length} values: ${expected.length} refused and reported, ${acceptedCount} accepted (tried on the Macs below)`);
  });

  test("accepted inventory values arrive verbatim: main.cf values and names, group, label, instance; bad connection values fail as data, naming the Mac", async (t) => {
    const [mac1, mac2, mac3] = macs;
    const p = project();
    const take = (field: string) => CORPUS.map((v, i) => [v, i] as const).filter(([v]) => accepted(mac1!, FIELDS.find((f) => f.name === field)!, v, p.dir));
    const values = take("settings (value)");
    const names = take("settings (name)");
    const groups = take("group");
    const labels = take("label");
    assert.ok(values.length >= 40, `${values.length} setting values accepted`);
    // Labels and groups take few hostile values: "null", "0".
    assert.deepEqual(labels.map(([v]) => v).sort(), ["0", "null"]);
    assert.deepEqual(groups.map(([v]) => v).sort(), ["0", "null", "x".repeat(10_000)]);
    // Connection values the inventory accepts but no Mac can use: each becomes an entry of its own below.
    const unusable = { user: take("user"), proxyJump: take("proxyJump"), address: take("address"), loginUser: take("loginUser") };
    for (const [field, list] of Object.entries(unusable)) assert.ok(list.length > 0, `no accepted ${field} value to try`);

    // A second and third instance must not compete for port 25: no inet services, no SMTP check.
    const quiet = { settings: { master_service_disable: "inet" }, smtpAddress: null };
    const hosts: Record<string, unknown>[] = [
      {
        name: "null",
        site: "null",
        ...labConnection(mac1!),
        group: "0",
        label: "null",
        settings: {
          ...Object.fromEntries(values.map(([v, i]) => [`rel_v${i}`, v])),
          // Terraform's plan pads every key of a map to its longest one: the 10,000-character name gets a map of its own.
          ...Object.fromEntries(names.filter(([v]) => v.length < 100).map(([v]) => [v, "named"])),
        },
      },
      // Spread over the Macs: each Mac's lock runs one step at a time.
      { name: "0", ...labConnection(mac2!), instanceName: "postfix-b", group: "null", label: "0", ...quiet },
      {
        name: "long",
        ...labConnection(mac3!),
        instanceName: "postfix-c",
        group: "x".repeat(10_000),
        label: "org.rel.c",
        ...quiet,
        settings: { ...quiet.settings, ...Object.fromEntries(names.filter(([v]) => v.length >= 100).map(([v]) => [v, "named"])) },
      },
      // Accepted connection values: carried to ssh as data, so these fail there, each naming its Mac.
      // Each with a label of its own: entries on one Mac may not share a launchd job.
      ...unusable.user.map(([v, i]) => ({ name: `user${i}`, ...labConnection(mac2!), instanceName: `postfix-u${i}`, label: `org.rel.u${i}`, user: v })),
      ...unusable.proxyJump.map(([v, i]) => ({ name: `jump${i}`, ...labConnection(mac2!), instanceName: `postfix-j${i}`, label: `org.rel.j${i}`, proxyJump: v })),
      ...unusable.address.map(([v, i]) => ({ name: `addr${i}`, ...labConnection(mac2!), address: v, instanceName: `postfix-a${i}`, label: `org.rel.a${i}` })),
      ...unusable.loginUser.map(([v, i]) => ({ name: `login${i}`, ...labConnection(mac3!), instanceName: `postfix-l${i}`, label: `org.rel.l${i}`, lifecycle: "login", loginUser: v, smtpAddress: null })),
    ];
    const inventory = p.writeJson("fleet.json", { hosts });
    const started = Date.now();
    const run = await p.deploy("fleet", { MAC_POSTFIX_STACKS: "fleet", MAC_POSTFIX_INVENTORY: inventory });
    t.diagnostic(`cdktf deploy: ${(Date.now() - started) / 1000} s; carried: ${values.length} setting values, ${names.length} setting names, ${groups.length} groups, ${labels.length} labels`);
    assert.notEqual(run.exitCode, 0, "the entries with unusable connection values must fail");

    // Carried verbatim into main.cf: every accepted value and name reads back byte for byte.
    const dir = "/etc/postfix-in";
    for (const [v, i] of values) assert.equal(await mainCfValue(mac1!.name, dir, `rel_v${i}`), v, `value ${i} ${JSON.stringify(v.slice(0, 60))}`);
    for (const [v] of names) {
      const [mac, at] = v.length < 100 ? [mac1!, dir] : [mac3!, "/etc/postfix-c"];
      assert.equal(await mainCfValue(mac.name, at, v), "named", `name ${JSON.stringify(v.slice(0, 60))}`);
    }
    // Group, label and instance: as given, and serving.
    assert.deepEqual((await instances(lab, mac1!.name)).find((r) => r[0] === "postfix-in")?.slice(0, 3), ["postfix-in", "0", "y"]);
    assert.deepEqual((await instances(lab, mac2!.name)).find((r) => r[0] === "postfix-b")?.slice(0, 3), ["postfix-b", "null", "y"]);
    assert.equal(await mainCfValue(mac3!.name, "/etc/postfix-c", "multi_instance_group"), "x".repeat(10_000));
    for (const [mac, label] of [[mac1!, "null"], [mac2!, "0"], [mac3!, "org.rel.c"]] as const) {
      assert.equal((await job(lab, mac.name, label)).state, "running", label);
      assert.equal((await readPlist(lab, mac.name, `/Library/LaunchDaemons/${label}.plist`)).Label, label);
    }
    // Each unusable connection value failed at ssh (or at the Mac's user lookup), naming its Mac and the value as given.
    const failure = (name: string, text: string) =>
      assert.ok(run.output.split("\n").some((l) => l.includes(`(local-exec): [${name}] `) && l.includes(" failed: ") && l.includes(text)), `${name}: no failure saying ${text.slice(0, 80)}`);
    for (const [v, i] of unusable.user) failure(`user${i}`, `ssh to ${v}@${mac2!.address} failed`);
    for (const [, i] of unusable.proxyJump) failure(`jump${i}`, `ssh to admin@${mac2!.address} failed`);
    for (const [v, i] of unusable.address) failure(`addr${i}`, `ssh to admin@${v} failed`);
    for (const [v, i] of unusable.loginUser) failure(`login${i}`, `look up user ${v.slice(0, 50)}`);
    // The entries that failed at ssh made nothing on mac2: no instance listed, no config directory.
    const unreached = [...unusable.user.map(([, i]) => `postfix-u${i}`), ...unusable.proxyJump.map(([, i]) => `postfix-j${i}`), ...unusable.address.map(([, i]) => `postfix-a${i}`)];
    const listed = (await instances(lab, mac2!.name)).map((r) => r[0]);
    assert.deepEqual(listed.filter((n) => unreached.includes(n!)), []);
    for (const name of unreached) assert.ok(!(await exists(lab, mac2!.name, `/etc/${name}`)), `/etc/${name} on ${mac2!.name}`);
  });

  test("plist strings arrive verbatim: the plist read back, and the argv and environment launchd really gave the job", async (t) => {
    const mac = macs[2]!;
    const p = project(join(ROOT, "test/reliability/job-app.ts"));
    const host = { host: mac.address, user: mac.user, identityFile: mac.identityFile, knownHostsFile: mac.knownHostsFile };
    const recorder = `require("fs").writeFileSync("/tmp/rel-argv.json", JSON.stringify({ argv: process.argv.slice(1), env: process.env }))`;
    // The plist's own checks: one line, characters XML can carry.
    const carried = CORPUS.filter((v) => !/[\u0000-\u0008\u000a-\u001f]/.test(v));
    const refused = CORPUS.filter((v) => !carried.includes(v));
    assert.ok(carried.length >= 40 && refused.length >= 4);
    // No "/" inside the payloads: launchd must be able to create the file; a relative touch would land in /.
    const outPath = `/tmp/rel out $(touch rel-canary-100); \`touch rel-canary-101\` > x`;
    const jobsFile = p.writeJson("jobs.json", {
      host,
      jobs: [
        {
          label: "org.rel.argv",
          program: "/usr/bin/node",
          programArguments: ["node", "-e", recorder, "--", ...carried],
          environmentVariables: Object.fromEntries(carried.map((v, i) => [`REL_${i}`, v])),
          standardOutPath: outPath,
          runAtLoad: true,
          kickstart: false,
        },
      ],
    });
    const run = await p.deploy("rel-jobs", { REL_JOBS: jobsFile });
    assert.equal(run.exitCode, 0, run.output.slice(-6000));

    const plistPath = "/Library/LaunchDaemons/org.rel.argv.plist";
    const written = await readPlist(lab, mac.name, plistPath);
    assert.deepEqual(written.ProgramArguments, ["node", "-e", recorder, "--", ...carried]);
    assert.deepEqual(written.EnvironmentVariables, Object.fromEntries(carried.map((v, i) => [`REL_${i}`, v])));
    assert.equal(written.StandardOutPath, outPath);
    let seen: { argv: string[]; env: Record<string, string> } | undefined;
    for (let i = 0; i < 40 && !seen; i++) {
      const r = await lab.exec(mac.name, ["cat", "/tmp/rel-argv.json"]);
      if (r.exitCode === 0) seen = JSON.parse(String(r.stdout));
      else await new Promise((res) => setTimeout(res, 250));
    }
    assert.ok(seen, "the job ran");
    assert.deepEqual(seen.argv, carried);
    carried.forEach((v, i) => assert.equal(seen!.env[`REL_${i}`], v, `REL_${i}`));
    assert.ok(await exists(lab, mac.name, outPath), "launchd opened the standard output path as named");
    t.diagnostic(`${carried.length} values carried as argv and environment, ${refused.length} refused`);

    // A refused plist string stops the deploy at synth, naming the field; the Mac keeps what it had.
    const listing = await onMac(lab, mac.name, ["ls", "-la", "/Library/LaunchDaemons"]);
    for (const [i, value] of refused.slice(0, 3).entries()) {
      const bad = p.writeJson(`bad${i}.json`, { host, jobs: [{ label: `org.rel.bad${i}`, programArguments: ["/usr/bin/true", value] }] });
      const failed = await p.deploy("rel-jobs", { REL_JOBS: bad });
      assert.notEqual(failed.exitCode, 0);
      assert.match(failed.output, /rel-jobs\/job0: programArguments\[1\]: must not contain (NUL, CR or LF|control characters)/);
      assert.deepEqual(touchedAddresses(failed.output), []);
    }
    const envBad = p.writeJson("badenv.json", { host, jobs: [{ label: "org.rel.badenv", programArguments: ["/usr/bin/true"], environmentVariables: { "X;touch": "x" } }] });
    const failedEnv = await p.deploy("rel-jobs", { REL_JOBS: envBad });
    assert.notEqual(failedEnv.exitCode, 0);
    assert.match(failedEnv.output, /rel-jobs\/job0: environmentVariables key: must match/);
    assert.equal(await onMac(lab, mac.name, ["ls", "-la", "/Library/LaunchDaemons"]), listing);
  });

  test("key and known_hosts paths arrive verbatim: ssh opens exactly the file named, whatever its characters", async (t) => {
    const [mac] = macs;
    const p = project();
    const runs = (["identityFile", "knownHostsFile"] as const).map(async (field) => {
      // One folder per field: relative paths are resolved from the inventory's folder.
      const base = join(p.dir, field);
      mkdirSync(base);
      const hosts: Record<string, unknown>[] = [];
      const reachable: string[] = [];
      CORPUS.forEach((value, i) => {
        if (!accepted(mac!, FIELDS.find((f) => f.name === field)!, value, base)) return;
        const name = `p${i}`;
        hosts.push({ name, ...labConnection(mac!), instanceName: `postfix-${name}`, label: `org.rel.${name}`, [field]: value });
        // Create the file only where the value points inside the folder (never elsewhere on this machine).
        const target = resolve(base, value);
        const inside = relative(base, target);
        if (inside === "" || inside.startsWith("..") || inside.split("/").some((part) => Buffer.byteLength(part) > 255)) return;
        mkdirSync(dirname(target), { recursive: true });
        copyFileSync(field === "identityFile" ? mac!.identityFile : mac!.knownHostsFile, target);
        chmodSync(target, 0o600);
        reachable.push(name);
      });
      const inventory = join(base, "fleet.json");
      writeFileSync(inventory, JSON.stringify({ hosts }));
      const run = await execa("node", [join(ROOT, "lib/cli/mac-postfix.js"), "status", "--inventory", inventory, "--json", "--parallel", "12"], { reject: false });
      const results = (JSON.parse(run.stdout) as { results: { name: string; summary: string }[] }).results;
      return { field, hosts, reachable, results };
    });
    for (const { field, hosts, reachable, results } of await Promise.all(runs)) {
      assert.ok(reachable.length >= 35, `${field}: ${reachable.length} paths`);
      assert.deepEqual(results.map((r) => r.name).sort(), hosts.map((h) => h.name as string).sort(), `${field}: one result per Mac`);
      const sshFailed = results.filter((r) => r.summary.startsWith("ssh to")).map((r) => r.name);
      const notOpened = results.filter((r) => reachable.includes(r.name) && sshFailed.includes(r.name));
      assert.deepEqual(notOpened.map((r) => `${r.name}: ${r.summary.slice(0, 300)}`), [], `${field}: ssh did not open the file named`);
      // Values that point elsewhere (outside the folder, or too long for a file name) fail at ssh, as data.
      const elsewhere = hosts.map((h) => h.name as string).filter((n) => !reachable.includes(n));
      assert.deepEqual(elsewhere.filter((n) => !sshFailed.includes(n)), [], field);
      t.diagnostic(`${field}: ${hosts.length} accepted, ${reachable.length} opened by ssh, ${elsewhere.length} pointing elsewhere failed at ssh`);
    }
  });

  test("no payload ran: no canary on this machine or in any Mac", async () => {
    await assertNoCanaries(macs.map((m) => m.name));
  });
});
