import assert from "node:assert/strict";
import { describe, it } from "node:test";
import plist from "plist";
import { launchdDictionary, renderLaunchdPlist, type LaunchdJob } from "../../src/plist/launchd.js";
import { ValidationError } from "../../src/validation.js";

const base: LaunchdJob = { label: "org.example.job", programArguments: ["/usr/bin/true"] };

function refuses(job: unknown, field: string, problem: RegExp): void {
  assert.throws(
    () => renderLaunchdPlist("stack/job", job as LaunchdJob),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError, String(e));
      assert.ok(e.message.startsWith(`stack/job: ${field}: `), e.message);
      assert.match(e.message, problem);
      return true;
    },
  );
}

describe("launchd plist", () => {
  it("renders every typed key under its launchd name and round-trips through the plist parser", () => {
    const job: LaunchdJob = {
      label: "org.example.all",
      program: "/usr/libexec/postfix/master",
      programArguments: ["master", "-c", "/etc/postfix-in"],
      runAtLoad: true,
      keepAlive: { successfulExit: false, crashed: true, pathState: { "/var/run/x": true }, otherJobEnabled: { "com.other": false } },
      throttleInterval: 15,
      exitTimeOut: 30,
      abandonProcessGroup: true,
      userName: "root",
      groupName: "wheel",
      workingDirectory: "/var/empty",
      rootDirectory: "/",
      standardOutPath: "/var/log/o.log",
      standardErrorPath: "/var/log/e.log",
      standardInPath: "/dev/null",
      environmentVariables: { PATH: "/usr/bin:/bin", LANG: "C" },
      umask: 0o022,
      startInterval: 3600,
      startCalendarInterval: [{ minute: 0, hour: 3 }, { weekday: 7, month: 12, day: 31 }],
      watchPaths: ["/etc/hosts"],
      queueDirectories: ["/var/spool/x"],
      processType: "Background",
      nice: -5,
      lowPriorityIO: true,
      launchOnlyOnce: false,
      disabled: false,
      softResourceLimits: { numberOfFiles: 1024, cpu: 60 },
      hardResourceLimits: { core: 0, stack: 8388608 },
      sockets: { Listener: { sockServiceName: 2525, sockFamily: "IPv4", sockType: "stream", sockPassive: true, bonjour: ["smtp"] } },
      machServices: { "org.example.svc": true, "org.example.other": { resetAtClose: true } },
      launchEvents: { "com.apple.notifyd.matching": { evt: { Notification: "com.example.n", Count: 2, Flags: [true] } } },
      associatedBundleIdentifiers: ["org.example.app"],
    };
    const xml = renderLaunchdPlist("s", job);
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<!DOCTYPE plist PUBLIC "-\/\/Apple\/\/DTD PLIST 1.0\/\/EN"/);
    assert.deepEqual(plist.parse(xml), {
      Label: "org.example.all",
      Program: "/usr/libexec/postfix/master",
      ProgramArguments: ["master", "-c", "/etc/postfix-in"],
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false, Crashed: true, PathState: { "/var/run/x": true }, OtherJobEnabled: { "com.other": false } },
      ThrottleInterval: 15,
      ExitTimeOut: 30,
      AbandonProcessGroup: true,
      UserName: "root",
      GroupName: "wheel",
      WorkingDirectory: "/var/empty",
      RootDirectory: "/",
      StandardOutPath: "/var/log/o.log",
      StandardErrorPath: "/var/log/e.log",
      StandardInPath: "/dev/null",
      EnvironmentVariables: { PATH: "/usr/bin:/bin", LANG: "C" },
      Umask: 18,
      StartInterval: 3600,
      StartCalendarInterval: [{ Minute: 0, Hour: 3 }, { Weekday: 7, Month: 12, Day: 31 }],
      WatchPaths: ["/etc/hosts"],
      QueueDirectories: ["/var/spool/x"],
      ProcessType: "Background",
      Nice: -5,
      LowPriorityIO: true,
      LaunchOnlyOnce: false,
      Disabled: false,
      SoftResourceLimits: { NumberOfFiles: 1024, CPU: 60 },
      HardResourceLimits: { Core: 0, Stack: 8388608 },
      Sockets: { Listener: { SockServiceName: 2525, SockFamily: "IPv4", SockType: "stream", SockPassive: true, Bonjour: ["smtp"] } },
      MachServices: { "org.example.svc": true, "org.example.other": { ResetAtClose: true } },
      LaunchEvents: { "com.apple.notifyd.matching": { evt: { Notification: "com.example.n", Count: 2, Flags: [true] } } },
      AssociatedBundleIdentifiers: ["org.example.app"],
    });
    // Label first, then the keys in a fixed order: the same job always renders the same bytes.
    assert.ok(xml.indexOf("<key>Label</key>") < xml.indexOf("<key>Program</key>"));
    assert.equal(renderLaunchdPlist("s", { ...job }), xml);
  });

  it("writes booleans as <true/>/<false/> and integers as <integer>, as launchd.plist(5) types them", () => {
    const xml = renderLaunchdPlist("s", { ...base, runAtLoad: true, keepAlive: false, throttleInterval: 10 });
    assert.match(xml, /<key>RunAtLoad<\/key>\s*<true\/>/);
    assert.match(xml, /<key>KeepAlive<\/key>\s*<false\/>/);
    assert.match(xml, /<key>ThrottleInterval<\/key>\s*<integer>10<\/integer>/);
    assert.deepEqual(Object.keys(launchdDictionary("s", base)), ["Label", "ProgramArguments"]);
  });

  it("carries hostile strings as XML-escaped data", () => {
    const hostile = `<key>Program</key><string>/bin/sh</string> & "$(id)" \`id\` ' ünï`;
    const xml = renderLaunchdPlist("s", { ...base, programArguments: ["/usr/bin/printf", hostile] });
    assert.ok(!xml.includes("<key>Program</key><string>/bin/sh"));
    assert.deepEqual((plist.parse(xml) as { ProgramArguments: string[] }).ProgramArguments, ["/usr/bin/printf", hostile]);
  });

  it("refuses every malformed key with the construct path and the prop", () => {
    refuses({ ...base, label: "bad label" }, "label", /must match/);
    refuses({ ...base, label: undefined }, "label", /must be a string/);
    refuses({ ...base, programArguments: [] }, "programArguments", /must not be empty/);
    refuses({ ...base, programArguments: undefined }, "programArguments", /must not be empty/);
    refuses({ ...base, programArguments: ["true"] }, "programArguments[0]", /absolute path/);
    refuses({ ...base, programArguments: ["/bin/x", "a\nb"] }, "programArguments[1]", /NUL, CR or LF/);
    refuses({ ...base, program: "master" }, "program", /absolute path/);
    // XML cannot carry U+FFFE or a lone surrogate: named, rather than failing inside the XML builder.
    refuses({ ...base, program: "/usr/libexec/x\ufffe" }, "program", /control characters/);
    refuses({ ...base, workingDirectory: "/tmp/\ud800" }, "workingDirectory", /control characters/);
    refuses({ ...base, program: "/usr/../bin/sh" }, "program", /\.\./);
    refuses({ ...base, runAtLoad: "yes" }, "runAtLoad", /true or false/);
    refuses({ ...base, keepAlive: "true" }, "keepAlive", /true or false, or must be an object/);
    refuses({ ...base, keepAlive: { successfulExit: 1 } }, "keepAlive", /must be true or false/);
    refuses({ ...base, keepAlive: { networkState: true } }, "keepAlive", /unknown property/);
    refuses({ ...base, keepAlive: { pathState: { relative: true } } }, "keepAlive", /absolute path/);
    refuses({ ...base, throttleInterval: -1 }, "throttleInterval", /between 0 and/);
    refuses({ ...base, throttleInterval: 1.5 }, "throttleInterval", /integer/);
    refuses({ ...base, startInterval: 0 }, "startInterval", /between 1 and/);
    refuses({ ...base, nice: 21 }, "nice", /between -20 and 20/);
    refuses({ ...base, umask: 0o1000 }, "umask", /between 0 and 511/);
    refuses({ ...base, startCalendarInterval: { minute: 60 } }, "startCalendarInterval", /between 0 and 59/);
    refuses({ ...base, startCalendarInterval: [{ hour: 24 }] }, "startCalendarInterval", /between 0 and 23/);
    refuses({ ...base, processType: "Realtime" }, "processType", /one of "Background", "Standard", "Adaptive", "Interactive"/);
    refuses({ ...base, userName: "-root" }, "userName", /must match/);
    refuses({ ...base, environmentVariables: { "A=B": "x" } }, "environmentVariables key", /must match/);
    refuses({ ...base, environmentVariables: { A: "x\r" } }, "environmentVariables.A", /NUL, CR or LF/);
    refuses({ ...base, watchPaths: ["/ok", "rel"] }, "watchPaths[1]", /absolute path/);
    refuses({ ...base, softResourceLimits: { files: 3 } }, "softResourceLimits.files", /unknown property/);
    refuses({ ...base, sockets: { L: { sockFamily: "IPX" } } }, "sockets.L", /one of/);
    refuses({ ...base, launchEvents: { s: { e: { k: () => 1 } } } }, "launchEvents.s.e.k", /string, number, boolean, array or dictionary/);
    refuses({ ...base, standardOutPath: "/tmp/a\u0000" }, "standardOutPath", /control characters/);
    // XML 1.0 cannot carry C0 controls: refused with the field instead of failing inside the plist builder.
    refuses({ ...base, programArguments: ["/bin/x", "bell\u0007"] }, "programArguments[1]", /control characters other than tab/);
    refuses({ ...base, environmentVariables: { A: "\u001b[31m" } }, "environmentVariables.A", /control characters other than tab/);
    refuses({ ...base, programArguments: ["/bin/x", "\ud800"] }, "programArguments[1]", /control characters other than tab/);
    assert.deepEqual((plist.parse(renderLaunchdPlist("s", { ...base, programArguments: ["/bin/x", "a\tb 😀"] })) as { ProgramArguments: string[] }).ProgramArguments[1], "a\tb 😀");
  });

  it("makes unknown keys impossible, also for callers that bypass the type system", () => {
    refuses({ ...base, Program: "/bin/sh" }, "Program", /unknown property/);
    refuses({ ...base, inetdCompatibility: {} }, "inetdCompatibility", /unknown property/);
  });
});
