import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing, type TerraformStack } from "cdktf";
import { execa } from "execa";
import plist from "plist";
import {
  CLI_PATH,
  STEP_CLIENT_PATH,
  LaunchAgent,
  LaunchDaemon,
  LogoutHook,
  MacHost,
  PostfixInputInstance,
  PostfixInstance,
  SudoRule,
  ValidationError,
  macStepAddress,
  type MacHostProps,
  type PostfixInputInstanceProps,
  type StepSpec,
  type SudoRuleProps,
  type SudoRuleStep,
} from "../../src/index.js";
import { sudoersRule } from "../../src/executor/sudo-rule.js";
import { MAC_DEFAULT_PATHS, specOnTheWire } from "../../src/spec.js";
import { synth, warnings, writtenResources } from "./helpers.js";

const SSH: MacHostProps = { ssh: { host: "mac1.lab", user: "admin", port: 22, identityFile: "/root/.ssh/lab_ed25519", knownHostsFile: "/root/.ssh/lab_known_hosts" } };

function input(hostProps: MacHostProps = SSH, props: Partial<PostfixInputInstanceProps> = {}) {
  let construct!: PostfixInputInstance;
  const out = synth((stack) => {
    const host = new MacHost(stack, "mac1", hostProps);
    construct = new PostfixInputInstance(stack, "input", { host, addressPrefix: "mac1", ...props });
  });
  const data = out.resources.terraform_data ?? {};
  return { ...out, construct, data, step: (name: string) => data[`mac1_${name}`] };
}

const apply = { type: undefined, "local-exec": { interpreter: ["perl", STEP_CLIENT_PATH], command: "apply", environment: { MAC_POSTFIX_STEP: "${self.input}" } } };
const destroy = { "local-exec": { interpreter: ["perl", STEP_CLIENT_PATH], command: "destroy", when: "destroy", environment: { MAC_POSTFIX_STEP: "${self.input}" } } };
delete (apply as { type?: unknown }).type;

/** Expects the five steps of one PostfixInputInstance, each with cdktf's metadata minus the construct path. */
function assertNoConstructPath(steps: Record<string, Record<string, any>>): void {
  assert.equal(Object.keys(steps).length, 5);
  for (const [address, resource] of Object.entries(steps)) assert.deepEqual(resource["//"], { metadata: { uniqueId: address } }, address);
}

/** Expects `fn` to throw a ValidationError naming `path` and `field`. */
function refuses(fn: () => void, path: string, field: string, problem?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValidationError, String(e));
    assert.ok(e.message.startsWith(`${path}: ${field}: `), e.message);
    if (problem) assert.match(e.message, problem);
    return true;
  });
}

