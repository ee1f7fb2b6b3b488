/**
 * A corpus of hostile values tried in every string a user gives the constructs: each is either
 * refused at synth with a ValidationError naming the field, or carried into the step spec verbatim
 * (after Terraform's own template unescaping), never altered and never interpreted.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import plist from "plist";
import { LogoutHook, MacHost, PostfixInputInstance, ValidationError, type MacHostProps, type PostfixInputInstanceProps, type StepSpec } from "../../src/index.js";
import { LaunchDaemon } from "../../src/constructs/launch-daemon.js";
import { synth } from "./helpers.js";

const CORPUS: readonly string[] = [
  "", " ", "-", "--", "-oProxyCommand=touch /tmp/pwned", "-F/dev/null", "--help", "-l root",
  "; touch /tmp/pwned", "&& touch /tmp/pwned", "| touch /tmp/pwned", "$(touch /tmp/pwned)", "`touch /tmp/pwned`",
  "${HOME}", "$HOME", "${path.module}", "%{ for x in [1] }x%{ endfor }", "$${x}", "%%{x}",
  "'", '"', "'\"'\"'", "\\", "\\n", "a\nb", "a\rb", "a\r\nb", "a\u0000b", "\n", "\t", "a b",
  "../../etc/passwd", "/etc/../etc/passwd", "/..", "..", "./x", "~root", "*", "?", "[a-z]", "{a,b}",
  "!", "#", ">/tmp/pwned", "<script>", "&amp;", "]]>", "<!--", "x".repeat(5000), "ünïcödé", "日本語",
  "\u202e", "emoji 😀", "\u0007", "\u001b[31m", "%n%s", "null", "0", "-1", "user@host", "host:22",
];

/** Undoes the `$${`/`%%{` escapes exactly as Terraform does when it evaluates the JSON. */
const unescape = (s: string) => s.replace(/([$%])\1\{/g, "$1{");

const SSH = { host: "mac1.lab", user: "admin" };

function specs(build: Parameters<typeof synth>[0]): StepSpec[] {
  const { json } = synth(build);
  const parsed = JSON.parse(unescape(json));
  return Object.values(parsed.resource.terraform_data as Record<string, { input: string }>).map((r) => JSON.parse(r.input) as StepSpec);
}

function inputInstance(host: MacHostProps, props: Partial<PostfixInputInstanceProps> = {}) {
  return specs((stack) => new PostfixInputInstance(stack, "input", { host: new MacHost(stack, "mac", host), ...props }));
}

function job(props: Record<string, unknown>) {
  return specs((stack) => new LaunchDaemon(stack, "job", { host: new MacHost(stack, "mac", { local: true }), label: "org.example.job", programArguments: ["/bin/echo"], ...props }));
}

const of = <K extends StepSpec["kind"]>(all: StepSpec[], kind: K) => all.find((s) => s.kind === kind) as Extract<StepSpec, { kind: K }>;
const sshOf = (all: StepSpec[]) => all[0]!.host.connection as Extract<StepSpec["host"]["connection"], { transport: "ssh" }>;
const plistOf = (all: StepSpec[]) => plist.parse(of(all, "launch-job").plist) as Record<string, any>;

/** field name in errors => [build with the value, where the value must land]. */
const FIELDS: Record<string, (v: string) => unknown> = {
  "ssh.host": (v) => sshOf(inputInstance({ ssh: { host: v } })).host,
  "ssh.user": (v) => sshOf(inputInstance({ ssh: { ...SSH, user: v } })).user,
  "ssh.identityFile": (v) => sshOf(inputInstance({ ssh: { ...SSH, identityFile: v } })).identityFile,
  "ssh.knownHostsFile": (v) => sshOf(inputInstance({ ssh: { ...SSH, knownHostsFile: v } })).knownHostsFile,
  "ssh.proxyJump": (v) => sshOf(inputInstance({ ssh: { ...SSH, proxyJump: v } })).proxyJump,
  "paths.commandDirectory": (v) => inputInstance({ local: true, paths: { commandDirectory: v } })[0]!.host.paths.commandDirectory,
  name: (v) => of(inputInstance({ local: true }, { instanceName: v }), "instance").instance.name,
  group: (v) => of(inputInstance({ local: true }, { group: v }), "instance").group,
  label: (v) => of(inputInstance({ local: true }, { label: v }), "launch-job").label,
  "settings.<name>": (v) => Object.keys(of(inputInstance({ local: true }, { settings: { [v]: "x" } }), "instance-config").settings).find((k) => k === v),
  "settings.smtpd_banner": (v) => of(inputInstance({ local: true }, { settings: { smtpd_banner: v } }), "instance-config").settings.smtpd_banner,
  configDirectory: (v) => of(inputInstance({ local: true }, { configDirectory: v }), "instance").instance.configDirectory,
  loginUser: (v) => (of(inputInstance({ local: true }, { lifecycle: "login", loginUser: v }), "launch-job").domain as { user: string }).user,
  smtpAddress: (v) => of(inputInstance({ local: true }, { smtpAddress: v }), "readiness").smtp?.address,
  "programArguments[1]": (v) => plistOf(job({ programArguments: ["/bin/echo", v] })).ProgramArguments[1],
  "environmentVariables.X": (v) => plistOf(job({ environmentVariables: { X: v } })).EnvironmentVariables.X,
  standardOutPath: (v) => plistOf(job({ standardOutPath: v })).StandardOutPath,
  userName: (v) => plistOf(job({ userName: v })).UserName,
  script: (v) => of(specs((stack) => new LogoutHook(stack, "hook", { host: new MacHost(stack, "mac", { local: true }), script: `#!/bin/sh\n${v}` })), "logout-hook").script.slice("#!/bin/sh\n".length),
  path: (v) => of(specs((stack) => new LogoutHook(stack, "hook", { host: new MacHost(stack, "mac", { local: true }), script: "#!/bin/sh\n", path: v })), "logout-hook").path,
};

describe("hostile input", () => {
  it(`has a corpus of at least 40 values`, () => assert.ok(CORPUS.length >= 40, String(CORPUS.length)));

  for (const [field, tryValue] of Object.entries(FIELDS)) {
    it(`${field}: every hostile value is refused naming the field, or carried verbatim`, () => {
      let refused = 0;
      for (const value of CORPUS) {
        let landed: unknown;
        try {
          landed = tryValue(value);
        } catch (e) {
          assert.ok(e instanceof ValidationError, `${field} = ${JSON.stringify(value)}: ${String(e)}`);
          const named = field === "settings.<name>" ? `settings.${value}` : field;
          assert.ok(e.message.includes(`: ${named}: `), e.message);
          refused++;
          continue;
        }
        assert.equal(landed, value, `${field} = ${JSON.stringify(value)} was accepted but altered`);
      }
      // Every field refuses something: control characters at least.
      assert.ok(refused > 0, `${field} refused nothing`);
    });
  }

  it("refuses every value with NUL, CR or LF in one-line fields", () => {
    for (const field of ["settings.smtpd_banner", "programArguments[1]", "environmentVariables.X", "label", "ssh.host", "ssh.user"]) {
      for (const value of ["a\nb", "a\rb", "a\u0000b"]) assert.throws(() => FIELDS[field]!(value), ValidationError, `${field} = ${JSON.stringify(value)}`);
    }
  });
});
