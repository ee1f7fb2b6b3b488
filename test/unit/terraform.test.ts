/**
 * The synthesized stacks against real Terraform (offline: terraform_data needs no provider) and the
 * real cdktf CLI. The apply/destroy tests swap the CLI path in the provisioners for a recorder that
 * logs each call's argv and StepSpec, so they show what Terraform hands the executor, in which order.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Testing, TerraformStack } from "cdktf";
import { LaunchAgent, LogoutHook, MacHost, PostfixInputInstance, type InstanceConfigStep, type PostfixInputInstanceProps, STEP_CLIENT_PATH, type StepSpec } from "../../src/index.js";
import { terraformEnv } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HOSTILE = "${path.module} $${x} $$${y} %{ if true }x%{ endif } %%{z} $(touch /tmp/mac-postfix-canary) `id` ';\" \\ ünï";

let env: NodeJS.ProcessEnv;
let saved: NodeJS.ProcessEnv;
before(() => {
  env = terraformEnv();
  saved = { ...process.env };
  // Testing.toBeValidTerraform runs terraform with this process's environment.
  Object.assign(process.env, { CHECKPOINT_DISABLE: env.CHECKPOINT_DISABLE, TF_CLI_CONFIG_FILE: env.TF_CLI_CONFIG_FILE });
});
after(() => {
  for (const key of ["CHECKPOINT_DISABLE", "TF_CLI_CONFIG_FILE"]) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

function run(command: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(command, args, { cwd, env: { ...env, ...extraEnv }, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

describe("real terraform", () => {
  it("validates the terraform_data stack offline (terraform init + validate)", () => {
    const stack = new TerraformStack(Testing.app(), "stack");
    const mac = new MacHost(stack, "mac1", { ssh: { host: "mac1.lab", user: "admin", identityFile: "/root/.ssh/id" } });
    new PostfixInputInstance(stack, "input", { host: mac, addressPrefix: "mac1", settings: { smtpd_banner: HOSTILE } });
    new PostfixInputInstance(stack, "login", { host: mac, instanceName: "postfix-login", label: "org.postfix.login", lifecycle: "login", loginUser: "admin" });
    new LaunchAgent(stack, "agent", { host: mac, user: "admin", label: "org.example.agent", programArguments: ["/usr/bin/true"] });
    new LogoutHook(stack, "hook", { host: mac, script: "#!/bin/sh\n/usr/sbin/postmulti -i postfix-in -p stop\n" });
    assert.equal(Testing.toBeValidTerraform(Testing.fullSynth(stack)), true);
  });

  it("refuses an invalid stack: the validation above can fail", () => {
    const stack = new TerraformStack(Testing.app(), "stack");
    const mac = new MacHost(stack, "mac1", { local: true });
    const input = new PostfixInputInstance(stack, "input", { host: mac });
    input.readinessResource.addOverride("depends_on", ["terraform_data.nowhere"]);
    assert.equal(Testing.toBeValidTerraform(Testing.fullSynth(stack)), false);
  });

  describe("apply, update and destroy hand the executor each step in dependency order", () => {
    const work = mkdtempSync(join(tmpdir(), "mac-postfix-apply."));
    const log = join(work, "calls.jsonl");
    const recorder = join(work, "recorder.mjs");
    writeFileSync(
      recorder,
      `import { appendFileSync } from "node:fs";
const spec = JSON.parse(process.env.MAC_POSTFIX_STEP);
appendFileSync(process.env.RECORD_LOG, JSON.stringify({ argv: process.argv.slice(2), spec }) + "\\n");
if (process.env.RECORD_REFUSE === spec.kind + ":" + process.argv[2]) { console.error("refused"); process.exit(1); }
`,
    );
    const dir = join(work, "tf");
    mkdirSync(dir);
    let seen = 0;

    /**
     * Synthesizes the stack with `props` into `dir`, with the recorder in place of the CLI.
     * `objectInputs` rewrites it the way it was synthesized before step inputs became JSON text.
     */
    function deploy(props: Partial<PostfixInputInstanceProps>, command: "apply" | "destroy" = "apply", extraEnv: NodeJS.ProcessEnv = {}, objectInputs = false) {
      const stack = new TerraformStack(Testing.app(), "stack");
      new PostfixInputInstance(stack, "input", { host: new MacHost(stack, "mac", { local: true }), addressPrefix: "mac", ...props });
      let json = readFileSync(join(Testing.fullSynth(stack), "stacks", "stack", "cdk.tf.json"), "utf8");
      if (objectInputs) json = withObjectInputs(json);
      writeFileSync(join(dir, "cdk.tf.json"), withRecorder(json, recorder));
      if (!existsSync(join(dir, ".terraform"))) assert.equal(run("terraform", ["init", "-input=false"], dir).status, 0);
      const result = run("terraform", [command, "-auto-approve", "-input=false"], dir, { RECORD_LOG: log, ...extraEnv });
      const lines = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : [];
      const calls = lines.slice(seen).map((l) => JSON.parse(l) as { argv: string[]; spec: StepSpec });
      seen = lines.length;
      return { ...result, calls, steps: calls.map((c) => `${c.spec.kind}:${c.argv[0]}`) };
    }

    it("create runs instance, config, job, then readiness; the guard has nothing to create", () => {
      const { status, output, calls, steps } = deploy({ settings: { smtpd_banner: HOSTILE } });
      assert.equal(status, 0, output);
      assert.deepEqual(steps, ["instance:apply", "instance-config:apply", "launch-job:apply", "readiness:apply"]);
      assert.deepEqual(calls[0]!.argv, ["apply"]);
      const config = calls[1]!.spec;
      assert.ok(config.kind === "instance-config");
      assert.equal(config.settings.smtpd_banner, HOSTILE, "user text reaches the executor verbatim");
      assert.equal(existsSync("/tmp/mac-postfix-canary"), false);
    });

    it("a second apply of the same configuration runs nothing", () => {
      const { status, output, steps } = deploy({ settings: { smtpd_banner: HOSTILE } });
      assert.equal(status, 0, output);
      assert.deepEqual(steps, []);
    });

    it("inputs held as objects (the earlier state format) and as JSON text are updated in place, running nothing", () => {
      for (const objectInputs of [true, false]) {
        const { status, output, steps } = deploy({ settings: { smtpd_banner: HOSTILE } }, "apply", {}, objectInputs);
        assert.equal(status, 0, output);
        assert.match(output, /Resources: 0 added, 5 changed, 0 destroyed/);
        assert.deepEqual(steps, []);
      }
    });

    it("a settings change re-runs only config and readiness (the instance and the job stay)", () => {
      const { status, output, calls, steps } = deploy({ settings: { smtpd_banner: "changed" } });
      assert.equal(status, 0, output);
      assert.deepEqual(steps, ["instance-config:apply", "readiness:apply"]);
      assert.equal((calls[0]!.spec as { settings: Record<string, string> }).settings.smtpd_banner, "changed");
    });

    it("an onDestroy change is recorded in place; only readiness re-verifies", () => {
      const { status, output, steps } = deploy({ settings: { smtpd_banner: "changed" }, onDestroy: "deport" });
      assert.equal(status, 0, output);
      assert.deepEqual(steps, ["readiness:apply"]);
    });

    it("a plist change boots the old job out, then installs the new one", () => {
      const { status, output, calls, steps } = deploy({ settings: { smtpd_banner: "changed" }, onDestroy: "deport", runMode: "postmulti-start" });
      assert.equal(status, 0, output);
      assert.deepEqual(steps, ["launch-job:destroy", "launch-job:apply", "readiness:apply"]);
      assert.match((calls[0]!.spec as { plist: string }).plist, /<key>KeepAlive<\/key>/);
      assert.doesNotMatch((calls[1]!.spec as { plist: string }).plist, /<key>KeepAlive<\/key>/);
    });

    it("a destroy the guard refuses fails before the job is booted out", () => {
      const { status, steps } = deploy({ settings: { smtpd_banner: "changed" }, onDestroy: "deport", runMode: "postmulti-start" }, "destroy", {
        RECORD_REFUSE: "queue-guard:destroy",
      });
      assert.notEqual(status, 0);
      assert.deepEqual(steps, ["queue-guard:destroy"]);
    });

    it("destroy runs the guard first, then the job, then the instance, with the onDestroy updated in place", () => {
      const { status, output, calls, steps } = deploy({ settings: { smtpd_banner: "changed" }, onDestroy: "deport", runMode: "postmulti-start" }, "destroy");
      assert.equal(status, 0, output);
      assert.deepEqual(steps, ["queue-guard:destroy", "launch-job:destroy", "instance:destroy"]);
      assert.equal((calls[2]!.spec as { onDestroy: string }).onDestroy, "deport");
      assert.deepEqual(calls[2]!.argv, ["destroy"]);
    });
  });
});

