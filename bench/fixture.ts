/**
 * Makes the state the 1,000-Mac no-op plan runs against: `terraform apply` of the fleet's
 * configuration without provisioners, in chunks of CHUNK_MACS Macs whose states are then joined
 * into one. A single apply of all 5,000 resources takes Terraform's local backend most of an hour:
 * it rewrites the whole state file after every resource, so its time grows with the square of the
 * count. Every resource in the joined state was written by Terraform; the plan's "No changes." is
 * what shows the join is right. Run (and measured) by scale.ts:
 *   tsx bench/fixture.ts <fixture folder holding main.tf.json> <parallelism>
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";

const CHUNK_MACS = 100;

interface Config {
  terraform: { backend: { local: { path: string } } };
  resource: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

interface State {
  resources: unknown[];
  [key: string]: unknown;
}

const [folder, parallelism] = process.argv.slice(2);
if (folder === undefined || parallelism === undefined) throw new Error("usage: tsx bench/fixture.ts <fixture folder> <parallelism>");
const config = JSON.parse(readFileSync(join(folder, "main.tf.json"), "utf8")) as Config;
if (Object.keys(config).some((key) => !["//", "terraform", "resource"].includes(key))) {
  throw new Error("the fixture joins resources only: the configuration has other blocks");
}

// A Mac's resources (bench/app.ts names them mac<N>_<step>) depend only on each other: chunk by Mac.
const macOf = (name: string) => /^(mac\d+)_/.exec(name)?.[1] ?? "";
const macs = [...new Set(Object.values(config.resource).flatMap((byName) => Object.keys(byName).map(macOf)))];
const chunks: string[][] = [];
for (let i = 0; i < macs.length; i += CHUNK_MACS) chunks.push(macs.slice(i, i + CHUNK_MACS));

const states: State[] = [];
for (const [index, chunkMacs] of chunks.entries()) {
  const dir = join(folder, `chunk-${index}`);
  mkdirSync(dir, { recursive: true });
  const resource = Object.fromEntries(
    Object.entries(config.resource).map(([type, byName]) => [type, Object.fromEntries(Object.entries(byName).filter(([name]) => chunkMacs.includes(macOf(name))))]),
  );
  const { backend: _, ...terraform } = config.terraform;
  writeFileSync(join(dir, "main.tf.json"), JSON.stringify({ ...config, terraform, resource }));
  await execa("terraform", ["init", "-input=false"], { cwd: dir });
  await execa("terraform", ["apply", "-auto-approve", "-input=false", "-no-color", `-parallelism=${parallelism}`], { cwd: dir });
  states.push(JSON.parse(readFileSync(join(dir, "terraform.tfstate"), "utf8")) as State);
  console.log(`chunk ${index + 1}/${chunks.length}: ${chunkMacs.length} Macs applied`);
}
const joined = { ...states[0], serial: 1, resources: states.flatMap((state) => state.resources) };
mkdirSync(dirname(config.terraform.backend.local.path), { recursive: true });
writeFileSync(config.terraform.backend.local.path, `${JSON.stringify(joined, null, 2)}\n`);
console.log(`joined ${joined.resources.length} resources into ${config.terraform.backend.local.path}`);
