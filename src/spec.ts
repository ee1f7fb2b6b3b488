/**
 * The contract between the constructs (what is wanted) and the executor (how it is done on a Mac).
 *
 * Every resource a construct synthesizes carries one `StepSpec`, as JSON text, in its Terraform `input`.
 * Its provisioners run this package's CLI without a shell:
 *
 *   create:  node <package>/lib/cli/mac-postfix.js step apply
 *   destroy: node <package>/lib/cli/mac-postfix.js step destroy
 *
 * with the spec's JSON text in the environment variable `MAC_POSTFIX_STEP` = `${self.input}`.
 * Nothing in a spec is ever spliced into a shell command line: the executor passes each value
 * to the Mac as one argv element, as stdin, or as file content.
 */
import { posix } from "node:path";

/** Environment variable that carries the JSON-encoded StepSpec to the CLI. */
export const STEP_ENV = "MAC_POSTFIX_STEP";

/** Where the Mac keeps things; macOS defaults in `MAC_DEFAULT_PATHS`. All absolute. */
export interface MacPaths {
  /** Postfix command directory (postfix, postconf, postmulti, postqueue, postsuper). */
  readonly commandDirectory: string;
  /** Postfix daemon directory (master, smtpd, ...). */
  readonly daemonDirectory: string;
  /** The primary instance's config directory; new instances default to siblings of it. */
  readonly postfixConfigDirectory: string;
  /** The launchctl binary. */
  readonly launchctl: string;
  /** Folder for system-wide LaunchDaemons. */
  readonly launchDaemonsDirectory: string;
  /** Folder for LaunchAgents of every user. */
  readonly launchAgentsDirectory: string;
  /** The sudo binary (a login-bound agent starts the instance through it). */
  readonly sudo: string;
  /** The visudo binary, which checks a sudoers drop-in before it is installed. */
  readonly visudo: string;
  /** Folder of sudoers drop-ins, included by the Mac's /etc/sudoers. */
  readonly sudoersDirectory: string;
}

export const MAC_DEFAULT_PATHS: MacPaths = {
  commandDirectory: "/usr/sbin",
  daemonDirectory: "/usr/libexec/postfix",
  postfixConfigDirectory: "/etc/postfix",
  launchctl: "/bin/launchctl",
  launchDaemonsDirectory: "/Library/LaunchDaemons",
  launchAgentsDirectory: "/Library/LaunchAgents",
  sudo: "/usr/bin/sudo",
  visudo: "/usr/sbin/visudo",
  sudoersDirectory: "/etc/sudoers.d",
};

/**
 * A step's spec as Terraform records it: the host's paths only where they differ from
 * MAC_DEFAULT_PATHS, so the plan printed for every step of every Mac stays short. The executor puts
 * the defaults back (withDefaultPaths).
 */
export function specOnTheWire(spec: StepSpec): Record<string, unknown> {
  const { paths, ...host } = spec.host;
  const overrides = Object.entries(paths).filter(([name, value]) => MAC_DEFAULT_PATHS[name as keyof MacPaths] !== value);
  return { ...spec, host: overrides.length > 0 ? { ...host, paths: Object.fromEntries(overrides) } : host };
}

/** The host's paths, each given one or else macOS's default. */
export function withDefaultPaths(paths: Partial<MacPaths> | undefined): MacPaths {
  return { ...MAC_DEFAULT_PATHS, ...paths };
}

/** How to reach a Mac over SSH, with the system OpenSSH client (~/.ssh/config, agents and ProxyJump apply). */
export interface MacSshOptions {
  /** Host name, ssh_config alias, IPv4 or IPv6 address (never starting with "-"). */
  readonly host: string;
  /** Login user (default: OpenSSH's choice, usually from ~/.ssh/config or the local user). */
  readonly user?: string;
  /** SSH port (default 22 or ~/.ssh/config). */
  readonly port?: number;
  /** Absolute path of the private key on the deploying machine. Only the path is recorded, never the key. */
  readonly identityFile?: string;
  /** Absolute path of a known_hosts file to verify the Mac's host key against. */
  readonly knownHostsFile?: string;
  /** OpenSSH ProxyJump: comma-separated `[user@]host[:port]` jump hosts. */
  readonly proxyJump?: string;
}

export type Connection =
  | { readonly transport: "local" }
  | (MacSshOptions & {
      readonly transport: "ssh";
      /** Turns host-key verification off. Only set by the loudly named MacHost option. */
      readonly insecureIgnoreHostKey?: boolean;
    });

export interface HostSpec {
  /** The MacHost's name (construct id or inventory name), used in messages. */
  readonly name: string;
  readonly connection: Connection;
  /** Prefix privileged steps with `sudo -n`: true, false, or "auto" (when the login user is not root). */
  readonly sudo: boolean | "auto";
  readonly paths: MacPaths;
}

