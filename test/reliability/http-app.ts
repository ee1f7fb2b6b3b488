/**
 * The `mac-ssh` example stack with its state behind Terraform's `http` backend (the reliability
 * suite's own lock-keeping state server at $REL_HTTP_STATE), so that a killed deploy leaves a real
 * stale lock behind: remote backends keep theirs, unlike the local backend, whose lock is the
 * deploying process's own file lock and dies with it.
 */
import { App, HttpBackend, TerraformStack } from "cdktf";
import "../../stacks/single.js";
import { registeredStacks } from "../../stacks/registry.js";

const server = process.env.REL_HTTP_STATE;
if (!server) throw new Error("REL_HTTP_STATE: the state server's URL is required");
const app = new App();
const stack = new TerraformStack(app, "mac-ssh");
new HttpBackend(stack, { address: `${server}/state`, lockAddress: `${server}/lock`, unlockAddress: `${server}/lock` });
registeredStacks().find((d) => d.name === "mac-ssh")!.build(stack, process.env);
app.synth();
