/**
 * The validators every construct (and the fleet inventory) runs on user input, at synth time,
 * before anything reaches a Mac. Each takes `where` (a construct path, or `file: host` for an
 * inventory), the `field` name and the value, and returns the value typed or throws a
 * `ValidationError` whose message names all three.
 */
import { isIP } from "node:net";
import { posix } from "node:path";
import { Token } from "cdktf";

const SHOWN_VALUE_LENGTH = 60;

/** Bad user input, found at synth time. Message: `<where>: <field>: <problem> (got <value>)`. */
export class ValidationError extends Error {
  constructor(
    readonly where: string,
    readonly field: string,
    readonly problem: string,
    readonly value: unknown,
  ) {
    super(`${where}: ${field}: ${problem} (got ${showValue(value)})`);
    this.name = "ValidationError";
  }
}

/** JSON-quotes a value for an error message, truncated so hostile input cannot flood it. */
export function showValue(value: unknown): string {
  let shown: string;
  try {
    shown = value === undefined ? "undefined" : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  return shown.length > SHOWN_VALUE_LENGTH ? `${shown.slice(0, SHOWN_VALUE_LENGTH)}…` : shown;
}

function fail(where: string, field: string, problem: string, value: unknown): never {
  throw new ValidationError(where, field, problem, value);
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const NUL_CR_LF = /[\u0000\r\n]/;
const WHITESPACE = /\s/;

/**
 * A literal string. Unresolved cdktf tokens are refused: every value must be known at synth,
 * both to be validated here and because the executor receives it as data.
 */
export function validateString(where: string, field: string, value: unknown): string {
  if (typeof value !== "string") fail(where, field, "must be a string", value);
  if (Token.isUnresolved(value)) fail(where, field, "must be a literal value known at synth, not a token", value);
  return value;
}

/** A string that is one line: no NUL, CR or LF (plist strings, setting values, ...). */
export function validateLine(where: string, field: string, value: unknown): string {
  const s = validateString(where, field, value);
  if (NUL_CR_LF.test(s)) fail(where, field, "must not contain NUL, CR or LF", value);
  return s;
}

/** Like validateLine, and not empty. */
export function validateNonEmptyLine(where: string, field: string, value: unknown): string {
  const s = validateLine(where, field, value);
  if (s.length === 0) fail(where, field, "must not be empty", value);
  return s;
}

export function validatePattern(where: string, field: string, value: unknown, pattern: RegExp, what: string): string {
  const s = validateString(where, field, value);
  if (!pattern.test(s)) fail(where, field, what, value);
  return s;
}

/** Matches a valid postmulti instance name. */
export const INSTANCE_NAME_PATTERN = /^postfix-[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Longest file name macOS (and Linux) accept, in bytes; the names below are ASCII. */
const NAME_MAX = 255;

/** A postmulti instance name: `postfix-` then letters, digits, `.`, `_`, `-`; it names folders, so at most 255 characters. */
export function validateInstanceName(where: string, field: string, value: unknown): string {
  const s = validateString(where, field, value);
  if (!s.startsWith("postfix-")) fail(where, field, 'must start with "postfix-" (postmulti requires it)', value);
  validatePattern(where, field, value, INSTANCE_NAME_PATTERN, `must match ${INSTANCE_NAME_PATTERN}`);
  if (s.length > NAME_MAX) fail(where, field, `must be at most ${NAME_MAX} characters (it names the instance's folders)`, value);
  return s;
}

/** Matches a launchd label (also used for postmulti group names). */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A launchd label: letters, digits, `.`, `_`, `-`, not starting with a punctuation mark; `<label>.plist` must fit a file name. */
export function validateLabel(where: string, field: string, value: unknown): string {
  const s = validatePattern(where, field, value, LABEL_PATTERN, `must match ${LABEL_PATTERN}`);
  const max = NAME_MAX - ".plist".length;
  if (s.length > max) fail(where, field, `must be at most ${max} characters (\`<label>.plist\` names the plist file)`, value);
  return s;
}

/** A postmulti group name: same charset as a label. */
export function validateGroup(where: string, field: string, value: unknown): string {
  return validatePattern(where, field, value, LABEL_PATTERN, `must match ${LABEL_PATTERN}`);
}

/** Matches a main.cf parameter name. */
export const SETTING_NAME_PATTERN = /^[A-Za-z0-9_]+$/;

/**
 * main.cf settings: names `^[A-Za-z0-9_]+$`, values one line (may be empty) without leading or
 * trailing whitespace, which Postfix strips: such a value would not reach main.cf as given.
 */
export function validateSettings(where: string, field: string, value: unknown): Record<string, string> {
  const record = validateRecord(where, field, value);
  const settings: Record<string, string> = {};
  for (const [name, setting] of Object.entries(record)) {
    validatePattern(where, `${field}.${name}`, name, SETTING_NAME_PATTERN, `setting name must match ${SETTING_NAME_PATTERN}`);
    const line = validateLine(where, `${field}.${name}`, setting);
    if (line !== line.replace(/^[ \t\v\f]+|[ \t\v\f]+$/g, "")) fail(where, `${field}.${name}`, "must not start or end with whitespace (Postfix strips it from main.cf values)", setting);
    settings[name] = line;
  }
  return settings;
}

/** A plain object (not null, not an array). */
export function validateRecord(where: string, field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, field, "must be an object", value);
  if (Token.isUnresolved(value)) fail(where, field, "must be a literal value known at synth, not a token", value);
  return value as Record<string, unknown>;
}

/** An absolute path: starts with "/", no `..` segment, no control characters. */
export function validateAbsolutePath(where: string, field: string, value: unknown): string {
  const s = validateString(where, field, value);
  if (!s.startsWith("/")) fail(where, field, "must be an absolute path", value);
  if (CONTROL_CHARS.test(s)) fail(where, field, "must not contain control characters", value);
  if (s.split("/").includes("..")) fail(where, field, 'must not contain ".." segments', value);
  // One spelling per path: comparisons (the primary's config directory, say) would miss another.
  const plain = posix.normalize(s).replace(/(.)\/$/, "$1");
  if (plain !== s) fail(where, field, `must be written plainly, without "//", "." segments or a trailing "/" (${plain})`, value);
  return s;
}

/** Matches a DNS host name (labels of letters, digits, `-`, `_`; also ssh_config aliases). */
const HOSTNAME_PATTERN = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** A host: a host name, IPv4 or IPv6 address; never empty, never starting with "-". */
export function validateHost(where: string, field: string, value: unknown): string {
  const s = validateString(where, field, value);
  if (s.length === 0) fail(where, field, "must not be empty", value);
  if (s.startsWith("-")) fail(where, field, 'must not start with "-"', value);
  if (WHITESPACE.test(s) || CONTROL_CHARS.test(s)) fail(where, field, "must not contain whitespace or control characters", value);
  if (isIP(s) === 0 && !HOSTNAME_PATTERN.test(s)) fail(where, field, "must be a host name, an IPv4 or an IPv6 address", value);
  return s;
}

/** Matches a login name as macOS and OpenSSH accept it. */
export const USER_PATTERN = /^[a-z_][a-z0-9_.-]*$/;

/** A login user name. */
export function validateUser(where: string, field: string, value: unknown): string {
  const s = validateString(where, field, value);
  if (s.startsWith("-")) fail(where, field, 'must not start with "-"', value);
  return validatePattern(where, field, value, USER_PATTERN, `must match ${USER_PATTERN}`);
}

/** An integer, within [min, max] when given. */
export function validateInt(where: string, field: string, value: unknown, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value)) fail(where, field, "must be an integer", value);
  if (Token.isUnresolved(value)) fail(where, field, "must be a literal value known at synth, not a token", value);
  if (value < min || value > max) fail(where, field, `must be between ${min} and ${max}`, value);
  return value;
}

