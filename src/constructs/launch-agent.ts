import type { Construct } from "constructs";
import { validateUser } from "../validation.js";
import { LaunchJob, type LaunchJobProps } from "./launch-job.js";

/** Props of a LaunchAgent: launchd keys (camelCase), where it is installed, and whose session runs it. */
export interface LaunchAgentProps extends LaunchJobProps {
  /** The user whose login session (`gui/<uid>`) runs the job. */
  readonly user: string;
}

/**
 * A per-login launchd job: `/Library/LaunchAgents/<label>.plist`, bootstrapped into `gui/<uid>` of
 * `user`. launchd starts it at that user's login and sends it SIGTERM at logout.
 */
export class LaunchAgent extends LaunchJob {
  /** The user whose session runs the job. */
  readonly user: string;

  constructor(scope: Construct, id: string, props: LaunchAgentProps) {
    const { user, ...job } = props;
    const validUser = validateUser([scope.node.path, id].filter(Boolean).join("/"), "user", user);
    super(scope, id, job, { type: "gui", user: validUser }, props.host.spec.paths.launchAgentsDirectory);
    this.user = validUser;
  }
}
