import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { quoteArg, quoteCommand } from "../../src/transport/shell-quote.js";
import { CANARY, ECHO_ARGV, HOSTILE } from "./hostile.js";

describe("quoteCommand round-trips through real shells", () => {
  before(() => rmSync(CANARY, { force: true }));
  after(() => assert.equal(existsSync(CANARY), false, "a hostile string was executed"));

  for (const shell of ["/bin/sh", "/bin/bash"]) {
    it(`${shell}: every hostile string arrives verbatim, one argv element each`, async () => {
      const { stdout } = await execa(shell, ["-c", quoteCommand([...ECHO_ARGV, ...HOSTILE])]);
      assert.deepEqual(JSON.parse(stdout), HOSTILE);
    });
    it(`${shell}: each string alone, through printf`, async () => {
      for (const value of HOSTILE) {
        const { stdout } = await execa(shell, ["-c", quoteCommand(["printf", "%s", value])], { stripFinalNewline: false });
        assert.equal(stdout, value);
      }
    });
  }

  it("quotes every element, empty ones included, and escapes ' as '\\''", () => {
    assert.equal(quoteArg(""), "''");
    assert.equal(quoteArg("it's"), "'it'\\''s'");
    assert.equal(quoteCommand(["a", "b c"]), "'a' 'b c'");
  });

  it("refuses NUL and an empty argv", () => {
    assert.throws(() => quoteArg("a\0b"), /NUL/);
    assert.throws(() => quoteCommand([]), /empty/);
  });
});
