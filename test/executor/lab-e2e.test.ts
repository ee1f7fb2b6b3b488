/**
 * The executor end to end on simulated Macs over real SSH: real postmulti, postconf, Postfix,
 * sshd, sudo and the lab's launchd, on a private lab instance. Each test removes what it creates.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { execa } from "execa";
import { runStep, jobState, smtpGreeting, StepContext, transportFor, type Transport } from "../../src/executor/index.js";
import { destroyInstance } from "../../src/executor/instance.js";
import { parseInventory } from "../../src/fleet/inventory.js";
import { fleetTargets, runFleetOperation } from "../../src/fleet/operations.js";
import { LockAgents, withMacLock } from "../../src/executor/lock.js";
import type { HostSpec, StepAction, StepSpec } from "../../src/spec.js";
import { Lab, type InventoryHost } from "../lab/lab.js";
import { holdMacLock } from "../support/lock.js";
import { eventually, exists, job, onMac, setting } from "../support/mac.js";
import * as s from "./lab-specs.js";

/** A private lab instance ("e"): nobody else's instances compete for these Macs' port 25. */
const lab = new Lab({ instance: "e" });
let macs: InventoryHost[];
const testAddress = (mac: InventoryHost) => mac.address;

async function step(spec: StepSpec, action: StepAction = "apply"): Promise<string[]> {
  const lines: string[] = [];
  await runStep(spec, action, { log: (line) => lines.push(line) });
  return lines;
}

async function macSh(mac: InventoryHost, script: string, ...args: string[]) {
  return lab.exec(mac.name, ["/bin/sh", "-c", script, "sh", ...args]);
}

async function postconfH(mac: InventoryHost, dir: string, name: string): Promise<string> {
  return String((await lab.exec(mac.name, ["/usr/sbin/postconf", "-c", dir, "-h", name], { reject: true })).stdout);
}

async function postmultiList(mac: InventoryHost): Promise<string> {
  return String((await lab.exec(mac.name, ["/usr/sbin/postmulti", "-l"], { reject: true })).stdout);
}

/** Everything a full deploy of one instance runs, in order; destroy runs it backwards. */
function recipe(mac: InventoryHost, host: HostSpec, name: string, label: string, settings: Record<string, string> = {}, onDestroy: s.OnDestroyPolicy = "refuse-if-queued") {
  return [
    s.queueGuardStep(host, name, onDestroy),
    s.instanceStep(host, name, onDestroy),
    s.configStep(host, name, { master_service_disable: "", authorized_submit_users: "root", inet_interfaces: testAddress(mac), ...settings }),
    s.jobStep(host, label, s.supervisedPlist(label, `/etc/${name}`)),
    s.readinessStep(host, name, label, { address: testAddress(mac), port: 25 }),
  ];
}

async function deploy(steps: StepSpec[]): Promise<string[]> {
  const lines: string[] = [];
  for (const spec of steps) lines.push(...(await step(spec)));
  return lines;
}

async function teardown(steps: StepSpec[]): Promise<string[]> {
  const lines: string[] = [];
  for (const spec of [...steps].reverse()) lines.push(...(await step(spec, "destroy")));
  return lines;
}

/** Removes whatever a test left on the Mac, whatever state it is in. */
async function scrub(mac: InventoryHost, name: string, label: string): Promise<void> {
  await macSh(mac, `launchctl bootout "system/$2" 2>/dev/null; rm -f "/Library/LaunchDaemons/$2.plist"
    postfix -c "/etc/$1" stop 2>/dev/null; postmulti -i "$1" -e disable 2>/dev/null; postmulti -i "$1" -e destroy 2>/dev/null
    postmulti -i "$1" -e import 2>/dev/null; postmulti -i "$1" -e disable 2>/dev/null; postmulti -i "$1" -e destroy 2>/dev/null
    rm -rf "/etc/$1" "/var/spool/$1" "/var/lib/$1"; true`, name, label);
}

/** Queues one message in the instance (inside the Mac, as root, through its own sendmail/postdrop). */
async function queueMessage(mac: InventoryHost, dir: string): Promise<void> {
  const result = await lab.exec(mac.name, ["/usr/sbin/sendmail", "-C", dir, "-f", "root", "nobody@example.invalid"], {
    input: "Subject: held\n\nkeep me\n",
  });
  assert.equal(result.exitCode, 0, String(result.stderr));
}

