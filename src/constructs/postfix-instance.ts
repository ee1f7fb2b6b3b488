import type { ITerraformDependable, TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { posix } from "node:path";
import type { InstanceConfigStep, InstanceIdentity, InstanceStep, OnDestroy } from "../spec.js";
import {
  validateAbsolutePath,
  validateBoolean,
  validateEnum,
  validateGroup,
  validateInstanceName,
  validateKnownKeys,
  validateRecord,
  validateSettings,
  ValidationError,
} from "../validation.js";
import type { MacHost } from "./mac-host.js";
import { macStep, validateAddressPrefix } from "./mac-step.js";

/** Every OnDestroy value. */
export const ON_DESTROY_VALUES: readonly OnDestroy[] = ["refuse-if-queued", "deport", "discard-queue"];

const POSTFIX_INSTANCE_PROPS = ["host", "name", "group", "settings", "enabled", "onDestroy", "configDirectory", "dependsOn", "addressPrefix"];

export interface PostfixInstanceProps {
  /** The Mac. */
  readonly host: MacHost;
  /** postmulti instance name; must match `^postfix-[A-Za-z0-9][A-Za-z0-9._-]*$`. */
  readonly name: string;
  /** postmulti group (`-G`). */
  readonly group?: string;
  /** main.cf parameters of the instance, applied with postconf. A change is applied with a reload, in place. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * Whether postmulti counts the instance as enabled (`postmulti -e enable|disable`).
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * What destroy does with the instance: `refuse-if-queued` fails, changing nothing, while mail is
   * queued; `deport` keeps every file and only removes it from postmulti's list; `discard-queue`
   * deletes queued mail and destroys it.
   * @default "refuse-if-queued"
   */
  readonly onDestroy?: OnDestroy;
  /**
   * Absolute config directory.
   * @default sibling of the primary's config directory named after the instance, e.g. /etc/postfix-in
   */
  readonly configDirectory?: string;
  /** Resources to create before the instance. */
  readonly dependsOn?: ITerraformDependable[];
  /** Deterministic Terraform addresses: `<addressPrefix>_instance` and `<addressPrefix>_config`. */
  readonly addressPrefix?: string;
}

/**
 * One postmulti instance on a Mac. Two steps: `instance` (exists; torn down per onDestroy), rebuilt
 * only when its identity (Mac, name, config directory) changes; and `config` (group, enablement,
 * settings), replaced on any change so that the new settings reach the Mac.
 */
export class PostfixInstance extends Construct {
  /** postmulti instance name. */
  readonly name: string;
  /** Absolute config directory on the Mac. */
  readonly configDirectory: string;
  /** The `instance` step: create ensures the instance exists, destroy tears it down. */
  readonly instanceResource: TerraformResource;
  /** The `config` step: group, enablement and settings. Depend on this to run after the instance is configured. */
  readonly configResource: TerraformResource;
  /** The `instance` step's spec. */
  readonly instanceStep: InstanceStep;
  /** The `config` step's spec. */
  readonly configStep: InstanceConfigStep;
  /** The instance's identity as the executor sees it. */
  readonly identity: InstanceIdentity;
  /** The main.cf settings applied. */
  readonly settings: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: PostfixInstanceProps) {
    super(scope, id);
    const where = this.node.path;
    validateKnownKeys(where, "", validateRecord(where, "props", props), POSTFIX_INSTANCE_PROPS);
    const { host } = props;
    this.name = validateInstanceName(where, "name", props.name);
    this.configDirectory = validateAbsolutePath(
      where,
      "configDirectory",
      props.configDirectory ?? posix.join(posix.dirname(host.spec.paths.postfixConfigDirectory), this.name),
    );
    if (this.configDirectory === host.spec.paths.postfixConfigDirectory || this.configDirectory === "/") {
      throw new ValidationError(where, "configDirectory", "must not be / or the primary instance's config directory", this.configDirectory);
    }
    const group = props.group === undefined ? undefined : validateGroup(where, "group", props.group);
    this.settings = validateSettings(where, "settings", props.settings ?? {});
    const enabled = validateBoolean(where, "enabled", props.enabled ?? true);
    const onDestroy = validateEnum(where, "onDestroy", props.onDestroy ?? "refuse-if-queued", ON_DESTROY_VALUES);
    const addressPrefix = validateAddressPrefix(where, props.addressPrefix);
    this.identity = { name: this.name, configDirectory: this.configDirectory };

    this.instanceStep = { kind: "instance", construct: where, host: host.spec, instance: this.identity, group, onDestroy };
    this.instanceResource = macStep(this, "Instance", {
      host,
      spec: this.instanceStep,
      replaceOn: { host: host.address, ...this.identity },
      actions: ["apply", "destroy"],
      dependsOn: props.dependsOn,
      addressPrefix,
      step: "instance",
    });

    this.configStep = { kind: "instance-config", construct: where, host: host.spec, instance: this.identity, group, enabled, settings: this.settings };
    this.configResource = macStep(this, "Config", {
      host,
      spec: this.configStep,
      // Creation-time provisioners never run on an in-place update: replacing is how a change
      // reaches the Mac. Connection details stay out, so they change in place.
      replaceOn: { host: host.address, instance: this.identity, group, enabled, settings: this.settings },
      actions: ["apply"],
      dependsOn: [this.instanceResource],
      addressPrefix,
      step: "config",
    });
  }
}
