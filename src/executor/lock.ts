/**
 * The Mac lock: serializes concurrent deploys to one Mac. A perl process on the Mac holds an
 * exclusive flock while its stdin stays open; it ends (and the lock goes) when we close stdin or
 * when our connection drops, so a killed deploy never leaves a Mac locked.
 */
import type { Transport } from "../transport/index.js";

export const LOCK_PATH = "/var/run/cdktf-mac-postfix.lock";

const LOCK_SCRIPT = `open(my $f, ">>", shift) or die "open: $!\\n"; flock($f, LOCK_EX) or die "flock: $!\\n"; $| = 1; print "locked\\n"; <STDIN>;`;

/** Runs fn while holding the Mac's lock. */
export async function withMacLock<T>(transport: Transport, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  const session = transport.open(["perl", "-MFcntl=:flock", "-e", LOCK_SCRIPT, LOCK_PATH], { root: true });
  const waiting = onWait ? setTimeout(onWait, 2000) : undefined;
  try {
    const line = await session.firstLine;
    if (line.trim() !== "locked") throw new Error(`unexpected answer from the lock holder: ${JSON.stringify(line)}`);
  } catch (error) {
    await session.close().catch(() => undefined);
    throw new Error(`lock ${LOCK_PATH} on ${transport.description}: ${(error as Error).message}`);
  } finally {
    clearTimeout(waiting);
  }
  try {
    return await fn();
  } finally {
    await session.close();
  }
}
