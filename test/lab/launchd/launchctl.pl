#!/usr/bin/perl
# launchctl(1) on the simulated Mac: hands its argv, uid and working folder to the launchd emulator,
# which parses them (launchctl.ts), and prints the reply. Perl, not node: a call then costs a few
# milliseconds, as macOS's small C launchctl does, where node would spend 50 starting. For the same
# reason no modules: the lab is Linux, so the socket constants are Linux's and the working folder
# comes from /proc.
use strict;

use constant { AF_UNIX => 1, SOCK_STREAM => 1 };

my $root = defined $ENV{LAUNCHD_ROOT} && $ENV{LAUNCHD_ROOT} ne "" ? $ENV{LAUNCHD_ROOT} : "/";
(my $path = "$root/var/run/launchd.sock") =~ s{/+}{/}g;

# A JSON string of bytes that are UTF-8 already (as argv is on the Mac).
sub json_string {
  my ($text) = @_;
  $text =~ s/(["\\])/\\$1/g;
  $text =~ s/([\x00-\x1f])/sprintf("\\u%04x", ord $1)/ge;
  return "\"$text\"";
}

my $request = sprintf('{"uid":%d,"op":"launchctl","cwd":%s,"argv":[%s]}', $<, json_string(readlink("/proc/self/cwd") // "/"), join(",", map { json_string($_) } @ARGV));
my $socket;
# struct sockaddr_un: the family, then the path, NUL-terminated.
unless (socket($socket, AF_UNIX, SOCK_STREAM, 0) && connect($socket, pack("S Z*", AF_UNIX, $path))) {
  print STDERR "launchctl: cannot reach launchd at $path: $!\n";
  exit 1;
}
binmode $socket;
defined syswrite($socket, $request) or die "launchctl: cannot write to launchd: $!\n";
shutdown($socket, 1);
my $reply = do { local $/; <$socket> } // "";
# "<code> <stdout bytes> <stderr bytes>\n<stdout><stderr>" (protocol.ts, encodeReply)
my ($code, $out, $err) = $reply =~ /\A(\d+) (\d+) (\d+)\n/;
unless (defined $code && length($reply) == length($&) + $out + $err) {
  print STDERR "launchctl: malformed reply from launchd\n";
  exit 1;
}
binmode STDOUT;
binmode STDERR;
print STDOUT substr($reply, length($&), $out);
print STDERR substr($reply, length($&) + $out, $err);
exit $code;
