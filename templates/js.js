// Describe in one sentence what this script does (shown as its description).
'use strict';

const { script } = require('scriptgateway-sdk');

script({
  // The parameters. Types: str, int, float, bool, file (a path), choice (with `choices`),
  // json, url. `default` makes one optional; `required: true` makes it mandatory.
  params: {
    name: { type: 'str', required: true, help: 'Who to greet' },
    times: { type: 'int', default: 1, help: 'How many times' },
    shout: { type: 'bool', default: false, help: 'Upper-case the greeting' },
  },
  // Gets the typed values; may be async. What it returns is the run's JSON "data";
  // a thrown error becomes an error result.
  main({ name, times, shout }) {
    const greeting = `Hello, ${name}!`;
    return { greetings: Array(times).fill(shout ? greeting.toUpperCase() : greeting) };
  },
});
