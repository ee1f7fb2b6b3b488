// A launchd.plist(5) file turned into a job description, with the checks launchd makes before loading it.
import { statSync } from "node:fs";
import { isDict, readPlist, type PlistDict } from "../macos/plistfile.js";

export interface KeepAliveDict { successfulExit?: boolean; crashed?: boolean; pathState?: Record<string, boolean> }

export interface JobSpec {
  label: string;
  /** The file executed; argv[0] may differ (Program + ProgramArguments). */
  executable: string;
  argv: string[];
  runAtLoad: boolean;
  keepAlive: boolean | KeepAliveDict;
  throttleInterval: number;
  exitTimeOut: number;
  abandonProcessGroup: boolean;
  userName?: string;
  groupName?: string;
  workingDirectory?: string;
  environment: Record<string, string>;
  standardInPath?: string;
  standardOutPath?: string;
  standardErrorPath?: string;
  umask?: number;
  queueDirectories: string[];
  /** The plist's own `Disabled` hint; the override database wins over it. */
  disabled: boolean;
}

/** Why a file was refused, in launchd's log wording; the client only ever sees error 5. */
export class JobFileError extends Error {}

function typed<T>(d: PlistDict, key: string, check: (v: unknown) => v is T): T | undefined {
  const v = d[key];
  if (v === undefined) return undefined;
  if (!check(v)) throw new JobFileError(`the value of key ${key} has the wrong type`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === "string";
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isBoolDict = (v: unknown): v is Record<string, boolean> => isDict(v) && Object.values(v).every(isBool);
const isStringDict = (v: unknown): v is Record<string, string> => isDict(v) && Object.values(v).every(isString);

/**
 * Checks owner and mode: root (or `owner`, for a user's agents) and not group- or world-writable;
 * in the system domain (root the only owner), group wheel too (ref §4: "owned by root (group wheel)").
 */
export function checkOwnership(path: string, owners: number[]): void {
  const st = statSync(path);
  if (!st.isFile()) throw new JobFileError("not a regular file");
  const systemGroup = owners.length > 1 || st.gid === 0;
  if (!owners.includes(st.uid) || !systemGroup || (st.mode & 0o022) !== 0) throw new JobFileError("Path had bad ownership/permissions");
}

/** Reads, checks and parses a job plist. Unknown keys are accepted and ignored, as launchd does. */
export function readJobFile(path: string, owners: number[]): JobSpec {
  checkOwnership(path, owners);
  let root;
  try {
    root = readPlist(path);
  } catch (e) {
    throw new JobFileError(`invalid property list: ${(e as Error).message}`);
  }
  return jobSpec(root);
}

export function jobSpec(root: unknown): JobSpec {
  if (!isDict(root)) throw new JobFileError("the root of the property list is not a dictionary");
  const label = typed(root, "Label", isString);
  if (!label) throw new JobFileError("missing Label");
  const program = typed(root, "Program", isString);
  const args = typed(root, "ProgramArguments", isStrings) ?? [];
  if (!program && args.length === 0) throw new JobFileError("neither Program nor ProgramArguments");
  const keepAliveRaw = root.KeepAlive;
  let keepAlive: JobSpec["keepAlive"] = false;
  if (isBool(keepAliveRaw)) keepAlive = keepAliveRaw;
  else if (isDict(keepAliveRaw)) {
    keepAlive = {
      successfulExit: typed(keepAliveRaw, "SuccessfulExit", isBool),
      crashed: typed(keepAliveRaw, "Crashed", isBool),
      pathState: typed(keepAliveRaw, "PathState", isBoolDict),
    };
  } else if (keepAliveRaw !== undefined) throw new JobFileError("the value of key KeepAlive has the wrong type");
  return {
    label,
    executable: program ?? args[0]!,
    // launchd.plist(5): ProgramArguments is the whole argv; with Program alone argv is just [Program].
    argv: args.length > 0 ? args : [program!],
    runAtLoad: typed(root, "RunAtLoad", isBool) ?? false,
    keepAlive,
    throttleInterval: typed(root, "ThrottleInterval", isInt) ?? 10,
    exitTimeOut: typed(root, "ExitTimeOut", isInt) ?? 20,
    abandonProcessGroup: typed(root, "AbandonProcessGroup", isBool) ?? false,
    userName: typed(root, "UserName", isString),
    groupName: typed(root, "GroupName", isString),
    workingDirectory: typed(root, "WorkingDirectory", isString),
    environment: typed(root, "EnvironmentVariables", isStringDict) ?? {},
    standardInPath: typed(root, "StandardInPath", isString),
    standardOutPath: typed(root, "StandardOutPath", isString),
    standardErrorPath: typed(root, "StandardErrorPath", isString),
    umask: typed(root, "Umask", isInt),
    queueDirectories: typed(root, "QueueDirectories", isStrings) ?? [],
    disabled: typed(root, "Disabled", isBool) ?? false,
  };
}

/** launchd starts a job at load when RunAtLoad is set, or when KeepAlive asks to keep it running unconditionally
 * or depends on an exit status (SuccessfulExit "implies that RunAtLoad is set to true"). */
export function startsAtLoad(spec: JobSpec): boolean {
  const k = spec.keepAlive;
  return spec.runAtLoad || k === true || (typeof k === "object" && k.successfulExit !== undefined);
}
