/**
 * The Mac lock: serializes concurrent deploys to one Mac. A perl process on the Mac, as root,
 * takes an exclusive flock when asked and holds it until asked to give it back, or until it ends
 * (and the lock goes with it): when we close its stdin, when our connection drops, or when our
 * heartbeats stop: a cut network leaves sshd unaware of the dead client for hours, so the holder
 * ends after HOLD_TIMEOUT_S of silence.
 *
 * While it holds the lock, the same process runs the step's root commands for us: each argv and
 * its stdin travel as length-prefixed bytes over its stdin and are exec'd directly (no shell), and
 * the exit code, stdout and stderr come back the same way; one that needs a pty (Postfix shows its
 * errors only on a tty) runs under the Mac's `script`. A command through it costs a fork and an
 * exec or two on the Mac instead of an SSH session, a login shell and a sudo each; a `perl -e`
 * program (the executor's file reads and writes) costs only the fork: the holder's child runs it
 * itself, as perl would, without starting perl again. A command running when our side goes away
 * is left to finish (it may be changing the Mac), and the silence counted from then: the lock
 * outlives it by HOLD_TIMEOUT_S.
 *
 * Because the holder gives the lock back when asked, a process running many steps (the step
 * server) keeps it between them as an idle agent (LockAgents): the next step on that Mac then costs
 * a request instead of an SSH session, a login shell, sudo and perl's start. The lock itself is
 * held from a step's start to its end only.
 */
import { scopeSignal, withProcessSignal } from "../transport/process.js";
import { ConnectionError, fromPtyResult, type RunOptions, type RunResult, type Session, type Transport } from "../transport/transport.js";

export const LOCK_PATH = "/var/run/cdktf-mac-postfix.lock";

const HEARTBEAT_MS = 5_000;
const HOLD_TIMEOUT_S = 30;

/** How long an idle agent waits for its Mac's next step before it ends. */
const AGENT_IDLE_MS = 20_000;

// The holder says "ready" once started. Requests: "lock" (answered "locked" once the lock is its),
// "unlock" ("unlocked"), and "run <argc> <stdin bytes>", then each argument as "<bytes>\n<argument>",
// then stdin; that one is answered "done <exit> <stdout bytes> <stderr bytes>\n<stdout><stderr>".
// Every request and answer line ends with a newline; an empty line is a heartbeat.
// Descriptors perl opens are close-on-exec: a daemon a command starts never inherits the lock.
// POSIX is loaded only by a child whose exec failed: loading it would double the holder's start.
const LOCK_SCRIPT = `use strict; use Fcntl qw(:flock);
my ($path, $timeout) = @ARGV;
open(my $lock, ">>", $path) or die "open: $!\\n";
binmode STDIN; binmode STDOUT; $| = 1;
print "ready\\n";
$SIG{ALRM} = sub { exit 1 };
sub take { my ($n) = @_; my $buf = ""; while (length($buf) < $n) { read(STDIN, $buf, $n - length($buf), length($buf)) or exit 0 } $buf }
sub temp { open(my $fh, "+>", undef) or die "temp file: $!\\n"; binmode $fh; $fh }
sub slurp { my ($fh) = @_; seek($fh, 0, 0); local $/; my $text = <$fh>; defined $text ? $text : "" }
# As \`perl -e\` would: no strict, exit status 0, or 255 with the message after a die.
sub run_perl { my $ok = eval "no strict; no warnings; package main; $_[0]\\n;1"; print STDERR $@ unless $ok; exit($ok ? 0 : 255) }
alarm $timeout;
while (defined(my $line = <STDIN>)) {
  alarm 0;
  if ($line eq "lock\\n") { flock($lock, LOCK_EX) or die "flock: $!\\n"; print "locked\\n" }
  elsif ($line eq "unlock\\n") { flock($lock, LOCK_UN) or die "unlock: $!\\n"; print "unlocked\\n" }
  elsif ($line =~ /^run (\\d+) (\\d+)$/) {
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

const holderArgv = () => ["perl", "-e", LOCK_SCRIPT, LOCK_PATH, String(HOLD_TIMEOUT_S)];

/** A lock holder on a Mac, over a session of its own, idle or holding the lock for one step. */
class LockAgent {
  readonly replies = new ReplyReader();
  alive = true;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    readonly session: Session,
    /** Ends the session's processes (an agent of a pool: no step's signal does). */
    readonly kill: () => void = () => undefined,
  ) {
    session.onData((chunk) => this.replies.push(chunk));
    const ended = (how: string) => {
      this.alive = false;
      clearInterval(this.heartbeat);
      this.replies.end(`the Mac lock's holder ended: ${how}`);
    };
    session.ended.then(ended, (error: Error) => ended(error.message));
    this.heartbeat = setInterval(() => session.send("\n"), HEARTBEAT_MS).unref();
  }

  /** Sends a request line and checks its one-line answer. */
  async ask(request: string, answer: string): Promise<void> {
    this.session.send(`${request}\n`);
    const line = (await this.replies.take(-1)).toString("utf8");
    if (line !== answer) throw new Error(`unexpected answer from the lock holder: ${JSON.stringify(line)}`);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.session.close().catch(() => undefined);
  }
}

/** Starts a holder and waits for it to say it is ready. */
async function startAgent(transport: Transport, kill?: () => void): Promise<LockAgent> {
  const agent = new LockAgent(transport.open(holderArgv(), { root: true }), kill);
  try {
    const line = await agent.session.firstLine;
    if (line !== "ready") throw new Error(`unexpected answer from the lock holder: ${JSON.stringify(line)}`);
    return agent;
  } catch (error) {
    await agent.close();
    throw error;
  }
}

