// A real OpenID Connect provider (npm's OpenID-certified `oidc-provider`) for
// ngx_http_sso_module's tests and demo.
//
//   node server.js CONFIG.json
//
// Prints exactly one line `READY <issuer>` on stdout once it listens; logs go to stderr.
// The config schema is documented in README.md beside this file.
//
// Loopback only: it listens on 127.0.0.1 (or `host`, which must be a loopback address).

import crypto from 'node:crypto';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import * as jose from 'jose';

const log = (...args) => console.error('[provider]', ...args);

// oidc-provider prints a banner and "should change" hints through console.info/warn when it
// is imported and configured; stdout must carry only the READY line.
console.info = (...args) => console.error(...args);
console.warn = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const { default: Provider } = await import('oidc-provider');

// ---------------------------------------------------------------- config
const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node server.js CONFIG.json');
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(configPath, 'utf8'));

const host = cfg.host ?? '127.0.0.1';
if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
  console.error(`host must be a loopback address, got ${host}`);
  process.exit(2);
}

// Mutable at run time through POST /_test/settings and /_test/users.
const settings = {
  delays: { ...(cfg.delays ?? {}) },
  // Refresh tokens: `offline_access` (granted when that scope was, the OIDC rule),
  // `always` (whenever the client may refresh: many providers do) or `never`.
  refresh_tokens: cfg.refresh_tokens ?? 'offline_access',
  // Every refresh consumes the refresh token and returns a new one.
  rotate_refresh_tokens: cfg.rotate_refresh_tokens ?? true,
  // `offline_access` without `prompt=consent` (authentik grants it so; OIDC Core and
  // oidc-provider drop the scope without that prompt): the provider adds the prompt itself.
  offline_access_without_prompt: cfg.offline_access_without_prompt ?? false,
  // Kids of signing keys left out of the published JWKS (a key the provider signs with
  // before publishing it: a relying party must re-fetch the JWKS when it shows up).
  hidden_kids: cfg.hidden_kids ?? [],
};
if (cfg.delay_token_ms) settings.delays['/token'] = cfg.delay_token_ms;
const users = new Map();
const upsertUser = (u) => {
  if (!u?.sub || !u?.username) throw new Error('a user needs at least sub and username');
  users.set(u.sub, u);
};
(cfg.users ?? []).forEach(upsertUser);
const userByName = (name) => [...users.values()].find((u) => u.username === name);
const stats = {
  // Refresh-token grants answered 200, and refused (by OAuth error code).
  refresh_grants: 0,
  refresh_refused: {},
  // Back-channel logout POSTs sent: { url, status (or error), sub, sid, jti }.
  backchannel_logouts: [],
};
// Provider sessions of each account (session id -> accountId), for POST /_test/logout.
const sessionAccounts = new Map();
const testEndpoints = cfg.test_endpoints !== false;

// ---------------------------------------------------------------- listen first
// Listening before the provider exists lets `port: 0` pick a free port race-free; the issuer
// is then built from the real port.
const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    log('unhandled', err);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/plain');
    }
    res.end('internal error\n');
  });
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(cfg.port ?? 0, host, resolve);
});
const port = server.address().port;
const issuer = (cfg.issuer ?? `http://127.0.0.1:${port}`).replaceAll('{port}', String(port));
const issuerUrl = new URL(issuer);
const mountPath = issuerUrl.pathname.replace(/\/$/, '');

