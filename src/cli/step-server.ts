#!/usr/bin/env node
/**
 * The step server: one node process, per user and per build of this package, that runs the steps
 * Terraform's provisioners hand it through step-client.pl. A deploy then pays node's start and the
 * executor's loading once, not once per step (each ~0.1 CPU s; a 50-Mac deploy runs 200 steps).
 *
 *   node step-server.js SOCKET
 *
 * Started by the client (which holds the start lock, made the socket's private folder and removed
 * any stale socket), it serves each connection one step, in the client's environment and working
 * folder (inProcessScope), and exits after IDLE seconds with no step to run.
 *
 * Protocol, per connection: the server greets with HELLO; the client sends NUL-terminated fields
 * (action, working folder, then its environment as NAME=value), then an empty field; the server
 * answers with the step's output, each line as "> line", and ends with "exit N". A client that goes
 * away ends the step's processes, as the end of a step program of its own would.
 */
import { statSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { LockAgents } from "../executor/index.js";
import { inProcessScope } from "../transport/index.js";
import { STEP_ENV } from "../spec.js";
import { isStepAction, stepCommand } from "./step-command.js";

const HELLO = "mac-postfix step server 1";
/** Seconds with no step before the server exits ($MAC_POSTFIX_STEP_SERVER_IDLE, default 30). */
const IDLE_S = Number(process.env.MAC_POSTFIX_STEP_SERVER_IDLE) > 0 ? Number(process.env.MAC_POSTFIX_STEP_SERVER_IDLE) : 30;

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write("usage: step-server SOCKET\n");
  process.exit(2);
}

/**
 * Idle lock holders, by the environment of the steps that started them (a deploy's steps share
 * theirs but for the spec): a step never rides a session started with another's ssh-agent or PATH.
 */
const agentsByEnvironment = new Map<string, LockAgents>();
function agentsFor(env: Record<string, string>): LockAgents {
  const key = JSON.stringify(Object.entries(env).filter(([name]) => name !== STEP_ENV).sort());
  let agents = agentsByEnvironment.get(key);
  if (!agents) agentsByEnvironment.set(key, (agents = new LockAgents()));
  return agents;
}

let active = 0;
let idleTimer: NodeJS.Timeout | undefined;
/**
 * The socket this server bound, by inode and change time (a successor's socket may get the same
 * inode number): the path may since name another server's.
 */
let bound: string | undefined;
const identity = (path: string) => {
  const { ino, ctimeMs } = statSync(path);
  return `${ino}/${ctimeMs}`;
};
const server = createServer({ allowHalfOpen: true }, serve);

/**
 * Exits, closing the listening socket first when its path is still ours: libuv removes the path as
 * it closes it, so a client arriving now starts a server of its own. A path that is no longer ours
 * (a client that gave up on this server, wedged or slow to start, made another) is left alone.
 */
function exitServer(code: number): never {
  try {
    if (identity(socketPath!) === bound) server.close();
  } catch {
    // the path is gone
  }
  process.exit(code);
}

function idleCheck(): void {
  clearTimeout(idleTimer);
  if (active === 0) idleTimer = setTimeout(() => exitServer(0), IDLE_S * 1000);
}

function serve(socket: Socket): void {
  active++;
  clearTimeout(idleTimer);
  const controller = new AbortController();
  let request = Buffer.alloc(0);
  let started = false;
  socket.on("error", () => undefined); // a client gone mid-write: the close below ends its step
  socket.on("close", () => {
    controller.abort();
    active--;
    idleCheck();
  });
  socket.on("end", () => {
    if (!started) socket.destroy();
    else controller.abort(); // the client is gone (it never half-closes while it waits)
  });
  socket.on("data", (chunk: Buffer) => {
    if (started) return;
    request = Buffer.concat([request, chunk]);
    const end = request.indexOf("\0\0");
    if (end < 0) return;
    started = true;
    const [action = "", cwd = "", ...environment] = request.subarray(0, end + 1).toString("utf8").split("\0").slice(0, -1);
    const env = Object.fromEntries(
      environment.map((entry) => {
        const equals = entry.indexOf("=");
        return [entry.slice(0, equals), entry.slice(equals + 1)];
      }),
    );
    const write = (text: string) => {
      if (!socket.writable) return;
      socket.write(text.replace(/\n$/, "").split("\n").map((line) => `> ${line}\n`).join(""));
    };
    const run = isStepAction(action)
      ? inProcessScope({ env, cwd, signal: controller.signal }, () => stepCommand(action, env[STEP_ENV], write, agentsFor(env)))
      : Promise.resolve((write(`mac-postfix: step server: unknown action ${JSON.stringify(action)}`), 2));
    // A bug in one step ends that step, not the server and every step in flight with it.
    void run
      .catch((error: Error) => (write(`mac-postfix: step server: ${error.stack ?? error.message}`), 1))
      .then((code) => socket.end(`exit ${code}\n`));
  });
  socket.write(`${HELLO}\n`);
}

server.on("error", (error) => {
  process.stderr.write(`${new Date().toISOString()} pid ${process.pid}: cannot serve ${socketPath}: ${error.message}\n`);
  process.exit(1);
});
server.listen(socketPath, () => {
  bound = identity(socketPath!);
  process.stderr.write(`${new Date().toISOString()} pid ${process.pid}: serving ${socketPath}\n`);
  idleCheck();
});
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => exitServer(1));
