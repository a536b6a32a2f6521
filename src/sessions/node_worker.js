// The worker behind a Node.js interpreter session. The shell that started it moved the
// gateway's pipes to descriptors 3 (commands), 4 (replies, one line of JSON each) and 5 (the
// worker's own complaints), and pointed descriptors 1 and 2 at two capture files opened for
// appending: they are emptied before each call and read after it, so everything written
// there during the call, by the code or by a process it started, is that call's output.
// Variables live in one `vm` context for the whole session.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');
const util = require('node:util');
const vm = require('node:vm');
const nodeModule = require('node:module');

// Reopened close-on-exec (as Node opens every file) so no process the code starts holds
// the gateway's pipes; the inherited descriptors are closed.
function reopen(fd, flags) {
  const copy = fs.openSync(`/proc/self/fd/${fd}`, flags);
  fs.closeSync(fd);
  return copy;
}
const COMMANDS = reopen(3, 'r');
const REPLIES = reopen(4, 'w');
const DIAGNOSTICS = reopen(5, 'w');
// Read ends of the capture files: fd 1 and 2 are open for appending only.
const CAPTURES = [1, 2].map((fd) => ({ fd, read: fs.openSync(`/proc/self/fd/${fd}`, 'r') }));
const WORKER_FILE = __filename;

const sandbox = {
  console: new console.Console({ stdout: process.stdout, stderr: process.stderr }),
  process,
  Buffer,
  URL,
  URLSearchParams,
  TextEncoder,
  TextDecoder,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  setImmediate,
  clearImmediate,
  queueMicrotask,
  structuredClone,
  require: nodeModule.createRequire(path.join(process.cwd(), '<session>')),
};
const context = vm.createContext(sandbox);

// SIGINT interrupts a call: synchronous code through `breakOnSigint`, a returned promise
// through this listener; between calls it is ignored.
let interruptWait = null;
process.on('SIGINT', () => {
  if (interruptWait) interruptWait();
});

function watchParent() {
  const parentOf = () => Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[1]);
  const parent = parentOf();
  setInterval(() => {
    if (parentOf() !== parent) process.kill(-process.pid, 'SIGKILL');
  }, 500).unref();
}

class Interrupted extends Error {}

// Frames of the worker and of Node itself, which no user code has.
const HIDDEN = [WORKER_FILE, '(node:', ' node:', 'sigintHandlersWrap'];

/// name, value and a stack without the worker's frames (errors from the code's own realm
/// are not `instanceof Error` here).
function describe(error) {
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) {
    return { name: 'Error', value: String(error), traceback: `Uncaught ${util.inspect(error)}` };
  }
  const stack = String(error.stack || `${error.name}: ${error.message}`)
    .split('\n')
    .filter((line) => !HIDDEN.some((hidden) => line.includes(hidden)))
    .join('\n');
  return { name: String(error.name || 'Error'), value: String(error.message || ''), traceback: stack };
}

function readCapped(capture, limit) {
  const buffer = Buffer.alloc(Math.min(limit + 1, 16 * 1024 * 1024));
  let size = 0;
  while (size < buffer.length) {
    const read = fs.readSync(capture.read, buffer, size, buffer.length - size, size);
    if (read === 0) break;
    size += read;
  }
  return [buffer.subarray(0, Math.min(size, limit)).toString('utf8'), size > limit];
}

async function settle(value) {
  if (!value || typeof value.then !== 'function') return value;
  return Promise.race([
    value,
    new Promise((_, reject) => {
      interruptWait = () => reject(new Interrupted('interrupted while awaiting the result'));
    }),
  ]).finally(() => {
    interruptWait = null;
  });
}

async function execute(command) {
  const limit = Number(command.max_output || 1 << 20);
  const reply = { id: command.id, status: 'ok', result: null, error: null };
  for (const capture of CAPTURES) fs.ftruncateSync(capture.fd, 0);
  try {
    const options = { filename: `<cell-${command.id}>`, breakOnSigint: true };
    const value = await settle(vm.runInContext(command.code, context, options));
    reply.result = value === undefined ? null : util.inspect(value);
  } catch (error) {
    const interrupted = error instanceof Interrupted || (error && error.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED');
    reply.status = interrupted ? 'interrupted' : 'error';
    reply.error = describe(error);
    if (interrupted) reply.error.name = 'Interrupted';
  }
  [reply.stdout, reply.truncated] = readCapped(CAPTURES[0], limit);
  let cut;
  [reply.stderr, cut] = readCapped(CAPTURES[1], limit);
  reply.truncated = reply.truncated || cut;
  return reply;
}

function send(reply) {
  fs.writeSync(REPLIES, `${JSON.stringify(reply)}\n`);
}

async function serve() {
  watchParent();
  send({ id: 0, status: 'ready', pid: process.pid });
  // A socket over the pipe, not a file stream: a read blocked in the thread pool would keep
  // `process.exit()` from ever returning.
  const lines = readline.createInterface({ input: new net.Socket({ fd: COMMANDS, readable: true, writable: false }) });
  for await (const line of lines) {
    send(await execute(JSON.parse(line)));
  }
  process.exit(0);
}

serve().catch((error) => {
  fs.writeSync(DIAGNOSTICS, `${error && error.stack}\n`);
  process.exit(70);
});
