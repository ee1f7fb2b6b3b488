/**
 * The Mac lock: serializes concurrent deploys to one Mac. A perl process on the Mac holds an
 * exclusive flock while its stdin stays open; it ends (and the lock goes) when we close stdin,
 * when our connection drops, or when our heartbeats stop: a cut network leaves sshd unaware of
 * the dead client for hours, so the holder gives the lock up after HOLD_TIMEOUT_S of silence.
 */
import type { Transport } from "../transport/index.js";

export const LOCK_PATH = "/var/run/cdktf-mac-postfix.lock";

const HEARTBEAT_MS = 5_000;
const HOLD_TIMEOUT_S = 30;

const LOCK_SCRIPT = `my ($path, $timeout) = @ARGV; open(my $f, ">>", $path) or die "open: $!\\n"; flock($f, LOCK_EX) or die "flock: $!\\n"; $| = 1; print "locked\\n"; $SIG{ALRM} = sub { exit 1 }; alarm $timeout; while (<STDIN>) { alarm $timeout }`;

/** Runs fn while holding the Mac's lock. */
export async function withMacLock<T>(transport: Transport, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  const session = transport.open(["perl", "-MFcntl=:flock", "-e", LOCK_SCRIPT, LOCK_PATH, String(HOLD_TIMEOUT_S)], { root: true });
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
  const heartbeat = setInterval(() => session.send("\n"), HEARTBEAT_MS);
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    await session.close();
  }
}
