// A real OpenID provider for casedesk's tests: panva's oidc-provider on loopback.
//
// Started by casedesk-testkit. It prints one JSON line when ready: {"issuer": "..."}.
// Besides the provider's own endpoints it offers test controls under /test/:
//   PUT  /test/users/:login   the claims of a user (email, casedesk_account, casedesk_roles, …)
//   GET  /test/stats          how often the JWKS (and discovery) were fetched
//   GET  /test/keys           the current private signing keys (PEM), to hand-craft tokens
//   POST /test/rotate         new signing keys; {"keep_old": true} keeps publishing the old ones
//   POST /test/jwks-cache     {"max_age": n} sets the JWKS Cache-Control max-age
//
// Usage: node provider.mjs <redirect-uri> [<redirect-uri> …]
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const redirectUris = process.argv.slice(2);
const users = new Map();
const stats = { discovery: 0, jwks: 0 };
let jwksMaxAge = null;

const API = 'https://casedesk.test/api';
// Resource indicator → signing algorithm; all share the audience casedesk expects.
const RESOURCES = {
  [API]: { alg: 'RS256', audience: 'casedesk-api' },
  [`${API}/ps256`]: { alg: 'PS256', audience: 'casedesk-api' },
  [`${API}/es256`]: { alg: 'ES256', audience: 'casedesk-api' },
  [`${API}/eddsa`]: { alg: 'EdDSA', audience: 'casedesk-api' },
  [`${API}/short`]: { alg: 'RS256', audience: 'casedesk-api', ttl: 1 },
  'https://other.test/api': { alg: 'RS256', audience: 'another-api' },
};

function newKeys(generation) {
  const make = (type, opts, alg) => {
    const { privateKey } = crypto.generateKeyPairSync(type, opts);
    const jwk = privateKey.export({ format: 'jwk' });
    const kid = `${alg.toLowerCase()}-${generation}-${crypto.randomBytes(4).toString('hex')}`;
    return {
      jwk: { ...jwk, kid, alg, use: 'sig' },
      pem: privateKey.export({ format: 'pem', type: 'pkcs8' }),
      publicPem: crypto.createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }),
      kid,
      alg,
    };
  };
  return [
    make('rsa', { modulusLength: 2048 }, 'RS256'),
    make('rsa', { modulusLength: 2048 }, 'PS256'),
    make('ec', { namedCurve: 'P-256' }, 'ES256'),
    make('ed25519', {}, 'EdDSA'),
  ];
}

let generation = 1;
let current = newKeys(generation);
let retired = [];

function build(issuer) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'casedesk-web',
        client_secret: 'casedesk-web-secret',
        redirect_uris: redirectUris.length ? redirectUris : ['http://127.0.0.1/unused'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
      {
        // The test harness's own client, for getting access tokens through the code flow.
        client_id: 'test-cli',
        client_secret: 'test-cli-secret',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [...current.map((k) => k.jwk), ...retired.map((k) => k.jwk)] },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      casedesk: ['casedesk_account', 'casedesk_roles', 'casedesk_queues'],
    },
    scopes: ['openid', 'offline_access', 'email', 'casedesk'],
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          const r = RESOURCES[indicator];
          if (!r) throw new Error('unknown resource');
          return {
            scope: 'cases:read cases:write tokens admin',
            audience: r.audience,
            accessTokenTTL: r.ttl ?? 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: r.alg } },
          };
        },
      },
    },
    async findAccount(ctx, id) {
      if (!users.has(id)) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...users.get(id) }; } };
    },
    async extraTokenClaims(ctx, token) {
      // Roles are read when the token is issued, so a change shows in the next token.
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      return users.get(token.accountId);
    },
    async loadExistingGrant(ctx) {
      // First-party clients: consent is implied.
      const { client, session } = ctx.oidc;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email casedesk');
      grant.addOIDCClaims(['email', 'casedesk_account', 'casedesk_roles', 'casedesk_queues']);
      for (const r of Object.keys(RESOURCES)) grant.addResourceScope(r, 'cases:read cases:write tokens admin');
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { Session: 3600, Interaction: 600, Grant: 3600, AuthorizationCode: 60, IdToken: 3600 },
  });
  provider.proxy = false;
  return provider;
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

let provider;
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/test/')) {
      if (req.method === 'PUT' && url.pathname.startsWith('/test/users/')) {
        users.set(decodeURIComponent(url.pathname.slice('/test/users/'.length)), await readBody(req));
        return json(res, 204, {});
      }
      if (url.pathname === '/test/stats') return json(res, 200, stats);
      if (url.pathname === '/test/keys') {
        return json(res, 200, { keys: current.map(({ pem, publicPem, kid, alg }) => ({ pem, public_pem: publicPem, kid, alg })) });
      }
      if (req.method === 'POST' && url.pathname === '/test/rotate') {
        const body = await readBody(req);
        retired = body.keep_old ? [...current, ...retired] : [];
        generation += 1;
        current = newKeys(generation);
        provider = build(issuer);
        return json(res, 200, { kids: current.map((k) => k.kid) });
      }
      if (req.method === 'POST' && url.pathname === '/test/jwks-cache') {
        jwksMaxAge = (await readBody(req)).max_age ?? null;
        return json(res, 204, {});
      }
      return json(res, 404, { error: 'no such test control' });
    }
    if (url.pathname === '/.well-known/openid-configuration') stats.discovery += 1;
    if (url.pathname === '/jwks') {
      stats.jwks += 1;
      if (jwksMaxAge !== null) {
        const orig = res.setHeader.bind(res);
        res.setHeader = (k, v) => (k.toLowerCase() === 'cache-control' ? orig(k, `public, max-age=${jwksMaxAge}`) : orig(k, v));
      }
    }
    if (url.pathname.startsWith('/interaction/')) {
      // Signs in the user named by login_hint at once (no login page in tests).
      const details = await provider.interactionDetails(req, res);
      let result;
      if (details.prompt.name === 'login') {
        const login = details.params.login_hint;
        if (!login || !users.has(login)) return json(res, 400, { error: 'unknown login_hint' });
        result = { login: { accountId: login } };
      } else {
        process.stderr.write(`interaction ${details.prompt.name} ${JSON.stringify(details.prompt.reasons)} ${JSON.stringify(details.prompt.details)}\n`);
        const grant = new provider.Grant({ clientId: details.params.client_id, accountId: details.session.accountId });
        grant.addOIDCScope(details.params.scope);
        for (const r of Object.keys(RESOURCES)) grant.addResourceScope(r, 'cases:read cases:write tokens admin');
        result = { consent: { grantId: await grant.save() } };
      }
      const to = await provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
      res.writeHead(303, { location: to });
      return res.end();
    }
    return provider.callback()(req, res);
  } catch (e) {
    json(res, 500, { error: String(e && e.stack || e) });
  }
});

let issuer;
server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build(issuer);
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
