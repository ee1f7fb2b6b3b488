// launchctl's human-readable output ("not API" on a Mac, but scripts grep it): print, list.
import { constants } from "node:os";
import type { Job, LastExit } from "./job.js";

/** strsignal(3) wording on macOS for the signals jobs usually die of. */
const signalText: Partial<Record<NodeJS.Signals, string>> = {
  SIGHUP: "Hangup", SIGINT: "Interrupt", SIGQUIT: "Quit", SIGILL: "Illegal instruction", SIGABRT: "Abort trap",
  SIGKILL: "Killed", SIGBUS: "Bus error", SIGSEGV: "Segmentation fault", SIGTERM: "Terminated",
  SIGUSR1: "User defined signal 1", SIGUSR2: "User defined signal 2",
};

function lastExitLine(e: LastExit | undefined): string {
  if (!e) return "last exit code = (never exited)";
  if (e.signal) return `last terminating signal = ${signalText[e.signal] ?? e.signal}: ${constants.signals[e.signal]}`;
  return `last exit code = ${e.code}`;
}

/** `list` status column: the exit code, or minus the signal number. */
function listStatus(e: LastExit | undefined): number {
  if (!e) return 0;
  return e.signal ? -constants.signals[e.signal] : (e.code ?? 0);
}

function block(title: string, lines: string[], indent = "\t"): string[] {
  return [`${indent}${title} = {`, ...lines.map((l) => `${indent}\t${l}`), `${indent}}`];
}

export function formatJob(domain: string, job: Job): string {
  const s = job.spec;
  const properties = [
    s.keepAlive !== false && "keepalive",
    s.runAtLoad && "runatload",
    s.abandonProcessGroup && "abandon pgrp",
  ].filter(Boolean);
  const optional = (name: string, v: string | number | undefined) => (v === undefined ? [] : [`\t${name} = ${v}`]);
  const lines = [
    `${domain}/${job.label} = {`,
    `\tactive count = ${job.pid === undefined ? 0 : 1}`,
    `\tpath = ${job.path}`,
    `\ttype = ${domain === "system" ? "LaunchDaemon" : "LaunchAgent"}`,
    `\tstate = ${job.state}`,
    "",
    `\tprogram = ${s.executable}`,
    ...block("arguments", s.argv),
    "",
    ...optional("working directory", s.workingDirectory),
    ...optional("stdin path", s.standardInPath),
    ...optional("stdout path", s.standardOutPath),
    ...optional("stderr path", s.standardErrorPath),
    ...(Object.keys(s.environment).length ? block("environment", Object.entries(s.environment).map(([k, v]) => `${k} => ${v}`)) : []),
    ...block("default environment", ["PATH => /usr/bin:/bin:/usr/sbin:/sbin"]),
    "",
    `\tdomain = ${domain}`,
    ...optional("username", s.userName),
    ...optional("group", s.groupName),
    `\tminimum runtime = ${s.throttleInterval}`,
    `\texit timeout = ${s.exitTimeOut}`,
    `\truns = ${job.runs}`,
    ...optional("pid", job.pid),
    `\t${lastExitLine(job.lastExit)}`,
    "",
    `\tproperties = ${properties.join(" | ")}`,
    "}",
  ];
  return lines.join("\n") + "\n";
}

export function formatDomain(name: string, jobs: Job[], overrides: Record<string, boolean>): string {
  const services = jobs.map((j) => {
    const status = j.lastExit ? String(listStatus(j.lastExit)) : "-";
    return `${String(j.pid ?? 0).padStart(8)} ${status.padStart(6)} \t${j.label}`;
  });
  const disabled = Object.entries(overrides).map(([l, d]) => `"${l}" => ${d ? "disabled" : "enabled"}`);
  const lines = [
    `${name} = {`,
    `\ttype = ${name === "system" ? "system" : "gui"}`,
    `\tactive count = ${jobs.filter((j) => j.pid !== undefined).length}`,
    `\tservice count = ${jobs.length}`,
    "",
    ...block("services", services),
    "",
    ...block("disabled services", disabled),
    "}",
  ];
  return lines.join("\n") + "\n";
}

export function formatList(jobs: Job[]): string {
  return ["PID\tStatus\tLabel", ...jobs.map((j) => `${j.pid ?? "-"}\t${listStatus(j.lastExit)}\t${j.label}`)].join("\n") + "\n";
}

/** `list LABEL`: the old launch_data dictionary rendering. */
export function formatListEntry(job: Job, domain: string): string {
  const s = job.spec;
  const lines = [
    "{",
    `\t"LimitLoadToSessionType" = "${domain === "system" ? "System" : "Aqua"}";`,
    `\t"Label" = "${job.label}";`,
    `\t"OnDemand" = ${s.keepAlive === false};`,
    `\t"LastExitStatus" = ${listStatus(job.lastExit)};`,
    ...(job.pid === undefined ? [] : [`\t"PID" = ${job.pid};`]),
    `\t"Program" = "${s.executable}";`,
    `\t"ProgramArguments" = (`,
    ...s.argv.map((a) => `\t\t"${a}";`),
    "\t);",
    "};",
  ];
  return lines.join("\n") + "\n";
}