async function queueFiles(mac: InventoryHost, name: string): Promise<number> {
  const r = await macSh(mac, `find "/var/spool/$1/maildrop" "/var/spool/$1/incoming" "/var/spool/$1/active" "/var/spool/$1/deferred" "/var/spool/$1/hold" -type f 2>/dev/null | wc -l`, name);
  return Number(String(r.stdout).trim());
}

/** The PID in the instance's master.pid (Postfix writes it when master starts). */
async function masterPidFile(mac: InventoryHost, dir: string): Promise<number> {
  return Number((await onMac(lab, mac.name, ["cat", `${await setting(lab, mac.name, dir, "queue_directory")}/pid/master.pid`])).trim());
}

/** The Mac's own transport with some of its methods replaced; the rest go to it unchanged. */
function hookedTransport(host: HostSpec, hooks: (inner: Transport) => Partial<Transport>): Transport {
  const inner = transportFor(host);
  return {
    description: inner.description,
    run: (argv, options) => inner.run(argv, options),
    ptyCommand: (argv) => inner.ptyCommand(argv),
    open: (argv, options) => inner.open(argv, options),
    dispose: () => inner.dispose(),
    ...hooks(inner),
  };
}

const changedLines = (lines: string[]) => lines.filter((l) => l.endsWith(": changed"));

/** A rerun checked something and changed nothing: it logged lines, none of them "changed". */
function assertUnchanged(lines: string[]): void {
  assert.ok(lines.some((l) => l.endsWith(": no change")), `no "no change" line in:\n${lines.join("\n")}`);
  assert.deepEqual(changedLines(lines), []);
}

