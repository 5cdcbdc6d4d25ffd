// A webhook receiver for casedesk's tests. It checks every delivery with the
// `standardwebhooks` package (an implementation independent of casedesk's) and records what
// it saw. Behaviour is set per path through POST /control:
//   { path, secrets: ["whsec_…"], fail_first: N, slow_first: N, delay_ms: M, status: S }
// The first `fail_first` attempts of each webhook-id answer 503, the first `slow_first`
// wait `delay_ms` before answering, and the rest answer `status` (default 204).
// GET /log returns every delivery seen and how often one id was in flight twice at once.
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const port = Number(process.argv[2] || 0);
const paths = new Map();
const attempts = new Map();
const inflight = new Map();
const received = [];
let overlaps = 0;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://receiver');
  const body = await readBody(req);
  if (req.method === 'POST' && url.pathname === '/control') {
    const c = JSON.parse(body);
    paths.set(c.path, { secrets: [], fail_first: 0, slow_first: 0, delay_ms: 0, status: 204, ...c });
    res.writeHead(204).end();
    return;
  }
  if (req.method === 'GET' && url.pathname === '/log') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ received, overlaps }));
    return;
  }
  const cfg = paths.get(url.pathname) || { secrets: [], fail_first: 0, slow_first: 0, delay_ms: 0, status: 204 };
  const id = req.headers['webhook-id'] || '';
  const n = (attempts.get(id) || 0) + 1;
  attempts.set(id, n);
  if (inflight.get(id)) overlaps += 1;
  inflight.set(id, true);
  let verified = false;
  let verifiedWith = null;
  for (const [i, s] of cfg.secrets.entries()) {
    try {
      new Webhook(s).verify(body, {
        'webhook-id': req.headers['webhook-id'],
        'webhook-timestamp': req.headers['webhook-timestamp'],
        'webhook-signature': req.headers['webhook-signature'],
      });
      verified = true;
      verifiedWith = i;
      break;
    } catch (_) {
      // try the next secret
    }
  }
  if (n <= cfg.slow_first) await sleep(cfg.delay_ms);
  const status = n <= cfg.fail_first ? 503 : cfg.status;
  let parsed = null;
  try { parsed = JSON.parse(body); } catch (_) { /* recorded as null */ }
  received.push({
    path: url.pathname,
    id,
    attempt: n,
    timestamp: req.headers['webhook-timestamp'],
    signature: req.headers['webhook-signature'],
    verified,
    verified_with: verifiedWith,
    status,
    body: parsed,
  });
  inflight.set(id, false);
  res.writeHead(status).end();
});

server.keepAliveTimeout = 1000;
server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
