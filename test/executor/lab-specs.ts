/** StepSpecs aimed at a simulated Mac of the lab, as the constructs would synthesize them. */
import plist from "plist";
import { MAC_DEFAULT_PATHS, type HostSpec, type InstanceConfigStep, type InstanceStep, type LaunchJobStep, type OnDestroy, type QueueGuardStep, type ReadinessStep } from "../../src/spec.js";
import type { InventoryHost } from "../lab/lab.js";

export function sshHost(mac: InventoryHost): HostSpec {
  return {
    name: mac.name,
    sudo: "auto",
    paths: MAC_DEFAULT_PATHS,
    connection: { transport: "ssh", host: mac.address, user: mac.user, port: mac.port, identityFile: mac.identityFile, knownHostsFile: mac.knownHostsFile },
  };
}

export function instanceIdentity(name: string) {
  return { name, configDirectory: `/etc/${name}` };
}

export function instanceStep(host: HostSpec, name: string, onDestroy: OnDestroy = "refuse-if-queued"): InstanceStep {
  return { kind: "instance", construct: `test/${name}/instance`, host, instance: instanceIdentity(name), group: "mta", onDestroy };
}

export function configStep(host: HostSpec, name: string, settings: Record<string, string>, enabled = true): InstanceConfigStep {
  return { kind: "instance-config", construct: `test/${name}/config`, host, instance: instanceIdentity(name), group: "mta", enabled, settings };
}

export type OnDestroyPolicy = OnDestroy;

export function queueGuardStep(host: HostSpec, name: string, onDestroy: OnDestroy = "refuse-if-queued"): QueueGuardStep {
  return { kind: "queue-guard", construct: `test/${name}/guard`, host, instance: instanceIdentity(name), onDestroy };
}

/** A supervised foreground master for the instance, as PostfixInputInstance's default runMode. */
export function supervisedPlist(label: string, configDirectory: string, extra: Record<string, plist.PlistValue> = {}): string {
  return plist.build({
    Label: label,
    Program: "/usr/libexec/postfix/master",
    ProgramArguments: ["master", "-c", configDirectory],
    RunAtLoad: true,
    KeepAlive: true,
    ...extra,
  });
}

/** The recipe's one-shot start, as PostfixInputInstance's runMode "postmulti-start". */
export function oneShotPlist(label: string, name: string): string {
  return plist.build({ Label: label, ProgramArguments: ["/usr/sbin/postmulti", "-i", name, "-p", "start"], RunAtLoad: true, AbandonProcessGroup: true });
}

export function jobStep(host: HostSpec, label: string, xml: string, kickstart = true): LaunchJobStep {
  return { kind: "launch-job", construct: `test/${label}/daemon`, host, label, path: `/Library/LaunchDaemons/${label}.plist`, domain: { type: "system" }, plist: xml, kickstart };
}

export function readinessStep(host: HostSpec, name: string, label: string, smtp: ReadinessStep["smtp"]): ReadinessStep {
  return { kind: "readiness", construct: `test/${name}/ready`, host, instance: instanceIdentity(name), label, domain: { type: "system" }, expectRunning: true, smtp };
}