export interface InstanceIdentity {
  /** postmulti instance name, starts with "postfix-". */
  readonly name: string;
  /** Absolute config directory of the instance. */
  readonly configDirectory: string;
}

/**
 * Left in an instance's config directory by a settings change right after its `postfix check`
 * passed. The next start of a supervised job as root removes it and skips its own check, so a
 * deploy checks once while a boot or a later restart still checks. Readiness removes a mark no
 * start used.
 */
export const CHECKED_MARK_NAME = ".mac-postfix-checked";

/** Where the check mark of the instance in `configDirectory` lives: the job's start script and the steps agree on it. */
export function checkedMarkPath(configDirectory: string): string {
  return posix.join(configDirectory, CHECKED_MARK_NAME);
}

/** What destroying an instance does with queued mail. */
export type OnDestroy = "refuse-if-queued" | "deport" | "discard-queue";

/** Which launchd domain a job lives in. */
export type LaunchDomain = { readonly type: "system" } | { readonly type: "gui"; readonly user: string };

/** The postmulti instance exists (create), and is torn down according to onDestroy (destroy). */
export interface InstanceStep {
  readonly kind: "instance";
  readonly construct: string;
  readonly host: HostSpec;
  readonly instance: InstanceIdentity;
  readonly group?: string;
  readonly onDestroy: OnDestroy;
}

/** Group, enablement and main.cf settings of an instance (create only; replaced on change). */
export interface InstanceConfigStep {
  readonly kind: "instance-config";
  readonly construct: string;
  readonly host: HostSpec;
  readonly instance: InstanceIdentity;
  readonly group?: string;
  readonly enabled: boolean;
  /** main.cf parameters; values are passed verbatim to postconf. */
  readonly settings: Readonly<Record<string, string>>;
}

/** A launchd job: plist written atomically, enabled, bootstrapped, kickstarted; booted out and removed on destroy. */
export interface LaunchJobStep {
  readonly kind: "launch-job";
  readonly construct: string;
  readonly host: HostSpec;
  readonly label: string;
  /** Absolute path of the plist on the Mac. */
  readonly path: string;
  readonly domain: LaunchDomain;
  /** The complete plist XML, as written to the Mac. */
  readonly plist: string;
  /** Start the job now with kickstart after bootstrap. */
  readonly kickstart: boolean;
}

/** After the instance and its job are in place: confirm it serves (create only). */
export interface ReadinessStep {
  readonly kind: "readiness";
  readonly construct: string;
  readonly host: HostSpec;
  readonly instance: InstanceIdentity;
  readonly label: string;
  readonly domain: LaunchDomain;
  /** The job must be running (supervised mode), not only loaded. */
  readonly expectRunning: boolean;
  /** Where to expect the 220 greeting, from the deploying machine; null skips it. */
  readonly smtp: { readonly address: string; readonly port: number } | null;
}

/** Destroy-time only: refuses to let a teardown start while mail is queued (per onDestroy). */
export interface QueueGuardStep {
  readonly kind: "queue-guard";
  readonly construct: string;
  readonly host: HostSpec;
  readonly instance: InstanceIdentity;
  readonly onDestroy: OnDestroy;
}

/** A LogoutHook (deprecated by Apple): script installed and registered with loginwindow. */
export interface LogoutHookStep {
  readonly kind: "logout-hook";
  readonly construct: string;
  readonly host: HostSpec;
  /** Absolute path of the script on the Mac. */
  readonly path: string;
  /** The script's content. */
  readonly script: string;
}

/**
 * A word sudoers takes literally in a command line: no whitespace and none of its special
 * characters (`\\ , : = ( ) ! # "` and the like), so a rule can be written without escaping.
 */
export const SUDOERS_WORD = /^[A-Za-z0-9_/.+@%-]+$/;

/** A sudoers drop-in that lets one user run exact commands as root, without a password. */
export interface SudoRuleStep {
  readonly kind: "sudo-rule";
  readonly construct: string;
  readonly host: HostSpec;
  /** Absolute path of the drop-in on the Mac. */
  readonly path: string;
  /** The user the rule is for. */
  readonly user: string;
  /** Each command's argv: an absolute program and its exact arguments, each a sudoers-safe word. */
  readonly commands: readonly (readonly string[])[];
}

export type StepSpec =
  | InstanceStep
  | InstanceConfigStep
  | LaunchJobStep
  | ReadinessStep
  | QueueGuardStep
  | LogoutHookStep
  | SudoRuleStep;

export type StepAction = "apply" | "destroy";
