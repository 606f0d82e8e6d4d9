// A real OAuth 2.0 authorization server (panva/node-oidc-provider 9, pinned in package.json)
// for portcullis's live-issuer tests: client-credentials access tokens in the JWT profile of
// RFC 9068 (`typ: at+jwt`), signed with keys generated at start, and key rotation while
// running.
//
//   node server.mjs [PORT]        (or PORT=... node server.mjs; 0 or nothing: any free port)
//
// Listens on 127.0.0.1 only; the issuer is http://127.0.0.1:PORT (portcullis accepts plain
// http for loopback issuers only). Once listening it prints one line to stdout:
//
//   READY {"issuer": ..., "port": ..., "token_endpoint": ..., "client_id": ..., ...}
//
// Tokens: POST /token with HTTP Basic client authentication and
//   grant_type=client_credentials&resource=<RESOURCE_RS256 or RESOURCE_ES256>&scope=api:read
// gives an RS256 (or ES256) `at+jwt` access token whose `aud` is the resource.
//
// Rotation (test hooks on the same loopback server, outside the provider's routes):
//   POST /admin/rotate    a new RSA and a new EC key become the signing keys; the previous
//                         ones stay published in the JWKS (tokens they signed still verify)
//   POST /admin/drop-old  only the current signing keys stay in the JWKS
//   GET  /admin/keys      {"active": {...kids}, "published": [kids]}
// node-oidc-provider reads its key set once, when a Provider is constructed, so a rotation
// builds a new Provider with the new key set (same issuer, client and resource servers) and
// the HTTP server hands every later request to it: the way the provider's documentation has
// keys rotated (a new configuration whose first key of an algorithm signs), without a restart.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

export const CLIENT_ID = 'portcullis-live-client';
export const CLIENT_SECRET = 'portcullis-live-secret-0123456789abcdef';
export const RESOURCE_RS256 = 'https://api.portcullis.test/rs256';
export const RESOURCE_ES256 = 'https://api.portcullis.test/es256';
const SCOPE = 'api:read api:write';
const ROLES = ['reporting-service'];

const arg = process.argv[2] ?? process.env.PORT ?? '0';
const requestedPort = Number.parseInt(arg, 10);
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.error(`usage: node server.mjs [PORT]  (got ${JSON.stringify(arg)})`);
  process.exit(2);
}

let generation = 0;

function newKeys() {
  generation += 1;
  const stamp = `${generation}-${crypto.randomBytes(4).toString('hex')}`;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return {
    rsa: { ...rsa.export({ format: 'jwk' }), kid: `rsa-${stamp}`, alg: 'RS256', use: 'sig' },
    ec: { ...ec.export({ format: 'jwk' }), kid: `ec-${stamp}`, alg: 'ES256', use: 'sig' },
  };
}

let active = newKeys();
let retired = []; // previous signing keys, still published until /admin/drop-old

function buildProvider(issuer) {
  const activeKids = { RS256: active.rsa.kid, ES256: active.ec.kid };
  const resourceServers = {
    [RESOURCE_RS256]: 'RS256',
    [RESOURCE_ES256]: 'ES256',
  };
  const keys = [active.rsa, active.ec, ...retired.flatMap((k) => [k.rsa, k.ec])];
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys },
    scopes: ['api:read', 'api:write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE_RS256,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          const alg = resourceServers[resourceIndicator];
          if (!alg) throw new errors.InvalidTarget();
          return {
            scope: SCOPE,
            audience: resourceIndicator,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg, kid: activeKids[alg] } },
          };
        },
      },
    },
    // A claim a resource server can authorize on (portcullis reads `roles` by default).
    extraTokenClaims: (ctx, token) => (token.kind === 'ClientCredentials' ? { roles: ROLES } : undefined),
    ttl: { ClientCredentials: 300 },
  });
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));
  return { provider, handle: provider.callback() };
}

function publishedKids() {
  return [active.rsa.kid, active.ec.kid, ...retired.flatMap((k) => [k.rsa.kid, k.ec.kid])];
}

function keysState() {
  return {
    active: { RS256: active.rsa.kid, ES256: active.ec.kid },
    published: publishedKids(),
  };
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

let current = null; // { provider, handle }
let issuer = null;

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path.startsWith('/admin/')) {
    if (req.method === 'POST' && path === '/admin/rotate') {
      retired = [active, ...retired];
      active = newKeys();
      current = buildProvider(issuer);
      console.error(`rotated: signing with ${active.rsa.kid}, ${active.ec.kid}`);
      return sendJson(res, 200, keysState());
    }
    if (req.method === 'POST' && path === '/admin/drop-old') {
      retired = [];
      current = buildProvider(issuer);
      console.error('dropped the retired keys');
      return sendJson(res, 200, keysState());
    }
    if (req.method === 'GET' && path === '/admin/keys') {
      return sendJson(res, 200, keysState());
    }
    return sendJson(res, 404, { error: 'not_found' });
  }
  if (!current) {
    return sendJson(res, 503, { error: 'starting' });
  }
  return current.handle(req, res);
});

server.listen(requestedPort, '127.0.0.1', () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  current = buildProvider(issuer);
  const info = {
    issuer,
    port,
    discovery: `${issuer}/.well-known/openid-configuration`,
    token_endpoint: `${issuer}/token`,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    resource_rs256: RESOURCE_RS256,
    resource_es256: RESOURCE_ES256,
    scope: SCOPE,
    roles: ROLES,
    ...keysState(),
  };
  process.stdout.write(`READY ${JSON.stringify(info)}\n`);
});

// A clean exit on the usual signals (the tests kill the process outright).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
