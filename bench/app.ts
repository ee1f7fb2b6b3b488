/**
 * The benchmark's cdktf app (its cdktf.json points here). Two stacks, each with local state at
 * BENCH_STATE_DIR/<stack>.tfstate:
 * - `fleet`: MacFleet from the inventory file BENCH_INVENTORY (what users deploy);
 * - `floor`: BENCH_FLOOR_RESOURCES bare terraform_data resources without provisioners (what Terraform costs),
 *   made by the same resource class as the fleet's: cdktf's stock DataResource would add one
 *   `terraform version` run per resource at synth (about 12 s at 50 Macs), which is not Terraform's cost.
 * BENCH_SKIP_VALIDATION=1 builds the App with `skipValidation` (cdktf then skips the construct
 * validations, among them the fleet's one `terraform version` run per stack).
 */
import { join } from "node:path";
import { App, LocalBackend, TerraformStack } from "cdktf";
import { TerraformData } from "../lib/constructs/terraform-data.js";
import { MacFleet } from "../lib/fleet/mac-fleet.js";

const env = process.env;
const app = new App({ skipValidation: env.BENCH_SKIP_VALIDATION === "1" });
const stack = (name: string) => {
  const s = new TerraformStack(app, name);
  new LocalBackend(s, { path: join(env.BENCH_STATE_DIR ?? ".", `${name}.tfstate`) });
  return s;
};

if (env.BENCH_INVENTORY) new MacFleet(stack("fleet"), "fleet", { inventory: env.BENCH_INVENTORY, ledger: false });
if (env.BENCH_FLOOR_RESOURCES) {
  const floor = stack("floor");
  for (let i = 0; i < Number(env.BENCH_FLOOR_RESOURCES); i++) new TerraformData(floor, `r${i}`, { input: JSON.stringify({ i }), triggersReplace: {} });
}
app.synth();
