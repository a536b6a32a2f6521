'use strict';
// ScriptGateway's script SDK: describe the parameters once, write `main`, and `script()`
// answers --_sys_get_schema, parses argv, calls main and prints its result as JSON.

const fs = require('node:fs');
const path = require('node:path');

const SCHEMA_FLAG = '--_sys_get_schema';
const TYPES = ['str', 'int', 'float', 'bool', 'file', 'choice', 'json', 'url'];
const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

/** The ARGS_MAP of `params`: every entry with its `flag` (`--<name>`) filled in. */
function argsMap(params) {
  const map = {};
  for (const [name, spec] of Object.entries(params || {})) {
    const entry = { flag: `--${name}`, ...spec };
    if (entry.type !== undefined && !TYPES.includes(entry.type)) {
      throw new TypeError(`parameter ${name}: unknown type ${JSON.stringify(entry.type)}`);
    }
    map[name] = entry;
  }
  return map;
}

function isBool(entry) {
  return entry.type === 'bool' || entry.action === 'store_true';
}

function convert(entry, text) {
  const kind = isBool(entry) ? 'bool' : entry.type || 'str';
  switch (kind) {
    case 'int': {
      if (!/^[+-]?\d+$/.test(text.trim())) throw new TypeError(`${entry.flag}: ${JSON.stringify(text)} is not an integer`);
      return Number.parseInt(text, 10);
    }
    case 'float': {
      const value = Number(text);
      if (text.trim() === '' || Number.isNaN(value)) throw new TypeError(`${entry.flag}: ${JSON.stringify(text)} is not a number`);
      return value;
    }
    case 'bool': {
      const lowered = text.trim().toLowerCase();
      if (TRUE.includes(lowered)) return true;
      if (FALSE.includes(lowered)) return false;
      throw new TypeError(`${entry.flag}: ${JSON.stringify(text)} is not a boolean`);
    }
    case 'json':
      return JSON.parse(text);
    case 'file':
      return path.resolve(text);
    case 'choice': {
      const found = (entry.choices || []).find((choice) => String(choice) === text);
      if (found === undefined) throw new TypeError(`${entry.flag}: ${JSON.stringify(text)} is not one of ${JSON.stringify(entry.choices)}`);
      return found;
    }
    default:
      return text;
  }
}

/** Typed values of `argv` (`--flag value` pairs) by the entries of `map`. */
function parseArgs(map, argv) {
  const byFlag = new Map(Object.entries(map).map(([name, entry]) => [entry.flag, [name, entry]]));
  const values = {};
  for (let index = 0; index < argv.length; ) {
    let flag = argv[index];
    let inline;
    if (flag.startsWith('--') && flag.includes('=')) {
      inline = flag.slice(flag.indexOf('=') + 1);
      flag = flag.slice(0, flag.indexOf('='));
    }
    const found = byFlag.get(flag);
    if (!found) throw new TypeError(`unknown argument ${JSON.stringify(argv[index])}`);
    const [name, entry] = found;
    index += 1;
    let text = inline;
    if (text === undefined && isBool(entry) && (index === argv.length || byFlag.has(argv[index]))) {
      text = '1';
    } else if (text === undefined) {
      if (index === argv.length) throw new TypeError(`${flag} needs a value`);
      text = argv[index];
      index += 1;
    }
    values[name] = convert(entry, text);
  }
  for (const [name, entry] of Object.entries(map)) {
    if (!(name in values) && entry.default !== undefined) values[name] = entry.default;
  }
  const missing = Object.entries(map).filter(([name, e]) => e.required && !(name in values));
  if (missing.length) {
    throw new TypeError(`missing required argument(s): ${missing.map(([, e]) => e.flag).join(', ')}`);
  }
  return values;
}

function printJson(value) {
  if (value !== undefined) process.stdout.write(`${JSON.stringify(value)}\n`);
}

function reportError(error) {
  const name = (error && error.name) || 'Error';
  const message = error && error.message !== undefined ? error.message : String(error);
  process.stderr.write(`${(error && error.stack) || `${name}: ${message}`}\n`);
  printJson({ status: 'error', error: { type: name, message } });
  process.exitCode = 1;
}

/**
 * Runs a script described by `definition` = `{ description?, params, main }`: with
 * --_sys_get_schema prints the ARGS_MAP; otherwise calls `main(args)` (sync or async) and
 * prints what it returns as JSON; an exception prints an error object and exits with 1.
 * Returns a promise that settles when the script is done.
 */
function script(definition, argv = process.argv.slice(2)) {
  if (!definition || typeof definition.main !== 'function') {
    throw new TypeError('script() needs an object with a main function');
  }
  return (async () => {
    try {
      const map = argsMap(definition.params);
      if (argv.includes(SCHEMA_FLAG)) return printJson(map);
      printJson(await definition.main(parseArgs(map, argv)));
    } catch (error) {
      reportError(error);
    }
  })();
}

/**
 * Writes `data` (a Buffer, typed array or string) as `name` in the run's working folder,
 * where it becomes one of the run's files; returns its absolute path. `name` must be a
 * plain file name: no `/`, no `..`, no NUL.
 */
function outputFile(name, data) {
  if (!name || name === '.' || name === '..' || /[/\0]/.test(name)) {
    throw new TypeError(`${JSON.stringify(name)} is not a plain file name`);
  }
  const target = path.resolve(name);
  fs.writeFileSync(target, data);
  return target;
}

/** Prints to stderr (the run's log), leaving stdout for the result. */
function log(...parts) {
  process.stderr.write(`${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`);
}

module.exports = { script, parseArgs, outputFile, log, SCHEMA_FLAG };
