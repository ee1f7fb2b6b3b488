/**
 * The step client and server that Terraform's provisioners run (src/cli/step-client.pl,
 * src/cli/step-server.ts): real perl, real node, real ssh. The steps aim at loopback ports where
 * no Mac answers (refused, or a listener that never speaks), so they fail in ways that show whose
 * environment ran them and when their processes end. Each test file run uses a copy of lib/cli of
 * its own, hence a server of its own.
 */
import assert from "node:assert/strict";
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa, type ResultPromise } from "execa";
import { STEP_CLIENT_PATH } from "../../src/constructs/mac-step.js";
import { STEP_ENV } from "../../src/spec.js";
import { sleep } from "../../src/executor/launchctl.js";
import { inProcessScope, runProcess, startSession } from "../../src/transport/process.js";
import { eventually } from "../support/mac.js";
import { descendants, programOf } from "../support/processes.js";
import { instanceStep, sshHost } from "./lab-specs.js";

const programs = join(mkdtempSync(join(tmpdir(), "mac-postfix-step-server.")), "cli");
const client = join(programs, "step-client.pl");
const serverProgram = join(programs, "step-server.js");
const folder = `/tmp/mac-postfix-step-${process.getuid!()}`;
const refused = instanceStep(sshHost({ name: "mac1", address: "127.0.0.1", port: 9, user: "admin", identityFile: "/k/id", knownHostsFile: "/k/known" }), "postfix-in");
const REFUSED_HEADLINE = /^\[mac1\] instance postfix-in \(test\/postfix-in\/instance\): apply failed: ssh to admin@127\.0\.0\.1:9 failed$/m;

function step(spec: unknown, env: Record<string, string> = {}): ResultPromise<{ reject: false; extendEnv: false; env: Record<string, string> }> {
  // perl by its path: one test gives the client a PATH where nothing is found.
  return execa("/usr/bin/perl", [client, "apply"], {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH!, MAC_POSTFIX_STEP_SERVER_IDLE: "30", [STEP_ENV]: JSON.stringify(spec), ...env },
  });
}

/** Pids of this copy's servers. */
async function servers(): Promise<number[]> {
  const found = await execa("pgrep", ["-f", `^node ${serverProgram} `], { reject: false });
  return found.stdout.split("\n").filter(Boolean).map(Number);
}

/** The socket a server listens on (its last argument). */
async function socketOf(pid: number): Promise<string> {
  return (await execa("ps", ["-o", "args=", "-p", String(pid)])).stdout.trim().split(" ").at(-1)!;
}

/** The step's ssh processes under the server. */
const sshUnder = (server: number) => descendants(server).filter((pid) => programOf(pid) === "ssh");

