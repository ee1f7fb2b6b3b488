/** The executor's public face: running steps, reaching Macs, and the read-only probes verify uses. */
export { runStep, subjectOf, type RunStepOptions } from "./run-step.js";
export { parseStepSpec } from "./validate.js";
export { StepContext, StepError } from "./context.js";
export { transportFor, type Transport, type RunResult, type RunOptions } from "../transport/index.js";
export { listInstances, findInstance, settingValue, explicitSettings, masterRunning, queuedMessages, type ListedInstance } from "./postfix.js";
export { readFile, statFile, type FileMeta } from "./files.js";
export { bootoutAndWait, domainTarget, domainExists, jobState, isDisabled, parsePrint, type JobState } from "./launchctl.js";
export { smtpGreeting, type SmtpGreeting } from "./smtp.js";
export { LOCK_PATH, LockAgents, withMacLock } from "./lock.js";
