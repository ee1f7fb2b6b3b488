/**
 * The ecosystem around the constructs, without a Mac: the null_resource variant of every construct
 * against the default terraform_data one, `terraform init` of it offline, the constructs inside a
 * CDK Terrain (`cdktn`) app, and the `removed` blocks OpenTofu needs spelled out.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as cdktf from "cdktf";
import * as cdktn from "cdktn";
import { MacFleet } from "../../src/fleet/mac-fleet.js";
import { LaunchAgent, LaunchDaemon, LogoutHook, MacHost, PostfixInputInstance, PostfixInstance, type MacResourceType } from "../../src/index.js";
import { terraformEnv } from "../unit/helpers.js";
import { buildEcoStack, type EcoStack } from "./app.js";
import { ecoProject, failure, layOutAsCdktnUser, NODE20_SHIM, REPO } from "./project.js";

type Framework = typeof cdktf | typeof cdktn;
type Provisioner = { "local-exec": { interpreter: string[]; command: string; environment: Record<string, string>; when?: string } };
type Resource = { input?: string; triggers?: { spec: string }; triggers_replace?: unknown; provisioner?: Provisioner[]; depends_on?: string[] };
interface Json {
  terraform?: { required_providers?: Record<string, { source: string }> };
  provider?: Record<string, unknown>;
  resource: Record<string, Record<string, Resource>>;
  removed?: { from: string; lifecycle?: { destroy?: boolean }; provisioner?: Provisioner[] }[];
}

/** Every construct of the library, each on a Mac of the given resource type, and a fleet with a retired Mac. */
function everyConstruct(stack: cdktf.TerraformStack, resourceType: MacResourceType): void {
  const host = new MacHost(stack, "mac", { ssh: { host: "mac1.lab", user: "admin" }, resourceType });
  const instance = new PostfixInstance(stack, "instance", { host, name: "postfix-bare", settings: { inet_interfaces: "all" } });
  new LaunchDaemon(stack, "daemon", { host, label: "org.example.daemon", programArguments: ["/usr/bin/true"], dependsOn: [instance.configResource] });
  new LaunchAgent(stack, "agent", { host, user: "admin", label: "org.example.agent", programArguments: ["/usr/bin/true"], runAtLoad: true });
  new PostfixInputInstance(stack, "boot", { host, settings: { smtpd_banner: "${x} %{y} $(id)" } });
  new PostfixInputInstance(stack, "login", { host, instanceName: "postfix-login", label: "org.postfix.login", lifecycle: "login", loginUser: "admin" });
  new LogoutHook(stack, "hook", { host, script: "#!/bin/sh\n/usr/sbin/postmulti -i postfix-in -p stop\n" });
  new MacFleet(stack, "fleet", { resourceType, inventory: { hosts: [{ name: "mac2", address: "10.0.0.2" }], retired: [{ name: "mac9", address: "10.0.0.9" }] } });
}

function synth(framework: Framework, build: (stack: cdktf.TerraformStack) => void): Json {
  const stack = new framework.TerraformStack(framework.Testing.app(), "stack");
  build(stack as unknown as cdktf.TerraformStack);
  return JSON.parse(testingSynth(framework, stack)) as Json;
}

/** `Testing.synth` of either framework; their stack types do not mix in TypeScript (the objects do at runtime). */
const testingSynth = (framework: Framework, stack: unknown) => (framework.Testing.synth as (stack: unknown) => string)(stack);

/** A stack of our constructs, built by cdktf or by cdktn. */
const terrainSpec = (framework: EcoStack["framework"]): EcoStack => ({
  framework,
  name: "terrain",
  host: { ssh: { host: "mac1.lab", user: "admin" } },
  input: { lifecycle: "login", loginUser: "admin", settings: { smtpd_banner: "${x} $(id)" } },
  logoutHook: { script: "#!/bin/sh\nexit 0\n" },
});

const retype = (address: string) => address.replace(/^(terraform_data|null_resource)\./, "");
const local = (p: Provisioner[] = []) => p.map((x) => x["local-exec"]);