describe("the step client and the step server", () => {
  /** A loopback listener that accepts and never speaks: ssh waits there for the banner (ConnectTimeout 10 s). */
  let silent: Server;
  const held: Socket[] = [];
  let silentSpec: typeof refused;

  before(async () => {
    cpSync(join(STEP_CLIENT_PATH, ".."), programs, { recursive: true });
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    silentSpec = { ...refused, host: { ...refused.host, connection: { ...refused.host.connection, port } } } as typeof refused;
  });

  after(async () => {
    for (const pid of await servers()) process.kill(pid, "SIGKILL");
    for (const socket of held) socket.destroy();
    silent.close();
    rmSync(join(programs, ".."), { recursive: true, force: true });
  });

  it("hands concurrent steps to one server, which answers each with the step's own output and exit code", async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => step(refused)));
    for (const result of results) {
      assert.equal(result.exitCode, 1, result.stderr);
      assert.match(result.stderr, REFUSED_HEADLINE);
      assert.match(result.stderr, /^  .*Connection refused/m);
      assert.doesNotMatch(result.stderr, /without the step server/);
    }
    assert.equal((await servers()).length, 1, "one server for every step");
    const { dev, ino, mtimeMs, size } = statSync(serverProgram);
    const name = [dev, ino, Math.floor(mtimeMs / 1000), size].map((n) => n.toString(16)).join("-");
    assert.ok(existsSync(join(folder, `${name}.sock`)), "the socket is named after the server's build");
    assert.equal(statSync(folder).mode & 0o777, 0o700);
  });

  it("runs each step in its client's environment, not the one the server started with", async () => {
    const [server] = await servers();
    const result = await step(refused, { PATH: "/nonexistent" });
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /could not run ssh/, "ssh was found through the client's PATH");
    assert.deepEqual(await servers(), [server], "the running server served it");
  });

  it("ends a step's processes when its client goes away (Terraform killing the provisioner)", async () => {
    const [server] = await servers();
    const running = step(silentSpec);
    await eventually("the server to run the step's ssh", 8_000, async () => sshUnder(server!).length > 0);
    running.kill("SIGKILL");
    await running;
    // Well before ssh's own 10 s timeout.
    await eventually("the step's ssh to end", 3_000, async () => sshUnder(server!).length === 0);
    assert.deepEqual(await servers(), [server], "the server stays for the next step");
  });

  it("fails the step, saying so, when the server dies in the middle of it; the next step starts a new server", async () => {
    const [server] = await servers();
    const running = step(silentSpec);
    await eventually("the server to run the step's ssh", 8_000, async () => sshUnder(server!).length > 0);
    process.kill(server!, "SIGKILL");
    const result = await running;
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /the step server ended before the step did \(see \/tmp\/mac-postfix-step-\d+\/[0-9a-f-]+\.log\); the step may have been cut short/);
    // Its socket is left behind, answering nobody.
    const next = await step(refused);
    assert.equal(next.exitCode, 1);
    assert.match(next.stderr, REFUSED_HEADLINE);
    const now = await servers();
    assert.equal(now.length, 1);
    assert.notEqual(now[0], server);
  });

  it("exits after its idle time, and on SIGTERM, removing its socket", async () => {
    const socket = await socketOf((await servers())[0]!);
    process.kill((await servers())[0]!, "SIGTERM");
    await eventually("the server to end", 8_000, async () => (await servers()).length === 0);
    assert.equal(existsSync(socket), false, "SIGTERM left the socket");
    assert.match((await step(refused, { MAC_POSTFIX_STEP_SERVER_IDLE: "1" })).stderr, REFUSED_HEADLINE);
    assert.equal((await servers()).length, 1);
    await eventually("the idle server to end", 5_000, async () => (await servers()).length === 0);
    assert.equal(existsSync(socket), false, "idling out left the socket");
  });

  it("counts a server that does not greet within 10 s as none, and a stale server never removes its successor's socket", async () => {
    await step(refused);
    const [stale] = await servers();
    process.kill(stale!, "SIGSTOP");
    try {
      const result = await step(refused);
      assert.match(result.stderr, REFUSED_HEADLINE, "the step ran on a new server");
    } finally {
      process.kill(stale!, "SIGCONT");
    }
    const successor = (await servers()).filter((pid) => pid !== stale);
    assert.equal(successor.length, 1);
    const socket = await socketOf(successor[0]!);
    process.kill(stale!, "SIGTERM");
    await eventually("the stale server to end", 8_000, async () => !(await servers()).includes(stale!));
    assert.ok(existsSync(socket), "the stale server removed its successor's socket");
    await step(refused);
    assert.deepEqual(await servers(), successor, "the successor serves on");
    const log = readFileSync(socket.replace(/\.sock$/, ".log"), "utf8");
    assert.ok(log.includes(`pid ${stale}: serving`) && log.includes(`pid ${successor[0]}: serving`), `the log keeps every server's lines:\n${log}`);
  });

  it("runs a step on this machine itself (sudo's cached password is this terminal session's)", async () => {
    const before = await servers();
    const local = { ...refused, host: { ...refused.host, connection: { transport: "local" } }, instance: { name: "in", configDirectory: "/etc/postfix-in" } };
    const result = await step(local);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /^mac-postfix: invalid step spec in \$MAC_POSTFIX_STEP: instance\.name/m);
    assert.doesNotMatch(result.stderr, /without the step server/, "said nothing: nothing went wrong");
    const [server] = before;
    process.kill(server!, "SIGSTOP");
    try {
      // A stopped server would hold a step sent to it for 10 s: this one never asked it.
      const started = Date.now();
      await step(local);
      assert.ok(Date.now() - started < 5_000);
    } finally {
      process.kill(server!, "SIGCONT");
    }
  });

  it("runs the step itself, and says why, when the server's folder is not private", async () => {
    const before = await servers();
    chmodSync(folder, 0o755);
    try {
      const result = await step(refused);
      assert.equal(result.exitCode, 1);
      assert.match(result.stderr, /^mac-postfix: running the step without the step server: \/tmp\/mac-postfix-step-\d+ is not a folder of its own \(want a folder owned by uid \d+, mode 700\)$/m);
      assert.match(result.stderr, REFUSED_HEADLINE);
      assert.deepEqual(await servers(), before, "no server was started");
    } finally {
      chmodSync(folder, 0o700);
    }
  });
});

describe("process scopes (what the server runs each step in)", () => {
  it("give a process the scope's environment and working folder, and nothing of the server's own", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "mac-postfix-scope."));
    try {
      const env = { PATH: process.env.PATH!, SCOPED: "from the client" };
      const result = await inProcessScope({ env, cwd, signal: new AbortController().signal }, () => runProcess("sh", ["-c", 'echo "$SCOPED|${HOME-unset}"; pwd']));
      assert.deepEqual(result.stdout.split("\n"), ["from the client|unset", cwd, ""]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("end a step's waits when the signal fires", async () => {
    const controller = new AbortController();
    const waiting = inProcessScope({ env: {}, cwd: "/", signal: controller.signal }, () => sleep(60_000));
    controller.abort();
    await assert.rejects(waiting, { name: "AbortError" });
  });

  it("end a session's process when the signal fires", async () => {
    const controller = new AbortController();
    const session = await inProcessScope({ env: { PATH: process.env.PATH! }, cwd: "/", signal: controller.signal }, async () => startSession("sh", ["-c", "echo up; exec sleep 30"]));
    assert.equal(await session.firstLine, "up");
    controller.abort();
    assert.match(await session.ended, /on a signal/);
  });
});
