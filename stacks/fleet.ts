/** A fleet from an inventory file: one MacHost and PostfixInputInstance per Mac, retired Macs torn down. */
import { MacFleet } from "../src/fleet/mac-fleet.js";
import { defineStack, hostOptionsFromEnv } from "./registry.js";

defineStack({
  name: "fleet",
  description: "every Mac of the inventory file MAC_POSTFIX_INVENTORY (YAML or JSON; see stacks/inventory/lab.yaml)",
  requires: ["MAC_POSTFIX_INVENTORY"],
  build(stack, env) {
    new MacFleet(stack, "fleet", { inventory: env.MAC_POSTFIX_INVENTORY as string, resourceType: hostOptionsFromEnv(env).resourceType });
  },
});
