import { Annotations, type ITerraformDependable, type TerraformResource } from "cdktf";
import { Construct } from "constructs";
import type { LogoutHookStep } from "../spec.js";
import { validateAbsolutePath, validateString, ValidationError } from "../validation.js";
import type { MacHost } from "./mac-host.js";
import { macStep, validateAddressPrefix } from "./mac-step.js";

/** Where the script is installed unless `path` says otherwise. */
export const DEFAULT_LOGOUT_HOOK_PATH = "/Library/Scripts/cdktf-mac-postfix/logout-hook.sh";

export interface LogoutHookProps {
  /** The Mac. */
  readonly host: MacHost;
  /**
   * The script loginwindow runs as root at every logout, starting with `#!`. The recipe's:
   * `#!/bin/sh\n/usr/sbin/postmulti -i postfix-in -p stop\n`.
   */
  readonly script: string;
  /**
   * Absolute path of the script on the Mac.
   * @default DEFAULT_LOGOUT_HOOK_PATH
   */
  readonly path?: string;
  /** Resources to create before the hook. */
  readonly dependsOn?: ITerraformDependable[];
  /** Deterministic Terraform address: `<addressPrefix>_logout_hook`. */
  readonly addressPrefix?: string;
}

/**
 * The recipe's deprecated alternate: a script registered with
 * `defaults write com.apple.loginwindow LogoutHook`. Destroy unregisters it and removes the script.
 * Opt-in only; prefer a LaunchAgent, which launchd stops at logout.
 */
export class LogoutHook extends Construct {
  /** Absolute path of the script on the Mac. */
  readonly path: string;
  /** The `logout-hook` step. */
  readonly resource: TerraformResource;

  constructor(scope: Construct, id: string, props: LogoutHookProps) {
    super(scope, id);
    const where = this.node.path;
    const script = validateString(where, "script", props.script);
    if (!script.startsWith("#!")) throw new ValidationError(where, "script", 'must start with "#!" (loginwindow executes it)', script);
    if (script.includes("\0")) throw new ValidationError(where, "script", "must not contain NUL", script);
    this.path = validateAbsolutePath(where, "path", props.path ?? DEFAULT_LOGOUT_HOOK_PATH);
    Annotations.of(this).addWarning("LogoutHook is deprecated by Apple and may stop working in any macOS release; a LaunchAgent (PostfixInputInstance lifecycle \"login\") is stopped by launchd at logout instead.");

    const spec: LogoutHookStep = { kind: "logout-hook", construct: where, host: props.host.spec, path: this.path, script };
    this.resource = macStep(this, "Hook", {
      host: props.host,
      spec,
      replaceOn: { host: props.host.address, path: this.path, script },
      actions: ["apply", "destroy"],
      dependsOn: props.dependsOn,
      addressPrefix: validateAddressPrefix(where, props.addressPrefix),
      step: "logout_hook",
    });
  }
}
