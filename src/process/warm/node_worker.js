// ScriptGateway's pre-started Node.js process for warm runs. It was started with its
// dependency set's environment, its run user, limits and process group; it waits for
// exactly one run on stdin (one JSON object: argv, env, cwd, then end-of-file), becomes
// that run (environment, working folder, argv, command line) and runs the script as
// `node SCRIPT ARGS` would, as CommonJS or as an ES module. It never takes a second run.
'use strict';

const fs = require('node:fs');
const nodeModule = require('node:module');

function readRun() {
  const chunks = [];
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    let read;
    try {
      read = fs.readSync(0, buffer, 0, buffer.length, null);
    } catch (error) {
      if (error.code === 'EAGAIN') continue;
      if (error.code === 'EOF') break;
      throw error;
    }
    if (read === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, read)));
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const run = readRun();
for (const name of Object.keys(process.env)) delete process.env[name];
Object.assign(process.env, run.env);
process.chdir(run.cwd);
process.argv = [process.argv[0], ...run.argv];
// Shown in /proc/PID/cmdline (within the room the gateway's padded argument left).
process.title = [run.program, ...run.argv].join(' ');
nodeModule.runMain();
