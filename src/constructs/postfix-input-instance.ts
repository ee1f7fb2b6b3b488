import { createHash } from "node:crypto";
import { posix } from "node:path";
import { Annotations, type ITerraformDependable, type TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { checkedMarkPath, SUDOERS_WORD, type OnDestroy, type QueueGuardStep, type ReadinessStep } from "../spec.js";
import { validateEnum, validateHost, validateKnownKeys, validatePort, validateRecord, validateUser, ValidationError } from "../validation.js";
import { LaunchAgent } from "./launch-agent.js";
import { LaunchDaemon } from "./launch-daemon.js";
import type { LaunchJob } from "./launch-job.js";
import type { MacHost } from "./mac-host.js";
import { macStep, validateAddressPrefix } from "./mac-step.js";
import { ON_DESTROY_VALUES, PostfixInstance } from "./postfix-instance.js";
import { SudoRule } from "./sudo-rule.js";

/**
 * How launchd runs the instance.
 * - `supervised`: launchd keeps a foreground `master -c <config dir>` alive (RunAtLoad, KeepAlive),
 *   started after `postfix -c <config dir> check`, as `postfix start` would.
 * - `postmulti-start`: launchd runs `postmulti -i <name> -p start` once at load, as the recipe
 *   intended; master backgrounds itself (no KeepAlive, AbandonProcessGroup so it survives).
 *   Boot only: master outlives the job, so a login agent could not stop it at logout.
 */
export type RunMode = "supervised" | "postmulti-start";

/**
 * When the instance runs.
 * - `boot`: a LaunchDaemon in the system domain; serves mail whoever is logged in (right for a
 *   mail server shared by all accounts).
 * - `login`: a LaunchAgent in `gui/<uid>` of `loginUser`; starts at that user's login and is sent
 *   SIGTERM at logout, as the recipe's alternate describes.
 */
export type Lifecycle = "boot" | "login";

/**
 * How a supervised job starts master: `postfix check` first, as `postfix start` does (it creates
 * missing queue folders and repairs misnamed queue files, which a crash or an OS update can leave),
 * then master in the foreground in the shell's place, so launchd's PID is master's. A failed check
 * starts no master. A start as root that removes the mark a settings change leaves right after its
 * own check skips the check (CHECKED_MARK_NAME). Every value is a positional argument: $1 the config
 * directory, $2 postfix, $3 master, $4 the mark, then what runs each as root (`sudo -n` in a
 * user's agent, which never takes the mark, nothing as root).
 */
const CHECK_THEN_MASTER =
  'dir=$1 postfix=$2 master=$3 mark=$4; shift 4; if [ $# -gt 0 ] || ! rm "$mark" 2>/dev/null; then "$@" "$postfix" -c "$dir" check || exit; fi; exec "$@" "$master" -c "$dir"';

/** The instance name and launchd label a PostfixInputInstance takes when given none. */
export const INPUT_INSTANCE_DEFAULTS = { instanceName: "postfix-in", label: "org.postfix.in" } as const;

/** The recipe's settings plus `inet_interfaces = all`; `settings` override them key by key. */
export const INPUT_INSTANCE_DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  master_service_disable: "",
  authorized_submit_users: "root",
  inet_interfaces: "all",
};

const POSTFIX_INPUT_INSTANCE_PROPS = [
  "host", "instanceName", "group", "label", "settings", "runMode", "onDestroy", "lifecycle",
  "loginUser", "smtpPort", "smtpAddress", "configDirectory", "dependsOn", "addressPrefix",
];

export interface PostfixInputInstanceProps {
  /** The Mac. */
  readonly host: MacHost;
  /**
   * postmulti instance name.
   * @default "postfix-in"
   */
  readonly instanceName?: string;
  /**
   * postmulti group.
   * @default "mta"
   */
  readonly group?: string;
  /**
   * launchd label of the job.
   * @default "org.postfix.in"
   */
  readonly label?: string;
  /** main.cf settings, merged over INPUT_INSTANCE_DEFAULT_SETTINGS key by key. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * How launchd runs the instance.
   * @default "supervised"
   */
  readonly runMode?: RunMode;
  /**
   * What destroy does with queued mail (see PostfixInstanceProps.onDestroy).
   * @default "refuse-if-queued"
   */
  readonly onDestroy?: OnDestroy;
  /**
   * Start at boot (LaunchDaemon) or at a user's login (LaunchAgent).
   * @default "boot"
   */
  readonly lifecycle?: Lifecycle;
  /**
   * The user whose login starts the instance; required with `lifecycle: "login"`, refused
   * otherwise. Unless it is root, a sudoers drop-in lets this user start the instance's master
   * as root, and nothing else.
   */
  readonly loginUser?: string;
  /**
   * Port the instance's smtpd listens on (as its master.cf says), where readiness expects a 220 greeting.
   * @default 25
   */
  readonly smtpPort?: number;
  /**
   * Address where readiness expects the 220 greeting from the deploying machine; null skips the
   * SMTP check. Give it when the SSH host is an ~/.ssh/config alias or is reached through proxyJump.
   * @default the Mac's SSH host, or 127.0.0.1 when local
   */
  readonly smtpAddress?: string | null;
  /**
   * Absolute config directory of the instance.
   * @default sibling of the primary's config directory named after the instance, e.g. /etc/postfix-in
   */
  readonly configDirectory?: string;
  /** Resources to create before the instance. */
  readonly dependsOn?: ITerraformDependable[];
  /**
   * Deterministic Terraform addresses: `<addressPrefix>_instance`, `_config`, `_job`, `_readiness`,
   * `_queue_guard` and, for a login-bound instance, `_sudo_rule`.
   */
  readonly addressPrefix?: string;
}

