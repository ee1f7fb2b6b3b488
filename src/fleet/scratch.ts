import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, TerraformStack } from "cdktf";

/**
 * Builds constructs in a stack of a throwaway App that never synthesizes: a way to ask the
 * constructs what they would make (addresses, provisioners, step specs) without a second model.
 */
export function inScratchStack<T>(build: (stack: TerraformStack) => T): T {
  // An App creates its output folder at once; this one stays empty and goes away.
  const outdir = mkdtempSync(join(tmpdir(), "mac-fleet-scratch-"));
  try {
    return build(new TerraformStack(new App({ outdir }), "scratch"));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
