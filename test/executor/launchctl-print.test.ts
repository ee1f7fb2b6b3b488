import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDisabled } from "../../src/executor/launchctl.js";
import { parsePrint } from "../../src/executor/index.js";

/** The top of `launchctl print system/<label>` on macOS: one tab before top-level keys, more in nested blocks. */
const print = (lines: string[]) => ["system/org.postfix.in = {", ...lines.map((l) => `\t${l}`), "\tendpoints = {", "\t\tpid = 999", "\t}", "}"].join("\n");

describe("parsePrint", () => {
  it("reads a running job's state and pid; it has never exited", () => {
    assert.deepEqual(parsePrint(print(["active count = 1", "state = running", "pid = 4321", "last exit code = (never exited)"])), { state: "running", pid: 4321, lastExitCode: null });
  });

  it("reads a finished one-shot job's last exit code, and no pid", () => {
    assert.deepEqual(parsePrint(print(["state = not running", "runs = 2", "last exit code = 1"])), { state: "not running", pid: null, lastExitCode: 1 });
  });

  it("takes only the number when text follows it", () => {
    assert.equal(parsePrint(print(["state = not running", "last exit code = 78: EX_CONFIG"])).lastExitCode, 78);
  });
});

describe("parseDisabled", () => {
  // `launchctl print-disabled system` as the reference (§3) gives it: a tab before each line.
  const output = (values: [string, string][]) => ["disabled services = {", ...values.map(([label, v]) => `\t"${label}" => ${v}`), "}"].join("\n");

  it("reads macOS 13 and later: disabled / enabled", () => {
    const text = output([["org.postfix.in", "disabled"], ["org.other", "enabled"]]);
    assert.equal(parseDisabled(text, "org.postfix.in"), true);
    assert.equal(parseDisabled(text, "org.other"), false);
  });

  it("reads macOS 11 and 12: true / false", () => {
    const text = output([["org.postfix.in", "true"], ["org.other", "false"]]);
    assert.equal(parseDisabled(text, "org.postfix.in"), true);
    assert.equal(parseDisabled(text, "org.other"), false);
  });

  it("a label it does not list is not disabled, and a longer label is another label", () => {
    const text = output([["org.postfix.in.2", "disabled"]]);
    assert.equal(parseDisabled(text, "org.postfix.in"), false);
  });
});
