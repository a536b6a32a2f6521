// Describe in one sentence what this script does (shown as its description).
'use strict';

// The parameters of this script. Types: str, int, float, bool, file, choice, json, url.
const ARGS_MAP = {
  name: { flag: '--name', type: 'str', required: true, help: 'Who to greet' },
  times: { flag: '--times', type: 'int', default: 1, help: 'How many times' },
  shout: { flag: '--shout', type: 'bool', default: false, help: 'Upper-case the greeting' },
};

function parseArgs(argv) {
  const values = {};
  for (let i = 0; i < argv.length; i += 1) {
    const entry = Object.entries(ARGS_MAP).find(([, spec]) => spec.flag === argv[i]);
    if (entry) {
      values[entry[0]] = argv[i + 1];
      i += 1;
    }
  }
  return values;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const times = Number.parseInt(args.times ?? '1', 10);
  const shout = ['1', 'true', 'yes', 'on'].includes(String(args.shout ?? '0').toLowerCase());
  let greeting = `Hello, ${args.name}!`;
  if (shout) greeting = greeting.toUpperCase();
  // Print exactly one JSON value: it becomes the run's "data".
  process.stdout.write(`${JSON.stringify({ greetings: Array(times).fill(greeting) })}\n`);
}

if (process.argv.includes('--_sys_get_schema')) {
  process.stdout.write(`${JSON.stringify(ARGS_MAP)}\n`);
} else {
  main();
}