interface IdleAgent {
  readonly agent: LockAgent;
  /** Retires the agent once it has been idle AGENT_IDLE_MS. */
  readonly timer: NodeJS.Timeout;
}

/**
 * Idle lock holders, per Mac, kept by a process that runs many steps (the step server). Each was
 * started in the environment of the step that needed it, for the connection its key names.
 */
export class LockAgents {
  private readonly idle = new Map<string, IdleAgent[]>();

  /**
   * An idle agent for key, or a new one over transport; says which. The step's signal (`stop`)
   * ends a new one's start.
   */
  async take(key: string, transport: Transport, stop: AbortSignal | undefined): Promise<{ agent: LockAgent; reused: boolean }> {
    const list = this.idle.get(key) ?? [];
    for (let entry = list.pop(); entry; entry = list.pop()) {
      clearTimeout(entry.timer);
      if (entry.agent.alive) return { agent: entry.agent, reused: true };
    }
    // The step's environment and working folder, but not its signal: the agent outlives the step.
    const controller = new AbortController();
    const abort = () => controller.abort();
    stop?.addEventListener("abort", abort);
    try {
      return { agent: await withProcessSignal(controller.signal, () => startAgent(transport, abort)), reused: false };
    } finally {
      stop?.removeEventListener("abort", abort);
    }
  }

  /** Keeps an agent that holds no lock for key's next step, for AGENT_IDLE_MS. */
  give(key: string, agent: LockAgent): void {
    const list = this.idle.get(key) ?? [];
    const entry: IdleAgent = { agent, timer: setTimeout(() => void this.retire(key, entry), AGENT_IDLE_MS).unref() };
    list.push(entry);
    this.idle.set(key, list);
  }

  private async retire(key: string, entry: IdleAgent): Promise<void> {
    const list = this.idle.get(key) ?? [];
    const at = list.indexOf(entry);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.idle.delete(key);
    await entry.agent.close();
  }
}

/** Where withMacLock may take an idle holder and give it back: a pool, and the key of this Mac's connection in it. */
export interface AgentPool {
  readonly agents: LockAgents;
  readonly key: string;
}

/**
 * Runs fn while holding the Mac's lock; fn gets a transport whose root commands run through the
 * holder. With a pool, the holder comes from it and goes back to it, idle, after a clean step.
 */
export async function withMacLock<T>(transport: Transport, fn: (locked: Transport) => Promise<T>, onWait?: () => void, pool?: AgentPool): Promise<T> {
  // A step whose caller went away ends a pooled holder's session, as it ends a session of the step's
  // own (started in the step's scope): while it waits for the lock, too.
  const signal = pool ? scopeSignal() : undefined;
  let agent: LockAgent | undefined;
  const kill = () => agent?.kill();
  signal?.addEventListener("abort", kill);
  try {
    agent = await lockedAgent(transport, onWait, pool, signal, (taken) => (agent = taken));
    const locked = new LockHolderTransport(transport, agent);
    try {
      return await fn(locked);
    } finally {
      // Kept only when every answer was read and the holder gave the lock back: then it is in step.
      await locked.settled();
      const idle = pool && agent.alive && !signal?.aborted && (await agent.ask("unlock", "unlocked").then(() => true, () => false));
      if (idle) pool.agents.give(pool.key, agent);
      else await agent.close();
    }
  } finally {
    signal?.removeEventListener("abort", kill);
  }
}

/** A holder that holds the lock: a pool's idle one if it answers, else a new one. Each is shown to `taken` first. */
async function lockedAgent(
  transport: Transport,
  onWait: (() => void) | undefined,
  pool: AgentPool | undefined,
  signal: AbortSignal | undefined,
  taken: (agent: LockAgent) => void,
): Promise<LockAgent> {
  for (;;) {
    let agent: LockAgent | undefined;
    let reused = false;
    const waiting = onWait ? setTimeout(onWait, 2000) : undefined;
    try {
      ({ agent, reused } = pool ? await pool.agents.take(pool.key, transport, signal) : { agent: await startAgent(transport), reused: false });
      taken(agent);
      if (signal?.aborted) agent.kill();
      await agent.ask("lock", "locked");
      return agent;
    } catch (error) {
      await agent?.close();
      // An idle holder whose connection ended unnoticed: a new one.
      if (reused && !signal?.aborted) continue;
      // An unreachable Mac is said as such; only the lock's own troubles name the lock.
      if (error instanceof ConnectionError) throw error;
      throw new Error(`lock ${LOCK_PATH} on ${transport.description}: ${(error as Error).message}`);
    } finally {
      clearTimeout(waiting);
    }
  }
}

/** Root commands go to the lock holder, one at a time; the login user's to the transport. */
class LockHolderTransport implements Transport {
  readonly description: string;
  /** The request in flight: requests are answered in order, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly transport: Transport,
    private readonly agent: LockAgent,
  ) {
    this.description = transport.description;
  }

  /** Resolves once no request is in flight (their answers are all read). */
  settled(): Promise<unknown> {
    return this.queue;
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
    this.agent.session.send(Buffer.concat([Buffer.from(`run ${argv.length} ${input.length}\n`), ...argv.flatMap((a) => framed(Buffer.from(a, "utf8"))), input]));
    const header = (await this.agent.replies.take(-1)).toString("utf8");
    const match = /^done (\d+) (\d+) (\d+)$/.exec(header);
    if (!match) throw new Error(`unexpected answer from the lock holder on ${this.description}: ${JSON.stringify(header)}`);
    const stdout = (await this.agent.replies.take(Number(match[2]))).toString("utf8");
    const stderr = (await this.agent.replies.take(Number(match[3]))).toString("utf8");
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
