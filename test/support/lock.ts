/** The Mac lock held from a test, as another deploy would hold it. */
import { withMacLock } from "../../src/executor/lock.js";
import type { HostSpec } from "../../src/spec.js";
import { transportFor } from "../../src/transport/index.js";

export interface HeldMacLock {
  /** Gives the lock up and closes the connection; calling it again does nothing more. */
  release(): Promise<void>;
}

/** Takes the Mac lock of `host`; resolves once it is held. */
export async function holdMacLock(host: HostSpec): Promise<HeldMacLock> {
  const transport = transportFor(host);
  let letGo!: () => void;
  const released = new Promise<void>((resolve) => (letGo = resolve));
  let held!: () => void;
  const locked = new Promise<void>((resolve) => (held = resolve));
  const holding = withMacLock(transport, () => {
    held();
    return released;
  }).finally(() => transport.dispose());
  await Promise.race([locked, holding]);
  return {
    release: () => {
      letGo();
      return holding;
    },
  };
}
