/**
 * A typed model of a launchd job (launchd.plist(5)), validated and rendered to plist XML with
 * the `plist` package. Props are camelCase; each maps to one launchd key.
 */
import plist from "plist";
import type { PlistObject, PlistValue as PlistLibValue } from "plist";
import {
  LABEL_PATTERN,
  USER_PATTERN,
  validateAbsolutePath,
  validateArray,
  validateBoolean,
  validateEnum,
  validateInt,
  validateKnownKeys,
  validateLabel,
  validateLine,
  validateRecord,
  validateString,
  ValidationError,
} from "../validation.js";

/** A value launchd reads from a plist (used for the free-form dictionaries such as LaunchEvents). */
export type PlistValue = string | number | boolean | readonly PlistValue[] | { readonly [key: string]: PlistValue };

/** KeepAlive's dictionary form: keep the job alive while any condition holds. */
export interface KeepAliveConditions {
  /** true: restart after a successful (0) exit; false: restart only after a failed exit. */
  readonly successfulExit?: boolean;
  /** true: restart only after a crash (signal); false: restart unless it crashed. */
  readonly crashed?: boolean;
  /** Absolute path => keep alive while the path exists (true) or is absent (false). */
  readonly pathState?: Readonly<Record<string, boolean>>;
  /** Label => keep alive while that job is loaded (true) or not (false). */
  readonly otherJobEnabled?: Readonly<Record<string, boolean>>;
}

/** One StartCalendarInterval entry; an omitted field is a wildcard, as in crontab. */
export interface CalendarInterval {
  /** 0..59. */
  readonly minute?: number;
  /** 0..23. */
  readonly hour?: number;
  /** Day of month, 1..31. */
  readonly day?: number;
  /** 0..7 (0 and 7 are Sunday). */
  readonly weekday?: number;
  /** 1..12. */
  readonly month?: number;
}

/** SoftResourceLimits / HardResourceLimits (setrlimit(2) values). */
export interface ResourceLimits {
  /** Largest core file, bytes. */
  readonly core?: number;
  /** CPU time, seconds. */
  readonly cpu?: number;
  /** Data segment, bytes. */
  readonly data?: number;
  /** Largest file created, bytes. */
  readonly fileSize?: number;
  /** Locked memory, bytes. */
  readonly memoryLock?: number;
  /** Open file descriptors. */
  readonly numberOfFiles?: number;
  /** Processes of the job's user. */
  readonly numberOfProcesses?: number;
  /** Resident set size, bytes. */
  readonly residentSetSize?: number;
  /** Stack segment, bytes. */
  readonly stack?: number;
}

/** ProcessType: how launchd throttles the job's resources. */
export type ProcessType = "Background" | "Standard" | "Adaptive" | "Interactive";

/** One socket launchd listens on for the job (launch-on-demand). */
export interface SocketOptions {
  /** SockType: "stream" (default), "dgram" or "seqpacket". */
  readonly sockType?: "stream" | "dgram" | "seqpacket";
  /** SockPassive: listen (true, default) or connect. */
  readonly sockPassive?: boolean;
  /** SockNodeName: the address to bind or connect to. */
  readonly sockNodeName?: string;
  /** SockServiceName: port number or service name. */
  readonly sockServiceName?: string | number;
  /** SockFamily. */
  readonly sockFamily?: "IPv4" | "IPv6" | "IPv4v6" | "Unix";
  /** SockProtocol. */
  readonly sockProtocol?: "TCP" | "UDP";
  /** SockPathName: absolute path of a Unix-domain socket. */
  readonly sockPathName?: string;
  /** SockPathOwner: uid owning the Unix-domain socket. */
  readonly sockPathOwner?: number;
  /** SockPathGroup: gid owning the Unix-domain socket. */
  readonly sockPathGroup?: number;
  /** SockPathMode: mode of the Unix-domain socket (decimal integer, e.g. 0o600). */
  readonly sockPathMode?: number;
  /** SecureSocketWithKey: environment variable that receives a secure socket path. */
  readonly secureSocketWithKey?: string;
  /** Bonjour: register the service (true), under a name, or under several names. */
  readonly bonjour?: boolean | string | readonly string[];
}

/** One MachServices entry: true, or options. */
export interface MachServiceOptions {
  /** ResetAtClose. */
  readonly resetAtClose?: boolean;
  /** HideUntilCheckIn. */
  readonly hideUntilCheckIn?: boolean;
}

