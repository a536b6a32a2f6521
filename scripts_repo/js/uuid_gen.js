// Generate random version-4 UUIDs with Node's built-in crypto.randomUUID.
// CommonJS, no npm packages. Example: --count 3 --upper
const { randomUUID } = require('node:crypto');

const ARGS_MAP = {
  count: { flag: '--count', type: 'int', required: false, default: 1, help: 'How many UUIDs (1-1000)' },
  upper: { flag: '--upper', type: 'bool', action: 'store_true', default: false, help: 'Upper-case hex digits' },
};

// Minimal parser for the gateway's argv: `--flag value` pairs, bare flags for store_true.
function parseArgs(argv, schema) {
  const args = {};
  for (const [name, spec] of Object.entries(schema)) args[name] = spec.default;
  const byFlag = Object.fromEntries(Object.entries(schema).map(([name, spec]) => [spec.flag, name]));
  for (let i = 0; i < argv.length; i++) {
    const name = byFlag[argv[i]];
    if (!name) throw new Error(`unknown argument: ${argv[i]}`);
    if (schema[name].action === 'store_true') args[name] = true;
    else if (i + 1 < argv.length) args[name] = argv[++i];
    else throw new Error(`${argv[i]} needs a value`);
  }
  return args;
}

function main() {
  const args = parseArgs(process.argv.slice(2), ARGS_MAP);
  const count = Number(args.count);
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new Error('--count must be an integer between 1 and 1000');
  }
  let uuids = Array.from({ length: count }, () => randomUUID());
  if (args.upper) uuids = uuids.map((u) => u.toUpperCase());
  console.log(JSON.stringify({ count, uuids }));
}

if (process.argv.includes('--_sys_get_schema')) {
  console.log(JSON.stringify(ARGS_MAP));
} else {
  try {
    main();
  } catch (err) {
    console.error(err.message);
    process.exitCode = 2;
  }
}
