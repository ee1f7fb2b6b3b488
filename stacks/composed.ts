/**
 * The fleet composed with other resources: a change record every Mac's instance waits for, a
 * deployment record made once the whole fleet is ready, and per-Mac outputs (SMTP endpoint,
 * launchd label, config directory) for whatever consumes the fleet (DNS, monitoring, MX lists).
 */
import { DataResource, TerraformOutput } from "cdktf";
import { MacFleet } from "../src/fleet/mac-fleet.js";
import { defineStack, hostOptionsFromEnv } from "./registry.js";

defineStack({
  name: "fleet-composed",
  description: "the MAC_POSTFIX_INVENTORY fleet with a change record (MAC_POSTFIX_CHANGE), a deployment record and per-Mac outputs",
  requires: ["MAC_POSTFIX_INVENTORY"],
  build(stack, env) {
    const change = new DataResource(stack, "change", { input: { ticket: env.MAC_POSTFIX_CHANGE ?? "none" } });
    const fleet = new MacFleet(stack, "fleet", {
      inventory: env.MAC_POSTFIX_INVENTORY as string,
      resourceType: hostOptionsFromEnv(env).resourceType,
      dependsOn: [change],
    });
    const members = [...fleet.members.values()];
    const endpoints = Object.fromEntries(members.map(({ mac, input }) => [mac.name, input.smtpEndpoint ? `${input.smtpEndpoint.address}:${input.smtpEndpoint.port}` : null]));
    new DataResource(stack, "deployment", {
      input: { change: change.output, endpoints },
      // Recorded only once every Mac has passed its readiness check.
      dependsOn: members.map(({ input }) => input.readinessResource),
    });
    for (const { mac, input } of members) {
      new TerraformOutput(stack, `${mac.segment}_smtp_endpoint`, { value: endpoints[mac.name], description: `${mac.name}: where the input instance answers SMTP` });
      new TerraformOutput(stack, `${mac.segment}_label`, { value: input.label, description: `${mac.name}: launchd label of its job` });
      new TerraformOutput(stack, `${mac.segment}_config_directory`, { value: input.configDirectory, description: `${mac.name}: config directory of the instance` });
    }
  },
});
