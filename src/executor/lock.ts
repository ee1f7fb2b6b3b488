/**
 * The Mac lock: serializes concurrent deploys to one Mac. A perl process on the Mac, as root,
 * holds an exclusive flock while its stdin stays open; it ends (and the lock goes) when we close
 * stdin, when our connection drops, or when our heartbeats stop: a cut network leaves sshd unaware
 * of the dead client for hours, so the holder gives the lock up after HOLD_TIMEOUT_S of silence.
 *
 * While it holds the lock, the same process runs the step's root commands for us: each argv and
 * its stdin travel as length-prefixed bytes over its stdin and are exec'd directly (no shell), and
 * the exit code, stdout and stderr come back the same way; one that needs a pty (Postfix shows its
 * errors only on a tty) runs under the Mac's `script`. A command through it costs a fork and an
 * exec or two on the Mac instead of an SSH session, a login shell and a sudo each; a `perl -e`
 * program (the executor's file reads and writes) costs only the fork: the holder's child runs it
 * itself, as perl would, without starting perl again. A command running
 * when our side goes away is left to finish (it may be changing the Mac), and the silence counted
 * from then: the lock outlives it by HOLD_TIMEOUT_S.
 */
import { ConnectionError, fromPtyResult, type RunOptions, type RunResult, type Session, type Transport } from "../transport/transport.js";

export const LOCK_PATH = "/var/run/cdktf-mac-postfix.lock";

const HEARTBEAT_MS = 5_000;
const HOLD_TIMEOUT_S = 30;

// Requests: "run <argc> <stdin bytes>\n", then each argument as "<bytes>\n<argument>", then stdin.
// Replies: "done <exit> <stdout bytes> <stderr bytes>\n<stdout><stderr>". An empty line is a heartbeat.
// Descriptors perl opens are close-on-exec: a daemon a command starts never inherits the lock.
// POSIX is loaded only by a child whose exec failed: loading it would double the holder's start.
const LOCK_SCRIPT = `use strict; use Fcntl qw(:flock);
my ($path, $timeout) = @ARGV;
open(my $lock, ">>", $path) or die "open: $!\\n";
flock($lock, LOCK_EX) or die "flock: $!\\n";
binmode STDIN; binmode STDOUT; $| = 1;
print "locked\\n";
$SIG{ALRM} = sub { exit 1 };
sub take { my ($n) = @_; my $buf = ""; while (length($buf) < $n) { read(STDIN, $buf, $n - length($buf), length($buf)) or exit 0 } $buf }
sub temp { open(my $fh, "+>", undef) or die "temp file: $!\\n"; binmode $fh; $fh }
sub slurp { my ($fh) = @_; seek($fh, 0, 0); local $/; my $text = <$fh>; defined $text ? $text : "" }
# As \`perl -e\` would: no strict, exit status 0, or 255 with the message after a die.
sub run_perl { my $ok = eval "no strict; no warnings; package main; $_[0]\\n;1"; print STDERR $@ unless $ok; exit($ok ? 0 : 255) }
alarm $timeout;
while (defined(my $line = <STDIN>)) {
  alarm 0;
  if ($line =~ /^run (\\d+) (\\d+)$/) {
    my ($argc, $inputLength) = ($1, $2);
    my @argv = map { my $n = <STDIN>; exit 0 unless defined $n && $n =~ /^(\\d+)$/; take($1) } 1 .. $argc;
    my ($in, $out, $err) = (temp(), temp(), temp());
    print $in take($inputLength); seek($in, 0, 0);
    my $pid = fork;
    die "fork: $!\\n" unless defined $pid;
    if ($pid == 0) {
      open(STDIN, "<&", $in); open(STDOUT, ">&", $out); open(STDERR, ">&", $err);
      if (@argv >= 3 && $argv[0] eq "perl" && $argv[1] eq "-e") { @ARGV = @argv[3 .. $#argv]; $0 = "-e"; run_perl($argv[2]) }
      exec { $argv[0] } @argv or do { print STDERR "$argv[0]: $!\\n"; require POSIX; POSIX::_exit(127) };
    }
    waitpid($pid, 0);
    my $status = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my ($stdout, $stderr) = (slurp($out), slurp($err));
    print "done $status ", length($stdout), " ", length($stderr), "\\n", $stdout, $stderr;
  }
  alarm $timeout;
}`;

