import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { addressSegment, InventoryError, loadInventory, parseInventory } from "../../src/fleet/inventory.js";

const dir = mkdtempSync(join(tmpdir(), "fleet-inventory-"));
after(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The problems an invalid inventory yields (fails the test if it is accepted). */
function problems(document: unknown, source = "fleet.yaml"): readonly string[] {
  try {
    parseInventory(document, { source });
  } catch (e) {
    assert.ok(e instanceof InventoryError, String(e));
    return e.problems;
  }
  assert.fail("the inventory was accepted");
}

const ok = { name: "mac1", address: "10.0.0.1" };

describe("inventory validation", () => {
  test("a wrong type names file, host and field", () => {
    const hosts = [0, 1, 2].map((i) => ({ name: `mac${i}`, address: `10.0.0.${i}` }));
    assert.deepEqual(problems({ hosts: [...hosts, { name: "mac17", address: "10.0.0.17", port: "x" }] }), [
      'fleet.yaml: hosts[3] (mac17): port: must be an integer (got "x")',
    ]);
  });

  test("a bad value is refused by the constructs' validators", () => {
    const found = problems({
      hosts: [
        { name: "mac1", address: "-oProxyCommand=touch /tmp/x" },
        { name: "mac2", address: "10.0.0.2", instanceName: "in", label: "a\nb", settings: { "bad name": "x", ok: "line\nbreak" } },
        { name: "mac3", address: "10.0.0.3", port: 70000, runMode: "daemon", paths: { launchctl: "bin/launchctl", nope: "/x" } },
      ],
    });
    const expected = [
      /^fleet\.yaml: hosts\[0\] \(mac1\): address: must not start with "-"/,
      /^fleet\.yaml: hosts\[1\] \(mac2\): instanceName: must start with "postfix-"/,
      /^fleet\.yaml: hosts\[1\] \(mac2\): label: must match/,
      /^fleet\.yaml: hosts\[1\] \(mac2\): settings\.bad name: setting name must match/,
      /^fleet\.yaml: hosts\[2\] \(mac3\): port: must be between 1 and 65535 \(got 70000\)/,
      /^fleet\.yaml: hosts\[2\] \(mac3\): runMode: must be one of "supervised", "postmulti-start"/,
      /^fleet\.yaml: hosts\[2\] \(mac3\): paths\.nope: unknown property/,
    ];
    assert.equal(found.length, expected.length, found.join("\n"));
    for (const [i, pattern] of expected.entries()) assert.match(found[i]!, pattern);
  });

  test("unknown fields, at every level", () => {
    const [top, inDefaults, inHost, ...rest] = problems({ hosts: [{ ...ok, adress: "x" }], defaults: { nmae: "y" }, extra: 1 });
    assert.deepEqual(rest, []);
    assert.equal(top, "fleet.yaml: extra: unknown field (expected defaults, hosts, retired)");
    assert.match(inDefaults!, /^fleet\.yaml: defaults: nmae: unknown field \(expected one of user, port, .*settings.*\)$/);
    assert.match(inHost!, /^fleet\.yaml: hosts\[0\] \(mac1\): adress: unknown field \(expected one of name, address, user, .*\)$/);
  });

  test("an address in defaults is refused: every Mac has its own", () => {
    assert.match(problems({ defaults: { address: "10.0.0.1" }, hosts: [ok] })[0]!, /^fleet\.yaml: defaults: address: unknown field/);
  });

  test("duplicates, case-insensitively, and a Mac both live and retired", () => {
    assert.deepEqual(problems({ hosts: [ok, { name: "MAC1", address: "10.0.0.2" }, { name: "mac3", address: "10.0.0.3" }], retired: [{ name: "mac3" }] }), [
      'fleet.yaml: hosts[1] (MAC1): name: duplicate name (first at hosts[0] (mac1)) (got "MAC1")',
      'fleet.yaml: retired[0] (mac3): name: is both live (hosts[2] (mac3)) and retired; keep it in one list (got "mac3")',
    ]);
  });

  test("two entries for the same instance, launchd job or config directory on the same Mac, defaults filled in", () => {
    assert.deepEqual(problems({ hosts: [ok, { name: "other", address: "10.0.0.1" }] }), [
      'fleet.yaml: hosts[1] (other): instanceName: same Mac and instanceName as hosts[0] (mac1); give one another instanceName or remove it (got "postfix-in")',
      'fleet.yaml: hosts[1] (other): label: same Mac and label as hosts[0] (mac1); give one another label or remove it (got "org.postfix.in")',
    ]);
    // The default spelled out is the default; a second instance still needs a label of its own (one plist per label).
    assert.deepEqual(problems({ hosts: [ok, { name: "a", address: "10.0.0.1", instanceName: "postfix-in", label: "org.a" }, { name: "b", address: "10.0.0.1", instanceName: "postfix-b" }] }), [
      'fleet.yaml: hosts[1] (a): instanceName: same Mac and instanceName as hosts[0] (mac1); give one another instanceName or remove it (got "postfix-in")',
      'fleet.yaml: hosts[2] (b): label: same Mac and label as hosts[0] (mac1); give one another label or remove it (got "org.postfix.in")',
    ]);
    const dir = { configDirectory: "/etc/postfix-shared" };
    assert.deepEqual(problems({ hosts: [{ ...ok, ...dir }, { name: "c", address: "10.0.0.1", instanceName: "postfix-c", label: "org.c", ...dir }] }), [
      'fleet.yaml: hosts[1] (c): configDirectory: same Mac and configDirectory as hosts[0] (mac1); give one another configDirectory or remove it (got "/etc/postfix-shared")',
    ]);
    // A second instance on the same Mac is fine.
    assert.equal(parseInventory({ hosts: [ok, { name: "other", address: "10.0.0.1", instanceName: "postfix-in2", label: "org.postfix.in2" }] }).hosts.length, 2);
  });

  test("missing name and address, wrong shapes", () => {
    assert.deepEqual(problems({ hosts: [{ address: "10.0.0.1" }, { name: "mac2" }, "mac3", { name: 4, address: "x" }], retired: {} }), [
      "fleet.yaml: hosts[0]: name: is required",
      "fleet.yaml: hosts[1] (mac2): address: is required",
      'fleet.yaml: hosts[2]: must be a mapping with at least "name" and "address" (got "mac3")',
      "fleet.yaml: hosts[3]: name: must be a string (got 4)",
      "fleet.yaml: retired: must be a list of hosts (got {})",
    ]);
    assert.deepEqual(problems([]), ['fleet.yaml: must be a mapping with "hosts" (and optionally "defaults", "retired") (got [])']);
  });

  test("a name that is no host name", () => {
    assert.match(problems({ hosts: [{ name: "mac 1; rm -rf /", address: "10.0.0.1" }] })[0]!, /^fleet\.yaml: hosts\[0\] \(mac 1; rm -rf \/\): name: must start with a letter or digit/);
  });

  test("names that would share a Terraform address segment", () => {
    const clash = `mac_1_${addressSegment("mac.1").slice(-8)}`;
    assert.deepEqual(problems({ hosts: [{ name: "mac.1", address: "a" }, { name: clash, address: "b" }] }), [
      `fleet.yaml: hosts[1] (${clash}): name: maps to the same Terraform address segment "${clash}" as hosts[0] (mac.1); rename one (got "${clash}")`,
    ]);
  });

  test("every problem of a file is reported at once, with the file's path", () => {
    const path = file(
      "many.yaml",
      ["defaults:", "  port: 0", "hosts:", "  - {name: mac1, address: 10.0.0.1, user: -root}", "  - {name: mac2, address: 10.0.0.2, sudo: maybe}", "retired:", "  - {name: mac9, group: 'a b'}"].join("\n"),
    );
    assert.throws(
      () => loadInventory(path),
      (e: unknown) => {
        assert.ok(e instanceof InventoryError);
        assert.equal(e.problems.length, 4, e.message);
        assert.ok(e.problems.every((p) => p.startsWith(`${path}: `)));
        assert.match(e.message, /invalid inventory \(4 problems\)/);
        assert.ok(e.problems.some((p) => p.startsWith(`${path}: defaults: port: must be between 1 and 65535 (got 0)`)));
        assert.ok(e.problems.some((p) => p.startsWith(`${path}: hosts[0] (mac1): user: must not start with "-"`)));
        assert.ok(e.problems.some((p) => p.startsWith(`${path}: hosts[1] (mac2): sudo: must be one of true, false, "auto"`)));
        assert.ok(e.problems.some((p) => p.startsWith(`${path}: retired[0] (mac9): group: must match`)));
        return true;
      },
    );
  });

  test("a file that is not YAML, or not there", () => {
    assert.throws(() => loadInventory(file("broken.yaml", "hosts:\n  - name: a\n  - name: a\n   bad")), /broken\.yaml: not valid YAML: /);
    assert.throws(() => loadInventory(file("dup.yaml", "hosts: []\nhosts: []\n")), /dup\.yaml: not valid YAML: Map keys must be unique/);
    assert.throws(() => loadInventory(file("broken.json", "{hosts: []}")), /broken\.json: not valid JSON: /);
    assert.throws(() => loadInventory(join(dir, "absent.yaml")), /absent\.yaml: cannot read the inventory: ENOENT/);
  });
});

describe("inventory contents", () => {
  test("defaults merge under each host; settings key by key, null drops a default", () => {
    const inventory = loadInventory(
      file(
        "fleet.yaml",
        [
          "defaults:",
          "  user: admin",
          "  identityFile: keys/id_ed25519",
          "  settings: { inet_interfaces: all, message_size_limit: 10485760, biff: 'no' }",
          "hosts:",
          "  - { name: mac1, address: 10.0.0.1, site: east }",
          "  - { name: mac2.lab, address: 10.0.0.2, user: root, port: 2222, settings: { message_size_limit: 20480000, biff: null } }",
          "retired:",
          "  - { name: mac0 }",
        ].join("\n"),
      ),
    );
    const [mac1, mac2] = inventory.hosts;
    assert.equal(inventory.file, join(dir, "fleet.yaml"));
    assert.deepEqual(mac1, {
      name: "mac1",
      segment: "mac1",
      where: "hosts[0] (mac1)",
      site: "east",
      connection: { address: "10.0.0.1", user: "admin", identityFile: join(dir, "keys/id_ed25519") },
      instance: { settings: { inet_interfaces: "all", message_size_limit: "10485760", biff: "no" } },
    });
    assert.deepEqual(mac2!.connection, { address: "10.0.0.2", user: "root", port: 2222, identityFile: join(dir, "keys/id_ed25519") });
    assert.deepEqual(mac2!.instance.settings, { inet_interfaces: "all", message_size_limit: "20480000" });
    assert.match(mac2!.segment, /^mac2_lab_[0-9a-f]{8}$/);
    // A retired Mac needs no address: its teardown reads everything from state.
    assert.deepEqual(inventory.retired.map((m) => [m.name, m.connection]), [["mac0", undefined]]);
  });

  test("a YAML setting that reads as a number reaches main.cf as written", () => {
    const inventory = loadInventory(
      file("numbers.yaml", ["hosts:", "  - name: mac1", "    address: 10.0.0.1", "    port: 22", "    settings:", "      compatibility_level: 3.10", "      rel_hex: 0x10", "      rel_exp: 1e3  # a comment", "      rel_neg: -007"].join("\n")),
    );
    assert.deepEqual(inventory.hosts[0]!.instance.settings, { compatibility_level: "3.10", rel_hex: "0x10", rel_exp: "1e3", rel_neg: "-007" });
    assert.equal(inventory.hosts[0]!.connection!.port, 22, "other fields keep YAML's types");
  });

  test("code defaults sit below the file's", () => {
    const inventory = parseInventory({ defaults: { user: "admin" }, hosts: [ok] }, { defaults: { user: "root", port: 2200, label: "org.example.in" } });
    assert.deepEqual(inventory.hosts[0]!.connection, { address: "10.0.0.1", user: "admin", port: 2200 });
    assert.equal(inventory.hosts[0]!.instance.label, "org.example.in");
  });

  test("address segments are valid Terraform identifiers, deterministic and distinct", () => {
    for (const name of ["mac1", "mac-1", "mac.1", "1mac", "MAC_1", "a.b-c_d"]) {
      assert.match(addressSegment(name), /^[A-Za-z_][A-Za-z0-9_]*$/, name);
      assert.equal(addressSegment(name), addressSegment(name));
    }
    assert.equal(addressSegment("mac17"), "mac17");
    assert.ok(addressSegment("mac17.lab").startsWith("mac17_lab_"));
    assert.notEqual(addressSegment("mac-1"), addressSegment("mac.1"));
    assert.notEqual(addressSegment("mac-1"), addressSegment("mac_1"));
  });
});