// ---------------------------------------------------------------- keys
function publicJwk(jwk) {
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  return pub;
}
async function withKid(jwk, prefix) {
  const kid = jwk.kid ?? `${prefix}-${(await jose.calculateJwkThumbprint(publicJwk(jwk))).slice(0, 16)}`;
  return { ...jwk, kid, use: 'sig' };
}
function generate(kind) {
  let pair;
  switch (kind) {
    case 'RSA': pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }); break;
    case 'EC': pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }); break;
    case 'OKP': pair = crypto.generateKeyPairSync('ed25519'); break;
    default: throw new Error(kind);
  }
  return pair.privateKey.export({ format: 'jwk' });
}
async function generatedKeys(tag) {
  return [
    { ...(await withKid(generate('RSA'), `rsa${tag}`)), alg: 'RS256' },
    { ...(await withKid(generate('EC'), `ec${tag}`)), alg: 'ES256' },
    // No `alg`: usable as both `EdDSA` and `Ed25519`.
    await withKid(generate('OKP'), `ed${tag}`),
  ];
}
const signingKeys = cfg.jwks?.keys
  ? await Promise.all(cfg.jwks.keys.map((k, i) => withKid(k, `key${i}`)))
  : await generatedKeys('');
// Keys never published: for tokens whose signature must not verify.
const foreignKeys = await generatedKeys('-foreign');

// ---------------------------------------------------------------- clients
// Redirect URIs containing `*` are patterns (`*` = any run of characters other than
// `/ ? #`), for tests whose nginx port is only known after the provider runs.
const patterns = new Map(); // client_id -> { redirect: RegExp[], logout: RegExp[] }
const globToRegExp = (glob) => new RegExp(`^${glob.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/?#]*')}$`);
const clients = (cfg.clients ?? []).map((c, i) => {
  const split = (list) => {
    const exact = (list ?? []).filter((u) => !u.includes('*'));
    const globs = (list ?? []).filter((u) => u.includes('*')).map(globToRegExp);
    return { exact, globs };
  };
  const r = split(c.redirect_uris);
  const l = split(c.post_logout_redirect_uris);
  patterns.set(c.client_id, { redirect: r.globs, logout: l.globs });
  const placeholder = `http://127.0.0.1/__pattern_only__/${i}`;
  const authMethod = c.token_endpoint_auth_method ?? 'client_secret_basic';
  const out = {
    client_id: c.client_id,
    client_name: c.client_name ?? c.client_id,
    redirect_uris: r.exact.length ? r.exact : [placeholder],
    post_logout_redirect_uris: l.exact,
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: authMethod,
    id_token_signed_response_alg: c.id_token_signed_response_alg ?? 'RS256',
  };
  if (c.backchannel_logout_uri) {
    out.backchannel_logout_uri = c.backchannel_logout_uri;
    out.backchannel_logout_session_required = c.backchannel_logout_session_required ?? true;
  }
  if (authMethod !== 'none') out.client_secret = c.client_secret;
  return out;
});

