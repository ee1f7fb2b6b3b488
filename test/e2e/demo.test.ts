/**
 * `npm run demo` end to end (about a minute): three simulated Macs of the default lab, the real
 * cdktf deploy and destroy, mail from this machine and from inside each Mac, verify, lab down.
 * The demo owns the default lab (no other test uses it) and takes it down when it ends.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { Lab } from "../lab/lab.js";
import { REPO } from "../support/cdktf.js";

test("npm run demo deploys three Macs, mails each from near and far, verifies, and cleans up", { timeout: 600_000 }, async () => {
  const run = await execa("npm", ["run", "demo"], { cwd: REPO, reject: false, all: true, timeout: 590_000 });
  const output = String(run.all);
  assert.equal(run.exitCode, 0, output.slice(-8000));

  const table = output.split("\n");
  const header = table.findIndex((line) => /^MAC\s+ADDRESS\s+DEPLOY\s+REMOTE MAIL\s+LOCAL MAIL\s+VERIFY$/.test(line));
  assert.ok(header >= 0, `the table's header in:\n${output}`);
  for (const [index, name] of ["mac1", "mac2", "mac3"].entries()) {
    const row = table[header + 1 + index]!;
    assert.match(row, new RegExp(`^${name}\\s+10\\.89\\.1\\.${index + 1}\\s+ok\\s+delivered \\([0-9A-F]+\\)\\s+delivered \\([0-9A-F]+\\)\\s+ok$`), row);
  }
  assert.match(output, /Apply complete! Resources: 15 added, 0 changed, 0 destroyed\./);
  assert.match(output, /^ +\| verify: 3 Macs: 3 done, 0 drift, 0 failed$/m);
  assert.match(output, /Destroy complete! Resources: 15 destroyed\./);
  assert.match(output, /demo passed: 3 Macs deployed, mailed from near and far, verified, destroyed/);

  // Nothing left behind: the lab is down and the demo's folder is gone.
  assert.deepEqual(await new Lab().status(), []);
  assert.ok(!existsSync(join(tmpdir(), "mac-postfix-demo")));
});