describe("MacHost", () => {
  it("holds the HostSpec with macOS default paths, overridable field by field", () => {
    let host!: MacHost;
    synth((stack) => {
      host = new MacHost(stack, "mac1", { ...SSH, paths: { commandDirectory: "/opt/postfix/sbin" } });
    });
    assert.deepEqual(host.spec, {
      name: "mac1",
      connection: { transport: "ssh", host: "mac1.lab", user: "admin", port: 22, identityFile: "/root/.ssh/lab_ed25519", knownHostsFile: "/root/.ssh/lab_known_hosts" },
      sudo: "auto",
      paths: {
        commandDirectory: "/opt/postfix/sbin",
        daemonDirectory: "/usr/libexec/postfix",
        postfixConfigDirectory: "/etc/postfix",
        launchctl: "/bin/launchctl",
        launchDaemonsDirectory: "/Library/LaunchDaemons",
        launchAgentsDirectory: "/Library/LaunchAgents",
        sudo: "/usr/bin/sudo",
        visudo: "/usr/sbin/visudo",
        sudoersDirectory: "/etc/sudoers.d",
      },
    });
    assert.equal(host.resourceType, "terraform_data");
    assert.equal(host.address, "mac1.lab");
    assert.equal(warnings(host).length, 0);
  });

  it("is local with `local: true`, reached at 127.0.0.1", () => {
    let host!: MacHost;
    synth((stack) => {
      host = new MacHost(stack, "here", { local: true, sudo: false });
    });
    assert.deepEqual(host.spec.connection, { transport: "local" });
    assert.equal(host.spec.sudo, false);
    assert.equal(host.address, "local");
    assert.equal(host.serviceAddress, "127.0.0.1");
  });

  it("verifies host keys unless insecureIgnoreHostKey, which adds a warning", () => {
    let host!: MacHost;
    synth((stack) => {
      host = new MacHost(stack, "mac1", { ...SSH, insecureIgnoreHostKey: true });
    });
    assert.equal(host.spec.connection.transport === "ssh" && host.spec.connection.insecureIgnoreHostKey, true);
    assert.equal(warnings(host).length, 1);
    assert.match(warnings(host)[0]!, /insecureIgnoreHostKey.*not verified/);
  });

  it("refuses bad props at construction, naming the construct path and the field", () => {
    const build = (props: unknown) => () => synth((stack) => new MacHost(stack, "mac1", props as MacHostProps));
    refuses(build({ ssh: { host: "" } }), "stack/mac1", "ssh.host", /empty/);
    refuses(build({ ssh: { host: "-oProxyCommand=id" } }), "stack/mac1", "ssh.host", /"-"/);
    refuses(build({ ssh: { host: "mac1", user: "-l" } }), "stack/mac1", "ssh.user");
    refuses(build({ ssh: { host: "mac1", port: 0 } }), "stack/mac1", "ssh.port");
    refuses(build({ ssh: { host: "mac1", identityFile: "id_rsa" } }), "stack/mac1", "ssh.identityFile", /absolute/);
    refuses(build({ ssh: { host: "mac1", knownHostsFile: "/a/../b" } }), "stack/mac1", "ssh.knownHostsFile", /\.\./);
    refuses(build({ ssh: { host: "mac1", proxyJump: "-oProxyCommand=id" } }), "stack/mac1", "ssh.proxyJump");
    refuses(build({ ssh: { host: "mac1", privateKey: "-----BEGIN" } }), "stack/mac1", "ssh.privateKey", /unknown property/);
    refuses(build({ local: true, paths: { launchctl: "launchctl" } }), "stack/mac1", "paths.launchctl", /absolute/);
    refuses(build({ local: true, paths: { postfix: "/x" } }), "stack/mac1", "paths.postfix", /unknown property/);
    refuses(build({ local: true, resourceType: "aws_instance" }), "stack/mac1", "resourceType");
    refuses(build({ local: true, sudo: "yes" }), "stack/mac1", "sudo");
    refuses(build({ local: true, insecureIgnoreHostKey: true }), "stack/mac1", "insecureIgnoreHostKey", /unknown property/);
    refuses(build({ local: false }), "stack/mac1", "local", /must be true/);
    refuses(build({}), "stack/mac1", "local/ssh");
    refuses(build({ local: true, ssh: { host: "x" } }), "stack/mac1", "local/ssh");
  });
});