// ---------------------------------------------------------------- claims
const scopeClaims = {
  openid: ['sub'],
  // As authentik's default "profile" mapping: groups come with profile too.
  profile: ['preferred_username', 'name', 'nickname', 'given_name', 'groups'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
  entitlements: ['entitlements'],
  ak_proxy: ['ak_proxy'],
  ...(cfg.scope_claims ?? {}),
};
// A user's extra `claims` are always released (under `openid`).
const extraClaimNames = new Set();
for (const u of users.values()) Object.keys(u.claims ?? {}).forEach((k) => extraClaimNames.add(k));
(cfg.extra_claims ?? []).forEach((k) => extraClaimNames.add(k));
scopeClaims.openid = [...new Set([...scopeClaims.openid, ...extraClaimNames])];

function userClaims(u) {
  const claims = {
    sub: u.sub,
    preferred_username: u.username,
    nickname: u.username,
    name: u.name ?? u.username,
    given_name: u.name ?? u.username,
    email: u.email,
    email_verified: u.email_verified ?? Boolean(u.email),
    groups: u.groups ?? [],
    entitlements: u.entitlements ?? [],
    ...(u.ak_proxy !== undefined ? { ak_proxy: u.ak_proxy } : {}),
    ...(u.claims ?? {}),
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return claims;
}

// ---------------------------------------------------------------- provider
const ttl = (n) => () => n;
const provider = new Provider(issuer, {
  clients,
  jwks: { keys: signingKeys },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // Defaults are httpOnly + SameSite=Lax; `secure` is added only when the request came in
    // over https, so everything works over plain http on 127.0.0.1.
  },
  // Claims requested through scopes go into the ID token too (authentik does the same),
  // not only into userinfo.
  conformIdTokenClaims: false,
  claims: scopeClaims,
  scopes: ['openid', 'offline_access', ...Object.keys(scopeClaims).filter((s) => s !== 'openid')],
  pkce: { required: () => true }, // only S256 exists in oidc-provider 9
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource,
      postLogoutSuccessSource,
    },
    userinfo: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  issueRefreshToken(ctx, client, code) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    if (settings.refresh_tokens === 'always') return true;
    if (settings.refresh_tokens === 'never') return false;
    return code.scopes.has('offline_access');
  },
  rotateRefreshToken: () => Boolean(settings.rotate_refresh_tokens),
  // Outgoing requests (back-channel logout POSTs) refuse special-use addresses (SSRF
  // protection); the tests' relying parties are on loopback, so loopback targets go out
  // without that check. Everything else keeps it.
  fetch: backchannelFetch,
  // Consent is automatic: every grant is widened to whatever the request asks for.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (!grant) {
      grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    }
    widenGrant(grant, oidc);
    await grant.save();
    oidc.session.grantIdFor(oidc.client.clientId, grant.jti);
    return grant;
  },
  async findAccount(ctx, sub) {
    const u = users.get(sub);
    // A disabled user has no account: a refresh answers invalid_grant (as authentik does).
    if (!u || u.disabled) return undefined;
    return {
      accountId: sub,
      async claims() { return userClaims(users.get(sub) ?? u); },
    };
  },
  ttl: {
    AccessToken: ttl(cfg.access_token_ttl ?? 3600),
    AuthorizationCode: ttl(60),
    ClientCredentials: ttl(600),
    IdToken: ttl(cfg.id_token_ttl ?? 3600),
    Interaction: ttl(3600),
    Session: ttl(24 * 3600),
    Grant: ttl(24 * 3600),
    RefreshToken: ttl(24 * 3600),
  },
  renderError,
});
provider.proxy = false;

function widenGrant(grant, oidc) {
  const scope = [...oidc.requestParamOIDCScopes].join(' ');
  if (scope) grant.addOIDCScope(scope);
  const claims = [...(oidc.requestParamClaims ?? [])];
  if (claims.length) grant.addOIDCClaims(claims);
}

// Redirect-URI patterns.
for (const [method, key] of [['redirectUriAllowed', 'redirect'], ['postLogoutRedirectUriAllowed', 'logout']]) {
  const original = provider.Client.prototype[method];
  provider.Client.prototype[method] = function allowed(value) {
    if (original.call(this, value)) return true;
    return (patterns.get(this.clientId)?.[key] ?? []).some((re) => re.test(value));
  };
}

provider.on('server_error', (ctx, err) => log('server_error', err));
const grantType = (ctx) => ctx?.oidc?.params?.grant_type;
provider.on('grant.success', (ctx) => {
  if (grantType(ctx) === 'refresh_token') stats.refresh_grants += 1;
});
provider.on('grant.error', (ctx, err) => {
  if (grantType(ctx) === 'refresh_token') {
    const code = err.error ?? 'server_error';
    stats.refresh_refused[code] = (stats.refresh_refused[code] ?? 0) + 1;
    log(`refresh refused: ${code} (${err.error_description ?? err.message})`);
  }
});
provider.on('session.saved', (session) => {
  if (session.accountId) sessionAccounts.set(session.jti, session.accountId);
});
provider.on('session.destroyed', (session) => sessionAccounts.delete(session.jti));
provider.on('backchannel.error', (ctx, err, client) => log(`backchannel logout to ${client.clientId} failed: ${err.message}`));

