/** The CLI's boundary: a StepSpec parsed from JSON is checked before anything runs on a Mac. */
import { MAC_DEFAULT_PATHS, SUDOERS_WORD, withDefaultPaths, type StepSpec } from "../spec.js";

type Json = Record<string, unknown>;

class SpecError extends Error {}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function field<T>(obj: Json, path: string, name: string, test: (v: unknown) => v is T, what: string, optional = false): T | undefined {
  const value = obj[name];
  if (value === undefined && optional) return undefined;
  if (!test(value)) throw new SpecError(`${path}.${name} must be ${what}, got ${JSON.stringify(value) ?? "nothing"}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isLine = (v: unknown): v is string => typeof v === "string" && v !== "" && !/[\0\n\r]/.test(v);
const isAbsolute = (v: unknown): v is string => isLine(v) && v.startsWith("/") && !v.split("/").includes("..");
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;
const oneOf = <T extends string>(...values: T[]) => (v: unknown): v is T => values.includes(v as T);
const notOption = (v: unknown): v is string => isLine(v) && !v.startsWith("-") && !/\s/.test(v);

const isSudoersWord = (v: unknown): v is string => typeof v === "string" && SUDOERS_WORD.test(v);

function checkHost(host: unknown): void {
  if (!isObject(host)) throw new SpecError("spec.host must be an object");
  field(host, "host", "name", isLine, "a non-empty line");
  if (!(host.sudo === "auto" || isBool(host.sudo))) throw new SpecError(`host.sudo must be true, false or "auto"`);
  const c = host.connection;
  if (!isObject(c)) throw new SpecError("host.connection must be an object");
  field(c, "host.connection", "transport", oneOf("local", "ssh"), '"local" or "ssh"');
  if (c.transport === "ssh") {
    field(c, "host.connection", "host", notOption, 'a host name that does not start with "-"');
    field(c, "host.connection", "user", notOption, 'a user name that does not start with "-"', true);
    field(c, "host.connection", "port", isPort, "a port number", true);
    field(c, "host.connection", "identityFile", isAbsolute, "an absolute path", true);
    field(c, "host.connection", "knownHostsFile", isAbsolute, "an absolute path", true);
    field(c, "host.connection", "proxyJump", notOption, 'a destination that does not start with "-"', true);
    field(c, "host.connection", "insecureIgnoreHostKey", isBool, "a boolean", true);
  }
  // Paths left out are macOS's defaults (specOnTheWire).
  if (host.paths === undefined) return;
  const p = host.paths;
  if (!isObject(p)) throw new SpecError("host.paths must be an object");
  for (const name of Object.keys(p)) {
    if (!Object.hasOwn(MAC_DEFAULT_PATHS, name)) throw new SpecError(`host.paths.${name} is not a path the executor knows`);
    field(p, "host.paths", name, isAbsolute, "an absolute path");
  }
}

function checkInstance(spec: Json): void {
  const i = spec.instance;
  if (!isObject(i)) throw new SpecError("spec.instance must be an object");
  field(i, "instance", "name", (v): v is string => isLine(v) && /^postfix-[^\s/]+$/.test(v), 'a name starting with "postfix-"');
  field(i, "instance", "configDirectory", isAbsolute, "an absolute path");
}

function checkDomain(spec: Json): void {
  const d = spec.domain;
  if (!isObject(d)) throw new SpecError("spec.domain must be an object");
  field(d, "domain", "type", oneOf("system", "gui"), '"system" or "gui"');
  if (d.type === "gui") field(d, "domain", "user", notOption, "a user name");
}

const KINDS = ["instance", "instance-config", "launch-job", "readiness", "queue-guard", "logout-hook", "sudo-rule"];

const onDestroy = oneOf("refuse-if-queued", "deport", "discard-queue");

/** Parses and validates; throws with the offending field named. */
export function parseStepSpec(text: string | undefined): StepSpec {
  if (text === undefined || text === "") throw new SpecError("no step spec given");
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw new SpecError(`the step spec is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(spec)) throw new SpecError("the step spec must be a JSON object");
  if (!KINDS.includes(spec.kind as string)) throw new SpecError(`unknown step kind ${JSON.stringify(spec.kind)}`);
  field(spec, "spec", "construct", isLine, "the construct path");
  checkHost(spec.host);
  switch (spec.kind) {
    case "instance":
      checkInstance(spec);
      field(spec, "spec", "group", isLine, "a group name", true);
      field(spec, "spec", "onDestroy", onDestroy, "an onDestroy policy");
      break;
    case "instance-config": {
      checkInstance(spec);
      field(spec, "spec", "group", isLine, "a group name", true);
      field(spec, "spec", "enabled", isBool, "a boolean");
      const settings = field(spec, "spec", "settings", isObject, "an object of settings")!;
      for (const [name, value] of Object.entries(settings)) {
        if (!/^[A-Za-z0-9_]+$/.test(name)) throw new SpecError(`settings: ${JSON.stringify(name)} is not a main.cf parameter name`);
        if (!isString(value) || /[\0\n\r]/.test(value)) throw new SpecError(`settings.${name} must be a string on one line`);
      }
      break;
    }
    case "launch-job":
      field(spec, "spec", "label", notOption, "a label");
      field(spec, "spec", "path", isAbsolute, "an absolute path");
      checkDomain(spec);
      field(spec, "spec", "plist", isString, "the plist XML");
      field(spec, "spec", "kickstart", isBool, "a boolean");
      break;
    case "readiness": {
      checkInstance(spec);
      field(spec, "spec", "label", notOption, "a label");
      checkDomain(spec);
      field(spec, "spec", "expectRunning", isBool, "a boolean");
      if (spec.smtp !== null) {
        const smtp = field(spec, "spec", "smtp", isObject, "an object or null")!;
        field(smtp, "smtp", "address", isLine, "an address");
        field(smtp, "smtp", "port", isPort, "a port number");
      }
      break;
    }
    case "queue-guard":
      checkInstance(spec);
      field(spec, "spec", "onDestroy", onDestroy, "an onDestroy policy");
      break;
    case "logout-hook":
      field(spec, "spec", "path", isAbsolute, "an absolute path");
      field(spec, "spec", "script", isString, "the script");
      break;
    case "sudo-rule": {
      field(spec, "spec", "path", isAbsolute, "an absolute path");
      field(spec, "spec", "user", notOption, "a user name");
      const commands = field(spec, "spec", "commands", (v): v is unknown[] => Array.isArray(v) && v.length > 0, "a non-empty list of argvs")!;
      commands.forEach((command, c) => {
        if (!Array.isArray(command) || command.length === 0) throw new SpecError(`spec.commands[${c}] must be a non-empty argv`);
        if (!isAbsolute(command[0])) throw new SpecError(`spec.commands[${c}][0] must be an absolute path`);
        command.forEach((word: unknown, i) => {
          if (!isSudoersWord(word)) throw new SpecError(`spec.commands[${c}][${i}] must match ${SUDOERS_WORD}, got ${JSON.stringify(word)}`);
        });
      });
      break;
    }
  }
  const host = spec.host as Json;
  return { ...spec, host: { ...host, paths: withDefaultPaths(host.paths as Json | undefined) } } as unknown as StepSpec;
}
