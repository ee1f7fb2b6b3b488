import { Annotations } from "cdktf";
import { Construct } from "constructs";
import { MAC_DEFAULT_PATHS, type Connection, type HostSpec, type MacPaths, type MacSshOptions } from "../spec.js";
import {
  validateAbsolutePath,
  validateBoolean,
  validateEnum,
  validateHost,
  validateKnownKeys,
  validatePort,
  validateProxyJump,
  validateRecord,
  validateUser,
  ValidationError,
} from "../validation.js";

/**
 * The Terraform resource type each step becomes.
 * - `terraform_data`: built into Terraform 1.4+, nothing to download, works offline. Settings
 *   changes replace only the steps they concern; connection details change in place.
 * - `null_resource`: from the `hashicorp/null` provider (downloaded at `terraform init`). Its
 *   `triggers` are its only input, so every change to a step replaces it: changing a connection
 *   detail or onDestroy tears the instance down (by its old onDestroy) and creates it again.
 *   Prefer `terraform_data` unless a toolchain requires the null provider.
 */
export type MacResourceType = "terraform_data" | "null_resource";

/** Props common to both kinds of MacHost. */
export interface MacHostCommonProps {
  /**
   * Run privileged steps under `sudo -n`: always, never, or "auto" (when the login user is not root).
   * @default "auto"
   */
  readonly sudo?: boolean | "auto";
  /** Overrides of the macOS paths, field by field (see MAC_DEFAULT_PATHS). */
  readonly paths?: Partial<MacPaths>;
  /**
   * Resource type of every step on this Mac. It lives on the host rather than on the stack
   * because the host is the one object every construct is given: a stack needs no extra global
   * setting, and a composed stack may mix both kinds (the `null` provider is added once per stack).
   * @default "terraform_data"
   */
  readonly resourceType?: MacResourceType;
}

/** The machine running cdktf is the Mac. */
export interface MacHostLocalProps extends MacHostCommonProps {
  /** Run commands on this machine. */
  readonly local: true;
}

/** A Mac reached over SSH. */
export interface MacHostSshProps extends MacHostCommonProps {
  /** Connection details. */
  readonly ssh: MacSshOptions;
  /**
   * Do not verify the Mac's SSH host key. Exposes every deploy to a man in the middle; adds a
   * warning to the synth output.
   * @default false
   */
  readonly insecureIgnoreHostKey?: boolean;
}

export type MacHostProps = MacHostLocalProps | MacHostSshProps;

const COMMON_PROPS = ["sudo", "paths", "resourceType"] as const;
const SSH_OPTIONS = ["host", "user", "port", "identityFile", "knownHostsFile", "proxyJump"] as const;

/**
 * Where commands run: this machine or a Mac over SSH. Not a Terraform resource: it validates and
 * holds the HostSpec that the other constructs put into their steps.
 */
export class MacHost extends Construct {
  /** What the executor needs to reach and drive the Mac. */
  readonly spec: HostSpec;
  /** Resource type of every step on this Mac. */
  readonly resourceType: MacResourceType;
  /** The Mac's identity in replacement triggers: its SSH address, or "local". */
  readonly address: string;
  /** Address where the Mac's services are reached from the deploying machine (127.0.0.1 when local). */
  readonly serviceAddress: string;

  constructor(scope: Construct, id: string, props: MacHostProps) {
    super(scope, id);
    const where = this.node.path;
    const record = validateRecord(where, "props", props);
    const isSsh = "ssh" in record && record.ssh !== undefined;
    const isLocal = "local" in record && record.local !== undefined;
    if (isSsh === isLocal) throw new ValidationError(where, "local/ssh", "give exactly one of `local: true` or `ssh: {...}`", props);
    validateKnownKeys(where, "", record, isSsh ? [...COMMON_PROPS, "ssh", "insecureIgnoreHostKey"] : [...COMMON_PROPS, "local"]);

    let connection: Connection;
    if (isSsh) {
      const { ssh, insecureIgnoreHostKey = false } = props as MacHostSshProps;
      validateKnownKeys(where, "ssh", validateRecord(where, "ssh", ssh), SSH_OPTIONS);
      connection = {
        transport: "ssh",
        host: validateHost(where, "ssh.host", ssh.host),
        user: ssh.user === undefined ? undefined : validateUser(where, "ssh.user", ssh.user),
        port: ssh.port === undefined ? undefined : validatePort(where, "ssh.port", ssh.port),
        identityFile: ssh.identityFile === undefined ? undefined : validateAbsolutePath(where, "ssh.identityFile", ssh.identityFile),
        knownHostsFile: ssh.knownHostsFile === undefined ? undefined : validateAbsolutePath(where, "ssh.knownHostsFile", ssh.knownHostsFile),
        proxyJump: ssh.proxyJump === undefined ? undefined : validateProxyJump(where, "ssh.proxyJump", ssh.proxyJump),
        insecureIgnoreHostKey: validateBoolean(where, "insecureIgnoreHostKey", insecureIgnoreHostKey) || undefined,
      };
      if (connection.insecureIgnoreHostKey) {
        Annotations.of(this).addWarning(
          `insecureIgnoreHostKey is set: the SSH host key of ${connection.host} is not verified, so anyone on the path can impersonate this Mac and receive root commands.`,
        );
      }
      this.address = connection.host;
      this.serviceAddress = connection.host;
    } else {
      if (record.local !== true) throw new ValidationError(where, "local", "must be true", record.local);
      connection = { transport: "local" };
      this.address = "local";
      this.serviceAddress = "127.0.0.1";
    }

    const paths: Record<string, string> = { ...MAC_DEFAULT_PATHS };
    if (props.paths !== undefined) {
      const overrides = validateRecord(where, "paths", props.paths);
      validateKnownKeys(where, "paths", overrides, Object.keys(MAC_DEFAULT_PATHS));
      for (const [key, value] of Object.entries(overrides)) {
        if (value !== undefined) paths[key] = validateAbsolutePath(where, `paths.${key}`, value);
      }
    }

    const sudo = props.sudo ?? "auto";
    if (sudo !== "auto") validateBoolean(where, "sudo", sudo);
    this.resourceType = validateEnum(where, "resourceType", props.resourceType ?? "terraform_data", ["terraform_data", "null_resource"] as const);
    this.spec = { name: id, connection: withoutUndefined(connection), sudo, paths: paths as unknown as MacPaths };
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
