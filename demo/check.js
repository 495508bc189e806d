// Headless check of the running demo (scripts/demo-run --check): signs in through nginx and
// the provider's login form, checks the identity headers the app received, signs out.
//
//   node demo/check.js http://127.0.0.1:8080/ demo demo

import assert from 'node:assert/strict';

import { follow, go, Jar, parseForms } from '../tests/provider/browser.js';

const [app = 'http://127.0.0.1:8080/', username = 'demo', password = 'demo'] = process.argv.slice(2);
const jar = new Jar();
const step = (s) => console.error(`demo check: ${s}`);
const loginForm = (page) => parseForms(page.text, page.url).find((f) => 'password' in f.fields);

step(`GET ${app}`);
const first = await follow(jar, app);
const form = loginForm(first);
assert.ok(form, `expected the provider's login form, got ${first.status} at ${first.url}:\n${first.hops.join('\n')}\n${first.text}`);

step(`signing in as ${username} at ${form.action}`);
const home = await follow(jar, form.action, undefined, { method: 'POST', form: { ...form.fields, username, password } });
assert.equal(home.status, 200, home.hops.join('\n'));
assert.equal(`${home.url.origin}${home.url.pathname}`, new URL(app).href, home.hops.join('\n'));
const user = /<th>X-authentik-username<\/th><td><code>([^<]*)<\/code>/i.exec(home.text)?.[1];
assert.equal(user, username, `the app did not get X-authentik-username:\n${home.text}`);
for (const h of ['X-authentik-groups', 'X-authentik-email', 'X-authentik-uid', 'X-Custom']) {
  assert.match(home.text, new RegExp(`<th>${h}</th>`, 'i'), `the app did not get ${h}`);
}
step('signed in; the app received the identity headers');

const again = await go(jar, app);
assert.equal(again.status, 200, 'the session cookie did not carry the next request');

step('signing out');
const out = await follow(jar, new URL('/outpost.goauthentik.io/sign_out', app).href);
const confirm = parseForms(out.text, out.url).find((f) => 'logout' in f.fields);
let end = out;
if (confirm) end = await follow(jar, confirm.action, undefined, { method: 'POST', form: confirm.fields });
const after = await follow(jar, app);
assert.ok(loginForm(after), `still signed in after sign-out:\n${end.hops.join('\n')}\n${after.hops.join('\n')}`);
step('signed out');
console.log('demo check: 1 passed, 0 failed');
