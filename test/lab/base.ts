// The shared base layer every simulated Mac's root overlays on the host's `/`, and each Mac's first-boot files.
import { chmod, chown, copyFile, mkdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import plist from "plist";

export const ADMIN = { name: "admin", uid: 501, home: "/Users/admin" } as const;
/** Apple's group ids where Debian leaves them free (admin is 80 on macOS; wheel shares gid 0 with root). */
const ADMIN_GID = 80;

/** The last stanza of main.cf on macOS (reference section 1, "Apple Defaults"). */
const APPLE_DEFAULTS: [string, string][] = [
  ["message_size_limit", "10485760"],
  ["mailbox_size_limit", "0"],
  ["biff", "no"],
  ["mynetworks", "127.0.0.0/8, [::1]/128"],
  ["smtpd_client_restrictions", "permit_mynetworks permit_sasl_authenticated permit"],
  ["recipient_delimiter", "+"],
  ["tls_random_source", "dev:/dev/urandom"],
  ["smtpd_tls_ciphers", "medium"],
  ["inet_interfaces", "loopback-only"],
];

/** What Debian's Postfix 3.7 needs to run, at macOS's daemon directory. */
const DEBIAN_MAIN_CF: [string, string][] = [
  ["compatibility_level", "3.6"],
  ["daemon_directory", "/usr/libexec/postfix"],
  ["append_dot_mydomain", "no"],
  ["readme_directory", "no"],
  ["alias_maps", "hash:/etc/aliases"],
  ["alias_database", "hash:/etc/aliases"],
  ["mydestination", "$myhostname, localhost.$mydomain, localhost"],
  ["relayhost", ""],
];

export const SSHD_CONFIG = `# Simulated Mac: key-only logins as admin; root refused.
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
PrintMotd no
AcceptEnv LANG LC_*
# Fleet tests open many connections at once to the same Mac.
MaxStartups 200:30:400
Subsystem sftp /usr/lib/openssh/sftp-server
`;

function mainCf(): string {
  const line = ([k, v]: [string, string]) => `${k} = ${v}`;
  return [
    "# Simulated Mac: what Debian's Postfix 3.7 needs, then Apple's defaults.",
    ...DEBIAN_MAIN_CF.map(line),
    "",
    "# Apple Defaults",
    "#",
    ...APPLE_DEFAULTS.map(line),
    "",
  ].join("\n");
}

async function put(root: string, path: string, content: string, mode = 0o644, uid = 0, gid = 0): Promise<void> {
  const file = join(root, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content, { mode });
  await chmod(file, mode);
  await chown(file, uid, gid);
}

async function dir(root: string, path: string, mode = 0o755, uid = 0, gid = 0): Promise<void> {
  const d = join(root, path);
  await mkdir(d, { recursive: true });
  await chmod(d, mode);
  await chown(d, uid, gid);
}

/** Copies the host's account files and adds macOS's: wheel (gid 0, listed first so gid 0 reads as wheel), admin, root at /var/root. */
async function accounts(root: string): Promise<void> {
  for (const f of ["passwd", "group", "shadow", "gshadow", "login.defs"]) await copyFile(join("/etc", f), join(root, "etc", f));
  const P = ["-P", root];
  await execa("groupadd", [...P, "-o", "-g", "0", "wheel"]);
  await execa("groupadd", [...P, "-g", String(ADMIN_GID), "admin"]);
  // `*`: no password, but not a locked account, so key logins work with UsePAM.
  await execa("useradd", [...P, "-u", String(ADMIN.uid), "-g", "staff", "-G", "admin", "-d", ADMIN.home, "-s", "/bin/bash", "-M", "-p", "*", ADMIN.name]);
  for (const f of ["group", "gshadow"]) {
    const lines = (await readFile(join(root, "etc", f), "utf8")).trimEnd().split("\n");
    const wheel = lines.filter((l) => l.startsWith("wheel:"));
    await writeFile(join(root, "etc", f), [...wheel, ...lines.filter((l) => !l.startsWith("wheel:"))].join("\n") + "\n");
  }
  const passwd = await readFile(join(root, "etc/passwd"), "utf8");
  await writeFile(join(root, "etc/passwd"), passwd.replace(/^root:([^:]*):0:0:([^:]*):\/root:/m, "root:$1:0:0:$2:/var/root:"));
}

export interface BaseOptions {
  root: string;
  adminPublicKey: string;
  /** Installs the launchd emulator and macOS userland (launchctl, sw_vers, ...) into the base. */
  installUserland: (root: string) => Promise<void>;
}

/** Builds the base layer in `root` (an empty directory). */
export async function buildBase({ root, adminPublicKey, installUserland }: BaseOptions): Promise<void> {
  await dir(root, "etc");
  await accounts(root);

  // macOS paths: /private holds etc, var and tmp there; here they point the other way.
  await dir(root, "private");
  for (const d of ["etc", "var", "tmp"]) await symlink(`../${d}`, join(root, "private", d));
  await dir(root, "usr/libexec");
  await symlink("/usr/lib/postfix/sbin", join(root, "usr/libexec/postfix"));

  await dir(root, "var/root", 0o750);
  await dir(root, "Users");
  await dir(root, ADMIN.home, 0o750, ADMIN.uid, ADMIN_GID);
  await dir(root, `${ADMIN.home}/.ssh`, 0o700, ADMIN.uid, ADMIN_GID);
  await put(root, `${ADMIN.home}/.ssh/authorized_keys`, adminPublicKey, 0o600, ADMIN.uid, ADMIN_GID);
  await put(root, "etc/sudoers.d/maclab-admin", `${ADMIN.name} ALL=(ALL:ALL) NOPASSWD: ALL\n`, 0o440);
  await put(root, "etc/ssh/sshd_config", SSHD_CONFIG);

  const postfix = join(root, "etc/postfix");
  await put(root, "etc/postfix/main.cf", mainCf());
  await copyFile("/etc/postfix/master.cf", join(postfix, "master.cf"));
  // macOS runs no service chrooted (column 5 is `n`).
  await execa("postconf", ["-c", postfix, "-F", "*/*/chroot = n"]);
  // postmulti -e create builds a new instance's master.cf from this prototype, smtpd included.
  await copyFile(join(postfix, "master.cf"), join(postfix, "master.cf.proto"));
  // The primary instance listens on no port, as on a Mac.
  await execa("postconf", ["-c", postfix, "-M#", "smtp/inet"]);

  await dir(root, "System/Library/LaunchDaemons");
  await dir(root, "Library/LaunchDaemons");
  await dir(root, "Library/LaunchAgents");
  await dir(root, "var/db/com.apple.xpc.launchd");
  await put(
    root,
    "System/Library/LaunchDaemons/com.apple.postfix.master.plist",
    plist.build({
      Label: "com.apple.postfix.master",
      Program: "/usr/libexec/postfix/master",
      ProgramArguments: ["master", "-e", "60"],
      QueueDirectories: ["/var/spool/postfix/maildrop"],
      AbandonProcessGroup: true,
    }),
  );
  await put(
    root,
    "System/Library/LaunchDaemons/com.openssh.sshd.plist",
    plist.build({
      Label: "com.openssh.sshd",
      Program: "/usr/sbin/sshd",
      ProgramArguments: ["/usr/sbin/sshd", "-D"],
      RunAtLoad: true,
      KeepAlive: true,
    }),
  );
  await installUserland(root);
}

export interface MacSeed {
  upper: string;
  hostname: string;
  hosts: string;
}

/** Writes a Mac's first-boot files into its (not yet mounted) upper layer; returns its public host key. */
export async function seedMac({ upper, hostname, hosts }: MacSeed): Promise<string> {
  await put(upper, "etc/hostname", `${hostname}\n`);
  await put(upper, "etc/mailname", `${hostname}\n`);
  await put(upper, "etc/hosts", hosts);
  await dir(upper, "etc/ssh");
  const key = join(upper, "etc/ssh/ssh_host_ed25519_key");
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", hostname, "-f", key]);
  return (await readFile(`${key}.pub`, "utf8")).trim();
}

/** Writes `content` to `file` atomically (temporary file in the same directory, then rename). */
export async function writeAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, file);
}