/**
 * The recipe as one construct: a postmulti input instance that receives mail from remote hosts,
 * and the launchd job that runs it, with a readiness check after every change and a guard that
 * keeps a destroy from touching an instance with queued mail.
 */
export class PostfixInputInstance extends Construct {
  /** The postmulti instance. */
  readonly instance: PostfixInstance;
  /** The launchd job (a LaunchDaemon, or a LaunchAgent with `lifecycle: "login"`). */
  readonly daemon: LaunchJob;
  /** With `lifecycle: "login"` and a login user other than root: the rule that lets the agent start master as root. */
  readonly sudoRule?: SudoRule;
  /** Absolute config directory of the instance on the Mac. */
  readonly configDirectory: string;
  /** launchd label of the job. */
  readonly label: string;
  /** Absolute path of the plist on the Mac. */
  readonly plistPath: string;
  /** Where the instance answers SMTP from the deploying machine, or null if not checked. */
  readonly smtpEndpoint: { readonly address: string; readonly port: number } | null;
  /** The `readiness` step (create only): the job runs and the instance answers SMTP. */
  readonly readinessResource: TerraformResource;
  /** The `queue-guard` step (destroy only): runs first on destroy, refusing per onDestroy. */
  readonly queueGuardResource: TerraformResource;

  constructor(scope: Construct, id: string, props: PostfixInputInstanceProps) {
    super(scope, id);
    const where = this.node.path;
    validateKnownKeys(where, "", validateRecord(where, "props", props), POSTFIX_INPUT_INSTANCE_PROPS);
    const { host } = props;
    const runMode = validateEnum(where, "runMode", props.runMode ?? "supervised", ["supervised", "postmulti-start"] as const);
    const lifecycle = validateEnum(where, "lifecycle", props.lifecycle ?? "boot", ["boot", "login"] as const);
    const onDestroy = validateEnum(where, "onDestroy", props.onDestroy ?? "refuse-if-queued", ON_DESTROY_VALUES);
    if (lifecycle === "login" && props.loginUser === undefined) throw new ValidationError(where, "loginUser", 'is required when lifecycle is "login"', props.loginUser);
    if (lifecycle === "boot" && props.loginUser !== undefined) throw new ValidationError(where, "loginUser", 'is only used when lifecycle is "login"', props.loginUser);
    if (lifecycle === "login" && runMode === "postmulti-start") {
      // postfix start backgrounds master and the job ends: at logout launchd has nothing left to stop.
      throw new ValidationError(where, "runMode", 'must be "supervised" when lifecycle is "login": a "postmulti-start" master outlives the job, so logout would not stop it', props.runMode);
    }
    const smtpPort = validatePort(where, "smtpPort", props.smtpPort ?? 25);
    const smtpAddress = props.smtpAddress === null ? null : validateHost(where, "smtpAddress", props.smtpAddress ?? host.serviceAddress);
    const addressPrefix = validateAddressPrefix(where, props.addressPrefix);

    this.instance = new PostfixInstance(this, "Instance", {
      host,
      name: props.instanceName ?? INPUT_INSTANCE_DEFAULTS.instanceName,
      group: props.group ?? "mta",
      settings: { ...INPUT_INSTANCE_DEFAULT_SETTINGS, ...validateRecord(where, "settings", props.settings ?? {}) } as Record<string, string>,
      onDestroy,
      configDirectory: props.configDirectory,
      dependsOn: props.dependsOn,
      addressPrefix,
    });
    this.configDirectory = this.instance.configDirectory;
    const { paths } = host.spec;

    // What starts the instance, as root: master and postmulti need it.
    const postfix = posix.join(paths.commandDirectory, "postfix");
    const master = posix.join(paths.daemonDirectory, "master");
    const postmultiStart = [posix.join(paths.commandDirectory, "postmulti"), "-i", this.instance.name, "-p", "start"];
    // A foreground master that launchd supervises (`postfix start` would background it), after the check.
    const checkedMark = checkedMarkPath(this.configDirectory);
    const supervisedStart = (asRoot: readonly string[]) => ["/bin/sh", "-c", CHECK_THEN_MASTER, "mac-postfix-start", this.configDirectory, postfix, master, checkedMark, ...asRoot];
    const runModeJob = {
      supervised: { runAtLoad: true, keepAlive: true },
      // One-shot start: postmulti backgrounds master and exits, so no KeepAlive, and the process
      // group is abandoned so launchd does not kill master when postmulti exits. RunAtLoad
      // already ran it at bootstrap; a kickstart of the exited job would start it twice.
      "postmulti-start": { runAtLoad: true, abandonProcessGroup: true, kickstart: false },
    }[runMode];
    const label = props.label ?? INPUT_INSTANCE_DEFAULTS.label;
    const jobDefaults = { host, label, ...runModeJob, dependsOn: [this.instance.configResource], addressPrefix };
    if (lifecycle === "boot") {
      this.daemon = new LaunchDaemon(this, "Daemon", { ...jobDefaults, programArguments: runMode === "supervised" ? supervisedStart([]) : postmultiStart });
    } else {
      const user = validateUser(where, "loginUser", props.loginUser);
      // launchd runs an agent as its user: a sudoers rule lets that user run exactly the check and
      // master as root, and the agent runs them through `sudo -n` (sudo passes SIGTERM on at logout).
      const asRoot = user === "root" ? [] : [paths.sudo, "-n"];
      if (user !== "root") {
        // The drop-in is named after the instance and its rule names the config directory.
        if (this.instance.name.includes(".")) {
          throw new ValidationError(where, "instanceName", 'must not contain "." when lifecycle is "login": its sudoers drop-in is named after it, and sudo skips a drop-in whose name has a dot', this.instance.name);
        }
        if (!SUDOERS_WORD.test(this.configDirectory)) {
          throw new ValidationError(where, "configDirectory", `must match ${SUDOERS_WORD} when lifecycle is "login", so the sudoers rule that starts master reads it literally`, this.configDirectory);
        }
        const commands = [[postfix, "-c", this.configDirectory, "check"], [master, "-c", this.configDirectory]];
        this.sudoRule = new SudoRule(this, "Sudo", { host, name: `cdktf-mac-postfix-${this.instance.name}`, user, commands, dependsOn: [this.instance.configResource], addressPrefix });
        jobDefaults.dependsOn.push(this.sudoRule.resource);
      }
      this.daemon = new LaunchAgent(this, "Agent", { ...jobDefaults, user, programArguments: supervisedStart(asRoot) });
      Annotations.of(this).addInfo(
        `lifecycle "login": the instance serves only while ${user} is logged in; use lifecycle "boot" for a mail server shared by all accounts.`,
      );
    }
    this.label = this.daemon.label;
    this.plistPath = this.daemon.plistPath;
    this.smtpEndpoint = smtpAddress === null ? null : { address: smtpAddress, port: smtpPort };

    const queueGuard: QueueGuardStep = { kind: "queue-guard", construct: where, host: host.spec, instance: this.instance.identity, onDestroy };
    // Depends on the job so that Terraform destroys it first: a refused destroy fails before the job is booted out.
    this.queueGuardResource = macStep(this, "QueueGuard", {
      host,
      spec: queueGuard,
      replaceOn: { host: host.address, ...this.instance.identity },
      actions: ["destroy"],
      dependsOn: [this.daemon.resource],
      addressPrefix,
      step: "queue_guard",
    });

    const readiness: ReadinessStep = {
      kind: "readiness",
      construct: where,
      host: host.spec,
      instance: this.instance.identity,
      label: this.label,
      domain: this.daemon.domain,
      expectRunning: runMode === "supervised",
      smtp: this.smtpEndpoint,
    };
    const watched = [this.instance.instanceStep, this.instance.configStep, this.sudoRule?.step, this.daemon.step, queueGuard, readiness].filter(Boolean);
    this.readinessResource = macStep(this, "Readiness", {
      host,
      spec: readiness,
      // Any change to any step replaces readiness, so it verifies the instance again after it.
      replaceOn: { steps: createHash("sha256").update(JSON.stringify(watched)).digest("hex") },
      actions: ["apply"],
      dependsOn: [this.daemon.resource],
      addressPrefix,
      step: "readiness",
    });
  }
}