/** A TCP port, 1..65535. */
export function validatePort(where: string, field: string, value: unknown): number {
  return validateInt(where, field, value, 1, 65535);
}

/** A boolean. */
export function validateBoolean(where: string, field: string, value: unknown): boolean {
  if (typeof value !== "boolean") fail(where, field, "must be true or false", value);
  return value;
}

/** One of a fixed set of strings (or other literals). */
export function validateEnum<T extends string | boolean>(where: string, field: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) fail(where, field, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`, value);
  return value as T;
}

/** An array of strings, each checked by `item`. */
export function validateArray<T>(where: string, field: string, value: unknown, item: (where: string, field: string, value: unknown) => T): T[] {
  if (!Array.isArray(value)) fail(where, field, "must be an array", value);
  if (Token.isUnresolved(value)) fail(where, field, "must be a literal value known at synth, not a token", value);
  return value.map((v, i) => item(where, `${field}[${i}]`, v));
}

/**
 * An OpenSSH ProxyJump value: comma-separated `[user@]host[:port]` entries, none starting with "-"
 * (ssh would read it as an option).
 */
export function validateProxyJump(where: string, field: string, value: unknown): string {
  const s = validateString(where, field, value);
  if (s.length === 0) fail(where, field, "must not be empty", value);
  for (const entry of s.split(",")) {
    if (entry.startsWith("-")) fail(where, field, 'entries must not start with "-"', value);
    const m = /^(?:([^@]*)@)?(\[[^\]]*\]|[^:]*)(?::([^:]*))?$/.exec(entry);
    if (!m) fail(where, field, "entries must look like [user@]host[:port]", value);
    const [, user, host, port] = m;
    if (user !== undefined) validateUser(where, field, user);
    validateHost(where, field, host.startsWith("[") ? host.slice(1, -1) : host);
    if (port !== undefined) validatePort(where, field, /^\d+$/.test(port) ? Number(port) : port);
  }
  return s;
}

/** Refuses keys of `value` that are not in `known` (for input that bypasses the type system). */
export function validateKnownKeys(where: string, field: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) fail(where, field ? `${field}.${key}` : key, `unknown property; expected one of ${known.join(", ")}`, value[key]);
  }
}
