import type { Construct } from "constructs";
import { LaunchJob, type LaunchJobProps } from "./launch-job.js";

/** Props of a LaunchDaemon: launchd keys (camelCase) plus where it is installed. */
export interface LaunchDaemonProps extends LaunchJobProps {}

/**
 * A system-wide launchd job: `/Library/LaunchDaemons/<label>.plist` (root:wheel 0644), in the
 * `system` domain, so it starts at boot whoever is logged in.
 */
export class LaunchDaemon extends LaunchJob {
  constructor(scope: Construct, id: string, props: LaunchDaemonProps) {
    super(scope, id, props, { type: "system" }, props.host.spec.paths.launchDaemonsDirectory);
  }
}
