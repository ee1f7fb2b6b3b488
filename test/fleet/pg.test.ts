/**
 * A fleet split into one stack per site, each keeping its state in a real PostgreSQL server
 * (Terraform's built-in `pg` backend), deployed in parallel by the real cdktf CLI; and two deploys
 * of the same stack at once, kept apart by the backend's state lock.
 */
import assert from "node:assert/strict";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import type { InventoryHost } from "../lab/lab.js";
import { CdktfProject, entry, lab, labDefaults, labMacs, onMac, touchedAddresses } from "./helpers.js";

const PG_BIN = "/usr/lib/postgresql/15/bin";
let pgDir: string;
let port: number;
let macs: InventoryHost[];
const projects: CdktfProject[] = [];

const asPostgres = (argv: string[]) => execa("runuser", ["-u", "postgres", "--", ...argv], { cwd: "/" });
const sql = async (database: string, query: string) => (await asPostgres(["psql", "-h", "127.0.0.1", "-p", String(port), "-d", database, "-Atc", query])).stdout;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function project(): CdktfProject {
  const p = new CdktfProject("test/fleet/stacks/pg-fleet.ts", { PG_SERVER: `postgres://postgres@127.0.0.1:${port}` });
  p.inventory({ defaults: labDefaults(macs[0]!), hosts: [entry(macs[0]!, { site: "east" }), entry(macs[1]!, { site: "west" })] });
  projects.push(p);
  return p;
}

describe("a fleet split by site, state in PostgreSQL", { concurrency: false }, () => {
  before(async () => {
    macs = await labMacs([1, 2]);
    pgDir = mkdtempSync(join(tmpdir(), "fleet-pg-"));
    const postgres = await execa("id", ["-u", "postgres"]);
    chownSync(pgDir, Number(postgres.stdout), Number((await execa("id", ["-g", "postgres"])).stdout));
    port = await freePort();
    await asPostgres([`${PG_BIN}/initdb`, "-D", join(pgDir, "data"), "--auth=trust", "-U", "postgres"]);
    // Loopback only, socket in our own folder.
    await asPostgres([`${PG_BIN}/pg_ctl`, "-D", join(pgDir, "data"), "-w", "-l", join(pgDir, "log"), "-o", `-c listen_addresses=127.0.0.1 -p ${port} -k ${pgDir}`, "start"]);
    for (const site of ["east", "west"]) await asPostgres([`${PG_BIN}/createdb`, "-h", "127.0.0.1", "-p", String(port), `fleet_${site}`]);
  });

  after(async () => {
    const env = { FLEET_INVENTORY: join(projects[0]?.dir ?? "", "fleet.yaml") };
    try {
      if (projects[0]) {
        const run = await projects[0].cdktf(["destroy", "fleet-*", "--auto-approve"], env);
        assert.equal(run.exitCode, 0, run.output);
      }
    } finally {
      if (pgDir) {
        await asPostgres([`${PG_BIN}/pg_ctl`, "-D", join(pgDir, "data"), "-w", "-m", "fast", "stop"]).catch(() => undefined);
        rmSync(pgDir, { recursive: true, force: true });
      }
      for (const p of projects) p.dispose();
      await lab.release();
    }
  });

  test("one stack per site deploys in parallel, each into its own database", async () => {
    const p = project();
    const output = await p.deploy(["fleet-*", "--parallelism", "2"], { FLEET_INVENTORY: join(p.dir, "fleet.yaml") });
    assert.deepEqual(touchedAddresses(output), [...["config", "instance", "job", "queue_guard", "readiness"].flatMap((s) => [`terraform_data.mac1_${s}`, `terraform_data.mac2_${s}`])].sort());
    const east = await sql("fleet_east", "select data from terraform_remote_state.states where name = 'default'");
    const west = await sql("fleet_west", "select data from terraform_remote_state.states where name = 'default'");
    assert.match(east, /"name": "mac1_job"/);
    assert.doesNotMatch(east, /mac2_/);
    assert.match(west, /"name": "mac2_job"/);
    assert.doesNotMatch(west, /mac1_/);
    for (const mac of macs) assert.match(await onMac(mac.name, ["/usr/sbin/postmulti", "-l"]), /^postfix-in\s+mta\s+y\s+\/etc\/postfix-in$/m);
  });

  test("two deploys of the same stack at once: the second is refused by the state lock", async () => {
    const [first, second] = [projects[0]!, project()];
    const env = { FLEET_INVENTORY: join(first.dir, "fleet.yaml"), FLEET_HOLD_SECONDS: "20" };
    const holding = first.start(["deploy", "fleet-east", "--auto-approve"], env);
    // Once the first apply runs a provisioner, it holds the lock until it ends.
    await holding.waitFor(/terraform_data\.hold(?: \([^)]*\))?: Provisioning with 'local-exec'/);
    const refused = await second.cdktf(["deploy", "fleet-east", "--auto-approve"], env);
    assert.notEqual(refused.exitCode, 0, refused.output);
    assert.match(refused.output, /Error acquiring the state lock/);
    assert.deepEqual(touchedAddresses(refused.output), []);
    const held = await holding.done;
    assert.equal(held.exitCode, 0, held.output);
    assert.match(held.output, /Apply complete! Resources: 1 added, 0 changed, 0 destroyed/);
    // With the lock released, the same deploy goes through and has nothing left to do.
    const after = await second.deploy(["fleet-east"], env);
    assert.match(after, /No changes/);
  });
});
