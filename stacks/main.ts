/**
 * cdktf.json's app. Loads every stack module in this folder (each registers its stacks with
 * `defineStack`), then builds the ones MAC_POSTFIX_STACKS selects (see registry.ts).
 */
import { readdirSync } from "node:fs";
import { App } from "cdktf";
import { buildStacks } from "./registry.js";

const here = new URL(".", import.meta.url);
for (const file of readdirSync(here).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "main.ts" && f !== "registry.ts").sort()) {
  await import(new URL(file, here).href);
}

const app = new App();
buildStacks(app, process.env);
app.synth();
