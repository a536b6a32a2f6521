// Fetch a web page and return its HTTP status and <title>.
// ES module using Node's global fetch (Node 18+), no npm packages.
// On a network error it prints {"error": ...} and exits 1.

const ARGS_MAP = {
  site: { flag: '--site', type: 'url', required: true, help: 'Page to fetch, e.g. https://example.com' },
  timeout_ms: { flag: '--timeout_ms', type: 'int', required: false, default: 3000, help: 'Give up after this many milliseconds' },
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

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'", nbsp: ' ' };

function extractTitle(html) {
  const match = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html);
  if (!match) return null;
  return match[1]
    .replace(/&(amp|lt|gt|quot|apos|#39|nbsp);/g, (_, e) => ENTITIES[e])
    .replace(/\s+/g, ' ')
    .trim();
}

function fail(message, code) {
  console.log(JSON.stringify({ error: message }));
  console.error(message);
  process.exitCode = code;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), ARGS_MAP);
    if (!args.site) throw new Error('--site is required');
    const { protocol } = new URL(args.site);
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error('--site must be an http(s) URL');
    args.timeout_ms = Number(args.timeout_ms);
    if (!Number.isInteger(args.timeout_ms) || args.timeout_ms <= 0) throw new Error('--timeout_ms must be a positive integer');
  } catch (err) {
    return fail(err.message, 2);
  }

  try {
    const res = await fetch(args.site, {
      signal: AbortSignal.timeout(args.timeout_ms),
      headers: { 'user-agent': 'ScriptGateway-example/1.0' },
    });
    const title = extractTitle(await res.text());
    console.log(JSON.stringify({ url: res.url, status: res.status, title }));
  } catch (err) {
    const reason = err.cause?.code ?? err.cause?.message ?? err.message;
    fail(`could not fetch ${args.site}: ${reason}`, 1);
  }
}

if (process.argv.includes('--_sys_get_schema')) {
  console.log(JSON.stringify(ARGS_MAP));
} else {
  await main();
}
