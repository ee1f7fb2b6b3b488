import { Annotations, type ITerraformDependable, type TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { posix } from "node:path";
import { LAUNCHD_JOB_PROPS, renderLaunchdPlist, type LaunchdJob } from "../plist/launchd.js";
import type { LaunchDomain, LaunchJobStep } from "../spec.js";
import { validateAbsolutePath, validateBoolean, validateKnownKeys, validateRecord } from "../validation.js";
import type { MacHost } from "./mac-host.js";
import { macStep, validateAddressPrefix } from "./mac-step.js";

/** Props of every launchd job construct: the job's launchd keys plus where and how it is installed. */
export interface LaunchJobProps extends LaunchdJob {
  /** The Mac. */
  readonly host: MacHost;
  /**
   * Absolute path of the plist on the Mac.
   * @default `<LaunchDaemons or LaunchAgents directory>/<label>.plist`
   */
  readonly path?: string;
  /**
   * Start the job right after bootstrapping it (`launchctl kickstart`).
   * @default true
   */
  readonly kickstart?: boolean;
  /** Resources to create before the job (and destroy after it). */
  readonly dependsOn?: ITerraformDependable[];
  /** Deterministic Terraform address: `<addressPrefix>_job`. */
  readonly addressPrefix?: string;
}

/** Props of LaunchJob that are not launchd keys. */
export const LAUNCH_JOB_INSTALL_PROPS = ["host", "path", "kickstart", "dependsOn", "addressPrefix"] as const;

/**
 * A launchd job installed from a plist this library renders. Any change of the plist replaces the
 * step: destroy boots the job out and removes the file, create writes it and boots it in.
 * Use LaunchDaemon or LaunchAgent.
 */
export abstract class LaunchJob extends Construct {
  /** The job's label. */
  readonly label: string;
  /** Absolute path of the plist on the Mac. */
  readonly plistPath: string;
  /** The launchd domain the job is bootstrapped into. */
  readonly domain: LaunchDomain;
  /** The plist XML, exactly as written to the Mac. */
  readonly plist: string;
  /** The `launch-job` step's spec. */
  readonly step: LaunchJobStep;
  /** The `launch-job` step. */
  readonly resource: TerraformResource;

  protected constructor(scope: Construct, id: string, props: LaunchJobProps, domain: LaunchDomain, directory: string) {
    super(scope, id);
    const where = this.node.path;
    validateKnownKeys(where, "", validateRecord(where, "props", props), [...LAUNCHD_JOB_PROPS, ...LAUNCH_JOB_INSTALL_PROPS]);
    const { host, path, kickstart = true, dependsOn, addressPrefix, ...job } = props;
    this.plist = renderLaunchdPlist(where, job);
    this.label = job.label;
    this.domain = domain;
    this.plistPath = validateAbsolutePath(where, "path", path ?? posix.join(directory, `${this.label}.plist`));
    if (job.program !== undefined && posix.basename(job.programArguments[0]) !== posix.basename(job.program)) {
      Annotations.of(this).addWarning(
        `program is ${job.program} but programArguments[0] is ${JSON.stringify(job.programArguments[0])}: launchd runs program with that argv, and argv[0] names another program`,
      );
    }

    this.step = {
      kind: "launch-job",
      construct: where,
      host: host.spec,
      label: this.label,
      path: this.plistPath,
      domain,
      plist: this.plist,
      kickstart: validateBoolean(where, "kickstart", kickstart),
    };
    this.resource = macStep(this, "Job", {
      host,
      spec: this.step,
      replaceOn: { host: host.address, label: this.label, path: this.plistPath, domain, plist: this.plist },
      actions: ["apply", "destroy"],
      dependsOn,
      addressPrefix: validateAddressPrefix(where, addressPrefix),
      step: "job",
    });
  }
}
