import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { LocalTransport } from "../../src/transport/local.js";
import { scriptCommand } from "../../src/transport/transport.js";
import { CANARY, ECHO_ARGV, HOSTILE } from "./hostile.js";

const local = new LocalTransport(false);

describe("local transport", () => {
  before(() => rmSync(CANARY, { force: true }));
  after(() => assert.equal(existsSync(CANARY), false, "a hostile string was executed"));

  it("passes argv verbatim, without a shell", async () => {
    const result = await local.run([...ECHO_ARGV, ...HOSTILE]);
    assert.equal(result.exitCode, 0);
    assert.deepEqual(JSON.parse(result.stdout), HOSTILE);
  });

  it("passes argv verbatim under a pty too (util-linux script, one quoted line)", async () => {
    const values = HOSTILE.filter((v) => v.length < 1000);
    const result = await local.run([...ECHO_ARGV, ...values], { pty: true });
    assert.equal(result.exitCode, 0);
    // A pty turns \n into \r\n on output; the transport turns it back, so compare without CRs.
    assert.deepEqual(JSON.parse(result.stdout), values);
  });

  it("feeds stdin and keeps stdout byte for byte", async () => {
    const input = "line 1\n'$(x)'\n\nno final newline";
    const result = await local.run(["cat"], { stdin: input });
    assert.equal(result.stdout, input);
  });

  it("returns non-zero exit codes and stderr instead of throwing", async () => {
    const result = await local.run(["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert.deepEqual(result, { exitCode: 7, stdout: "out\n", stderr: "err\n" });
  });

  it("keeps the exit code under a pty and shows what went to stderr", async () => {
    const result = await local.run(["sh", "-c", "echo to-stderr >&2; exit 3"], { pty: true });
    assert.equal(result.exitCode, 3);
    assert.match(result.stdout, /to-stderr/);
  });

  it("shows postmulti's error text under a pty, which it withholds without one (reference section 1)", async () => {
    const argv = ["/usr/sbin/postmulti", "-i", "postfix-nonexistent", "-p", "status"];
    const plain = await local.run(argv);
    assert.notEqual(plain.exitCode, 0);
    assert.doesNotMatch(plain.stdout + plain.stderr, /No matching instances/);
    const tty = await local.run(argv, { pty: true });
    assert.notEqual(tty.exitCode, 0);
    assert.match(tty.stdout, /postmulti: fatal: No matching instances/);
  });

  it("uses BSD script's argv form on macOS, one sh line for util-linux script elsewhere", () => {
    assert.deepEqual(scriptCommand(["postfix", "check"], "darwin"), ["script", "-q", "/dev/null", "postfix", "check"]);
    assert.deepEqual(scriptCommand(["postfix", "it's"], "linux"), ["env", "SHELL=/bin/sh", "script", "-qec", "'postfix' 'it'\\''s'", "/dev/null"]);
  });

  it("prefixes sudo -n -- for root when asked to, and not otherwise", async () => {
    const withSudo = new LocalTransport(true);
    const result = await withSudo.run(["id", "-u"], { root: true });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout.trim(), "0");
    // Without root, sudo is not involved: a command sudo would refuse still runs.
    const plain = await withSudo.run(["sh", "-c", "echo $SUDO_USER"]);
    assert.equal(plain.stdout.trim(), "");
  });

  it("holds a session open until closed", async () => {
    const session = local.open(["sh", "-c", "echo ready; cat >/dev/null; echo done"]);
    assert.equal(await session.firstLine, "ready");
    await session.close();
  });

  it("rejects a session's first line when the command ends first", async () => {
    const session = local.open(["sh", "-c", "echo oops >&2; exit 2"]);
    await assert.rejects(session.firstLine, /exited 2.*oops/);
    await session.close();
  });
});
