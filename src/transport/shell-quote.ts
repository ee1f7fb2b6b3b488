/**
 * The one audited quoting function: turns an argv into a POSIX sh command line.
 *
 * Used only where a remote shell is unavoidable (ssh sends one string that the login shell parses)
 * and for util-linux `script -c`. Every element is single-quoted, so the shell performs no
 * expansion of any kind; a single quote inside is written as '\'' (close, escaped quote, reopen).
 * NUL cannot be carried in an argv at all, so it is refused rather than silently truncated.
 */
export function quoteArg(arg: string): string {
  if (arg.includes("\0")) throw new Error("an argument contains a NUL byte, which no command line can carry");
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function quoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error("empty command");
  return argv.map(quoteArg).join(" ");
}
