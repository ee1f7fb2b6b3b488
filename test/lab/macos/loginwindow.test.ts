// gui/<uid> domains: a login loads /Library/LaunchAgents as the user, a logout stops them and runs the LogoutHook.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import plist from "plist";
import { alive, Lab, NOBODY } from "../launchd/harness.js";
import { preferencesFile } from "./preferences.js";

describe("loginwindow and gui/<uid> domains", () => {
  let lab: Lab;
  const gui = `gui/${NOBODY}`;
  const agent = (label: string, dict: plist.PlistObject) => lab.writePlist(lab.path("Library/LaunchAgents", `${label}.plist`), { Label: label, ...dict });
  const out = (name: string) => lab.path("out", name);
  const hookPrefs = preferencesFile(0, "com.apple.loginwindow");
  // loginwindow reads root's preferences at /var/root; only create (and later remove) what is not there yet.
  const varRootExisted = existsSync("/var/root");
  const prefsExisted = existsSync(hookPrefs);

  before(async () => {
    if (prefsExisted) throw new Error(`${hookPrefs} exists on this machine; refusing to overwrite a real LogoutHook`);
    lab = await Lab.create();
    mkdirSync(lab.path("out"));
    chmodSync(lab.path("out"), 0o777);
    agent("t.agent", {
      ProgramArguments: ["/bin/sh", "-c", `id -u > ${out("agent.uid")}; trap 'echo TERM > ${out("agent.term")}; exit 0' TERM; while :; do /bin/sleep 0.1; done`],
      RunAtLoad: true,
    });
    agent("t.agent.stubborn", { ProgramArguments: ["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 1000"], RunAtLoad: true, ExitTimeOut: 1 });
    agent("t.agent.ondemand", { ProgramArguments: ["/bin/sleep", "1000"] });
    agent("t.agent.off", { ProgramArguments: ["/bin/sleep", "1000"], RunAtLoad: true });
    await lab.start();
  });
  after(async () => {
    assert.equal(await lab.stop(), 0);
    await lab.dispose();
    rmSync(hookPrefs, { force: true });
    if (!varRootExisted) rmSync("/var/root", { recursive: true, force: true });
  });

  it("bootstrap into the gui domain of a user who is not logged in fails with 125", () => {
    assert.deepEqual(lab.launchctl("bootstrap", gui, lab.path("Library/LaunchAgents/t.agent.plist")), {
      stdout: "", stderr: "Bootstrap failed: 125: Domain does not support specified action\n", code: 125,
    });
    assert.deepEqual(lab.launchctl("print", gui), {
      stdout: "", stderr: "Could not print domain: 125: Domain does not support specified action\n", code: 125,
    });
  });

  it("enable/disable of a gui label works before login and persists in disabled.<uid>.plist", () => {
    assert.equal(lab.launchctl("disable", `${gui}/t.agent.off`).code, 0);
    assert.equal(lab.launchctl("enable", `${gui}/t.agent`).code, 0);
    const db = plist.parse(lab.read(lab.path(`var/db/com.apple.xpc.launchd/disabled.${NOBODY}.plist`))) as Record<string, boolean>;
    assert.deepEqual(db, { "t.agent.off": true, "t.agent": false });
    assert.match(lab.launchctl("print-disabled", gui).stdout, /\t"t\.agent\.off" => disabled\n/);
    assert.doesNotMatch(lab.launchctl("print-disabled", "system").stdout, /t\.agent/);
  });

  it("only root runs loginwindow; unknown users and double logouts fail", () => {
    assert.deepEqual(lab.run("loginwindow.mjs", ["login", "nobody"], NOBODY), { stdout: "", stderr: "loginwindow: must be run as root\n", code: 1 });
    assert.equal(lab.launchctl("print", gui).code, 125);
    assert.deepEqual(lab.loginwindow("login", "no-such-user"), { stdout: "", stderr: "loginwindow: unknown user: no-such-user\n", code: 1 });
    assert.equal(lab.loginwindow("logout", "nobody").stderr, "loginwindow: nobody is not logged in\n");
  });

  it("login creates gui/<uid>, loads the LaunchAgents honouring the user's overrides, and runs RunAtLoad agents as the user", async () => {
    const hook = lab.script("logout-hook.sh", `echo "$1 $(id -u) $(cat ${out("agent.term")})" > ${out("hook")}`);
    assert.equal(lab.run("defaults.mjs", ["write", "com.apple.loginwindow", "LogoutHook", hook]).code, 0);
    assert.deepEqual(lab.loginwindow("login", "nobody"), { stdout: "", stderr: "", code: 0 });
    await lab.waitFor("the agent's uid file", () => lab.read(out("agent.uid")) !== "");
    assert.equal(lab.read(out("agent.uid")), `${NOBODY}\n`);
    assert.equal(lab.info(`${gui}/t.agent`)?.state, "running");
    assert.equal(lab.info(`${gui}/t.agent`)?.type, "LaunchAgent");
    assert.equal(lab.info(`${gui}/t.agent.ondemand`)?.state, "not running");
    assert.equal(lab.info(`${gui}/t.agent.off`), undefined, "disabled for this user");
    assert.equal(lab.info("system/t.agent"), undefined, "agents are not in the system domain");
    assert.match(lab.launchctl("print", gui).stdout, /^gui\/65534 = \{\n(.*\n)*\t\t +\d+ +- \tt\.agent\n/);
    assert.deepEqual(lab.launchctl("print", `${gui}/t.nope`), {
      stdout: "", stderr: `Could not find service "t.nope" in domain for user gui: ${NOBODY}\n`, code: 113,
    });
    // The user may manage their own domain; the legacy verbs act on it too.
    assert.equal(lab.launchctlAs(NOBODY, "kickstart", `${gui}/t.agent.ondemand`).code, 0);
    assert.match(lab.launchctlAs(NOBODY, "list").stdout, /\n\d+\t0\tt\.agent\.ondemand\n/);
  });

  it("bootstrap and bootout work in a logged-in user's gui domain", async () => {
    const file = agent("t.agent.late", { ProgramArguments: ["/bin/sleep", "1000"], RunAtLoad: true });
    assert.deepEqual(lab.launchctl("bootstrap", gui, file), { stdout: "", stderr: "", code: 0 });
    assert.equal(lab.launchctl("bootstrap", gui, file).code, 5);
    assert.equal(lab.info(`${gui}/t.agent.late`)?.state, "running");
    assert.equal(lab.launchctl("bootout", `${gui}/t.agent.late`).code, 0);
    await lab.waitFor("t.agent.late gone", () => lab.info(`${gui}/t.agent.late`) === undefined);
    assert.equal(lab.launchctl("bootout", `${gui}/t.agent.late`).code, 3);
  });

  it("logout sends SIGTERM to every agent (SIGKILL after ExitTimeOut), removes the domain, then runs the LogoutHook", async () => {
    const pids = ["t.agent", "t.agent.stubborn", "t.agent.ondemand"].map((l) => lab.pid(`${gui}/${l}`)!);
    assert.equal(pids.every(alive), true);
    assert.deepEqual(lab.loginwindow("logout", "nobody"), { stdout: "", stderr: "", code: 0 });
    assert.deepEqual(pids.map(alive), [false, false, false]);
    assert.equal(lab.read(out("agent.term")), "TERM\n");
    assert.match(lab.log(), /t\.agent\.stubborn: \d+ exited on SIGKILL/);
    assert.equal(lab.launchctl("print", gui).code, 125);
    assert.equal(lab.info(`${gui}/t.agent`), undefined);
    // The hook ran as root with the user's short name, after the agents had received SIGTERM.
    assert.equal(lab.read(out("hook")), "nobody 0 TERM\n");
  });
});
