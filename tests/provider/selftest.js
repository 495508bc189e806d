// End-to-end self test of server.js: starts it, then walks the whole authorization-code +
// PKCE flow with plain fetch and a hand-rolled cookie jar, as a browser would without
// JavaScript. Run with `npm test` in this folder (after `scripts/provider-deps`).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as jose from 'jose';

import { follow, go, Jar, parseForm } from './browser.js';

const here = new URL('.', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'sso-provider-selftest-'));
const children = [];

const HANG_MS = 5 * 60_000;

async function startProvider(config) {
  const file = join(tmp, `config-${children.length}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [join(here, 'server.js'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (process.env.PROVIDER_LOG) process.stderr.write(d); });
  const issuer = await new Promise((resolve, reject) => {
    let out = '';
    // READY (or an exit) is the provider's own signal; the limit only catches a hang, so a
    // busy machine makes the start slow, never failed.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no READY and no exit within ${HANG_MS / 1000} s (hung?); stderr:\n${stderr}`));
    }, HANG_MS);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^READY (\S+)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`provider exited ${code}; stderr:\n${stderr}`)); });
  });
  return { issuer, child, stderr: () => stderr };
}

after(() => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

const b64url = (buf) => Buffer.from(buf).toString('base64url');
function pkce() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

const CLIENT = 'selftest';
const SECRET = 'selftest-secret';
const REDIRECT = 'http://127.0.0.1:9/outpost.goauthentik.io/callback';
const LOGOUT_REDIRECT = 'http://127.0.0.1:9/';
const ak_proxy = {
  user_attributes: { additionalHeaders: { 'X-Custom': 'v', 'X-Num': 5 } },
  backend_override: 'http://127.0.0.1:9/alt',
};
const baseConfig = {
  port: 0,
  clients: [
    { client_id: CLIENT, client_secret: SECRET, redirect_uris: [REDIRECT], post_logout_redirect_uris: [LOGOUT_REDIRECT] },
    { client_id: 'es', client_secret: 'es-secret', redirect_uris: [REDIRECT], id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'client_secret_post' },
    { client_id: 'ed', client_secret: 'ed-secret', redirect_uris: [REDIRECT], id_token_signed_response_alg: 'EdDSA' },
    { client_id: 'wild', client_secret: 'wild-secret', redirect_uris: ['http://*/outpost.goauthentik.io/callback'], post_logout_redirect_uris: ['http://*/'] },
  ],
  users: [
    {
      sub: 'u-demo', username: 'demo', password: 'demo', email: 'demo@example.org', name: 'Demo User',
      groups: ['admins', 'users'], entitlements: ['read', 'write'], ak_proxy, claims: { tenant: 'acme' },
    },
  ],
};

async function discover(issuer) {
  const r = await go(null, `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text);
}

function authUrl(meta, { client = CLIENT, redirect = REDIRECT, scope = 'openid profile email ak_proxy entitlements groups', challenge, state, nonce, extra = {} }) {
  const u = new URL(meta.authorization_endpoint);
  const p = { client_id: client, response_type: 'code', scope, redirect_uri: redirect, state, nonce, ...extra };
  if (challenge) Object.assign(p, { code_challenge: challenge, code_challenge_method: 'S256' });
  for (const [k, v] of Object.entries(p)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

// The whole browser part: /auth -> login form -> credentials -> code at the redirect URI.
async function loginForCode(meta, jar, opts = {}) {
  const { verifier, challenge } = pkce();
  const state = b64url(crypto.randomBytes(12));
  const nonce = b64url(crypto.randomBytes(12));
  const origin = new URL(meta.issuer).origin;
  let r = await follow(jar, authUrl(meta, { ...opts, challenge, state, nonce }), origin);
  let sawLoginForm = false;
  if (!r.next) {
    assert.equal(r.status, 200, r.text);
    const form = parseForm(r.text, r.url);
    assert.equal(form.method, 'POST');
    assert.ok('username' in form.fields && 'password' in form.fields, r.text);
    assert.match(r.text, /<button[^>]*type="submit"/);
    sawLoginForm = true;
    if (opts.wrongPassword) {
      const bad = await go(jar, form.action, { method: 'POST', form: { username: 'demo', password: 'nope' } });
      assert.equal(bad.status, 200);
      assert.match(bad.text, /Invalid username or password/);
      assert.ok(parseForm(bad.text, bad.url).fields.username === 'demo');
    }
    r = await follow(jar, form.action, origin, { method: 'POST', form: { username: opts.username ?? 'demo', password: opts.password ?? 'demo' } });
  }
  assert.ok(r.next, `expected a redirect back to the client, got ${r.status}:\n${r.text}`);
  const back = r.next;
  assert.equal(`${back.origin}${back.pathname}`, opts.redirect ?? REDIRECT);
  assert.equal(back.searchParams.get('state'), state);
  assert.equal(back.searchParams.get('iss'), meta.issuer);
  const code = back.searchParams.get('code');
  assert.ok(code, `no code in ${back.href}`);
  return { code, verifier, nonce, sawLoginForm };
}

async function redeem(meta, { code, verifier, client = CLIENT, secret = SECRET, post = false, redirect = REDIRECT }) {
  const form = { grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: verifier };
  const headers = { accept: 'application/json' };
  if (post) Object.assign(form, { client_id: client, client_secret: secret });
  else headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const r = await go(null, meta.token_endpoint, { method: 'POST', form, headers });
  return { status: r.status, json: JSON.parse(r.text) };
}

describe('oidc-provider test server', () => {
  let p;
  let meta;
  let jwks;
  before(async () => {
    p = await startProvider(baseConfig);
    meta = await discover(p.issuer);
    jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
  });

  test('READY line and discovery', () => {
    assert.match(p.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(meta.issuer, p.issuer);
    assert.equal(meta.authorization_endpoint, `${p.issuer}/auth`);
    assert.equal(meta.token_endpoint, `${p.issuer}/token`);
    assert.equal(meta.end_session_endpoint, `${p.issuer}/session/end`);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    for (const s of ['openid', 'profile', 'email', 'ak_proxy', 'entitlements', 'groups', 'offline_access']) {
      assert.ok(meta.scopes_supported.includes(s), s);
    }
    for (const a of ['RS256', 'ES256', 'EdDSA']) assert.ok(meta.id_token_signing_alg_values_supported.includes(a), a);
  });

  test('JWKS has RS256, ES256 and Ed25519 keys with kids', async () => {
    const r = await go(null, meta.jwks_uri);
    const { keys } = JSON.parse(r.text);
    assert.deepEqual(keys.map((k) => k.kty).sort(), ['EC', 'OKP', 'RSA']);
    for (const k of keys) {
      assert.ok(k.kid);
      assert.equal(k.d, undefined, 'private part published');
    }
  });

  let idToken;
  test('code + PKCE flow: wrong password, login form, token, claims in the ID token', async () => {
    const jar = new Jar();
    const { code, verifier, nonce, sawLoginForm } = await loginForCode(meta, jar, { wrongPassword: true });
    assert.ok(sawLoginForm);
    const { status, json } = await redeem(meta, { code, verifier });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.token_type, 'Bearer');
    idToken = json.id_token;
    const { payload, protectedHeader } = await jose.jwtVerify(idToken, jwks, { issuer: p.issuer, audience: CLIENT });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.ok(protectedHeader.kid);
    assert.equal(payload.nonce, nonce);
    assert.equal(payload.sub, 'u-demo');
    assert.equal(payload.preferred_username, 'demo');
    assert.equal(payload.name, 'Demo User');
    assert.equal(payload.email, 'demo@example.org');
    assert.deepEqual(payload.groups, ['admins', 'users']);
    assert.deepEqual(payload.entitlements, ['read', 'write']);
    assert.deepEqual(payload.ak_proxy, ak_proxy);
    assert.equal(payload.tenant, 'acme');

    // userinfo works with the access token.
    const ui = await go(null, meta.userinfo_endpoint, { headers: { authorization: `Bearer ${json.access_token}` } });
    assert.equal(ui.status, 200, `${ui.headers.get("www-authenticate")} ${ui.text}`);
    assert.equal(JSON.parse(ui.text).preferred_username, 'demo');

    // The code is single-use (and reusing it revokes the grant: the access token above dies).
    const again = await redeem(meta, { code, verifier });
    assert.equal(again.status, 400);
    assert.equal(again.json.error, 'invalid_grant');

    const dead = await go(null, meta.userinfo_endpoint, { headers: { authorization: `Bearer ${json.access_token}` } });
    assert.equal(dead.status, 401);

    // Second round with the same provider session: single sign-on, no form.
    const second = await loginForCode(meta, jar, { scope: 'openid profile email' });
    assert.equal(second.sawLoginForm, false);
    const t2 = await redeem(meta, second);
    const { payload: p2 } = await jose.jwtVerify(t2.json.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    // Default scopes (the module's default): groups come with `profile` as in authentik.
    assert.deepEqual(p2.groups, ['admins', 'users']);
    assert.equal(p2.ak_proxy, undefined);
  });

  test('offline_access with prompt=consent: automatic consent, refresh token', async () => {
    const jar = new Jar();
    const got = await loginForCode(meta, jar, { scope: 'openid profile offline_access ak_proxy', extra: { prompt: 'consent' } });
    const t = await redeem(meta, got);
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.ok(t.json.refresh_token, 'no refresh token');
    assert.match(t.json.scope, /offline_access/);
    const r = await go(null, meta.token_endpoint, {
      method: 'POST',
      form: { grant_type: 'refresh_token', refresh_token: t.json.refresh_token },
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT}:${SECRET}`).toString('base64')}` },
    });
    assert.equal(r.status, 200, r.text);
    const { payload } = await jose.jwtVerify(JSON.parse(r.text).id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    assert.deepEqual(payload.ak_proxy, ak_proxy);
  });

  test('endpoint URLs follow the issuer whatever Host the request came with', async () => {
    const r = await go(null, `${p.issuer}/.well-known/openid-configuration`, { headers: { host: 'provider.invalid:1' } });
    assert.equal(JSON.parse(r.text).token_endpoint, `${p.issuer}/token`);
  });

  test('PKCE is required and checked', async () => {
    const jar = new Jar();
    const origin = new URL(meta.issuer).origin;
    const r = await follow(jar, authUrl(meta, { state: 's' }), origin);
    assert.ok(r.next, r.text);
    assert.equal(r.next.searchParams.get('error'), 'invalid_request');
    assert.match(r.next.searchParams.get('error_description'), /PKCE/);

    const { code } = await loginForCode(meta, jar);
    const bad = await redeem(meta, { code, verifier: b64url(crypto.randomBytes(32)) });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, 'invalid_grant');
  });

  test('wrong client secret is rejected', async () => {
    const jar = new Jar();
    const got = await loginForCode(meta, jar);
    const bad = await redeem(meta, { ...got, secret: 'wrong' });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error, 'invalid_client');
  });

  test('ES256 (client_secret_post) and EdDSA clients', async () => {
    for (const [client, secret, alg, post] of [['es', 'es-secret', 'ES256', true], ['ed', 'ed-secret', 'EdDSA', false]]) {
      const jar = new Jar();
      const got = await loginForCode(meta, jar, { client });
      const t = await redeem(meta, { ...got, client, secret, post });
      assert.equal(t.status, 200, JSON.stringify(t.json));
      const { protectedHeader, payload } = await jose.jwtVerify(t.json.id_token, jwks, { issuer: p.issuer, audience: client });
      assert.equal(protectedHeader.alg, alg);
      assert.equal(payload.preferred_username, 'demo');
    }
  });

  test('redirect URI patterns', async () => {
    const jar = new Jar();
    const redirect = 'http://localhost:12345/outpost.goauthentik.io/callback';
    const got = await loginForCode(meta, jar, { client: 'wild', redirect });
    const t = await redeem(meta, { ...got, client: 'wild', secret: 'wild-secret', redirect });
    assert.equal(t.status, 200, JSON.stringify(t.json));
    const r = await go(jar, authUrl(meta, { client: 'wild', redirect: 'http://localhost:1/elsewhere', challenge: pkce().challenge, state: 'x' }));
    assert.equal(r.status, 400);
    assert.match(r.text, /redirect_uri/);
  });

  test('end_session: confirmation form, then post-logout redirect, then the session is gone', async () => {
    const jar = new Jar();
    const got = await loginForCode(meta, jar);
    const t = await redeem(meta, got);
    const u = new URL(meta.end_session_endpoint);
    u.searchParams.set('id_token_hint', t.json.id_token);
    u.searchParams.set('post_logout_redirect_uri', LOGOUT_REDIRECT);
    u.searchParams.set('state', 'bye');
    const page = await go(jar, u.href);
    assert.equal(page.status, 200, page.text);
    const form = parseForm(page.text, page.url);
    assert.equal(form.method, 'POST');
    assert.equal(form.fields.logout, 'yes');
    assert.ok(form.fields.xsrf);
    const done = await go(jar, form.action, { method: 'POST', form: form.fields });
    assert.equal(done.status, 303, done.text);
    const back = new URL(done.location);
    assert.equal(`${back.origin}${back.pathname}`, LOGOUT_REDIRECT);
    assert.equal(back.searchParams.get('state'), 'bye');
    const again = await loginForCode(meta, jar);
    assert.equal(again.sawLoginForm, true, 'still signed in at the provider after end_session');

    // Without post_logout_redirect_uri: a "signed out" page.
    const page2 = await go(jar, meta.end_session_endpoint);
    const form2 = parseForm(page2.text, page2.url);
    const done2 = await follow(jar, form2.action, new URL(meta.issuer).origin, { method: 'POST', form: form2.fields });
    assert.equal(done2.status, 200);
    assert.match(done2.text, /signed out/i);
  });

  test('test endpoints: sign, delay, stats, users', async () => {
    const post = async (path, body) => {
      const res = await fetch(`${p.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return res.json();
    };
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const { token } = await post('/_test/sign', { alg, claims: { sub: 'x', aud: 'api' } });
      const { payload } = await jose.jwtVerify(token, jwks, { issuer: p.issuer, audience: 'api' });
      assert.equal(payload.sub, 'x');
      const { token: foreign } = await post('/_test/sign', { alg, foreign: true, claims: { sub: 'x' } });
      await assert.rejects(jose.jwtVerify(foreign, jwks), /signature verification failed/);
    }
    // hidden_kids: the key leaves the published JWKS, /_test/sign still signs with it
    const published = async () => (await (await fetch(meta.jwks_uri)).json()).keys.map((k) => k.kid);
    const all = await published();
    const rsa = (await (await fetch(meta.jwks_uri)).json()).keys.find((k) => k.kty === 'RSA').kid;
    await post('/_test/settings', { hidden_kids: [rsa] });
    assert.deepEqual(await published(), all.filter((k) => k !== rsa));
    const { token: hidden } = await post('/_test/sign', { claims: { sub: 'x' } });
    assert.equal(JSON.parse(Buffer.from(hidden.split('.')[0], 'base64url')).kid, rsa);
    await post('/_test/settings', { hidden_kids: [] });
    assert.deepEqual(await published(), all);

    const { token: none } = await post('/_test/sign', { alg: 'none', claims: { exp: null } });
    assert.ok(none.endsWith('.'));
    assert.equal(JSON.parse(Buffer.from(none.split('.')[1], 'base64url')).exp, undefined);

    await post('/_test/settings', { delay_token_ms: 700 });
    const jar = new Jar();
    const got = await loginForCode(meta, jar);
    const t0 = Date.now();
    const t = await redeem(meta, got);
    assert.equal(t.status, 200);
    assert.ok(Date.now() - t0 >= 650, `token answered in ${Date.now() - t0} ms`);
    await post('/_test/settings', { delay_token_ms: 0 });

    const stats = JSON.parse((await go(null, `${p.issuer}/_test/stats`)).text);
    assert.ok(stats['/token'] >= 1);

    await post('/_test/users', { sub: 'u-2', username: 'second', password: 'pw2', groups: ['g2'] });
    const jar2 = new Jar();
    const got2 = await loginForCode(meta, jar2, { username: 'second', password: 'pw2' });
    const t2 = await redeem(meta, got2);
    const { payload } = await jose.jwtVerify(t2.json.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    assert.equal(payload.preferred_username, 'second');
    assert.deepEqual(payload.groups, ['g2']);
  });
});