/** Every launchd.plist key this library writes, except Label (given separately). */
export interface LaunchdJobOptions {
  /** Program: absolute path of the executable. Without it, `programArguments[0]` is the executable (and must be absolute). */
  readonly program?: string;
  /** ProgramArguments: the whole argv, including argv[0]. */
  readonly programArguments: readonly string[];
  /** RunAtLoad: start the job as soon as it is loaded (default false). */
  readonly runAtLoad?: boolean;
  /** KeepAlive: always restart (true), never (false), or while the conditions hold. */
  readonly keepAlive?: boolean | KeepAliveConditions;
  /** ThrottleInterval: minimum seconds between launches (launchd's default 10). */
  readonly throttleInterval?: number;
  /** ExitTimeOut: seconds between SIGTERM and SIGKILL when stopping. */
  readonly exitTimeOut?: number;
  /** AbandonProcessGroup: do not kill the job's process group when it exits. */
  readonly abandonProcessGroup?: boolean;
  /** UserName: user to run as (daemons only). */
  readonly userName?: string;
  /** GroupName: group to run as (daemons only). */
  readonly groupName?: string;
  /** WorkingDirectory: absolute path. */
  readonly workingDirectory?: string;
  /** RootDirectory: chroot to this absolute path first. */
  readonly rootDirectory?: string;
  /** StandardOutPath: absolute path stdout is appended to. */
  readonly standardOutPath?: string;
  /** StandardErrorPath: absolute path stderr is appended to. */
  readonly standardErrorPath?: string;
  /** StandardInPath: absolute path stdin is read from. */
  readonly standardInPath?: string;
  /** EnvironmentVariables: extra environment of the job. */
  readonly environmentVariables?: Readonly<Record<string, string>>;
  /** Umask: as a decimal integer (write 0o022 for 022). */
  readonly umask?: number;
  /** StartInterval: start the job every N seconds. */
  readonly startInterval?: number;
  /** StartCalendarInterval: start the job at these times. */
  readonly startCalendarInterval?: CalendarInterval | readonly CalendarInterval[];
  /** WatchPaths: start the job when one of these absolute paths changes. */
  readonly watchPaths?: readonly string[];
  /** QueueDirectories: keep the job alive while one of these absolute directories is not empty. */
  readonly queueDirectories?: readonly string[];
  /** ProcessType. */
  readonly processType?: ProcessType;
  /** Nice: -20..20. */
  readonly nice?: number;
  /** LowPriorityIO. */
  readonly lowPriorityIO?: boolean;
  /** LaunchOnlyOnce: run once per boot. */
  readonly launchOnlyOnce?: boolean;
  /** Disabled: a hint only; `launchctl enable/disable` (the override database) wins. */
  readonly disabled?: boolean;
  /** SoftResourceLimits. */
  readonly softResourceLimits?: ResourceLimits;
  /** HardResourceLimits. */
  readonly hardResourceLimits?: ResourceLimits;
  /** Sockets: name => one socket or several. */
  readonly sockets?: Readonly<Record<string, SocketOptions | readonly SocketOptions[]>>;
  /** MachServices: service name => true or options. */
  readonly machServices?: Readonly<Record<string, boolean | MachServiceOptions>>;
  /** LaunchEvents: event stream => event name => descriptor dictionary. */
  readonly launchEvents?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, PlistValue>>>>>>;
  /** AssociatedBundleIdentifiers (macOS 13+): app bundle(s) shown for this job in Login Items. */
  readonly associatedBundleIdentifiers?: string | readonly string[];
}

/** A complete launchd job: its label plus the options. */
export interface LaunchdJob extends LaunchdJobOptions {
  /** Label: unique job name. */
  readonly label: string;
}

type Check = (where: string, field: string, value: unknown) => PlistLibValue;