describe("null_resource variant of every construct", () => {
  const data = synth(cdktf, (s) => everyConstruct(s, "terraform_data"));
  const nul = synth(cdktf, (s) => everyConstruct(s, "null_resource"));

  it("declares the hashicorp/null provider; the default declares none", () => {
    assert.match(nul.terraform?.required_providers?.null?.source ?? "", /^(registry\.terraform\.io\/)?(hashicorp\/)?null$/);
    assert.ok(nul.provider?.null, "provider.null");
    assert.equal(data.terraform?.required_providers, undefined);
    assert.equal(data.provider, undefined);
    assert.deepEqual(Object.keys(nul.resource), ["null_resource"]);
    assert.deepEqual(Object.keys(data.resource), ["terraform_data"]);
  });

  it("has the same resources, dependencies and provisioners; triggers carry the same spec as input", () => {
    const a = data.resource.terraform_data!;
    const b = nul.resource.null_resource!;
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    assert.ok(Object.keys(a).length >= 20, `${Object.keys(a).length} resources`);
    for (const [id, tf] of Object.entries(a)) {
      const nr = b[id]!;
      assert.deepEqual(Object.keys(nr.triggers ?? {}), ["spec"], id);
      assert.equal(nr.triggers!.spec, tf.input, id);
      assert.deepEqual((nr.depends_on ?? []).map(retype), (tf.depends_on ?? []).map(retype), id);
      const [pa, pb] = [local(tf.provisioner), local(nr.provisioner)];
      assert.ok(pa.length > 0, id);
      assert.deepEqual(
        pb.map(({ environment, ...rest }) => ({ ...rest, environment: Object.keys(environment) })),
        pa.map(({ environment, ...rest }) => ({ ...rest, environment: Object.keys(environment) })),
        id,
      );
      // The spec reaches the CLI from the resource's own inputs: `input` or `triggers`.
      for (const p of pa) assert.deepEqual(p.environment, { MAC_POSTFIX_STEP: "${self.input}" }, id);
      for (const p of pb) assert.deepEqual(p.environment, { MAC_POSTFIX_STEP: "${self.triggers.spec}" }, id);
    }
  });

  it("the fleet's removed blocks match too, and every one sets lifecycle.destroy (OpenTofu defaults to forgetting)", () => {
    assert.ok(data.removed?.length, "a retired Mac gives removed blocks");
    assert.deepEqual(nul.removed!.map((r) => retype(r.from)), data.removed!.map((r) => retype(r.from)));
    for (const block of [...data.removed!, ...nul.removed!]) assert.deepEqual(block.lifecycle, { destroy: true }, block.from);
    assert.deepEqual(nul.removed!.map((r) => local(r.provisioner).map((p) => [p.command, p.when])), data.removed!.map((r) => local(r.provisioner).map((p) => [p.command, p.when])));
  });

  it("terraform init fails offline for it (hashicorp/null cannot be installed); the default needs no provider", () => {
    // A CLI config whose only provider source is an empty folder: offline, and no traffic at all.
    const dir = mkdtempSync(join(tmpdir(), "mac-postfix-eco-init-"));
    const config = join(dir, "terraformrc");
    writeFileSync(config, `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(dir)}\n  }\n}\n`);
    const init = (build: (s: cdktf.TerraformStack) => void) => {
      const stack = new cdktf.TerraformStack(cdktf.Testing.app(), "stack");
      build(stack);
      const cwd = join(cdktf.Testing.fullSynth(stack), "stacks", "stack");
      const r = spawnSync("terraform", ["init", "-input=false", "-no-color"], { cwd, env: { ...terraformEnv(), TF_CLI_CONFIG_FILE: config }, encoding: "utf8", timeout: 120_000 });
      return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
    };
    const withNull = init((s) => everyConstruct(s, "null_resource"));
    assert.notEqual(withNull.status, 0, withNull.output);
    assert.match(withNull.output, /Error: Failed to query available provider packages/, withNull.output);
    assert.match(withNull.output, /provider registry\.terraform\.io\/hashicorp\/null was not found/, withNull.output);
    const withData = init((s) => everyConstruct(s, "terraform_data"));
    assert.equal(withData.status, 0, withData.output);
  });
});

describe("CDK Terrain (cdktn)", () => {

  it("a cdktn TerraformStack holding our constructs synthesizes (Testing.synth) to the same JSON as a cdktf one", () => {
    const viaTn = JSON.parse(testingSynth(cdktn, buildEcoStack(cdktn, cdktn.Testing.app(), terrainSpec("cdktn"))));
    const viaTf = JSON.parse(testingSynth(cdktf, buildEcoStack(cdktf, cdktf.Testing.app(), terrainSpec("cdktf"))));
    assert.ok(Object.keys(viaTf.resource.terraform_data).length >= 6);
    assert.deepEqual(viaTn, viaTf);
    // The same holds for the null_resource variant, the fleet and its removed blocks.
    const everything = (f: Framework) => synth(f, (s) => everyConstruct(s, "null_resource"));
    const [tn, tf] = [everything(cdktn), everything(cdktf)];
    assert.deepEqual(tn, tf);
    for (const block of tn.removed!) assert.deepEqual(block.lifecycle, { destroy: true }, block.from);
  });

  it("a cdktn App cannot synthesize constructs built on cdktf 0.21 (install cdktf as an alias of cdktn instead)", () => {
    const app = new cdktn.App({ outdir: mkdtempSync(join(tmpdir(), "mac-postfix-eco-out-")) });
    buildEcoStack(cdktn, app, terrainSpec("cdktn"));
    // cdktn 0.24's App.synth resets per-element state that cdktf 0.21's elements lack.
    assert.throws(() => app.synth(), /TypeError: e\._resetResolveDiscoveredProviderFeatureUsage is not a function/);
  });
});

const TSC_OPTIONS = { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: [] };

