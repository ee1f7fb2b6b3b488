/**
 * The executor's file operations on this machine, each both ways it runs: through the Mac lock's
 * holder (a fork of it runs the perl program) and as a perl program of its own (any transport).
 */
import assert from "node:assert/strict";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { StepContext, StepError } from "../../src/executor/context.js";
import { ensureFile, readFile, removeFile, statFile, writeFileAtomic } from "../../src/executor/files.js";
import { withMacLock } from "../../src/executor/lock.js";
import { MAC_DEFAULT_PATHS } from "../../src/spec.js";
import { LocalTransport } from "../../src/transport/local.js";
import type { RunOptions, Transport } from "../../src/transport/transport.js";

const local = new LocalTransport("auto");
const host = { name: "here", sudo: "auto" as const, paths: MAC_DEFAULT_PATHS, connection: { transport: "local" as const } };
const context = (transport: Transport) => new StepContext(host, transport, "files test", () => undefined);
let dir: string;

const ways: [string, <T>(fn: (ctx: StepContext) => Promise<T>) => Promise<T>][] = [
  ["through the lock holder", (fn) => withMacLock(local, (locked) => fn(context(locked)))],
  ["as a perl program of its own", (fn) => fn(context(local))],
];

describe("file operations on the Mac", () => {
  before(() => {
    if (process.getuid?.() !== 0) throw new Error("the file tests need root (files are written as root:wheel, and the lock file is in /var/run)");
    dir = mkdtempSync("/tmp/mac-postfix-files-");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [way, using] of ways) {
    describe(way, () => {
      it("writes bytes, owner and mode atomically, reads them back, and leaves no temp file", async () => {
        const path = join(dir, `it's "$HOME" ${way}.plist`);
        const content = "héllo\n\0'$(touch /tmp/mac-postfix-canary)'\nno final newline ✓";
        await using(async (ctx) => {
          assert.equal(await readFile(ctx, path), null);
          assert.equal(await statFile(ctx, path), null);
          await writeFileAtomic(ctx, path, content, 0o640);
          assert.equal(await readFile(ctx, path), content);
          assert.deepEqual(await statFile(ctx, path), { uid: 0, gid: 0, mode: 0o640 });
          await writeFileAtomic(ctx, path, "second\n", 0o644);
        });
        assert.equal(readFileSync(path, "utf8"), "second\n");
        assert.equal(statSync(path).mode & 0o7777, 0o644);
        assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith(".mac-postfix.")), []);
      });

      it("replaces the file only when the check accepts the new one, and says the check's output", async () => {
        const path = join(dir, `checked ${way}`);
        writeFileSync(path, "old\n");
        await using(async (ctx) => {
          const refuse = ["/bin/sh", "-c", 'echo "refused $1"; exit 4', "check"];
          await assert.rejects(writeFileAtomic(ctx, path, "new\n", 0o644, refuse), (error: StepError) => {
            assert.match(error.message, /exited 4/);
            assert.match(error.message, /refused .*\.mac-postfix\.\d+/);
            return true;
          });
          assert.equal(await readFile(ctx, path), "old\n");
          assert.equal(await ensureFile(ctx, path, "new\n", 0o644, ["/bin/sh", "-c", 'grep -qx new "$1"', "check"]), true);
          assert.equal(await ensureFile(ctx, path, "new\n", 0o644), false);
          await assert.rejects(writeFileAtomic(ctx, path, "x", 0o644, ["/nonexistent/check"]), /exited 127[^]*\/nonexistent\/check/);
        });
        assert.equal(readFileSync(path, "utf8"), "new\n");
        assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith(".mac-postfix.")), []);
      });

      it("never installs content that arrives short: the old file stays, and the write says how much came", async () => {
        const path = join(dir, `short ${way}`);
        writeFileSync(path, "old\n");
        await using(async (ctx) => {
          // The same transport, but the content never reaches the program's stdin.
          const losing: Transport = Object.assign(Object.create(ctx.transport) as Transport, {
            run: (argv: readonly string[], options: RunOptions = {}) => ctx.transport.run(argv, { ...options, stdin: "" }),
          });
          await assert.rejects(writeFileAtomic(context(losing), path, "new ✓\n", 0o644), (error: StepError) => {
            assert.match(error.headline, /write .*short.*: exited 1$/);
            assert.equal(error.detail, "received 0 of 8 bytes on stdin");
            return true;
          });
        });
        assert.equal(readFileSync(path, "utf8"), "old\n");
        assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith(".mac-postfix.")), []);
      });

      it("removes a file or a dangling link once, and fails with the reason on a folder", async () => {
        const path = join(dir, `gone ${way}`);
        const link = join(dir, `dangling ${way}`);
        writeFileSync(path, "x");
        symlinkSync(join(dir, "nowhere"), link);
        await using(async (ctx) => {
          assert.equal(await removeFile(ctx, path), true);
          assert.equal(await removeFile(ctx, path), false);
          assert.equal(await removeFile(ctx, link), true);
          await assert.rejects(readFile(ctx, dir), /is a folder/);
          await assert.rejects(removeFile(ctx, dir), /remove .*failed/);
        });
        assert.throws(() => lstatSync(link), /ENOENT/);
      });
    });
  }
});