const INT32_MAX = 2 ** 31 - 1;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// XML 1.0 cannot carry these characters (nor NUL, CR and LF, which validateLine refuses).
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0001-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A plist string: one line, and only characters XML can carry. */
const line: Check = (w, f, v) => {
  const s = validateLine(w, f, v);
  if (XML_INVALID.test(s)) throw new ValidationError(w, f, "must not contain control characters other than tab", v);
  return s;
};
const nonEmptyLine: Check = (w, f, v) => {
  if (v === "") throw new ValidationError(w, f, "must not be empty", v);
  return line(w, f, v);
};
/** An absolute path, carried as a plist string. */
const path: Check = (w, f, v) => line(w, f, validateAbsolutePath(w, f, v));
const bool: Check = validateBoolean;
const int = (min: number, max: number): Check => (w, f, v) => validateInt(w, f, v, min, max);
const oneOf = (allowed: readonly string[]): Check => (w, f, v) => validateEnum(w, f, v, allowed);
const pattern = (re: RegExp): Check => (w, f, v) => {
  const s = validateString(w, f, v);
  if (!re.test(s)) throw new ValidationError(w, f, `must match ${re}`, v);
  return s;
};
const arrayOf = (item: Check): Check => (w, f, v) => validateArray(w, f, v, item);
const recordOf = (key: Check, item: Check): Check => (w, f, v) => {
  const out: Record<string, PlistLibValue> = {};
  for (const [k, x] of Object.entries(validateRecord(w, f, v))) out[key(w, `${f} key`, k) as string] = item(w, `${f}.${k}`, x);
  return out;
};
const either = (...checks: Check[]): Check => (w, f, v) => {
  const errors: ValidationError[] = [];
  for (const check of checks) {
    try {
      return check(w, f, v);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      errors.push(e);
    }
  }
  throw new ValidationError(w, f, errors.map((e) => e.problem).join(", or "), v);
};

/** A typed dictionary: camelCase prop => [launchd key, check]; unknown props are refused. */
function dictionary(fields: Readonly<Record<string, readonly [string, Check]>>): Check {
  return (w, f, v) => {
    const record = validateRecord(w, f, v);
    validateKnownKeys(w, f, record, Object.keys(fields));
    const out: Record<string, PlistLibValue> = {};
    for (const [prop, [key, check]] of Object.entries(fields)) {
      if (record[prop] !== undefined) out[key] = check(w, f ? `${f}.${prop}` : prop, record[prop]);
    }
    return out;
  };
}

/** Any plist value; strings one line, numbers finite. */
const anyValue: Check = (w, f, v) => {
  if (typeof v === "string") return line(w, f, v);
  if (typeof v === "boolean") return v;
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (Array.isArray(v)) return validateArray(w, f, v, anyValue);
  if (typeof v === "object" && v !== null) return recordOf(line, anyValue)(w, f, v);
  throw new ValidationError(w, f, "must be a string, number, boolean, array or dictionary", v);
};

const calendarInterval = dictionary({
  minute: ["Minute", int(0, 59)],
  hour: ["Hour", int(0, 23)],
  day: ["Day", int(1, 31)],
  weekday: ["Weekday", int(0, 7)],
  month: ["Month", int(1, 12)],
});

const resourceLimit = int(0, Number.MAX_SAFE_INTEGER);
const resourceLimits = dictionary({
  core: ["Core", resourceLimit],
  cpu: ["CPU", resourceLimit],
  data: ["Data", resourceLimit],
  fileSize: ["FileSize", resourceLimit],
  memoryLock: ["MemoryLock", resourceLimit],
  numberOfFiles: ["NumberOfFiles", resourceLimit],
  numberOfProcesses: ["NumberOfProcesses", resourceLimit],
  residentSetSize: ["ResidentSetSize", resourceLimit],
  stack: ["Stack", resourceLimit],
});

const socket = dictionary({
  sockType: ["SockType", oneOf(["stream", "dgram", "seqpacket"])],
  sockPassive: ["SockPassive", bool],
  sockNodeName: ["SockNodeName", nonEmptyLine],
  sockServiceName: ["SockServiceName", either(int(1, 65535), nonEmptyLine)],
  sockFamily: ["SockFamily", oneOf(["IPv4", "IPv6", "IPv4v6", "Unix"])],
  sockProtocol: ["SockProtocol", oneOf(["TCP", "UDP"])],
  sockPathName: ["SockPathName", path],
  sockPathOwner: ["SockPathOwner", int(0, INT32_MAX)],
  sockPathGroup: ["SockPathGroup", int(0, INT32_MAX)],
  sockPathMode: ["SockPathMode", int(0, 0o7777)],
  secureSocketWithKey: ["SecureSocketWithKey", pattern(ENV_NAME)],
  bonjour: ["Bonjour", either(bool, nonEmptyLine, arrayOf(nonEmptyLine))],
});