describe("TypeScript for a cdktn user", () => {
  it("our constructs take cdktn scopes and dependencies; cdktf class types do not assign to cdktn's", () => {
    const dir = mkdtempSync(join(tmpdir(), "mac-postfix-eco-tsc-"));
    symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
    const lib = JSON.stringify(join(REPO, "src", "index.js"));
    const fleet = JSON.stringify(join(REPO, "src", "fleet", "fleet-stack.js"));
    writeFileSync(join(dir, "user.ts"), `import { App, DataResource, S3Backend, TerraformStack } from "cdktn";
import { MacHost, PostfixInputInstance } from ${lib};
import { fleetStacks } from ${fleet};
const app = new App();
const stack = new TerraformStack(app, "stack");
const before = new DataResource(stack, "before", {});
const input = new PostfixInputInstance(stack, "input", { host: new MacHost(stack, "mac", { local: true }), dependsOn: [before] });
new DataResource(stack, "after", { dependsOn: [input.readinessResource] });
fleetStacks(app, "fleet", { inventory: { hosts: [] }, backend: (s, site) => new S3Backend(s, { bucket: "b", key: site, region: "r" }) });
`);
    writeFileSync(join(dir, "mixed.ts"), `import { TerraformResource, TerraformStack } from "cdktn";
import { MacHost, PostfixInputInstance } from ${lib};
import { fleetStacks } from ${fleet};
const stack = new TerraformStack(undefined as never, "stack");
const input = new PostfixInputInstance(stack, "input", { host: new MacHost(stack, "mac", { local: true }) });
export const resource: TerraformResource = input.readinessResource;
fleetStacks(stack, "fleet", { inventory: { hosts: [] }, backend: (s: TerraformStack) => void s });
`);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: TSC_OPTIONS,
      files: ["user.ts", "mixed.ts"],
    }));
    const r = spawnSync(join(REPO, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    const errors = r.stdout.split("\n").filter((l) => /error TS/.test(l));
    assert.deepEqual(errors.filter((l) => l.startsWith("user.ts")), [], r.stdout);
    assert.deepEqual(errors.map((l) => /^(\w+\.ts)\((\d+),\d+\): error (TS\d+)/.exec(l)?.slice(1).join(" ")), ["mixed.ts 6 TS2739", "mixed.ts 7 TS2322"], r.stdout);
  });

  it("with cdktf aliased to cdktn, the installed package's types are cdktn's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mac-postfix-eco-tsc-"));
    await layOutAsCdktnUser(join(dir, "node_modules"));
    writeFileSync(join(dir, "aliased.ts"), `import { App, TerraformResource, TerraformStack } from "cdktn";
import { MacHost, PostfixInputInstance } from "cdktf-mac-postfix";
const stack = new TerraformStack(new App(), "stack");
const input = new PostfixInputInstance(stack, "input", { host: new MacHost(stack, "mac", { local: true }) });
export const resource: TerraformResource = input.readinessResource;
`);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: TSC_OPTIONS, files: ["aliased.ts"] }));
    const r = spawnSync(join(REPO, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout);
  });
});

describe("cdktn-cli 0.24 on Node 20", { timeout: 180_000 }, () => {
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  const lacksMarkAsUncloneable = major < 22 || (major === 22 && minor < 10);

  it("without a shim, `cdktn synth` dies on Node < 22.10 (its undici needs worker_threads.markAsUncloneable)", async () => {
    const result = await (await ecoProject(terrainSpec("cdktn"), { installed: true })).run("synth");
    if (lacksMarkAsUncloneable) {
      assert.notEqual(result.exitCode, 0, failure(result));
      assert.match(String(result.all), /TypeError: Li\.util\.markAsUncloneable is not a function/, failure(result));
    } else {
      assert.equal(result.exitCode, 0, failure(result));
    }
  });

  it("with the shim and cdktf aliased to cdktn, `cdktn synth` of an installed copy equals `cdktf synth` (modulo metadata and paths)", async () => {
    const tn = await ecoProject(terrainSpec("cdktn"), { installed: true, env: { NODE_OPTIONS: `--require ${NODE20_SHIM}` } });
    const tf = await ecoProject(terrainSpec("cdktf"));
    for (const p of [tn, tf]) {
      const result = await p.run("synth");
      assert.equal(result.exitCode, 0, failure(result));
    }
    const read = (dir: string, pkg: string) => {
      const json = JSON.parse(readFileSync(join(dir, "cdktf.out", "stacks", "terrain", "cdk.tf.json"), "utf8").replaceAll(pkg, "<package>").replaceAll(dir, "<project>"));
      return { ...json, "//": undefined };
    };
    const [a, b] = [read(tn.dir, join(tn.dir, "node_modules", "cdktf-mac-postfix")), read(tf.dir, REPO.replace(/\/$/, ""))];
    assert.match(JSON.stringify(a), /"<package>\/lib\/cli\/step-client\.pl"/, "the provisioners run the installed copy's step client");
    assert.deepEqual(a, b);
  });
});