const loopbackHost = (h) => /^(127\.\d+\.\d+\.\d+|\[::1\]|::1|localhost)$/.test(h);
async function backchannelFetch(url, options) {
  const target = new URL(url);
  if (loopbackHost(target.hostname)) delete options.dispatcher;
  const token = options.body instanceof URLSearchParams ? options.body.get('logout_token') : null;
  if (!token) return globalThis.fetch(url, options);
  const claims = jose.decodeJwt(token);
  const entry = { url: target.href, sub: claims.sub, sid: claims.sid, jti: claims.jti };
  stats.backchannel_logouts.push(entry);
  try {
    const res = await globalThis.fetch(url, options);
    entry.status = res.status;
    log(`backchannel logout POST ${target.href}: ${res.status}`);
    return res;
  } catch (err) {
    entry.error = String(err.cause?.message ?? err.message);
    log(`backchannel logout POST ${target.href}: ${entry.error}`);
    throw err;
  }
}

// Ends every provider session of `sub` as a confirmed logout does (end_session with
// `logout=yes`): a back-channel logout to each client of the session that registered a
// `backchannel_logout_uri`, its grants (and their tokens) revoked, the session destroyed.
async function logoutAccount(sub) {
  const sent = [];
  let sessions = 0;
  for (const [id, accountId] of [...sessionAccounts]) {
    if (accountId !== sub) continue;
    const session = await provider.Session.find(id);
    sessionAccounts.delete(id);
    if (!session) continue;
    sessions += 1;
    for (const [clientId, { grantId, sid }] of Object.entries(session.authorizations ?? {})) {
      const client = await provider.Client.find(clientId);
      if (client?.backchannelLogoutUri) {
        try {
          await client.backchannelLogout(sub, sid);
          sent.push({ client: clientId, sid, ok: true });
        } catch (err) {
          sent.push({ client: clientId, sid, ok: false, error: err.message });
        }
      }
      if (grantId) {
        await Promise.all([provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode]
          .map((model) => model.revokeByGrantId(grantId)));
        await provider.Grant.adapter.destroy(grantId);
      }
    }
    await session.destroy();
  }
  log(`test logout of ${sub}: ${sessions} session(s), ${sent.length} back-channel logout(s)`);
  return { sessions, backchannel: sent };
}
for (const ev of ['authorization.error', 'grant.error', 'end_session.error', 'userinfo.error', 'introspection.error']) {
  provider.on(ev, (ctx, err) => log(ev, `${err.name}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`));
}
provider.on('grant.success', (ctx) => log('token issued to', ctx.oidc.client?.clientId));
provider.on('end_session.success', () => log('end_session done'));

// ---------------------------------------------------------------- pages
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const page = (title, body) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:24em;margin:3em auto;padding:0 1em}
label{display:block;margin:.6em 0}input{display:block;width:100%;padding:.3em;box-sizing:border-box}
button{margin-top:.8em;padding:.4em 1.2em}.error{color:#b00020}</style></head>
<body>
${body}
</body></html>
`;

function loginPage(uid, details, error, username) {
  const client = details.params.client_id;
  return page('Sign in', `<h1>Sign in</h1>
<p>to continue to <strong>${esc(client)}</strong></p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Username <input type="text" name="username" autocomplete="username" value="${esc(username ?? '')}" autofocus required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`);
}

async function logoutSource(ctx, form) {
  // `form` is oidc-provider's `<form id="op.logoutForm" method="post" action="…/session/end/confirm">`
  // with the hidden `xsrf` input. A `logout=yes` field is what confirms; our page puts it into
  // the form as a hidden input so a plain form submission signs out.
  const withYes = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/>\n<button type="submit" autofocus>Yes, sign me out</button>\n</form>');
  ctx.type = 'html';
  ctx.body = page('Sign out', `<h1>Sign out</h1>
<p>Do you want to sign out from ${esc(ctx.host)}?</p>
${withYes}`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<h1>Signed out</h1>\n<p>You have been signed out.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', `<h1>Error</h1>\n${Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: <span class="${esc(k)}">${esc(v)}</span></p>`).join('\n')}`);
}

