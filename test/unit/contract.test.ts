/** Every spec the constructs synthesize is one the executor's own parser accepts, unchanged. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseStepSpec } from "../../src/executor/index.js";
import { LaunchAgent, LogoutHook, MacHost, PostfixInputInstance, type StepSpec } from "../../src/index.js";
import { MAC_DEFAULT_PATHS } from "../../src/spec.js";
import { synth } from "./helpers.js";

/** Undoes the `$${`/`%%{` escapes as Terraform does. */
const unescape = (s: string) => s.replace(/([$%])\1\{/g, "$1{");

describe("constructs → executor contract", () => {
  it("parseStepSpec accepts every step of every construct, for both resource types", () => {
    const kinds = new Set<string>();
    for (const resourceType of ["terraform_data", "null_resource"] as const) {
      const { json } = synth((stack) => {
        const ssh = new MacHost(stack, "mac1", { ssh: { host: "mac1.lab", user: "admin", port: 2222, identityFile: "/k", knownHostsFile: "/kh", proxyJump: "jump" }, resourceType });
        const local = new MacHost(stack, "here", { local: true, sudo: false, resourceType, paths: { launchctl: "/usr/local/bin/launchctl" } });
        new PostfixInputInstance(stack, "a", { host: ssh, settings: { smtpd_banner: "${x} $(id)" } });
        new PostfixInputInstance(stack, "b", { host: local, instanceName: "postfix-b", label: "org.b", runMode: "postmulti-start", onDestroy: "discard-queue", smtpAddress: null });
        new PostfixInputInstance(stack, "c", { host: ssh, instanceName: "postfix-c", label: "org.c", lifecycle: "login", loginUser: "admin", onDestroy: "deport" });
        new LaunchAgent(stack, "agent", { host: ssh, user: "admin", label: "org.agent", programArguments: ["/usr/bin/true"] });
        new LogoutHook(stack, "hook", { host: local, script: "#!/bin/sh\nexit 0\n" });
      });
      const resources = JSON.parse(unescape(json)).resource[resourceType] as Record<string, { input?: string; triggers?: { spec: string } }>;
      for (const [address, resource] of Object.entries(resources)) {
        const text = resource.input ?? resource.triggers!.spec;
        const parsed = parseStepSpec(text);
        const wire = JSON.parse(text) as StepSpec;
        // Only paths that differ from macOS's travel; the executor fills in the rest.
        assert.deepEqual(wire.host.paths, wire.host.name === "here" ? { launchctl: "/usr/local/bin/launchctl" } : undefined, address);
        assert.deepEqual(parsed, { ...wire, host: { ...wire.host, paths: { ...MAC_DEFAULT_PATHS, ...wire.host.paths } } }, address);
        kinds.add(parsed.kind);
      }
    }
    assert.deepEqual([...kinds].sort(), ["instance", "instance-config", "launch-job", "logout-hook", "queue-guard", "readiness", "sudo-rule"]);
  });
});
