// sw_vers(1) answering as macOS 14 Sonoma does.
const product = { ProductName: "macOS", ProductVersion: "14.6.1", BuildVersion: "23G93" } as const;
const flags: Record<string, keyof typeof product> = {
  "-productName": "ProductName",
  "--productName": "ProductName",
  "-productVersion": "ProductVersion",
  "--productVersion": "ProductVersion",
  "-buildVersion": "BuildVersion",
  "--buildVersion": "BuildVersion",
};

const args = process.argv.slice(2);
if (args.length === 0) {
  for (const [k, v] of Object.entries(product)) process.stdout.write(`${k}:\t\t${v}\n`);
} else if (args.length === 1 && args[0]! in flags) {
  process.stdout.write(`${product[flags[args[0]!]!]}\n`);
} else {
  process.stderr.write("Usage: sw_vers [--productName|--productVersion|--productVersionExtra|--buildVersion]\n");
  process.exit(1);
}