/** Runs fn while holding the Mac's lock; fn gets a transport whose root commands run through the holder. */
export async function withMacLock<T>(transport: Transport, fn: (locked: Transport) => Promise<T>, onWait?: () => void): Promise<T> {
  const session = transport.open(["perl", "-e", LOCK_SCRIPT, LOCK_PATH, String(HOLD_TIMEOUT_S)], { root: true });
  const waiting = onWait ? setTimeout(onWait, 2000) : undefined;
  try {
    const line = await session.firstLine;
    if (line.trim() !== "locked") throw new Error(`unexpected answer from the lock holder: ${JSON.stringify(line)}`);
  } catch (error) {
    await session.close().catch(() => undefined);
    // An unreachable Mac is said as such; only the lock's own troubles name the lock.
    if (error instanceof ConnectionError) throw error;
    throw new Error(`lock ${LOCK_PATH} on ${transport.description}: ${(error as Error).message}`);
  } finally {
    clearTimeout(waiting);
  }
  const heartbeat = setInterval(() => session.send("\n"), HEARTBEAT_MS);
  try {
    return await fn(new LockHolderTransport(transport, session));
  } finally {
    clearInterval(heartbeat);
    await session.close();
  }
}

/** Root commands go to the lock holder, one at a time; the login user's to the transport. */
class LockHolderTransport implements Transport {
  readonly description: string;
  private readonly replies = new ReplyReader();
  /** The request in flight: requests are answered in order, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly transport: Transport,
    private readonly session: Session,
  ) {
    this.description = transport.description;
    session.onData((chunk) => this.replies.push(chunk));
    const ended = (how: string) => this.replies.end(`the Mac lock's holder ended: ${how}`);
    session.ended.then(ended, (error: Error) => ended(error.message));
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (!options.root) return this.transport.run(argv, options);
    const command = options.pty ? this.transport.ptyCommand(argv) : argv;
    const request = this.queue.then(() => this.request(command, options.stdin ?? ""));
    this.queue = request.catch(() => undefined);
    const result = await request;
    return options.pty ? fromPtyResult(result) : result;
  }

  ptyCommand(argv: readonly string[]): string[] {
    return this.transport.ptyCommand(argv);
  }

  open(argv: readonly string[], options?: { readonly root?: boolean }): Session {
    return this.transport.open(argv, options);
  }

  /** The transport and the lock belong to withMacLock and the step: nothing to release here. */
  async dispose(): Promise<void> {}

  private async request(argv: readonly string[], stdin: string): Promise<RunResult> {
    const framed = (bytes: Buffer) => [Buffer.from(`${bytes.length}\n`), bytes];
    const input = Buffer.from(stdin, "utf8");
    this.session.send(Buffer.concat([Buffer.from(`run ${argv.length} ${input.length}\n`), ...argv.flatMap((a) => framed(Buffer.from(a, "utf8"))), input]));
    const header = (await this.replies.take(-1)).toString("utf8");
    const match = /^done (\d+) (\d+) (\d+)$/.exec(header);
    if (!match) throw new Error(`unexpected answer from the lock holder on ${this.description}: ${JSON.stringify(header)}`);
    const stdout = (await this.replies.take(Number(match[2]))).toString("utf8");
    const stderr = (await this.replies.take(Number(match[3]))).toString("utf8");
    return { exitCode: Number(match[1]), stdout, stderr };
  }
}

/** The holder's replies as they arrive: a line (length -1) or an exact number of bytes at a time. */
class ReplyReader {
  private buffer = Buffer.alloc(0);
  private ended?: string;
  private wake?: () => void;

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.wake?.();
  }

  end(why: string): void {
    this.ended = why;
    this.wake?.();
  }

  async take(length: number): Promise<Buffer> {
    for (;;) {
      const size = length < 0 ? this.buffer.indexOf(0x0a) : this.buffer.length >= length ? length : -1;
      if (size >= 0) {
        const taken = this.buffer.subarray(0, size);
        this.buffer = this.buffer.subarray(size + (length < 0 ? 1 : 0));
        return taken;
      }
      if (this.ended !== undefined) throw new Error(this.ended);
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