describe('authentik-style issuer with a path, delay_token_ms and id_token_ttl from the config', () => {
  test('flow under /application/o/demo/', async () => {
    const p = await startProvider({
      ...baseConfig,
      issuer: 'http://127.0.0.1:{port}/application/o/demo/',
      delay_token_ms: 300,
      id_token_ttl: 120,
      test_endpoints: false,
    });
    assert.match(p.issuer, /\/application\/o\/demo\/$/);
    const meta = await discover(p.issuer);
    assert.equal(meta.issuer, p.issuer);
    assert.equal(meta.token_endpoint, `${p.issuer}token`);
    const jar = new Jar();
    const got = await loginForCode(meta, jar);
    const t0 = Date.now();
    const t = await redeem(meta, got);
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.ok(Date.now() - t0 >= 280);
    const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    const { payload } = await jose.jwtVerify(t.json.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    assert.equal(payload.exp - payload.iat, 120);
    const r = await go(null, `${new URL(p.issuer).origin}/_test/stats`);
    assert.equal(r.status, 404);
  });
});

// ---------------------------------------------------------------- session lifecycle
// Refresh (with rotation), groups changed and users disabled between refreshes, the
// provider's session ended (back-channel logout to a relying party on loopback), test-signed
// logout tokens: what the module's session lifecycle is tested against.
describe('session lifecycle: refresh, disable, back-channel logout', () => {
  let p;
  let meta;
  let jwks;
  let rp; // the relying party's back-channel logout endpoint
  const received = [];
  let answer = 200;
  const post = async (path, body) => {
    const res = await fetch(`${p.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  };
  const stats = async () => JSON.parse((await go(null, `${p.issuer}/_test/stats`)).text);
  const refresh = async (refreshToken) => {
    const r = await go(null, meta.token_endpoint, {
      method: 'POST',
      form: { grant_type: 'refresh_token', refresh_token: refreshToken },
      headers: { accept: 'application/json', authorization: `Basic ${Buffer.from(`${CLIENT}:${SECRET}`).toString('base64')}` },
    });
    return { status: r.status, json: JSON.parse(r.text) };
  };
  const SCOPE = 'openid profile email offline_access';
  const login = async (jar, opts = {}) => {
    const got = await loginForCode(meta, jar, { scope: SCOPE, ...opts });
    const t = await redeem(meta, got);
    assert.equal(t.status, 200, JSON.stringify(t.json));
    return t.json;
  };

  before(async () => {
    rp = http.createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      received.push({ method: req.method, path: req.url, type: req.headers['content-type'], body: new URLSearchParams(body) });
      res.statusCode = answer;
      res.setHeader('cache-control', 'no-store');
      res.end();
    });
    await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
    const bcl = `http://127.0.0.1:${rp.address().port}/outpost.goauthentik.io/backchannel_logout`;
    p = await startProvider({
      ...baseConfig,
      offline_access_without_prompt: true,
      clients: [{ ...baseConfig.clients[0], backchannel_logout_uri: bcl }, ...baseConfig.clients.slice(1)],
      users: [
        { sub: 'u-life', username: 'life', password: 'life', email: 'life@example.org', groups: ['before'] },
        { sub: 'u-other', username: 'other', password: 'other', groups: ['g'] },
      ],
    });
    meta = await discover(p.issuer);
    jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
  });
  after(() => rp?.close());

  test('discovery announces back-channel logout with sid, and end_session', () => {
    assert.equal(meta.backchannel_logout_supported, true);
    assert.equal(meta.backchannel_logout_session_supported, true);
    assert.equal(meta.end_session_endpoint, `${p.issuer}/session/end`);
  });

  test('offline_access without prompt=consent gives a refresh token; without it none, unless refresh_tokens is always', async () => {
    const t = await login(new Jar(), { username: 'other', password: 'other' });
    assert.ok(t.refresh_token, 'no refresh token with offline_access');
    const plain = await redeem(meta, await loginForCode(meta, new Jar(), { scope: 'openid profile', username: 'other', password: 'other' }));
    assert.equal(plain.json.refresh_token, undefined);
    await post('/_test/settings', { refresh_tokens: 'always' });
    const always = await redeem(meta, await loginForCode(meta, new Jar(), { scope: 'openid profile', username: 'other', password: 'other' }));
    assert.ok(always.json.refresh_token, 'refresh_tokens: always');
    await post('/_test/settings', { refresh_tokens: 'never' });
    assert.equal((await login(new Jar(), { username: 'other', password: 'other' })).refresh_token, undefined);
    await post('/_test/settings', { refresh_tokens: 'offline_access' });
  });

  test('refresh rotates the token, returns the new groups in a new ID token, and is counted', async () => {
    const before = await stats();
    const first = await login(new Jar(), { username: 'life', password: 'life' });
    const { payload: id1 } = await jose.jwtVerify(first.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    assert.deepEqual(id1.groups, ['before']);
    assert.ok(id1.sid, 'the ID token carries sid (back-channel logout with session)');
    await post('/_test/users', { sub: 'u-life', username: 'life', password: 'life', email: 'life@example.org', groups: ['after', 'more'] });
    const r = await refresh(first.refresh_token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(r.json.refresh_token && r.json.refresh_token !== first.refresh_token, 'rotated');
    const { payload: id2 } = await jose.jwtVerify(r.json.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    assert.deepEqual(id2.groups, ['after', 'more']);
    assert.equal(id2.sid, id1.sid);
    assert.equal(id2.sub, 'u-life');
    // oidc-provider repeats the login's nonce in refreshed ID tokens (OIDC Core 12.2 lets
    // it): a refresh must not check the nonce (this folder's README, "Behaviour").
    assert.equal(id2.nonce, id1.nonce);
    // The old token is spent: using it again is invalid_grant, and (reuse detection) the
    // whole grant is revoked: the new token dies too.
    const reused = await refresh(first.refresh_token);
    assert.equal(reused.status, 400);
    assert.equal(reused.json.error, 'invalid_grant');
    assert.equal((await refresh(r.json.refresh_token)).json.error, 'invalid_grant');
    const after = await stats();
    assert.equal(after.refresh_grants - before.refresh_grants, 1);
    assert.equal((after.refresh_refused.invalid_grant ?? 0) - (before.refresh_refused.invalid_grant ?? 0), 2);

    // Without rotation the same token keeps working.
    await post('/_test/settings', { rotate_refresh_tokens: false });
    const kept = await login(new Jar(), { username: 'life', password: 'life' });
    const k1 = await refresh(kept.refresh_token);
    assert.equal(k1.status, 200);
    assert.equal(k1.json.refresh_token, kept.refresh_token);
    assert.equal((await refresh(kept.refresh_token)).status, 200);
    await post('/_test/settings', { rotate_refresh_tokens: true });
  });

  test('a disabled user: refresh is invalid_grant, login is refused; enabled again, both work', async () => {
    const t = await login(new Jar(), { username: 'life', password: 'life' });
    assert.equal((await post('/_test/disable', { sub: 'u-life' })).json.disabled, true);
    const r = await refresh(t.refresh_token);
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_grant');
    const jar = new Jar();
    const origin = new URL(meta.issuer).origin;
    const { challenge } = pkce();
    const page = await follow(jar, authUrl(meta, { scope: SCOPE, challenge, state: 's', nonce: 'n' }), origin);
    const form = parseForm(page.text, page.url);
    const refused = await go(jar, form.action, { method: 'POST', form: { username: 'life', password: 'life' } });
    assert.equal(refused.status, 200);
    assert.match(refused.text, /Invalid username or password/);
    await post('/_test/disable', { sub: 'u-life', disabled: false });
    const again = await login(new Jar(), { username: 'life', password: 'life' });
    assert.equal((await refresh(again.refresh_token)).status, 200);
    assert.equal((await post('/_test/disable', { sub: 'nobody' })).status, 404);
  });

  test('ending the user\'s provider session sends a back-channel logout the module can verify', async () => {
    const jar = new Jar();
    const t = await login(jar, { username: 'life', password: 'life' });
    const { payload: id } = await jose.jwtVerify(t.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    received.length = 0;
    const before = (await stats()).backchannel_logouts.length;
    const out = await post('/_test/logout', { sub: 'u-life' });
    assert.equal(out.status, 200);
    assert.ok(out.json.sessions >= 1, JSON.stringify(out.json));
    assert.ok(out.json.backchannel.some((b) => b.ok && b.sid === id.sid), JSON.stringify(out.json));
    const mine = received.filter((m) => jose.decodeJwt(m.body.get('logout_token')).sid === id.sid);
    assert.equal(mine.length, 1, 'one POST for the session');
    const m = mine[0];
    assert.equal(m.method, 'POST');
    assert.equal(m.path, '/outpost.goauthentik.io/backchannel_logout');
    assert.equal(m.type, 'application/x-www-form-urlencoded');
    const { payload, protectedHeader } = await jose.jwtVerify(m.body.get('logout_token'), jwks, { issuer: p.issuer, audience: CLIENT });
    assert.equal(protectedHeader.typ, 'logout+jwt');
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.sub, 'u-life');
    assert.equal(payload.sid, id.sid);
    assert.ok(payload.jti);
    assert.ok(payload.exp > payload.iat, 'oidc-provider sets exp (120 s)');
    assert.deepEqual(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
    assert.equal(payload.nonce, undefined);
    const sent = (await stats()).backchannel_logouts.slice(before);
    assert.ok(sent.some((s) => s.sid === id.sid && s.status === 200 && s.jti === payload.jti), JSON.stringify(sent));
    // The grant is gone (refresh refused) and so is the provider session (the form again).
    assert.equal((await refresh(t.refresh_token)).json.error, 'invalid_grant');
    assert.equal((await loginForCode(meta, jar, { scope: SCOPE, username: 'life', password: 'life' })).sawLoginForm, true);
  });

  test('the relying party\'s answer is recorded, and the URI can be changed at run time', async () => {
    answer = 400;
    const t = await login(new Jar(), { username: 'life', password: 'life' });
    const { payload: id } = await jose.jwtVerify(t.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    const out = await post('/_test/logout', { sub: 'u-life' });
    assert.ok(out.json.backchannel.some((b) => !b.ok && /400/.test(b.error)), JSON.stringify(out.json));
    const sent = (await stats()).backchannel_logouts;
    assert.ok(sent.some((s) => s.sid === id.sid && s.status === 400));
    answer = 200;
    // Another URI (a closed port: the attempt is recorded with its error).
    const other = await post('/_test/clients', { client_id: CLIENT, backchannel_logout_uri: 'http://127.0.0.1:9/bcl' });
    assert.equal(other.json.backchannel_logout_uri, 'http://127.0.0.1:9/bcl');
    await login(new Jar(), { username: 'life', password: 'life' });
    await post('/_test/logout', { sub: 'u-life' });
    const last = (await stats()).backchannel_logouts.at(-1);
    assert.equal(last.url, 'http://127.0.0.1:9/bcl');
    assert.ok(last.error && last.status === undefined, JSON.stringify(last));
    await post('/_test/clients', { client_id: CLIENT, backchannel_logout_uri: `http://127.0.0.1:${rp.address().port}/outpost.goauthentik.io/backchannel_logout` });
  });

  test('RP-initiated logout (end_session, confirmed) sends the back-channel logout too', async () => {
    const jar = new Jar();
    const t = await login(jar, { username: 'life', password: 'life' });
    const { payload: id } = await jose.jwtVerify(t.id_token, jwks, { issuer: p.issuer, audience: CLIENT });
    received.length = 0;
    const u = new URL(meta.end_session_endpoint);
    u.searchParams.set('id_token_hint', t.id_token);
    const page = await go(jar, u.href);
    const form = parseForm(page.text, page.url);
    await follow(jar, form.action, new URL(meta.issuer).origin, { method: 'POST', form: form.fields });
    const sids = received.map((m) => jose.decodeJwt(m.body.get('logout_token')).sid);
    assert.deepEqual(sids, [id.sid]);
  });

  test('rotation race: one refresh token used twice at once', async () => {
    const t = await login(new Jar(), { username: 'life', password: 'life' });
    const [a, b] = await Promise.all([refresh(t.refresh_token), refresh(t.refresh_token)]);
    const statuses = [a.status, b.status].sort();
    // Finding (README "Refresh token rotation race"): oidc-provider 9.13.3 with its memory
    // adapter answers one 200 (a new refresh token) and one 400 invalid_grant "refresh token
    // already used", and the reuse revokes the whole grant: the winner's new token is dead.
    assert.deepEqual(statuses, [200, 400], JSON.stringify([a.json, b.json]));
    const winner = a.status === 200 ? a : b;
    const loser = a.status === 200 ? b : a;
    assert.equal(loser.json.error, 'invalid_grant');
    assert.match(loser.json.error_description ?? '', /grant request is invalid/);
    const next = await refresh(winner.json.refresh_token);
    assert.equal(next.status, 400);
    assert.equal(next.json.error, 'invalid_grant');
  });

  test('/_test/sign makes logout tokens: typ and every claim as given, null leaves one out', async () => {
    const claims = {
      aud: CLIENT, sub: 'u-life', sid: 'sid-x', jti: 'jti-x', nonce: 'n',
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, iat: 1_700_000_000, exp: null,
    };
    const { json: { token } } = await post('/_test/sign', { claims, header: { typ: 'logout+jwt' } });
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { issuer: p.issuer, audience: CLIENT, currentDate: new Date(1_700_000_000_000) });
    assert.equal(protectedHeader.typ, 'logout+jwt');
    const { exp, ...given } = claims;
    assert.equal(exp, null);
    assert.deepEqual(payload, { iss: p.issuer, ...given });
    assert.equal('exp' in payload, false);
    const { json: { token: untyped } } = await post('/_test/sign', { claims, header: { typ: null }, alg: 'ES256' });
    assert.equal('typ' in jose.decodeProtectedHeader(untyped), false);
    const { json: { token: iss } } = await post('/_test/sign', { claims: { iss: 'https://elsewhere/' } });
    assert.equal(jose.decodeJwt(iss).iss, 'https://elsewhere/');
  });
});
