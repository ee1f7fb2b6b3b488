/**
 * The fleet of FLEET_INVENTORY split into one stack per site (`fleet-<site>`), each keeping its
 * state in its own PostgreSQL database `fleet_<site>` on the server PG_SERVER (postgres://user@host:port).
 * One database per site, not one schema per site: the pg backend's advisory locks are per
 * database and keyed on the workspace's row id, so the default workspaces of two schemas in one
 * database lock each other (hashicorp/terraform#33217). With FLEET_HOLD_SECONDS, every stack also
 * has a resource that takes that long to create, so a test can catch a deploy holding its lock.
 */
import { App, DataResource, PgBackend } from "cdktf";
import { fleetStacks } from "../../../src/fleet/fleet-stack.js";

const app = new App();
const stacks = fleetStacks(app, "fleet", {
  inventory: process.env.FLEET_INVENTORY as string,
  backend: (stack, site) => new PgBackend(stack, { connStr: `${process.env.PG_SERVER}/fleet_${site}?sslmode=disable` }),
});
if (process.env.FLEET_HOLD_SECONDS) {
  for (const stack of stacks.values()) {
    new DataResource(stack, "hold", {
      input: { seconds: process.env.FLEET_HOLD_SECONDS },
      provisioners: [{ type: "local-exec", interpreter: ["sleep"], command: process.env.FLEET_HOLD_SECONDS }],
    });
  }
}
app.synth();
