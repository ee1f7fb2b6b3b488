/**
 * The two single-Mac examples: this machine (`mac-local`) and one Mac over SSH (`mac-ssh`).
 * Their steps are at `terraform_data.mac_instance`, `mac_config`, `mac_job`, `mac_readiness`, `mac_queue_guard`.
 */
import { TerraformOutput, type TerraformStack } from "cdktf";
import { MacHost, PostfixInputInstance } from "../src/index.js";
import { defineStack, hostOptionsFromEnv, inputInstanceOptionsFromEnv } from "./registry.js";

function outputs(stack: TerraformStack, input: PostfixInputInstance): void {
  new TerraformOutput(stack, "config_directory", { value: input.configDirectory });
  new TerraformOutput(stack, "label", { value: input.label });
  new TerraformOutput(stack, "plist_path", { value: input.plistPath });
  new TerraformOutput(stack, "smtp_endpoint", { value: input.smtpEndpoint });
}

defineStack({
  name: "mac-local",
  description: "the input instance on this machine, which is the Mac",
  build(stack, env) {
    const host = new MacHost(stack, "mac", { local: true, ...hostOptionsFromEnv(env) });
    outputs(stack, new PostfixInputInstance(stack, "input", { host, addressPrefix: "mac", ...inputInstanceOptionsFromEnv(env) }));
  },
});

defineStack({
  name: "mac-ssh",
  description: "the input instance on one Mac over SSH: MAC_HOST, MAC_USER, MAC_PORT, MAC_IDENTITY_FILE, MAC_KNOWN_HOSTS, MAC_PROXY_JUMP",
  requires: ["MAC_HOST"],
  build(stack, env) {
    const host = new MacHost(stack, "mac", {
      ssh: {
        host: env.MAC_HOST as string,
        user: env.MAC_USER || undefined,
        port: env.MAC_PORT ? Number(env.MAC_PORT) : undefined,
        identityFile: env.MAC_IDENTITY_FILE || undefined,
        knownHostsFile: env.MAC_KNOWN_HOSTS || undefined,
        proxyJump: env.MAC_PROXY_JUMP || undefined,
      },
      ...hostOptionsFromEnv(env),
    });
    outputs(stack, new PostfixInputInstance(stack, "input", { host, addressPrefix: "mac", ...inputInstanceOptionsFromEnv(env) }));
  },
});
