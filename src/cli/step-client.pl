#!/usr/bin/perl
# mac-postfix step client: what Terraform's local-exec provisioners run, as
#   perl step-client.pl apply|destroy        (the step's spec in $MAC_POSTFIX_STEP)
# It hands the step to this user's step server (step-server.js beside it), starting one if none
# runs, and relays the step's output and exit code. Perl starts in a few milliseconds where node
# takes ~0.1 CPU s; with one server per deploy, a fleet's 200 steps start node once.
# When no server can be had, it runs the step itself: exec node mac-postfix.js step ACTION.
# Only core modules of perl-base, which every Mac and every Debian has, and few of them: perl's
# start is most of what a step costs the deploying machine.
use strict;
use warnings;
use Cwd qw(abs_path getcwd);
use Fcntl qw(:flock);
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);

my $HELLO = "mac-postfix step server 1";
my $action = $ARGV[0] // '';
my ($here) = abs_path(__FILE__) =~ m{^(.*)/[^/]*$};
my $server_js = "$here/step-server.js";

sub run_here {
    my ($why) = @_;
    print STDERR "mac-postfix: running the step without the step server: $why\n" if defined $why;
    exec 'node', "$here/mac-postfix.js", 'step', $action or die "mac-postfix: cannot run node: $!\n";
}

# A step on this machine runs here: sudo's cached password belongs to this terminal's session,
# which the server, in a session of its own, is not in (and one Mac needs no server).
run_here(undef) if ($ENV{MAC_POSTFIX_STEP} // '') =~ /"connection":\{"transport":"local"\}/;

# The server's private folder: ours, a real folder, no access for anyone else.
my $folder = "/tmp/mac-postfix-step-$<";
mkdir $folder, 0700;
my @folder = lstat $folder;
run_here("$folder is not a folder of its own (want a folder owned by uid $<, mode 700)")
  unless @folder && -d _ && $folder[4] == $< && ($folder[2] & 077) == 0;
# One server per build: the socket is named after the server file's identity.
my @built = stat $server_js or run_here("$server_js: $!");
my $name = sprintf '%s/%x-%x-%x-%x', $folder, @built[0, 1, 9, 7];
my $socket_path = "$name.sock";

# A server that greets: only then has the step not started anywhere.
sub connect_server {
    socket(my $socket, AF_UNIX, SOCK_STREAM, 0) or return;
    connect($socket, pack_sockaddr_un($socket_path)) or return;
    # A server that does not greet within 10 s (stopped, wedged) counts as none.
    my $hello = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 10;
        my $line = <$socket>;
        alarm 0;
        $line;
    };
    return unless defined $hello && $hello eq "$HELLO\n";
    select((select($socket), $| = 1)[0]);
    return $socket;
}

my $server = connect_server();
unless ($server) {
    open my $lock, '>>', "$name.lock" or run_here("$name.lock: $!");
    flock $lock, LOCK_EX or run_here("lock $name.lock: $!");
    $server = connect_server();
    unless ($server) {
        unlink $socket_path;
        require POSIX; # only here: loading it costs more than the rest of the client
        my $pid = fork;
        run_here("fork: $!") unless defined $pid;
        if ($pid == 0) {
            # Its own session, and none of Terraform's pipes: Terraform waits for those to close.
            POSIX::setsid();
            chdir '/'; # each step names its own working folder; the server pins none
            open STDIN, '<', '/dev/null';
            open STDOUT, '>>', "$name.log"; # kept: a crashed server's story is in it
            open STDERR, '>&', \*STDOUT;
            exec('node', $server_js, $socket_path) or POSIX::_exit(127);
        }
        for (1 .. 400) {
            select undef, undef, undef, 0.025;
            last if $server = connect_server();
            last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        }
        kill 'TERM', $pid unless $server; # not left to bind a socket the next server owns
    }
    close $lock;
    run_here("it did not start (see $name.log)") unless $server;
}

$SIG{PIPE} = 'IGNORE'; # a server gone before the request: reported below, not a silent death
print {$server} join("\0", $action, getcwd() // '/', map { "$_=$ENV{$_}" } sort keys %ENV), "\0\0";
my $code;
while (my $line = <$server>) {
    if ($line =~ /\A> (.*)\z/s) { print STDERR $1 }
    elsif ($line =~ /\Aexit (\d+)\n\z/) { $code = $1 }
}
unless (defined $code) {
    print STDERR "mac-postfix: the step server ended before the step did (see $name.log); the step may have been cut short\n";
    exit 1;
}
exit $code;