// ---------------------------------------------------------------- request handling
async function readBody(req, limit = 1 << 20) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, type, body, headers = {}) {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('cache-control', 'no-store');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(body);
}
const sendJson = (res, status, obj) => send(res, status, 'application/json', `${JSON.stringify(obj)}\n`);

async function handleInteraction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    log('interaction:', err.message);
    return send(res, 400, 'text/html; charset=utf-8', page('Error', `<h1>Error</h1>\n<p class="error">${esc(err.message)}</p>\n<p>Start the sign-in again from the application.</p>`));
  }
  if (details.uid !== uid) {
    return send(res, 400, 'text/html; charset=utf-8', page('Error', '<h1>Error</h1>\n<p class="error">interaction mismatch</p>'));
  }
  const { prompt } = details;

  if (prompt.name === 'login') {
    if (req.method === 'GET' && !action) {
      return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, details));
    }
    if (req.method === 'POST' && action === 'login') {
      const form = new URLSearchParams(await readBody(req));
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const user = userByName(username);
      if (!user || user.password !== password || user.disabled) {
        log(`login failed for ${JSON.stringify(username)}`);
        return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, details, 'Invalid username or password.', username));
      }
      log(`login ok: ${username}`);
      return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
    }
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }

  if (prompt.name === 'consent') {
    // Automatic consent (reached when the request had prompt=consent).
    const { Grant } = provider;
    let grant = details.grantId ? await Grant.find(details.grantId) : undefined;
    if (!grant) grant = new Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }

  return send(res, 400, 'text/plain', `unsupported prompt ${prompt.name}\n`);
}

async function handleTest(req, res, path) {
  if (path === '/_test/stats' && req.method === 'GET') return sendJson(res, 200, stats);
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST' });
  const body = JSON.parse((await readBody(req)) || '{}');
  switch (path) {
    case '/_test/settings':
      if ('delay_token_ms' in body) settings.delays['/token'] = body.delay_token_ms;
      if (body.delays) Object.assign(settings.delays, body.delays);
      for (const k of ['refresh_tokens', 'rotate_refresh_tokens', 'offline_access_without_prompt', 'hidden_kids']) {
        if (k in body) settings[k] = body[k];
      }
      return sendJson(res, 200, settings);
    case '/_test/disable': {
      const u = users.get(body.sub);
      if (!u) return sendJson(res, 404, { error: 'unknown user' });
      u.disabled = body.disabled ?? true;
      return sendJson(res, 200, { sub: u.sub, disabled: u.disabled });
    }
    case '/_test/logout':
      return sendJson(res, 200, await logoutAccount(body.sub));
    case '/_test/clients': {
      // Registers (or, with null, removes) a client's back-channel logout URI at run time:
      // an nginx's port is known only after the provider started.
      const client = await provider.Client.find(body.client_id);
      if (!client) return sendJson(res, 404, { error: 'unknown client' });
      if ('backchannel_logout_uri' in body) {
        client.backchannelLogoutUri = body.backchannel_logout_uri ?? undefined;
        client.backchannelLogoutSessionRequired = body.backchannel_logout_session_required ?? true;
      }
      return sendJson(res, 200, {
        client_id: client.clientId,
        backchannel_logout_uri: client.backchannelLogoutUri ?? null,
        backchannel_logout_session_required: client.backchannelLogoutSessionRequired,
      });
    }
    case '/_test/users':
      (Array.isArray(body) ? body : [body]).forEach(upsertUser);
      return sendJson(res, 200, { users: [...users.keys()] });
    case '/_test/sign':
      return sendJson(res, 200, { token: await signTest(body) });
    default:
      return sendJson(res, 404, { error: 'unknown test endpoint' });
  }
}