const JOB_FIELDS = {
  label: ["Label", validateLabel],
  program: ["Program", path],
  programArguments: ["ProgramArguments", arrayOf(line)],
  runAtLoad: ["RunAtLoad", bool],
  keepAlive: [
    "KeepAlive",
    either(
      bool,
      dictionary({
        successfulExit: ["SuccessfulExit", bool],
        crashed: ["Crashed", bool],
        pathState: ["PathState", recordOf(path, bool)],
        otherJobEnabled: ["OtherJobEnabled", recordOf(validateLabel, bool)],
      }),
    ),
  ],
  throttleInterval: ["ThrottleInterval", int(0, INT32_MAX)],
  exitTimeOut: ["ExitTimeOut", int(0, INT32_MAX)],
  abandonProcessGroup: ["AbandonProcessGroup", bool],
  userName: ["UserName", pattern(USER_PATTERN)],
  groupName: ["GroupName", pattern(USER_PATTERN)],
  workingDirectory: ["WorkingDirectory", path],
  rootDirectory: ["RootDirectory", path],
  standardOutPath: ["StandardOutPath", path],
  standardErrorPath: ["StandardErrorPath", path],
  standardInPath: ["StandardInPath", path],
  environmentVariables: ["EnvironmentVariables", recordOf(pattern(ENV_NAME), line)],
  umask: ["Umask", int(0, 0o777)],
  startInterval: ["StartInterval", int(1, INT32_MAX)],
  startCalendarInterval: ["StartCalendarInterval", either(calendarInterval, arrayOf(calendarInterval))],
  watchPaths: ["WatchPaths", arrayOf(path)],
  queueDirectories: ["QueueDirectories", arrayOf(path)],
  processType: ["ProcessType", oneOf(["Background", "Standard", "Adaptive", "Interactive"])],
  nice: ["Nice", int(-20, 20)],
  lowPriorityIO: ["LowPriorityIO", bool],
  launchOnlyOnce: ["LaunchOnlyOnce", bool],
  disabled: ["Disabled", bool],
  softResourceLimits: ["SoftResourceLimits", resourceLimits],
  hardResourceLimits: ["HardResourceLimits", resourceLimits],
  sockets: ["Sockets", recordOf(nonEmptyLine, either(socket, arrayOf(socket)))],
  machServices: [
    "MachServices",
    recordOf(nonEmptyLine, either(bool, dictionary({ resetAtClose: ["ResetAtClose", bool], hideUntilCheckIn: ["HideUntilCheckIn", bool] }))),
  ],
  launchEvents: ["LaunchEvents", recordOf(nonEmptyLine, recordOf(nonEmptyLine, recordOf(nonEmptyLine, anyValue)))],
  associatedBundleIdentifiers: ["AssociatedBundleIdentifiers", either(pattern(LABEL_PATTERN), arrayOf(pattern(LABEL_PATTERN)))],
} as const satisfies Record<keyof LaunchdJob, readonly [string, Check]>;

/** The camelCase props a LaunchdJob accepts (for constructs that take them among other props). */
export const LAUNCHD_JOB_PROPS: readonly (keyof LaunchdJob)[] = Object.keys(JOB_FIELDS) as (keyof LaunchdJob)[];

const jobDictionary = dictionary(JOB_FIELDS);

/**
 * Validates a job and returns its launchd dictionary (launchd keys, Label first).
 * Errors name `where` and the camelCase prop, e.g. `keepAlive.successfulExit`.
 */
export function launchdDictionary(where: string, job: LaunchdJob): PlistObject {
  const dict = jobDictionary(where, "", job) as PlistObject;
  if (dict.Label === undefined) validateLabel(where, "label", job.label);
  const argv = dict.ProgramArguments as string[] | undefined;
  if (argv === undefined || argv.length === 0) throw new ValidationError(where, "programArguments", "must not be empty: it is the whole argv, argv[0] included", job.programArguments);
  if (dict.Program === undefined) validateAbsolutePath(where, "programArguments[0]", argv[0]);
  return dict;
}

/** Validates a job and renders it as plist XML, as written to the Mac. */
export function renderLaunchdPlist(where: string, job: LaunchdJob): string {
  return plist.build(launchdDictionary(where, job));
}
