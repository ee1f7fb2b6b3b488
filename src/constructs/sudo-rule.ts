import type { ITerraformDependable, TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { posix } from "node:path";
import { SUDOERS_WORD, type SudoRuleStep } from "../spec.js";
import { validateArray, validatePattern, validateUser, ValidationError } from "../validation.js";
import type { MacHost } from "./mac-host.js";
import { macStep, validateAddressPrefix } from "./mac-step.js";

/** A drop-in's file name: sudo ignores names with a dot or ending in "~", so neither is allowed. */
const RULE_NAME = /^[A-Za-z0-9_-]+$/;

export interface SudoRuleProps {
  /** The Mac. */
  readonly host: MacHost;
  /** File name of the drop-in in the sudoers folder (letters, digits, `_` and `-`). */
  readonly name: string;
  /** The user who may run the commands as root without a password. */
  readonly user: string;
  /**
   * The exact commands, each an absolute program and its arguments. sudo allows each with exactly
   * these arguments and no others. Each word must match SUDOERS_WORD.
   */
  readonly commands: readonly (readonly string[])[];
  /** Resources to create before the rule (and destroy after it). */
  readonly dependsOn?: ITerraformDependable[];
  /** Deterministic Terraform address: `<addressPrefix>_sudo_rule`. */
  readonly addressPrefix?: string;
}

/**
 * Lets one user run exact commands as root without a password: a drop-in in the Mac's sudoers
 * folder, checked with `visudo -c` before it is installed (root:wheel 0440). Destroy removes it.
 */
export class SudoRule extends Construct {
  /** Absolute path of the drop-in on the Mac. */
  readonly path: string;
  /** The `sudo-rule` step's spec. */
  readonly step: SudoRuleStep;
  /** The `sudo-rule` step. */
  readonly resource: TerraformResource;

  constructor(scope: Construct, id: string, props: SudoRuleProps) {
    super(scope, id);
    const where = this.node.path;
    const name = validatePattern(where, "name", props.name, RULE_NAME, `must match ${RULE_NAME} (sudo skips drop-ins with a dot in their name)`);
    const commands = validateArray(where, "commands", props.commands, (w, f, command) => {
      const words = validateArray(w, f, command, (w2, f2, v) => validatePattern(w2, f2, v, SUDOERS_WORD, `must match ${SUDOERS_WORD}, so sudoers reads it literally`));
      if (words.length === 0 || !words[0]!.startsWith("/")) throw new ValidationError(w, f, "must start with an absolute program path", command);
      return words;
    });
    if (commands.length === 0) throw new ValidationError(where, "commands", "must name at least one command", props.commands);
    this.path = posix.join(props.host.spec.paths.sudoersDirectory, name);
    this.step = { kind: "sudo-rule", construct: where, host: props.host.spec, path: this.path, user: validateUser(where, "user", props.user), commands };
    this.resource = macStep(this, "Rule", {
      host: props.host,
      spec: this.step,
      replaceOn: { host: props.host.address, path: this.path, user: this.step.user, commands },
      actions: ["apply", "destroy"],
      dependsOn: props.dependsOn,
      addressPrefix: validateAddressPrefix(where, props.addressPrefix),
      step: "sudo_rule",
    });
  }
}