describe("executor on simulated Macs over SSH", { timeout: 600_000 }, () => {
  before(async () => {
    macs = await lab.up({ hosts: 2 });
  });
  after(async () => lab.release());

  describe("deploy, update and destroy", () => {
    const name = "postfix-xa";
    const label = "org.mac-postfix.test.xa";
    let mac: InventoryHost;
    let host: HostSpec;
    before(async () => {
      mac = macs[0]!;
      host = s.sshHost(mac);
      await scrub(mac, name, label);
    });
    after(async () => scrub(mac, name, label));

    it("deploys: instance listed and enabled, settings applied, plist root:wheel 0644, job running, SMTP 220", async () => {
      const lines = await deploy(recipe(mac, host, name, label));
      assert.ok(lines.includes(`[${mac.name}] instance ${name}: create: changed`), lines.join("\n"));
      assert.match(await postmultiList(mac), new RegExp(`^${name}\\s+mta\\s+y\\s+/etc/${name}$`, "m"));
      assert.equal(await postconfH(mac, `/etc/${name}`, "inet_interfaces"), testAddress(mac));
      assert.equal(await postconfH(mac, `/etc/${name}`, "authorized_submit_users"), "root");
      assert.equal(await postconfH(mac, `/etc/${name}`, "master_service_disable"), "");
      const stat = await lab.exec(mac.name, ["stat", "-c", "%U:%G %a", `/Library/LaunchDaemons/${label}.plist`], { reject: true });
      assert.equal(stat.stdout, "root:wheel 644");
      const content = await lab.exec(mac.name, ["cat", `/Library/LaunchDaemons/${label}.plist`], { reject: true });
      assert.equal(String(content.stdout).trimEnd(), s.supervisedPlist(label, `/etc/${name}`).trimEnd());
      const print = await lab.exec(mac.name, ["launchctl", "print", `system/${label}`], { reject: true });
      assert.match(String(print.stdout), /state = running/);
      assert.match((await smtpGreeting(testAddress(mac), 25)).banner, /^220 /);
    });

    it("a second deploy of the same configuration changes nothing", async () => {
      const lines = await deploy(recipe(mac, host, name, label));
      assertUnchanged(lines);
      assert.ok(lines.every((l) => l.endsWith(": no change")), lines.join("\n"));
    });

    it("an SMTP address this machine cannot resolve fails readiness at once, naming smtpAddress", async () => {
      const unresolvable = s.readinessStep(host, name, label, { address: "mac-postfix-test.invalid", port: 25 });
      await assert.rejects(step(unresolvable), /readiness failed: the SMTP address mac-postfix-test\.invalid does not resolve on this machine \(SMTP mac-postfix-test\.invalid:25: getaddrinfo ENOTFOUND mac-postfix-test\.invalid\): set smtpAddress to an address it reaches, or to null/);
    });

    it("a settings update reloads in place: master keeps its PID; a dropped setting is reverted", async () => {
      const transport = transportFor(host);
      const ctx = new StepContext(host, transport, "test");
      try {
        const before = await jobState(ctx, `system/${label}`);
        assert.ok(before?.pid);
        const steps = recipe(mac, host, name, label, { smtpd_banner: "$myhostname ESMTP test-banner", message_size_limit: "2048000" });
        const lines = await deploy(steps);
        assert.ok(lines.includes(`[${mac.name}] instance-config ${name}: set smtpd_banner: changed`), lines.join("\n"));
        assert.ok(lines.includes(`[${mac.name}] instance-config ${name}: reload: changed`));
        // A reload starts nothing: the mark of the settings step's check is removed, so the next boot checks.
        assert.ok(lines.some((l) => /^\S+ readiness .*: remove the check mark no start took: changed$/.test(l)), lines.join("\n"));
        assert.equal(await exists(lab, mac.name, `/etc/${name}/.mac-postfix-checked`), false);
        assert.equal(await postconfH(mac, `/etc/${name}`, "message_size_limit"), "2048000");
        assert.equal((await jobState(ctx, `system/${label}`))?.pid, before.pid);
          assert.match((await smtpGreeting(testAddress(mac), 25)).banner, /test-banner/);

        const dropped = await deploy(recipe(mac, host, name, label, { message_size_limit: "2048000" }));
        assert.ok(dropped.includes(`[${mac.name}] instance-config ${name}: revert smtpd_banner: changed`), dropped.join("\n"));
        const explicit = await lab.exec(mac.name, ["/usr/sbin/postconf", "-c", `/etc/${name}`, "-n", "smtpd_banner"]);
        assert.equal(explicit.stdout, "");
        assert.equal((await jobState(ctx, `system/${label}`))?.pid, before.pid);
      } finally {
        await transport.dispose();
      }
    });

    it("a setting postfix check rejects restores main.cf and fails with Postfix's own message", async () => {
      const mainCf = async () => (await lab.exec(mac.name, ["cat", `/etc/${name}/main.cf`], { reject: true })).stdout;
      const previous = await mainCf();
      const bad = s.configStep(host, name, { master_service_disable: "", authorized_submit_users: "root", inet_interfaces: testAddress(mac), default_process_limit: "lots" });
      await assert.rejects(step(bad), (error: Error) => {
        assert.match(error.message, new RegExp(`^\\[${mac.name}\\] instance-config ${name} \\(test/${name}/config\\): settings failed: .*postfix -c /etc/${name} check`));
        assert.match(error.message, /default_process_limit/);
        assert.match(error.message, /bad numerical configuration|fatal/);
        return true;
      });
      assert.equal(await mainCf(), previous);
      assert.equal(await postconfH(mac, `/etc/${name}`, "default_process_limit"), "100");
      assert.match((await smtpGreeting(testAddress(mac), 25)).banner, /^220 /);
    });

    it("the CLI prints a one-line headline and Postfix's own text, and exits 1", async () => {
      const bad = s.configStep(host, name, { master_service_disable: "", authorized_submit_users: "root", inet_interfaces: testAddress(mac), default_process_limit: "lots" });
      const cli = await execa("node", ["--import", "tsx", new URL("../../src/cli/mac-postfix.ts", import.meta.url).pathname, "step", "apply"], {
        env: { MAC_POSTFIX_STEP: JSON.stringify(bad) },
        reject: false,
      });
      assert.equal(cli.exitCode, 1);
      const [headline, ...detail] = cli.stderr.trimEnd().split("\n").filter((l) => !l.endsWith("change") && !l.includes("restored the previous"));
      assert.match(headline!, new RegExp(`^\\[${mac.name}\\] instance-config ${name} \\(test/${name}/config\\): settings failed: \`postfix -c /etc/${name} check\` rejected the settings$`));
      assert.match(detail.join("\n"), /default_process_limit/);
      assert.doesNotMatch(cli.stderr, /Shared connection/);
    });

    it("a changed plist boots the job out and in again with the new definition", async () => {
      const transport = transportFor(host);
      const ctx = new StepContext(host, transport, "test");
      try {
        const before = await jobState(ctx, `system/${label}`);
        const xml = s.supervisedPlist(label, `/etc/${name}`, { ThrottleInterval: 5 });
        const lines = await step(s.jobStep(host, label, xml));
        assert.ok(lines.includes(`[${mac.name}] launch-job ${label}: bootout (plist changed): changed`), lines.join("\n"));
        assert.ok(lines.includes(`[${mac.name}] launch-job ${label}: bootstrap: changed`));
        const after = await jobState(ctx, `system/${label}`);
        assert.equal(after?.state, "running");
        assert.notEqual(after?.pid, before?.pid);
        const content = await lab.exec(mac.name, ["cat", `/Library/LaunchDaemons/${label}.plist`], { reject: true });
        assert.match(String(content.stdout), /ThrottleInterval/);
        assertUnchanged(await step(s.jobStep(host, label, xml)));
      } finally {
        await transport.dispose();
      }
    });

    it("a master running outside launchd is stopped by its PID, even when launchd's own master takes the lock the moment it is gone", async () => {
      const dir = `/etc/${name}`;
      await lab.exec(mac.name, ["launchctl", "bootout", `system/${label}`], { reject: true });
      await eventually("master to stop with its job", 10_000, async () => (await lab.exec(mac.name, ["/usr/sbin/postfix", "-c", dir, "status"])).exitCode !== 0);
      await lab.exec(mac.name, ["/usr/sbin/postfix", "-c", dir, "start"], { reject: true });
      const stray = await masterPidFile(mac, dir);
      // launchd's master exits while the stray holds the instance's lock, and launchd keeps starting
      // it again. The race `postfix stop` loses (its wait for the lock meets launchd's new master,
      // and it fails after 5 s), made certain: the stray is held stopped until its SIGTERM is
      // pending, and once it is gone launchd's master is started at once (kickstart -k).
      await macSh(mac, `kill -STOP "$1"; (for i in $(seq 900); do grep -q "^ShdPnd:.*[1-9a-f]" "/proc/$1/status" && break; sleep 0.1; done
        kill -CONT "$1"; while [ -e "/proc/$1" ]; do sleep 0.05; done; launchctl kickstart -k "system/$2") >/dev/null 2>&1 &`, String(stray), label);
      await step(s.jobStep(host, label, s.supervisedPlist(label, dir)));
      const lines = await step(s.readinessStep(host, name, label, { address: testAddress(mac), port: 25 }));
      assert.ok(lines.some((l) => l.includes(`stop master pid ${stray}, which runs outside system/${label}: changed`)), lines.join("\n"));
      assert.equal((await job(lab, mac.name, label)).pid, await masterPidFile(mac, dir));
    });

    it("a one-shot start that fails is started again until it succeeds, and named with its exit code when it keeps failing", async () => {
      const dir = `/etc/${name}`;
      const oneShot = { ...s.readinessStep(host, name, label, { address: testAddress(mac), port: 25 }), expectRunning: false };
      // Something else holds the instance's SMTP address and port (as the processes of a master that
      // just stopped can, for a moment): master cannot bind it, and the one-shot `postfix start` fails.
      const squat = async (seconds: number) => {
        const marker = `/tmp/squat-${seconds}`;
        await macSh(mac, `rm -f "$3"; perl -MIO::Socket::INET -e '
          my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => 25, Listen => 5, ReuseAddr => 1) or die "bind: $!";
          open(my $f, ">", $ARGV[2]) or die; print $f $$; close $f; sleep $ARGV[1]' "$1" "$2" "$3" >/dev/null 2>&1 &`, testAddress(mac), String(seconds), marker);
        await eventually("the squatter to hold port 25", 10_000, async () => (await lab.exec(mac.name, ["test", "-s", marker])).exitCode === 0);
        return async () => void (await macSh(mac, `kill "$(cat "$1")" 2>/dev/null; rm -f "$1"`, marker));
      };
      const stopMasterAndJob = async () => {
        await lab.exec(mac.name, ["launchctl", "bootout", `system/${label}`]);
        await lab.exec(mac.name, ["/usr/sbin/postfix", "-c", dir, "stop"]);
        await eventually("master to stop", 10_000, async () => (await lab.exec(mac.name, ["/usr/sbin/postfix", "-c", dir, "status"])).exitCode !== 0);
      };
      try {
        await stopMasterAndJob();
        await squat(4);
        await step(s.jobStep(host, label, s.oneShotPlist(label, name), false));
        const lines = await step(oneShot);
        assert.ok(lines.some((l) => /start job system\/\S+ again \(its run ended with exit code [1-9]\d* and master is not running\): changed$/.test(l)), lines.join("\n"));
        assert.match((await smtpGreeting(testAddress(mac), 25)).banner, /^220 /);

        await stopMasterAndJob();
        const release = await squat(120);
        try {
          await step(s.jobStep(host, label, s.oneShotPlist(label, name), false));
          await assert.rejects(step(oneShot), /readiness failed: job system\/\S+ started 3 times; its run ended with exit code [1-9]\d* and master is not running; Postfix's reason is in the Mac's system log/);
        } finally {
          await release();
        }
      } finally {
        // Back to the supervised job the later tests expect (readiness stops the one-shot's master).
        await step(s.jobStep(host, label, s.supervisedPlist(label, dir)));
        await step(s.readinessStep(host, name, label, { address: testAddress(mac), port: 25 }));
      }
    });

    it("destroy with mail queued refuses by default, names the count and changes nothing", async () => {
      await queueMessage(mac, `/etc/${name}`);
      const listed = await postmultiList(mac);
      const mainCf = (await lab.exec(mac.name, ["cat", `/etc/${name}/main.cf`])).stdout;
      await assert.rejects(step(s.queueGuardStep(host, name), "destroy"), /\d+ message\(s\) queued in postfix-xa on mac1/);
      await assert.rejects(step(s.instanceStep(host, name), "destroy"), /1 message\(s\) queued in postfix-xa on mac1/);
      assert.equal(await postmultiList(mac), listed);
      assert.equal((await lab.exec(mac.name, ["cat", `/etc/${name}/main.cf`])).stdout, mainCf);
      assert.equal(await queueFiles(mac, name), 1);
    });

    it("discard-queue deletes the mail and every file; destroying again is fine", async () => {
      const steps = recipe(mac, host, name, label, {}, "discard-queue");
      const lines = await teardown(steps);
      assert.ok(lines.includes(`[${mac.name}] instance ${name}: discard 1 queued message(s): changed`), lines.join("\n"));
      assert.doesNotMatch(await postmultiList(mac), new RegExp(name));
      const left = await macSh(mac, `ls -d "/etc/$1" "/var/spool/$1" "/var/lib/$1" "/Library/LaunchDaemons/$2.plist" 2>/dev/null; true`, name, label);
      assert.equal(left.stdout, "");
      const print = await lab.exec(mac.name, ["launchctl", "print", `system/${label}`]);
      assert.equal(print.exitCode, 113);
      assertUnchanged(await teardown(steps));
    });
  });

  describe("deport", () => {
    const name = "postfix-xd";
    const label = "org.mac-postfix.test.xd";
    let mac: InventoryHost;
    before(async () => {
      mac = macs[1]!;
      await scrub(mac, name, label);
    });
    after(async () => scrub(mac, name, label));

    it("keeps every file, queued mail included, and only leaves postmulti's list", async () => {
      const host = s.sshHost(mac);
      const steps = recipe(mac, host, name, label, {}, "deport");
      await deploy(steps);
      await step(s.jobStep(host, label, s.supervisedPlist(label, `/etc/${name}`)), "destroy");
      await queueMessage(mac, `/etc/${name}`);
      const files = async () => (await macSh(mac, `find "/etc/$1" "/var/spool/$1" -type f | sort`, name)).stdout;
      const before = await files();
      const lines = await teardown(steps);
      assert.ok(lines.includes(`[${mac.name}] instance ${name}: deport: changed`), lines.join("\n"));
      assert.doesNotMatch(await postmultiList(mac), new RegExp(`^${name}`, "m"));
      assert.equal(await files(), before);
      assert.equal(await queueFiles(mac, name), 1);
      assertUnchanged(await teardown(steps));
    });
  });

  describe("an instance made by hand", () => {
    const name = "postfix-xp";
    let mac: InventoryHost;
    let host: HostSpec;
    before(async () => {
      mac = macs[1]!;
      host = s.sshHost(mac);
    });
    afterEach(async () => {
      await scrub(mac, name, "-");
      await macSh(mac, `rm -rf /etc/postfix-xp-other /var/spool/postfix-xp-other /var/lib/postfix-xp-other`);
    });

    /** `postmulti -e create` by hand, as the recipe does, with the config directory given. */
    const createByHand = (configDirectory: string) =>
      macSh(mac, `postmulti -e init && postmulti -I "$1" -G mta -e create "config_directory=$2"`, name, configDirectory).then((r) => assert.equal(r.exitCode, 0, String(r.stderr)));

    it("is adopted when postmulti lists its folder under another path to it (/private/etc)", async () => {
      await createByHand(`/private/etc/${name}`);
      assert.match(await postmultiList(mac), new RegExp(`^${name}\\s+mta\\s+n\\s+/private/etc/${name}$`, "m"));
      const lines = await step(s.instanceStep(host, name));
      assert.ok(lines.includes(`[${mac.name}] instance ${name}: create: no change`), lines.join("\n"));
    });

    it("in another folder fails the step, naming both folders", async () => {
      await createByHand(`/etc/${name}-other`);
      await assert.rejects(step(s.instanceStep(host, name)), new RegExp(`create failed: /etc/${name}-other is already postmulti's instance ${name}; wanted ${name} at /etc/${name}`));
    });
  });

  describe("mail that arrives while an instance is destroyed (refuse-if-queued)", () => {
    const name = "postfix-xr";
    const dir = `/etc/${name}`;
    let mac: InventoryHost;
    let host: HostSpec;
    before(async () => {
      mac = macs[1]!;
      host = s.sshHost(mac);
      await scrub(mac, name, "-");
    });
    after(async () => scrub(mac, name, "-"));

    /** Deploys the instance (no inet services: mail comes in through sendmail) and starts master when asked. */
    async function instanceWithMaster(start: boolean): Promise<void> {
      await deploy([s.instanceStep(host, name), s.configStep(host, name, { authorized_submit_users: "root" })]);
      if (start) await lab.exec(mac.name, ["/usr/sbin/postfix", "-c", dir, "start"], { reject: true });
    }

    /** Runs the instance's destroy with a message queued just before the first command `when` picks. */
    async function destroyWithMailArriving(when: (argv: readonly string[]) => boolean): Promise<string[]> {
      let arrived = false;
      const transport = hookedTransport(host, (inner) => ({
        run: async (argv, options) => {
          if (!arrived && when(argv)) {
            arrived = true;
            await queueMessage(mac, dir);
          }
          return inner.run(argv, options);
        },
      }));
      const lines: string[] = [];
      try {
        await destroyInstance(new StepContext(host, transport, `instance ${name}`, (line) => lines.push(line)), s.instanceStep(host, name));
      } finally {
        await transport.dispose();
      }
      assert.ok(arrived, "the message was never sent");
      return lines;
    }

    it("mail a running master accepted after the count is found once it stops: master is started again and nothing is removed", async () => {
      await instanceWithMaster(true);
      const stop = (argv: readonly string[]) => argv.at(-1) === "stop" && argv.includes(dir);
      await assert.rejects(destroyWithMailArriving(stop), /destroy failed: 1 message\(s\) queued in postfix-xr on mac2/);
      assert.match(await postmultiList(mac), new RegExp(`^${name}\\s`, "m"));
      assert.equal((await lab.exec(mac.name, ["/usr/sbin/postfix", "-c", dir, "status"])).exitCode, 0, "master runs again");
      assert.equal(await queueFiles(mac, name), 1);
    });

    it("mail that reaches the maildrop after master stopped keeps the queue folder, and the step fails saying so", async () => {
      await scrub(mac, name, "-");
      await instanceWithMaster(false);
      const destroy = (argv: readonly string[]) => argv.includes("destroy") && argv.some((a) => a.endsWith("/postmulti"));
      await assert.rejects(
        destroyWithMailArriving(destroy),
        /remove \/var\/spool\/postfix-xr failed: 1 message\(s\) arrived in \/var\/spool\/postfix-xr while postfix-xr was destroyed: the instance is gone, the folder is kept with the mail/,
      );
      assert.doesNotMatch(await postmultiList(mac), new RegExp(`^${name}\\s`, "m"));
      assert.equal(await queueFiles(mac, name), 1);
      assert.equal((await lab.exec(mac.name, ["test", "-e", `/var/lib/${name}`])).exitCode, 1, "the data folder, which holds no mail, is removed");
      assertUnchanged(await step(s.instanceStep(host, name), "destroy"));
      assert.equal(await queueFiles(mac, name), 1);
    });

    it("a leftover folder that is the primary's in another spelling is kept: only the instance's own go", async () => {
      await scrub(mac, name, "-");
      // A master that ran leaves its runtime files in the queue folder, so postmulti does not remove it.
      await instanceWithMaster(true);
      const primaryData = await postconfH(mac, "/etc/postfix", "data_directory");
      await lab.exec(mac.name, ["/usr/sbin/postconf", "-c", dir, "-e", `data_directory=${primaryData}/`], { reject: true });
      const marker = `${primaryData}/.mac-postfix-test-keep`;
      await lab.exec(mac.name, ["touch", marker], { reject: true });
      try {
        const lines = await step(s.instanceStep(host, name), "destroy");
        assert.ok(lines.includes(`[${mac.name}] instance ${name}: kept ${primaryData}/: it is or holds ${primaryData}, which Postfix still uses`), lines.join("\n"));
        assert.ok(lines.includes(`[${mac.name}] instance ${name}: remove /var/spool/${name}: changed`), lines.join("\n"));
        assert.equal((await lab.exec(mac.name, ["test", "-e", marker])).exitCode, 0, "the primary's data directory is untouched");
        assert.equal((await lab.exec(mac.name, ["test", "-e", `/var/spool/${name}`])).exitCode, 1);
      } finally {
        await lab.exec(mac.name, ["rm", "-f", marker]);
      }
    });
  });

  describe("a cut connection", () => {
    it("fails the command instead of hanging, and the Mac's lock is given up once heartbeats stop", { timeout: 150_000 }, async () => {
      const mac = macs[1]!;
      const host = s.sshHost(mac);
      const cutOff = transportFor(host);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: (holder: Transport) => void;
      const isLocked = new Promise<Transport>((resolve) => (locked = resolve));
      const holding = withMacLock(cutOff, async (holder) => {
        locked(holder);
        await released;
      });
      try {
        const holder = await isLocked;
        const long = cutOff.run(["sleep", "600"]);
        // A root command runs through the lock's holder, over the same cut connection; the holder
        // lets it finish (it may be changing the Mac) before it gives the lock up.
        const longAsRoot = holder.run(["sleep", "10"], { root: true });
        await lab.cut(mac.name);
        // Both at once: either may fail first, and a rejection nobody awaits yet fails the test run.
        await Promise.all([
          assert.rejects(long, /ssh to admin@\S+ failed/),
          assert.rejects(longAsRoot, /the Mac lock's holder ended: ssh to admin@\S+ failed/),
        ]);
      } finally {
        await lab.restore(mac.name);
      }
      const again = transportFor(host);
      try {
        assert.equal(await withMacLock(again, async () => "locked again"), "locked again");
      } finally {
        release();
        await holding.catch(() => undefined);
        await again.dispose();
        await cutOff.dispose();
      }
    });
  });

  describe("the Mac lock", () => {
    it("a step waits while another deploy holds the lock, then runs", async () => {
      const mac = macs[1]!;
      const host = s.sshHost(mac);
      const lines: string[] = [];
      let waited!: () => void;
      const waiting = new Promise<void>((resolve) => (waited = resolve));
      const lock = await holdMacLock(host);
      try {
        const running = runStep(s.queueGuardStep(host, "postfix-xnone"), "destroy", {
          log: (line) => {
            lines.push(line);
            if (line.includes("waiting for another deploy's lock")) waited();
          },
        });
        await waiting;
        assert.deepEqual(lines.filter((l) => !l.includes("waiting")), [], "the step ran while the lock was held");
        await lock.release();
        await running;
        assert.ok(lines.some((l) => l.endsWith("queue guard: no change")), lines.join("\n"));
      } finally {
        await lock.release();
      }
    });

    it("a fleet operation that changes the Mac waits for the lock too; verify does not take it", async () => {
      const mac = macs[1]!;
      const host = s.sshHost(mac);
      const inventory = parseInventory({ hosts: [{ name: mac.name, address: mac.address, user: mac.user, port: mac.port, identityFile: mac.identityFile, knownHostsFile: mac.knownHostsFile }] });
      // Lock attempts show as sessions opened on the transport (the lock holder on the Mac).
      let opened = 0;
      const counting = (spec: HostSpec) => hookedTransport(spec, (inner) => ({ open: (argv, o) => (opened++, inner.open(argv, o)) }));
      const lock = await holdMacLock(host);
      let released = false;
      try {
        const flushing = runFleetOperation("flush", fleetTargets(inventory), { transport: counting }).then((results) => ({ results, afterRelease: released }));
        await eventually("the operation to ask for the Mac lock", 10_000, async () => opened > 0);
        released = true;
        await lock.release();
        const { results, afterRelease } = await flushing;
        assert.equal(afterRelease, true, "flush ended while another held the Mac lock");
        assert.equal(results.length, 1);
        opened = 0;
        await runFleetOperation("verify", fleetTargets(inventory), { transport: counting });
        assert.equal(opened, 0, "verify asked for the lock");
      } finally {
        await lock.release();
      }
    });

    it("a process running many steps keeps the Mac's holder between them, idle and without the lock", async () => {
      const mac = macs[1]!;
      const host = s.sshHost(mac);
      const agents = new LockAgents();
      const holders = async (): Promise<string[]> => String((await macSh(mac, `pgrep -f '^perl -e use strict; use Fcntl.* /var/run/cdktf-mac-postfix.lock' || true`)).stdout).trim().split("\n").filter(Boolean);
      const guard = s.queueGuardStep(host, "postfix-xnone");
      const quietly = (spec: StepSpec, action: StepAction) => runStep(spec, action, { agents, log: () => undefined });
      const before = await holders();
      await quietly(guard, "destroy");
      const [kept, ...more] = (await holders()).filter((pid) => !before.includes(pid));
      assert.ok(kept !== undefined && more.length === 0, "one holder kept after the step");
      // Idle, it holds no lock: another deploy takes it at once.
      const other = await holdMacLock(host);
      await other.release();
      await quietly(guard, "destroy");
      assert.deepEqual((await holders()).filter((pid) => !before.includes(pid)), [kept], "the next step used the same holder");
      // A holder that ended while idle is replaced, whether or not its end was noticed before the
      // next step came: the step still runs.
      await macSh(mac, `kill ${kept}`);
      await quietly(guard, "destroy");
      await eventually("the killed holder to be gone", 5_000, async () => !(await holders()).includes(kept!));
      const replacement = (await holders()).filter((pid) => !before.includes(pid));
      assert.equal(replacement.length, 1);
      // A step that fails (its instance is not there) leaves its holder usable too.
      await assert.rejects(quietly(s.configStep(host, "postfix-xnone", {}), "apply"), /does not exist/);
      assert.deepEqual((await holders()).filter((pid) => !before.includes(pid)), replacement);
      await macSh(mac, `kill ${replacement[0]}`);
    });

    it("a deploy killed with SIGKILL does not leave the Mac locked", async () => {
      const mac = macs[1]!;
      const host = s.sshHost(mac);
      const script = `
        import { transportFor } from "${new URL("../../src/transport/index.ts", import.meta.url).pathname}";
        import { withMacLock } from "${new URL("../../src/executor/lock.ts", import.meta.url).pathname}";
        const t = transportFor(JSON.parse(process.env.HOST));
        await withMacLock(t, async () => { console.log("holding"); await new Promise(() => {}); });`;
      const child = execa("node", ["--import", "tsx", "--input-type=module", "-e", script], { env: { HOST: JSON.stringify(host) }, reject: false, cwd: new URL("../..", import.meta.url).pathname });
      await new Promise<void>((resolve) => child.stdout!.on("data", (d) => String(d).includes("holding") && resolve()));
      child.kill("SIGKILL");
      await child;
      const transport = transportFor(host);
      try {
        assert.equal(await withMacLock(transport, async () => "got it"), "got it");
      } finally {
        await transport.dispose();
      }
    });
  });
});
