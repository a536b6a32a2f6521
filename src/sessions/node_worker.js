// The worker behind a Node.js interpreter session. The shell that started it moved the
// gateway's pipes to descriptors 3 (commands), 4 (replies, one line of JSON each) and 5 (the
// worker's own complaints), and pointed descriptors 1 and 2 at two capture files opened for
// appending: they are emptied before each call and read after it, so everything written
// there during the call, by the code or by a process it started, is that call's output.
// A call made with "stream" also sends its output on as it is written, as {"id", "stream",
// "text"} lines. Variables live in one `vm` context for the whole session.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');
const { StringDecoder } = require('node:string_decoder');
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
const NAMES = ['stdout', 'stderr'];
// How often a streaming call's capture files are read while the event loop runs: what a
// child process or `fs.writeSync(1, …)` wrote shows up this late at most.
const TAIL_EVERY_MS = 50;

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

/// A streaming call's output sent on: the capture files read from where the last read
/// stopped, up to the call's limit, decoded so a character split between two reads stays whole.
class Tail {
  constructor(id, limit) {
    this.id = id;
    this.limit = limit;
    this.sent = CAPTURES.map(() => 0);
    this.decoders = CAPTURES.map(() => new StringDecoder('utf8'));
    this.timer = setInterval(() => this.pump(), TAIL_EVERY_MS);
  }

  pump(only) {
    CAPTURES.forEach((capture, index) => {
      if (only !== undefined && index !== only) return;
      for (;;) {
        const room = Math.min(TAIL_BUFFER.length, this.limit - this.sent[index]);
        const read = room > 0 ? fs.readSync(capture.read, TAIL_BUFFER, 0, room, this.sent[index]) : 0;
        if (read === 0) break;
        this.sent[index] += read;
        this.send(index, this.decoders[index].write(TAIL_BUFFER.subarray(0, read)));
      }
    });
  }

  end() {
    clearInterval(this.timer);
    this.pump();
    this.decoders.forEach((decoder, index) => this.send(index, decoder.end()));
  }

  send(index, text) {
    if (text) send({ id: this.id, stream: NAMES[index], text });
  }
}
const TAIL_BUFFER = Buffer.allocUnsafe(64 * 1024);
let tail = null;
// Writes through process.stdout and process.stderr (console's too) are sent on at once.
[process.stdout, process.stderr].forEach((stream, index) => {
  const write = stream.write;
  stream.write = function writeAndTail(...args) {
    const written = write.apply(this, args);
    if (tail) tail.pump(index);
    return written;
  };
});

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
  if (command.stream) tail = new Tail(command.id, limit);
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
  if (tail) {
    tail.end();
    tail = null;
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
