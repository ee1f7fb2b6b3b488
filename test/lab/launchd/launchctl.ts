// launchctl(1)'s command line, parsed by the launchd emulator: the client on the Mac (launchctl.pl) only
// hands over its argv, uid and working folder, so that a call costs what macOS's small C launchctl does.
// A real launchd learns the caller's uid from the kernel (the audit token of the XPC message); here the client
// reports its uid, which is enough for a test lab where every caller is trusted.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseTarget, type Reply, type Request, type Target } from "./protocol.js";

/** Thrown by the parser with the reply launchctl gives a bad command line (exit 64). */
class CommandLineError extends Error {
  constructor(readonly reply: Reply) {
    super(reply.stderr);
  }
}

function usage(text: string): never {
  throw new CommandLineError({ stdout: "", stderr: `Usage: launchctl ${text}\n`, code: 64 });
}

function target(spec: string | undefined, needLabel: boolean, help: string): Target {
  if (spec === undefined) usage(help);
  const t = parseTarget(spec);
  if (!t || (needLabel && t.label === undefined)) throw new CommandLineError({ stdout: "", stderr: "Unrecognized target specifier.\n", code: 64 });
  return t;
}

function flags(args: string[], options: Record<string, { type: "boolean"; short: string }>, help: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true });
  } catch {
    usage(help);
  }
}

/** The request a launchctl command line makes, or the reply to a bad one; paths resolve against `cwd`. */
export function parseLaunchctl(argv: readonly string[], uid: number, cwd: string): Request | Reply {
  try {
    return request([...argv], uid, cwd);
  } catch (error) {
    if (error instanceof CommandLineError) return error.reply;
    throw error;
  }
}

function request(argv: string[], uid: number, cwd: string): Request {
  const [sub, ...args] = argv;
  switch (sub) {
    case "bootstrap": {
      const help = "bootstrap <domain-target> <service-path>";
      if (args.length !== 2) usage(help);
      const t = target(args[0], false, help);
      if (t.label !== undefined) usage(help);
      return { uid, op: "bootstrap", domain: t.domain, path: resolve(cwd, args[1]!) };
    }
    case "bootout": {
      const help = "bootout <domain-target> <service-path> | <service-target>";
      if (args.length < 1 || args.length > 2) usage(help);
      const t = target(args[0], args.length === 1, help);
      if (args.length === 2 && t.label !== undefined) usage(help);
      return { uid, op: "bootout", target: t, ...(args[1] === undefined ? {} : { path: resolve(cwd, args[1]) }) };
    }
    case "enable":
    case "disable": {
      const help = `${sub} <service-target>`;
      if (args.length !== 1) usage(help);
      return { uid, op: sub, target: target(args[0], true, help) };
    }
    case "kickstart": {
      const help = "kickstart [-k] [-p] <service-target>";
      const { values, positionals } = flags(args, { kill: { type: "boolean", short: "k" }, pid: { type: "boolean", short: "p" } }, help);
      if (positionals.length !== 1) usage(help);
      return { uid, op: "kickstart", target: target(positionals[0], true, help), kill: !!values.kill, printPid: !!values.pid };
    }
    case "print": {
      const help = "print <domain-target> | <service-target>";
      if (args.length !== 1) usage(help);
      return { uid, op: "print", target: target(args[0], false, help) };
    }
    case "print-disabled": {
      const help = "print-disabled <domain-target>";
      if (args.length !== 1) usage(help);
      const t = target(args[0], false, help);
      if (t.label !== undefined) usage(help);
      return { uid, op: "print-disabled", domain: t.domain };
    }
    case "kill": {
      const help = "kill <signal-number|signal-name> <service-target>";
      if (args.length !== 2) usage(help);
      return { uid, op: "kill", signal: args[0]!, target: target(args[1], true, help) };
    }
    case "load":
    case "unload": {
      const help = `${sub} [-w] <service-path, service-path2, ...>`;
      const { values, positionals } = flags(args, { write: { type: "boolean", short: "w" } }, help);
      if (positionals.length === 0) usage(help);
      return { uid, op: sub, paths: positionals.map((p) => resolve(cwd, p)), write: !!values.write };
    }
    case "list":
      if (args.length > 1) usage("list [label]");
      return { uid, op: "list", ...(args[0] === undefined ? {} : { label: args[0] }) };
    case "start":
    case "stop":
      if (args.length !== 1) usage(`${sub} <service-name>`);
      return { uid, op: sub, label: args[0]! };
    default:
      usage("<subcommand> ... (bootstrap, bootout, enable, disable, kickstart, print, print-disabled, kill, load, unload, list, start, stop)");
  }
}