describe("PostfixInputInstance", () => {
  it("synthesizes five terraform_data steps at deterministic addresses", () => {
    const { data, construct } = input();
    assert.deepEqual(Object.keys(data).sort(), ["mac1_config", "mac1_instance", "mac1_job", "mac1_queue_guard", "mac1_readiness"]);
    assert.equal(macStepAddress("terraform_data", "mac1", "queue_guard"), "terraform_data.mac1_queue_guard");
    assert.equal(construct.configDirectory, "/etc/postfix-in");
    assert.equal(construct.label, "org.postfix.in");
    assert.equal(construct.plistPath, "/Library/LaunchDaemons/org.postfix.in.plist");
  });

  it("leaves the construct path out of each step's metadata, so the cdktf CLI does not search every output line for it", () => {
    assertNoConstructPath(writtenResources(input().stack).terraform_data!);
  });

  it("runs the step client without a shell: apply at create, destroy only for steps that undo something", () => {
    const { step, json } = input();
    assert.deepEqual(step("instance").provisioner, [apply, destroy]);
    assert.deepEqual(step("config").provisioner, [apply]);
    assert.deepEqual(step("job").provisioner, [apply, destroy]);
    assert.deepEqual(step("readiness").provisioner, [apply]);
    assert.deepEqual(step("queue_guard").provisioner, [destroy]);
    assert.ok(Testing.toHaveResourceWithProperties(json, "terraform_data", { provisioner: [destroy] }));
    assert.ok(STEP_CLIENT_PATH.endsWith("/lib/cli/step-client.pl"), STEP_CLIENT_PATH);
    assert.ok(existsSync(STEP_CLIENT_PATH) && existsSync(CLI_PATH), "the build put both programs in lib/cli");
  });

  it("orders steps: config after instance, job after config, readiness and queue-guard after the job", () => {
    const { step } = input();
    assert.equal(step("instance").depends_on, undefined);
    assert.deepEqual(step("config").depends_on, ["terraform_data.mac1_instance"]);
    assert.deepEqual(step("job").depends_on, ["terraform_data.mac1_config"]);
    assert.deepEqual(step("readiness").depends_on, ["terraform_data.mac1_job"]);
    // Terraform destroys dependents first: the guard runs before the job is booted out.
    assert.deepEqual(step("queue_guard").depends_on, ["terraform_data.mac1_job"]);
  });

  it("puts the whole spec in input (paths only where not macOS's) and only the identity in the instance's and guard's triggers", () => {
    const { step } = input();
    const instance = step("instance").input as StepSpec;
    assert.equal(instance.kind, "instance");
    const { paths, ...host } = input().construct.instance.instanceStep.host;
    assert.deepEqual(paths, MAC_DEFAULT_PATHS);
    assert.deepEqual(instance, {
      kind: "instance",
      construct: "stack/input/Instance",
      host,
      instance: { name: "postfix-in", configDirectory: "/etc/postfix-in" },
      group: "mta",
      onDestroy: "refuse-if-queued",
    });
    assert.deepEqual(step("instance").triggers_replace, { host: "mac1.lab", name: "postfix-in", configDirectory: "/etc/postfix-in" });
    assert.deepEqual(step("queue_guard").triggers_replace, { host: "mac1.lab", name: "postfix-in", configDirectory: "/etc/postfix-in" });
    assert.equal(step("queue_guard").input.kind, "queue-guard");
    assert.equal(step("queue_guard").input.onDestroy, "refuse-if-queued");
    assert.deepEqual(step("config").input.settings, { master_service_disable: "", authorized_submit_users: "root", inet_interfaces: "all" });
    assert.equal(step("config").input.enabled, true);
    assert.deepEqual(step("readiness").input.smtp, { address: "mac1.lab", port: 25 });
    assert.equal(step("readiness").input.expectRunning, true);
    assert.deepEqual(step("readiness").input.domain, { type: "system" });
    assert.equal(step("job").input.kind, "launch-job");
    assert.equal(step("job").input.kickstart, true);
    assert.equal(step("job").triggers_replace.plist, step("job").input.plist);
  });

  it("changes connection details and onDestroy in place, settings by replacing config, the plist by replacing the job", () => {
    const before = input();
    const triggers = (s: ReturnType<typeof input>) => Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, JSON.stringify(v.triggers_replace)]));
    const inputs = (s: ReturnType<typeof input>) => Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, JSON.stringify(v.input)]));
    const changed = (a: Record<string, string>, b: Record<string, string>) => Object.keys(a).filter((k) => a[k] !== b[k]).sort();

    const moved = input({ ssh: { ...(SSH as { ssh: object }).ssh, host: "mac1.lab", port: 2222, identityFile: "/root/.ssh/other" } });
    assert.deepEqual(changed(triggers(before), triggers(moved)), ["mac1_readiness"]);
    assert.deepEqual(changed(inputs(before), inputs(moved)), ["mac1_config", "mac1_instance", "mac1_job", "mac1_queue_guard", "mac1_readiness"]);

    const deport = input(SSH, { onDestroy: "deport" });
    assert.deepEqual(changed(triggers(before), triggers(deport)), ["mac1_readiness"]);
    assert.deepEqual(changed(inputs(before), inputs(deport)), ["mac1_instance", "mac1_queue_guard"]);

    const tuned = input(SSH, { settings: { message_size_limit: "20480000" } });
    assert.deepEqual(changed(triggers(before), triggers(tuned)), ["mac1_config", "mac1_readiness"]);

    const relabelled = input(SSH, { label: "org.example.in" });
    assert.deepEqual(changed(triggers(before), triggers(relabelled)), ["mac1_job", "mac1_readiness"]);

    const renamed = input(SSH, { instanceName: "postfix-in2" });
    assert.deepEqual(changed(triggers(before), triggers(renamed)), ["mac1_config", "mac1_instance", "mac1_job", "mac1_queue_guard", "mac1_readiness"]);

    const elsewhere = input({ ssh: { host: "mac2.lab" } });
    assert.deepEqual(changed(triggers(before), triggers(elsewhere)), ["mac1_config", "mac1_instance", "mac1_job", "mac1_queue_guard", "mac1_readiness"]);
  });

  it("merges settings over the recipe's defaults key by key", () => {
    const { step } = input(SSH, { settings: { inet_interfaces: "10.0.0.5", mydestination: "" } });
    assert.deepEqual(step("config").input.settings, { master_service_disable: "", authorized_submit_users: "root", inet_interfaces: "10.0.0.5", mydestination: "" });
  });

  it("supervised: launchd keeps a foreground master -c <config dir> alive, started after postfix check", () => {
    const { construct } = input();
    const job = plist.parse(construct.daemon.plist) as { ProgramArguments: string[] };
    assert.deepEqual(job, {
      Label: "org.postfix.in",
      ProgramArguments: ["/bin/sh", "-c", job.ProgramArguments[2], "mac-postfix-start", "/etc/postfix-in", "/usr/sbin/postfix", "/usr/libexec/postfix/master", "/etc/postfix-in/.mac-postfix-checked"],
      RunAtLoad: true,
      KeepAlive: true,
    });
  });

  it("supervised: the start script runs the check as root, then execs master in its place, starts none if the check fails, and skips the check once for a fresh mark", async () => {
    // The job's own argv, run here with recording stand-ins for postfix, master and sudo, and a mark of our own.
    const dir = mkdtempSync(join(tmpdir(), "start-"));
    const mark = join(dir, "checked");
    const record = (name: string, exitCode: number) => {
      writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $$ $*" >> "${dir}/log"\nexit ${exitCode}\n`, { mode: 0o755 });
      return join(dir, name);
    };
    const jobArgv = (props: Partial<PostfixInputInstanceProps>, checkExit: number) => {
      const argv = (plist.parse(input(SSH, props).step("job").input.plist) as { ProgramArguments: string[] }).ProgramArguments;
      assert.equal(argv[7], "/etc/postfix-in/.mac-postfix-checked");
      // Positional arguments after the script: the config directory, postfix, master, the mark, then sudo's words.
      return [...argv.slice(0, 5), record("postfix", checkExit), record("master", 0), mark, ...argv.slice(8).map((word) => (word === "/usr/bin/sudo" ? record("sudo", 0) : word))];
    };
    const run = async (argv: string[]) => {
      rmSync(join(dir, "log"), { force: true });
      const child = execa(argv[0]!, argv.slice(1), { reject: false });
      const { exitCode } = await child;
      return { exitCode, pid: child.pid, log: existsSync(join(dir, "log")) ? readFileSync(join(dir, "log"), "utf8") : "" };
    };
    try {
      const boot = await run(jobArgv({}, 0));
      assert.equal(boot.exitCode, 0);
      assert.equal(boot.log, `postfix ${boot.log.split(" ")[1]} -c /etc/postfix-in check\nmaster ${boot.pid} -c /etc/postfix-in\n`, "master runs as the job's own process");
      const refused = await run(jobArgv({}, 1));
      assert.equal(refused.exitCode, 1);
      assert.doesNotMatch(refused.log, /master/);

      writeFileSync(mark, "");
      const marked = await run(jobArgv({}, 1));
      assert.equal(marked.log, `master ${marked.pid} -c /etc/postfix-in\n`, "the mark stands for the check");
      assert.equal(existsSync(mark), false, "a mark is taken once");
      const next = await run(jobArgv({}, 1));
      assert.doesNotMatch(next.log, /master/, "the start after it checks again");

      writeFileSync(mark, "");
      const agent = await run(jobArgv({ lifecycle: "login", loginUser: "admin" }, 0));
      assert.equal(agent.log.replace(/ \d+ /g, " "), `sudo -n ${dir}/postfix -c /etc/postfix-in check\nsudo -n ${dir}/master -c /etc/postfix-in\n`);
      assert.equal(existsSync(mark), true, "an agent that runs as its user leaves the mark");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("postmulti-start: one-shot postmulti start at load, no KeepAlive, process group abandoned", () => {
    const { construct, step } = input(SSH, { runMode: "postmulti-start" });
    const job = plist.parse(construct.daemon.plist) as Record<string, unknown>;
    assert.deepEqual(job, {
      Label: "org.postfix.in",
      ProgramArguments: ["/usr/sbin/postmulti", "-i", "postfix-in", "-p", "start"],
      RunAtLoad: true,
      AbandonProcessGroup: true,
    });
    assert.equal(step("readiness").input.expectRunning, false);
    assert.equal(step("job").input.kickstart, false, "RunAtLoad already started it");
  });

  describe("fixes every defect of the recipe's plist (reference section 5)", () => {
    for (const runMode of ["supervised", "postmulti-start"] as const) {
      const { construct } = input(SSH, { runMode });
      const xml = construct.daemon.plist;
      const job = plist.parse(xml) as { Program?: string; ProgramArguments: string[]; RunAtLoad?: boolean; KeepAlive?: boolean; AbandonProcessGroup?: boolean };

      it(`${runMode}: the program is named once, by an absolute path, as ProgramArguments[0]`, () => {
        assert.equal(job.Program, undefined);
        assert.ok(job.ProgramArguments[0]!.startsWith("/"), job.ProgramArguments[0]);
      });

      it(`${runMode}: the instance is named postfix-in everywhere, never postfix.in`, () => {
        assert.doesNotMatch(xml, />(postfix\.in|\/etc\/postfix\.in)</);
        assert.ok(job.ProgramArguments.some((a) => a === "postfix-in" || a === "/etc/postfix-in"), job.ProgramArguments.join(" "));
      });

      it(`${runMode}: RunAtLoad and KeepAlive carry values (the plist is valid)`, () => {
        assert.doesNotMatch(xml, /<key>(RunAtLoad|KeepAlive)<\/key>\s*<key>/);
        assert.equal(job.RunAtLoad, true);
        assert.ok(job.KeepAlive === undefined || typeof job.KeepAlive === "boolean");
      });

      it(`${runMode}: never KeepAlive around a command that backgrounds master`, () => {
        if (job.KeepAlive) {
          // foreground: master's words are its config directory alone (no -w, no -d).
          assert.match(job.ProgramArguments[2]!, /exec "\$@" "\$master" -c "\$dir"$/);
          assert.deepEqual(job.ProgramArguments.slice(4), ["/etc/postfix-in", "/usr/sbin/postfix", "/usr/libexec/postfix/master", "/etc/postfix-in/.mac-postfix-checked"]);
        } else {
          assert.ok(job.ProgramArguments.includes("start"));
          assert.equal(job.AbandonProcessGroup, true);
        }
      });

      it(`${runMode}: enablement is left to launchctl enable, not the Disabled hint print-disabled misreports`, () => {
        assert.ok(!("Disabled" in job));
      });
    }
  });

  it("lifecycle login: a LaunchAgent in gui/<user>, written to /Library/LaunchAgents", () => {
    const { construct, step } = input(SSH, { lifecycle: "login", loginUser: "admin" });
    assert.ok(construct.daemon instanceof LaunchAgent);
    assert.equal(construct.plistPath, "/Library/LaunchAgents/org.postfix.in.plist");
    assert.deepEqual(step("job").input.domain, { type: "gui", user: "admin" });
    assert.deepEqual(step("readiness").input.domain, { type: "gui", user: "admin" });
    assert.deepEqual(warnings(construct), []);
    assert.deepEqual(warnings(input().construct), []);
  });

  it("lifecycle login: the agent runs the check and master through sudo -n, allowed by a sudoers rule for exactly those commands", () => {
    const { construct, step } = input(SSH, { lifecycle: "login", loginUser: "admin" });
    const job = plist.parse(step("job").input.plist) as { Program?: string; ProgramArguments: string[] };
    assert.equal(job.Program, undefined);
    assert.deepEqual(job.ProgramArguments.slice(3), ["mac-postfix-start", "/etc/postfix-in", "/usr/sbin/postfix", "/usr/libexec/postfix/master", "/etc/postfix-in/.mac-postfix-checked", "/usr/bin/sudo", "-n"]);
    const rule = step("sudo_rule").input as SudoRuleStep;
    assert.deepEqual(
      { kind: rule.kind, path: rule.path, user: rule.user, commands: rule.commands },
      {
        kind: "sudo-rule",
        path: "/etc/sudoers.d/cdktf-mac-postfix-postfix-in",
        user: "admin",
        commands: [
          ["/usr/sbin/postfix", "-c", "/etc/postfix-in", "check"],
          ["/usr/libexec/postfix/master", "-c", "/etc/postfix-in"],
        ],
      },
    );
    assert.equal(construct.sudoRule?.path, rule.path);
    assert.equal(
      sudoersRule(rule),
      "# Managed by cdktf-mac-postfix; cdktf destroy removes it.\nadmin ALL = (root) NOPASSWD: /usr/sbin/postfix -c /etc/postfix-in check, /usr/libexec/postfix/master -c /etc/postfix-in\n",
    );
    assert.deepEqual(step("job").depends_on, ["terraform_data.mac1_config", "terraform_data.mac1_sudo_rule"]);
    assert.deepEqual(step("sudo_rule").depends_on, ["terraform_data.mac1_config"]);

    const login = (props: Partial<PostfixInputInstanceProps>) => () => input(SSH, { lifecycle: "login", loginUser: "admin", ...props });
    refuses(login({ runMode: "postmulti-start" }), "stack/input", "runMode", /must be "supervised" when lifecycle is "login": a "postmulti-start" master outlives the job, so logout would not stop it/);
    refuses(login({ instanceName: "postfix-in.2" }), "stack/input", "instanceName", /sudo skips a drop-in whose name has a dot/);
    refuses(login({ configDirectory: "/etc/postfix:in" }), "stack/input", "configDirectory", /so the sudoers rule that starts master reads it literally/);
    assert.equal(input(SSH, { lifecycle: "login", loginUser: "root", instanceName: "postfix-in.2" }).step("sudo_rule"), undefined, "root needs no rule, so a dot is fine");
    const asRoot = input(SSH, { lifecycle: "login", loginUser: "root" });
    assert.equal(asRoot.step("sudo_rule"), undefined, "root needs no rule");
    assert.deepEqual((plist.parse(asRoot.step("job").input.plist) as { ProgramArguments: string[] }).ProgramArguments.slice(4), ["/etc/postfix-in", "/usr/sbin/postfix", "/usr/libexec/postfix/master", "/etc/postfix-in/.mac-postfix-checked"]);
  });

  it("SudoRule refuses a name sudo would skip and words sudoers would not read literally", () => {
    const rule = (props: Partial<SudoRuleProps>) => () =>
      synth((stack) => {
        const host = new MacHost(stack, "mac1", SSH);
        new SudoRule(stack, "rule", { host, name: "ok", user: "admin", commands: [["/bin/true"]], ...props });
      });
    refuses(rule({ name: "a.b" }), "stack/rule", "name", /dot/);
    refuses(rule({ commands: [] }), "stack/rule", "commands", /at least one/);
    refuses(rule({ commands: [[]] }), "stack/rule", "commands[0]", /absolute/);
    refuses(rule({ commands: [["/bin/true"], ["true"]] }), "stack/rule", "commands[1]", /absolute/);
    refuses(rule({ commands: [["/bin/echo", "a,b"]] }), "stack/rule", "commands[0][1]");
    refuses(rule({ commands: [["/bin/echo", "a b"]] }), "stack/rule", "commands[0][1]");
    refuses(rule({ commands: [["/bin/echo", "x=1"]] }), "stack/rule", "commands[0][1]");
    refuses(rule({ user: "-admin" }), "stack/rule", "user");
  });

  it("checks SMTP at 127.0.0.1 when local, at smtpAddress if given, and not at all with null", () => {
    assert.deepEqual(input({ local: true }).step("readiness").input.smtp, { address: "127.0.0.1", port: 25 });
    assert.deepEqual(input(SSH, { smtpAddress: "10.1.2.3", smtpPort: 2525 }).step("readiness").input.smtp, { address: "10.1.2.3", port: 2525 });
    assert.equal(input(SSH, { smtpAddress: null }).step("readiness").input.smtp, null);
  });

  it("escapes Terraform template sequences so user text reaches the Mac verbatim", () => {
    const { step } = input(SSH, { settings: { smtpd_banner: "${path.module} %{if true}x%{endif} $$ $x" } });
    assert.equal(step("config").input.settings.smtpd_banner, "$${path.module} %%{if true}x%%{endif} $$ $x");
    assert.equal(step("config").triggers_replace.settings.smtpd_banner, "$${path.module} %%{if true}x%%{endif} $$ $x");
  });

  it("refuses bad props, naming the construct path and the field", () => {
    const build = (props: Partial<PostfixInputInstanceProps> & Record<string, unknown>) => () => input(SSH, props);
    refuses(build({ instanceName: "postfix.in" }), "stack/input/Instance", "name", /postfix-/);
    refuses(build({ instanceName: "in" }), "stack/input/Instance", "name");
    refuses(build({ group: "m t a" }), "stack/input/Instance", "group");
    refuses(build({ label: "org.postfix.in\n" }), "stack/input/Daemon", "label");
    refuses(build({ settings: { "inet-interfaces": "all" } }), "stack/input/Instance", "settings.inet-interfaces");
    refuses(build({ settings: { myhostname: "a\nb" } }), "stack/input/Instance", "settings.myhostname", /NUL, CR or LF/);
    refuses(build({ runMode: "forever" as never }), "stack/input", "runMode");
    refuses(build({ onDestroy: "delete" as never }), "stack/input", "onDestroy");
    refuses(build({ lifecycle: "login" }), "stack/input", "loginUser", /required/);
    refuses(build({ loginUser: "admin" }), "stack/input", "loginUser", /only used/);
    refuses(build({ lifecycle: "login", loginUser: "Admin" }), "stack/input", "loginUser");
    refuses(build({ smtpPort: 70000 }), "stack/input", "smtpPort");
    refuses(build({ smtpAddress: "" }), "stack/input", "smtpAddress");
    refuses(build({ configDirectory: "etc/postfix-in" }), "stack/input/Instance", "configDirectory", /absolute/);
    refuses(build({ configDirectory: "/etc/postfix" }), "stack/input/Instance", "configDirectory", /primary/);
    refuses(build({ addressPrefix: "mac 1" }), "stack/input", "addressPrefix");
    refuses(build({ keepAlive: true }), "stack/input", "keepAlive", /unknown property/);
  });
});

describe("PostfixInstance", () => {
  it("defaults the config directory to a sibling of the primary's, and can be disabled", () => {
    let instance!: PostfixInstance;
    const { resources } = synth((stack) => {
      const host = new MacHost(stack, "mac", { local: true, paths: { postfixConfigDirectory: "/private/etc/postfix" } });
      instance = new PostfixInstance(stack, "out", { host, name: "postfix-out", enabled: false });
    });
    assert.equal(instance.configDirectory, "/private/etc/postfix-out");
    const steps = Object.values(resources.terraform_data!);
    assert.equal(steps.length, 2);
    const config = steps.find((s) => s.input.kind === "instance-config")!;
    assert.equal(config.input.enabled, false);
    assert.equal(config.input.group, undefined);
    assert.deepEqual(config.input.settings, {});
  });
});

describe("LaunchDaemon and LaunchAgent", () => {
  it("install any typed job; the plist XML is the spec and part of the replacement trigger", () => {
    let daemon!: LaunchDaemon;
    const { resources } = synth((stack) => {
      const host = new MacHost(stack, "mac", { local: true });
      daemon = new LaunchDaemon(stack, "cleanup", {
        host,
        label: "org.example.cleanup",
        programArguments: ["/usr/bin/find", "/tmp", "-mtime", "+7", "-delete"],
        startCalendarInterval: { hour: 4, minute: 30 },
        kickstart: false,
      });
    });
    const [job] = Object.values(resources.terraform_data!);
    assert.equal(daemon.plistPath, "/Library/LaunchDaemons/org.example.cleanup.plist");
    assert.equal(job!.input.plist, daemon.plist);
    assert.equal(job!.input.kickstart, false);
    assert.deepEqual(job!.triggers_replace, { host: "local", label: "org.example.cleanup", path: daemon.plistPath, domain: { type: "system" }, plist: daemon.plist });
    assert.deepEqual((plist.parse(daemon.plist) as Record<string, unknown>).StartCalendarInterval, { Hour: 4, Minute: 30 });
  });

  it("warns when Program and argv[0] name different programs (the recipe's first defect)", () => {
    let daemon!: LaunchDaemon;
    synth((stack) => {
      const host = new MacHost(stack, "mac", { local: true });
      daemon = new LaunchDaemon(stack, "bad", { host, label: "org.postfix.in", program: "/usr/libexec/postfix/master", programArguments: ["postmulti", "-i", "postfix-in", "-p", "start"] });
    });
    assert.match(warnings(daemon).join("\n"), /argv\[0\] names another program/);
  });

  it("LaunchAgent targets gui/<user> and /Library/LaunchAgents; refuses a bad user", () => {
    let agent!: LaunchAgent;
    synth((stack) => {
      const host = new MacHost(stack, "mac", { local: true });
      agent = new LaunchAgent(stack, "agent", { host, user: "admin", label: "org.example.agent", programArguments: ["/usr/bin/true"] });
    });
    assert.deepEqual(agent.domain, { type: "gui", user: "admin" });
    assert.equal(agent.plistPath, "/Library/LaunchAgents/org.example.agent.plist");
    refuses(
      () => synth((stack) => new LaunchAgent(stack, "agent", { host: new MacHost(stack, "mac", { local: true }), user: "-x", label: "a", programArguments: ["/bin/x"] })),
      "stack/agent",
      "user",
    );
  });

  it("refuses bad launchd keys and paths with the construct path", () => {
    const build = (props: Record<string, unknown>) => () =>
      synth((stack) => new LaunchDaemon(stack, "job", { host: new MacHost(stack, "mac", { local: true }), label: "org.example.job", programArguments: ["/bin/x"], ...props }));
    refuses(build({ path: "org.example.job.plist" }), "stack/job", "path", /absolute/);
    refuses(build({ throttleInterval: "10" }), "stack/job", "throttleInterval", /integer/);
    refuses(build({ RunAtLoad: true }), "stack/job", "RunAtLoad", /unknown property/);
    refuses(build({ kickstart: "no" }), "stack/job", "kickstart");
  });
});

describe("LogoutHook", () => {
  it("is a logout-hook step with a deprecation warning", () => {
    let hook!: LogoutHook;
    const { resources } = synth((stack) => {
      const host = new MacHost(stack, "mac", { local: true });
      hook = new LogoutHook(stack, "hook", { host, script: "#!/bin/sh\n/usr/sbin/postmulti -i postfix-in -p stop\n", addressPrefix: "mac" });
    });
    const step = resources.terraform_data!.mac_logout_hook!;
    assert.equal(step.input.kind, "logout-hook");
    assert.equal(step.input.path, "/Library/Scripts/cdktf-mac-postfix/logout-hook.sh");
    assert.equal(step.input.script, "#!/bin/sh\n/usr/sbin/postmulti -i postfix-in -p stop\n");
    assert.deepEqual(step.provisioner, [apply, destroy]);
    assert.match(warnings(hook).join("\n"), /deprecated/);
  });

  it("refuses a script without #! and a relative path", () => {
    const build = (props: Record<string, unknown>) => () => synth((stack) => new LogoutHook(stack, "hook", { host: new MacHost(stack, "mac", { local: true }), script: "#!/bin/sh\n", ...props }));
    refuses(build({ script: "postfix stop" }), "stack/hook", "script", /#!/);
    refuses(build({ path: "hook.sh" }), "stack/hook", "path", /absolute/);
  });
});

describe("null_resource variant", () => {
  function nullStack(build: (stack: TerraformStack, host: MacHost) => void) {
    return synth((stack) => build(stack, new MacHost(stack, "mac1", { ...SSH, resourceType: "null_resource" })));
  }

  it("adds the null provider once per stack and carries the spec as a JSON string in triggers", () => {
    let construct!: PostfixInputInstance;
    const { resources, json } = nullStack((stack, host) => {
      construct = new PostfixInputInstance(stack, "input", { host, addressPrefix: "mac1" });
      const other = new MacHost(stack, "mac2", { ssh: { host: "mac2.lab" }, resourceType: "null_resource" });
      new PostfixInputInstance(stack, "input2", { host: other, addressPrefix: "mac2" });
    });
    assert.ok(Testing.toHaveProvider(json, "null"));
    // "null" is Terraform's shorthand for registry.terraform.io/hashicorp/null.
    assert.equal(JSON.parse(json).terraform.required_providers.null.source, "null");
    assert.deepEqual(Object.keys(JSON.parse(json).provider), ["null"]);
    assert.equal(resources.terraform_data, undefined);
    const steps = resources.null_resource!;
    assert.equal(Object.keys(steps).length, 10);
    assert.deepEqual(JSON.parse(steps.mac1_config!.triggers.spec), specOnTheWire(construct.instance.configStep));
    assert.deepEqual(JSON.parse(steps.mac1_instance!.triggers.spec), specOnTheWire(construct.instance.instanceStep));
    const env = { MAC_POSTFIX_STEP: "${self.triggers.spec}" };
    assert.deepEqual(steps.mac1_instance!.provisioner, [
      { "local-exec": { interpreter: ["perl", STEP_CLIENT_PATH], command: "apply", environment: env } },
      { "local-exec": { interpreter: ["perl", STEP_CLIENT_PATH], command: "destroy", when: "destroy", environment: env } },
    ]);
    assert.deepEqual(steps.mac1_queue_guard!.depends_on, ["null_resource.mac1_job"]);
  });

  it("leaves the construct path out of each step's metadata, as terraform_data steps do", () => {
    const { stack } = nullStack((stack, host) => new PostfixInputInstance(stack, "input", { host, addressPrefix: "mac1" }));
    assertNoConstructPath(writtenResources(stack).null_resource!);
  });

  it("escapes template sequences inside the JSON string", () => {
    const { resources } = nullStack((stack, host) => new PostfixInstance(stack, "i", { host, name: "postfix-in", settings: { smtpd_banner: "${x}" }, addressPrefix: "m" }));
    assert.match(resources.null_resource!.m_config!.triggers.spec, /"smtpd_banner":"\$\$\{x\}"/);
  });
});
