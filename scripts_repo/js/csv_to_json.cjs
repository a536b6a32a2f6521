// Parse CSV text into JSON rows (objects keyed by the header row, or plain arrays).
// CommonJS, no npm packages. Handles quoted fields, doubled quotes ("") and newlines inside quotes.

const ARGS_MAP = {
  csv: { flag: '--csv', type: 'str', required: true, help: 'The CSV text' },
  delimiter: { flag: '--delimiter', type: 'choice', choices: [',', ';', '\t'], required: false, default: ',', help: 'Field separator' },
  header: { flag: '--header', type: 'bool', required: false, default: true, help: 'First row holds the column names' },
};

// Minimal parser for the gateway's argv: `--flag value` pairs.
function parseArgs(argv, schema) {
  const args = {};
  for (const [name, spec] of Object.entries(schema)) args[name] = spec.default;
  const byFlag = Object.fromEntries(Object.entries(schema).map(([name, spec]) => [spec.flag, name]));
  for (let i = 0; i < argv.length; i += 2) {
    const name = byFlag[argv[i]];
    if (!name) throw new Error(`unknown argument: ${argv[i]}`);
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    args[name] = argv[i + 1];
  }
  return args;
}

function parseBool(value) {
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(text)) return false;
  throw new Error(`not a boolean: ${value}`);
}

function parseCsv(text, delimiter) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows.filter((r) => !(r.length === 1 && r[0] === '')); // drop blank lines
}

function main() {
  const args = parseArgs(process.argv.slice(2), ARGS_MAP);
  if (args.csv === undefined) throw new Error('--csv is required');
  const delimiter = args.delimiter === '\\t' ? '\t' : args.delimiter; // accept a typed "\t" too
  if (!ARGS_MAP.delimiter.choices.includes(delimiter)) throw new Error(`unsupported delimiter: ${JSON.stringify(delimiter)}`);

  const rows = parseCsv(args.csv, delimiter);
  if (!parseBool(args.header)) {
    console.log(JSON.stringify({ columns: null, count: rows.length, rows }));
    return;
  }
  const [columns = [], ...body] = rows;
  const objects = body.map((r) => Object.fromEntries(columns.map((col, i) => [col, r[i] ?? null])));
  console.log(JSON.stringify({ columns, count: objects.length, rows: objects }));
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
