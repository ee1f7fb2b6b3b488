// cdktn-cli 0.24 bundles an undici that calls worker_threads.markAsUncloneable (Node >= 22.10).
// On Node 20 every command but --version/--help dies with "TypeError: ...markAsUncloneable is not
// a function". Marking an object uncloneable only affects structuredClone, so a no-op is safe.
// Load it with NODE_OPTIONS="--require /path/to/node20-shim.cjs".
const threads = require("node:worker_threads");
if (typeof threads.markAsUncloneable !== "function") threads.markAsUncloneable = () => {};
