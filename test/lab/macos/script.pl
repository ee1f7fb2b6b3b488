#!/usr/bin/perl
# script(1) as macOS (BSD) takes it: script [-q] [file [command ...]], the command an argv run
# under a fresh pty, exiting with the command's status. The lab's stand-in: Debian's util-linux
# script takes one command line for $SHELL -c instead, so each argument is quoted for /bin/sh here
# (POSIX single quotes, ' as '\''). Only -q of BSD's options is taken: the executor uses no other.
# util-linux's own form (`-c LINE`, which BSD lacks) passes straight through, for programs that see
# Linux inside the Mac (the library's local transport, run on a lab Mac, takes process.platform).
use strict;
use warnings;

# Filled in by ../launchd/install.ts when it installs this file: where it keeps util-linux script.
my $util_linux = "@UTIL_LINUX_SCRIPT@";
exec { $util_linux } "script", @ARGV or die "script: $util_linux: $!\n" if @ARGV && $ARGV[0] =~ /^-[A-Za-z]*c/;

my $quiet = 0;
while (@ARGV && $ARGV[0] =~ /^-/) {
  my $option = shift @ARGV;
  last if $option eq "--";
  if ($option eq "-q") { $quiet = 1; next }
  print STDERR "usage: script [-q] [file [command ...]]\n";
  exit 1;
}
my $file = @ARGV ? shift @ARGV : "typescript";
my @command = @ARGV ? @ARGV : ($ENV{SHELL} || "/bin/sh");
my $line = join " ", map { (my $quoted = $_) =~ s/'/'\\''/g; "'$quoted'" } @command;
$ENV{SHELL} = "/bin/sh";
exec { $util_linux } "script", ($quiet ? "-q" : ()), "-e", "-c", $line, $file or die "script: $util_linux: $!\n";
