// loginwindow's part in a session, for the simulated Mac: `loginwindow login USER` creates the user's gui/<uid>
// launchd domain and starts their LaunchAgents; `loginwindow logout USER` ends them and runs the LogoutHook.
import { relay } from "../launchd/protocol.js";

const [verb, user, ...rest] = process.argv.slice(2);
if ((verb !== "login" && verb !== "logout") || user === undefined || rest.length > 0) {
  process.stderr.write("Usage: loginwindow login|logout USER\n");
  process.exit(64);
}
await relay({ uid: process.getuid!(), op: verb, user }, "loginwindow");