describe("cdktf CLI", () => {
  it("`cdktf synth` runs cdktf.json's app and builds the selected example stacks", () => {
    const out = mkdtempSync(join(tmpdir(), "mac-postfix-synth."));
    const { status, output } = run("npx", ["cdktf", "synth", "--output", out], ROOT, {
      MAC_POSTFIX_STACKS: "mac-local,mac-ssh",
      MAC_HOST: "mac1.lab",
      MAC_USER: "admin",
      MAC_IDENTITY_FILE: "/root/.ssh/lab_ed25519",
      MAC_POSTFIX_SETTINGS: '{"myhostname":"mac1.lab"}',
    });
    assert.equal(status, 0, output);
    const ssh = JSON.parse(readFileSync(join(out, "stacks", "mac-ssh", "cdk.tf.json"), "utf8"));
    const specs = (stack: { resource: { terraform_data: Record<string, { input: string }> } }) => Object.values(stack.resource.terraform_data).map((r) => JSON.parse(r.input) as StepSpec);
    const steps = specs(ssh);
    assert.deepEqual(Object.keys(ssh.resource.terraform_data).sort(), ["mac_config", "mac_instance", "mac_job", "mac_queue_guard", "mac_readiness"]);
    const config = steps.find((s) => s.kind === "instance-config") as InstanceConfigStep;
    assert.equal(config.settings.myhostname, "mac1.lab");
    assert.deepEqual(config.host.connection, { transport: "ssh", host: "mac1.lab", user: "admin", identityFile: "/root/.ssh/lab_ed25519" });
    const local = JSON.parse(readFileSync(join(out, "stacks", "mac-local", "cdk.tf.json"), "utf8"));
    assert.ok(specs(local).some((s) => s.host.connection.transport === "local"));
  });

  it("MAC_POSTFIX_RESOURCE_TYPE=null_resource builds the example on the null provider", () => {
    const out = mkdtempSync(join(tmpdir(), "mac-postfix-null."));
    const { status, output } = run("npx", ["tsx", "stacks/main.ts"], ROOT, { MAC_POSTFIX_STACKS: "mac-local", MAC_POSTFIX_RESOURCE_TYPE: "null_resource", CDKTF_OUTDIR: out });
    assert.equal(status, 0, output);
    const local = JSON.parse(readFileSync(join(out, "stacks", "mac-local", "cdk.tf.json"), "utf8"));
    assert.deepEqual(Object.keys(local.provider), ["null"]);
    assert.deepEqual(Object.keys(local.resource), ["null_resource"]);
    assert.deepEqual(Object.keys(local.resource.null_resource).sort(), ["mac_config", "mac_instance", "mac_job", "mac_queue_guard", "mac_readiness"]);
  });

  it("names a missing environment variable or an unknown stack", () => {
    const missing = run("npx", ["tsx", "stacks/main.ts"], ROOT, { MAC_POSTFIX_STACKS: "mac-ssh", MAC_HOST: "", CDKTF_OUTDIR: mkdtempSync(join(tmpdir(), "o.")) });
    assert.notEqual(missing.status, 0);
    assert.match(missing.output, /stack mac-ssh needs the environment variable\(s\) MAC_HOST/);
    const unknown = run("npx", ["tsx", "stacks/main.ts"], ROOT, { MAC_POSTFIX_STACKS: "nope", CDKTF_OUTDIR: mkdtempSync(join(tmpdir(), "o.")) });
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.output, /no stack named "nope"/);
  });
});

/** The stack as it was synthesized while a step's `input` was an object and its provisioners `jsonencode`d it. */
type Provisioned = { resource: { terraform_data: Record<string, { input: string; provisioner: { "local-exec": { interpreter: string[]; environment: Record<string, string> } }[] }> } };

/** The stack with every provisioner's step client (checked to be the one it runs) replaced by the recorder. */
function withRecorder(json: string, recorder: string): string {
  const stack = JSON.parse(json) as Provisioned;
  for (const resource of Object.values(stack.resource.terraform_data)) {
    for (const p of resource.provisioner) {
      assert.deepEqual(p["local-exec"].interpreter, ["perl", STEP_CLIENT_PATH]);
      p["local-exec"].interpreter = ["node", recorder];
    }
  }
  return JSON.stringify(stack);
}

function withObjectInputs(json: string): string {
  const stack = JSON.parse(json) as Provisioned;
  for (const resource of Object.values(stack.resource.terraform_data)) {
    resource.input = JSON.parse(resource.input) as string;
    for (const p of resource.provisioner) p["local-exec"].environment.MAC_POSTFIX_STEP = "${jsonencode(self.input)}";
  }
  return JSON.stringify(stack);
}
