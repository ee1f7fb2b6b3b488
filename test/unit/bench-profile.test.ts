import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stepProfile } from "../../bench/profile.js";

/** A deploy log as bench/measure.ts stamps it, with or without cdktf's construct path after addresses. */
function deployLog(path: (address: string) => string): string {
  const mac = (n: number) => `terraform_data.mac${n}_instance${path(`fleet/mac${n}/PostfixIn/Instance/Instance`)}`;
  return [
    "   2.000 fleet  Initializing the backend...",
    `   4.000 fleet  ${mac(1)}: Creating...`,
    `   4.100        ${mac(2)}: Creating...`,
    `   4.600 fleet  ${mac(1)} (local-exec): [mac1] instance postfix-in: init: no change`,
    `   5.100        ${mac(2)} (local-exec): [mac2] instance postfix-in: init: no change`,
    `   7.000 fleet  ${mac(1)}: Creation complete after 3s [id=a]`,
    `   8.100        ${mac(2)}: Creation complete after 4s [id=b]`,
    "   8.200 fleet  Apply complete! Resources: 2 added, 0 changed, 0 destroyed.",
  ].join("\n");
}

describe("bench: stepProfile", () => {
  for (const [format, path] of [["with the construct path", (p: string) => ` (${p})`], ["without it", () => ""]] as const) {
    it(`splits a deploy log into phases and steps, ${format}`, () => {
      const profile = stepProfile(deployLog(path));
      assert.equal(profile.synthS, 2);
      assert.equal(profile.initPlanS, 2);
      assert.ok(Math.abs(profile.applyS! - 4.2) < 1e-9, String(profile.applyS));
      const instance = profile.steps["instance create"]!;
      assert.equal(instance.count, 2);
      assert.ok(Math.abs(instance.sumS - 7) < 1e-9, String(instance.sumS));
      assert.ok(Math.abs(instance.maxS - 4) < 1e-9, String(instance.maxS));
      assert.ok(Math.abs(instance.firstOutputMedianS! - 0.6) < 1e-9, String(instance.firstOutputMedianS));
    });
  }
});
