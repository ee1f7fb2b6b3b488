/** terraform_data without DataResource's per-resource `terraform version`: the check runs once per stack. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DataResource, Testing, TerraformStack } from "cdktf";
import { MacHost, PostfixInputInstance } from "../../src/index.js";
import { TerraformData } from "../../src/constructs/terraform-data.js";

function fleetOf(count: number): TerraformStack {
  const stack = new TerraformStack(Testing.app(), "stack");
  for (let i = 1; i <= count; i++) {
    const host = new MacHost(stack, `mac${i}`, { ssh: { host: `10.0.0.${i}` } });
    new PostfixInputInstance(stack, `input${i}`, { host, addressPrefix: `mac${i}` });
  }
  return stack;
}

/** The stack's validation messages, with TERRAFORM_BINARY_NAME set as given. */
function validationErrors(stack: TerraformStack, binary?: string): string[] {
  const saved = process.env.TERRAFORM_BINARY_NAME;
  if (binary === undefined) delete process.env.TERRAFORM_BINARY_NAME;
  else process.env.TERRAFORM_BINARY_NAME = binary;
  try {
    return stack.node.findAll().flatMap((c) => c.node.validate());
  } finally {
    if (saved === undefined) delete process.env.TERRAFORM_BINARY_NAME;
    else process.env.TERRAFORM_BINARY_NAME = saved;
  }
}

describe("terraform_data resources", () => {
  it("synthesize exactly as cdktf's DataResource does", () => {
    const stack = new TerraformStack(Testing.app(), "stack");
    const before = new DataResource(stack, "before", {});
    const config = {
      input: JSON.stringify({ kind: "instance", note: "$${literal}", list: [1, true] }),
      triggersReplace: { name: "postfix-in", nested: { group: "mta", enabled: true, ports: [25, 587] } },
      provisioners: [{ type: "local-exec" as const, interpreter: ["node", "cli.js", "step"], command: "destroy", environment: { SPEC: "${self.input}" }, when: "destroy" as const }],
      dependsOn: [before],
    };
    new TerraformData(stack, "ours", config);
    // DataResource types `input` as a map; Terraform takes any value, and DataResource passes a string through.
    new DataResource(stack, "theirs", { ...config, input: config.input as unknown as Record<string, unknown> });
    const { ours, theirs } = JSON.parse(Testing.synth(stack)).resource.terraform_data;
    assert.equal(typeof ours.input, "string");
    assert.deepEqual(Object.keys(ours).sort(), ["depends_on", "input", "provisioner", "triggers_replace"]);
    assert.deepEqual(ours, theirs);
  });

  it("pass the Terraform version check with the Terraform on this machine", () => {
    assert.deepEqual(validationErrors(fleetOf(2)), []);
  });

  it("check the Terraform version once per stack, not once per resource", () => {
    const errors = validationErrors(fleetOf(10), "/nonexistent/terraform");
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0]!, /Could not determine the version of \/nonexistent\/terraform \(terraform_data needs Terraform >= 1\.4\)/);
  });
});
