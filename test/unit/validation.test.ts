import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Token } from "cdktf";
import {
  showValue,
  validateAbsolutePath,
  validateArray,
  validateBoolean,
  validateEnum,
  validateGroup,
  validateHost,
  validateInstanceName,
  validateInt,
  validateKnownKeys,
  validateLabel,
  validateLine,
  validatePort,
  validateProxyJump,
  validateSettings,
  validateUser,
  ValidationError,
} from "../../src/validation.js";

type Validator = (where: string, field: string, value: unknown) => unknown;

/** Asserts `validator` refuses `value` with a message naming where, field and the problem. */
function refuses(validator: Validator, value: unknown, problem: RegExp, field = "f"): void {
  assert.throws(
    () => validator("stack/mac", field, value),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError, `expected a ValidationError for ${showValue(value)}`);
      assert.ok(e.message.startsWith(`stack/mac: ${field}`), e.message);
      assert.match(e.message, problem);
      assert.match(e.message, /\(got .*\)$/s);
      return true;
    },
  );
}

describe("validation", () => {
  it("formats errors as `<where>: <field>: <problem> (got <value>)`, truncating the value", () => {
    const e = new ValidationError("stack/mac", "ssh.host", "must not be empty", "");
    assert.equal(e.message, 'stack/mac: ssh.host: must not be empty (got "")');
    const long = new ValidationError("w", "f", "bad", "x".repeat(500));
    assert.ok(long.message.length < 100, long.message);
    assert.ok(long.message.endsWith("…)"));
  });

  it("instance names need the postfix- prefix and a safe charset", () => {
    assert.equal(validateInstanceName("w", "f", "postfix-in"), "postfix-in");
    assert.equal(validateInstanceName("w", "f", "postfix-a.b_c-9"), "postfix-a.b_c-9");
    refuses(validateInstanceName, "postfix.in", /must start with "postfix-"/);
    refuses(validateInstanceName, "in", /must start with "postfix-"/);
    refuses(validateInstanceName, "postfix-", /must match/);
    refuses(validateInstanceName, "postfix--x", /must match/);
    refuses(validateInstanceName, "postfix-in;rm -rf /", /must match/);
    refuses(validateInstanceName, "postfix-in\n", /must match/);
    refuses(validateInstanceName, 3, /must be a string/);
  });

  it("labels and groups use the label charset", () => {
    assert.equal(validateLabel("w", "f", "org.postfix.in"), "org.postfix.in");
    for (const bad of ["", ".hidden", "-x", "a b", "a/b", "a\nb", "org.$(id)", "ünï"]) refuses(validateLabel, bad, /must match/);
    assert.equal(validateGroup("w", "f", "mta"), "mta");
    refuses(validateGroup, "m t a", /must match/);
  });

  it("settings: names [A-Za-z0-9_]+, values one line (empty allowed)", () => {
    assert.deepEqual(validateSettings("w", "settings", { master_service_disable: "", a1: "x y" }), { master_service_disable: "", a1: "x y" });
    refuses(validateSettings, { "bad-name": "x" }, /setting name must match/, "settings");
    refuses(validateSettings, { "a b": "x" }, /setting name must match/, "settings");
    refuses(validateSettings, { a: "x\ny" }, /NUL, CR or LF/, "settings");
    refuses(validateSettings, { a: "x\ry" }, /NUL, CR or LF/, "settings");
    refuses(validateSettings, { a: "x\0y" }, /NUL, CR or LF/, "settings");
    refuses(validateSettings, { a: 1 }, /must be a string/, "settings");
    refuses(validateSettings, ["a"], /must be an object/, "settings");
    assert.throws(() => validateSettings("w", "settings", { a: "\n" }), /w: settings\.a: /);
  });

  it("absolute paths: leading /, no .. segment, no control characters, one spelling", () => {
    assert.equal(validateAbsolutePath("w", "f", "/etc/postfix-in"), "/etc/postfix-in");
    assert.equal(validateAbsolutePath("w", "f", "/"), "/");
    refuses(validateAbsolutePath, "/etc/postfix/", /written plainly.*\(\/etc\/postfix\)/);
    refuses(validateAbsolutePath, "/etc//postfix", /written plainly.*\(\/etc\/postfix\)/);
    refuses(validateAbsolutePath, "/etc/./postfix", /written plainly/);
    assert.equal(validateAbsolutePath("w", "f", "/a/..b/c.."), "/a/..b/c..");
    refuses(validateAbsolutePath, "etc/postfix", /absolute/);
    refuses(validateAbsolutePath, "", /absolute/);
    refuses(validateAbsolutePath, "/etc/../root", /\.\./);
    refuses(validateAbsolutePath, "/etc/..", /\.\./);
    refuses(validateAbsolutePath, "/etc/x\ny", /control/);
    refuses(validateAbsolutePath, "/etc/x\u007f", /control/);
  });

  it("hosts: names, IPv4 and IPv6; never empty, leading -, whitespace or control characters", () => {
    for (const ok of ["mac1.lab", "mac1", "10.0.0.1", "::1", "fe80::1", "my_alias", "a-b.example.com."]) assert.equal(validateHost("w", "f", ok), ok);
    refuses(validateHost, "", /empty/);
    refuses(validateHost, "-oProxyCommand=touch /tmp/x", /must not start with "-"/);
    refuses(validateHost, "mac 1", /whitespace/);
    refuses(validateHost, "mac\t1", /whitespace/);
    refuses(validateHost, "mac1\n", /whitespace/);
    refuses(validateHost, "mac1;id", /host name/);
    refuses(validateHost, "$(id)", /host name/);
    refuses(validateHost, "a..b", /host name/);
    refuses(validateHost, "user@host", /host name/);
  });

  it("users: ^[a-z_][a-z0-9_.-]*$, no leading -", () => {
    for (const ok of ["admin", "_postfix", "a.b-c"]) assert.equal(validateUser("w", "f", ok), ok);
    refuses(validateUser, "-oProxyCommand=x", /must not start with "-"/);
    for (const bad of ["", "Admin", "1x", "a b", "a;b", "a\nb"]) refuses(validateUser, bad, /must match/);
  });

  it("ports and integers are range-checked", () => {
    assert.equal(validatePort("w", "f", 22), 22);
    refuses(validatePort, 0, /between 1 and 65535/);
    refuses(validatePort, 65536, /between 1 and 65535/);
    refuses(validatePort, 22.5, /integer/);
    refuses(validatePort, "22", /integer/);
    assert.equal(validateInt("w", "f", -3, -5, 5), -3);
    refuses((w, f, v) => validateInt(w, f, v, 0, 10), 11, /between 0 and 10/);
    refuses((w, f, v) => validateInt(w, f, v), Number.NaN, /integer/);
  });

  it("proxyJump: every entry [user@]host[:port], none starting with -", () => {
    assert.equal(validateProxyJump("w", "f", "admin@jump:2222,bastion"), "admin@jump:2222,bastion");
    assert.equal(validateProxyJump("w", "f", "[::1]:22"), "[::1]:22");
    refuses(validateProxyJump, "-oProxyCommand=id", /must not start with "-"/);
    refuses(validateProxyJump, "ok,-J", /must not start with "-"/);
    refuses(validateProxyJump, "jump:99999", /between 1 and 65535/);
    refuses(validateProxyJump, "jump:x", /integer/);
    refuses(validateProxyJump, "Bad User@jump", /must match/);
    refuses(validateProxyJump, "", /empty/);
    refuses(validateProxyJump, "a b", /whitespace/);
  });

  it("enums, booleans, arrays, lines and known keys", () => {
    assert.equal(validateEnum("w", "f", "deport", ["deport", "discard-queue"]), "deport");
    refuses((w, f, v) => validateEnum(w, f, v, ["a", "b"]), "c", /one of "a", "b"/);
    assert.equal(validateBoolean("w", "f", false), false);
    refuses(validateBoolean, "true", /true or false/);
    refuses((w, f, v) => validateArray(w, f, v, validateLine), "x", /array/);
    assert.throws(() => validateArray("w", "args", ["ok", "a\nb"], validateLine), /^ValidationError: w: args\[1\]: must not contain NUL, CR or LF/);
    assert.throws(() => validateKnownKeys("w", "ssh", { hots: "x" }, ["host"]), /w: ssh\.hots: unknown property; expected one of host/);
  });

  it("refuses unresolved cdktf tokens: every value must be known at synth", () => {
    refuses(validateLine, Token.asString({ a: 1 }), /token/);
    refuses(validatePort, Token.asNumber({ a: 1 }), /token/);
  });
});
