/**
 * The reliability suite's cdktf app for plist strings: stack `rel-jobs` holds one LaunchDaemon per
 * job of the JSON file $REL_JOBS ({ host: MacSshOptions, jobs: LaunchDaemonProps-without-host[] }),
 * each given to the construct exactly as read, so a hostile value meets the library's own checks.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App, LocalBackend, TerraformStack } from "cdktf";
import { LaunchDaemon } from "../../src/constructs/launch-daemon.js";
import { MacHost, type MacSshOptions } from "../../src/index.js";

const file = process.env.REL_JOBS;
if (!file) throw new Error("REL_JOBS: the jobs file is required");
const { host, jobs } = JSON.parse(readFileSync(file, "utf8")) as { host: MacSshOptions; jobs: Record<string, unknown>[] };

const app = new App();
const stack = new TerraformStack(app, "rel-jobs");
new LocalBackend(stack, { path: join(process.env.MAC_POSTFIX_STATE_DIR ?? ".", "rel-jobs.tfstate") });
const mac = new MacHost(stack, "mac", { ssh: host });
jobs.forEach((job, i) => new LaunchDaemon(stack, `job${i}`, { host: mac, ...(job as { label: string; programArguments: string[] }) }));
app.synth();