// POST /_test/sign {claims, alg?, kid?, foreign?, secret?, header?} -> {token}
// Defaults: alg RS256, the published key for that alg, claims iss/iat/exp (5 min) added
// when absent. `foreign: true` signs with an unpublished key (same kid as the published
// one unless `kid` is given); alg `none` gives an unsigned token; alg HS256 needs `secret`.
async function signTest({ claims = {}, alg = 'RS256', kid, foreign = false, secret, header: extra = {} }) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: issuer, iat: now, exp: now + 300, ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
  // Header members set to null are left out (e.g. `{"typ": null}`: no typ at all).
  const dropNulls = (h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== null));
  const header = extra;
  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  if (alg === 'none') {
    const h = jose.base64url.encode(JSON.stringify(dropNulls({ alg: 'none', typ: 'JWT', ...header })));
    return `${h}.${jose.base64url.encode(bytes)}.`;
  }
  if (alg.startsWith('HS')) {
    return new jose.CompactSign(bytes)
      .setProtectedHeader(dropNulls({ alg, typ: 'JWT', ...(kid ? { kid } : {}), ...header }))
      .sign(new TextEncoder().encode(secret ?? ''));
  }
  const kty = alg.startsWith('RS') || alg.startsWith('PS') ? 'RSA' : alg.startsWith('ES') ? 'EC' : 'OKP';
  const published = signingKeys.find((k) => k.kty === kty);
  const signer = foreign ? foreignKeys.find((k) => k.kty === kty) : published;
  if (!signer) throw new Error(`no ${kty} key`);
  const key = crypto.createPrivateKey({ key: signer, format: 'jwk' });
  return new jose.CompactSign(bytes)
    .setProtectedHeader(dropNulls({ alg, typ: 'JWT', kid: kid ?? published?.kid ?? signer.kid, ...header }))
    .sign(key);
}

const callback = provider.callback();

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  stats[path] = (stats[path] ?? 0) + 1;
  log(req.method, req.url);

  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?\/?$/.exec(path);
  if (m) return handleInteraction(req, res, m[1], m[2]);
  if (testEndpoints && path.startsWith('/_test/')) return handleTest(req, res, path);

  // The provider lives under the issuer's path (authentik-style issuers have one).
  let inner = path;
  if (mountPath) {
    if (path !== mountPath && !path.startsWith(`${mountPath}/`)) return send(res, 404, 'text/plain', 'not found\n');
    inner = path.slice(mountPath.length) || '/';
  }
  const delay = settings.delays[inner];
  if (delay) await sleep(delay);
  if (inner === '/jwks' && settings.hidden_kids.length) {
    const keys = signingKeys.filter((k) => !settings.hidden_kids.includes(k.kid)).map(publicJwk);
    res.setHeader('Cache-Control', 'no-store');
    return sendJson(res, 200, { keys });
  }

  if (settings.offline_access_without_prompt && inner === '/auth') {
    const q = new URLSearchParams(url.search);
    if ((q.get('scope') ?? '').split(' ').includes('offline_access') && !q.has('prompt')) {
      q.set('prompt', 'consent');
      url.search = `?${q}`;
      req.url = path + url.search;
    }
  }

  if (!cfg.endpoints_from_request_host) {
    // Endpoint URLs in discovery follow the issuer, not the Host the request came with
    // (a production IdP has one public URL; `sso_backchannel_url` relies on that).
    req.headers.host = issuerUrl.host;
  }
  if (mountPath) {
    req.originalUrl = req.url;
    req.url = inner + url.search;
  }
  return callback(req, res);
}

process.on('SIGTERM', () => { server.close(); process.exit(0); });
process.on('SIGINT', () => { server.close(); process.exit(0); });

// Static clients are validated lazily by oidc-provider; fail at start instead.
for (const c of clients) {
  try {
    if (!(await provider.Client.find(c.client_id))) throw new Error('not found');
  } catch (err) {
    console.error(`invalid client ${JSON.stringify(c.client_id)}: ${err.error_description ?? err.message}`);
    process.exit(1);
  }
}

log(`issuer ${issuer}, ${clients.length} client(s), ${users.size} user(s), keys ${signingKeys.map((k) => k.kid).join(' ')}`);
process.stdout.write(`READY ${issuer}\n`);
