#!/usr/bin/env node
// Logs in and out like a person, in Debian's headless Chromium (/usr/bin/chromium) driven by
// playwright-core: open the protected app URL, see the provider's login page, type the
// username and password, click the submit button, land back on the app page (the test
// upstream's JSON report of the headers it received must show X-authentik-username), take a
// screenshot, open /outpost.goauthentik.io/sign_out, confirm the provider's logout form by
// clicking, and check that opening the app again shows the login form.
//
//   node login.mjs <app-url> <username> <password> <screenshot-path>
//
// Exits 0 on success; otherwise prints what went wrong (with the page's URL and text, and a
// screenshot next to <screenshot-path> named *.failure.png) and exits 1. Each step is printed
// on stderr. Needs `scripts/browser-deps` (Debian's chromium, and `npm ci` here).

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
// Chromium on this machine must be started with exactly these.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
const TIMEOUT_MS = 30_000;
// The whole run must end by itself, whatever hangs.
const OVERALL_MS = 150_000;
const SIGN_OUT = '/outpost.goauthentik.io/sign_out';

const started = Date.now();
function step(msg) {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  process.stderr.write(`[login.mjs ${t}s] ${msg}\n`);
}

class Failure extends Error {}
function fail(msg) {
  throw new Failure(msg);
}

const [appArg, username, password, screenshotPath] = process.argv.slice(2);
if (!appArg || username === undefined || password === undefined || !screenshotPath) {
  process.stderr.write('usage: node login.mjs <app-url> <username> <password> <screenshot-path>\n');
  process.exit(2);
}
const app = new URL(appArg);

if (!existsSync(CHROMIUM)) {
  process.stderr.write(`login.mjs: ${CHROMIUM} is missing: run scripts/browser-deps\n`);
  process.exit(1);
}

let browser;
const watchdog = setTimeout(() => {
  step(`FAILED: still running after ${OVERALL_MS / 1000} s; giving up`);
  // close() may hang too; the process exit takes Chromium down with it (playwright kills it).
  process.exit(1);
}, OVERALL_MS);

const onApp = (u) => u.origin === app.origin;
const isAppPage = (u) => onApp(u) && u.pathname === app.pathname && u.search === app.search;

// The login form: the provider's page with `username` and `password` inputs and a submit
// button, visible.
async function expectLoginForm(page, why) {
  const pw = page.locator('form input[name="password"]');
  try {
    await pw.waitFor({ state: 'visible' });
    await page.locator('form input[name="username"]').waitFor({ state: 'visible' });
  } catch (e) {
    fail(`${why}: no visible login form (inputs username and password): ${e.message.split('\n')[0]}`);
  }
  const here = new URL(page.url());
  if (onApp(here)) fail(`${why}: the login form is on the app's own origin ${here.origin}, not the provider's`);
  return here;
}

// The upstream's report, as the page shows it: {"method", "target", "headers": [[k, v], ...]}.
async function upstreamReport(page) {
  const text = await page.locator('body').innerText();
  const a = text.indexOf('{');
  const b = text.lastIndexOf('}');
  let report;
  try {
    report = JSON.parse(text.slice(a, b + 1));
  } catch {
    fail(`the app page does not show the upstream's JSON report:\n${text.slice(0, 2000)}`);
  }
  if (!Array.isArray(report.headers)) fail(`no headers in the upstream's report:\n${text.slice(0, 2000)}`);
  return report;
}

async function run(page, context) {
  step(`open ${app.href}`);
  await page.goto(app.href);
  const loginPage = await expectLoginForm(page, 'opening the app while signed out');
  step(`login page shown at ${loginPage.origin}${loginPage.pathname}`);

  step(`type username "${username}" and the password`);
  await page.locator('form input[name="username"]').pressSequentially(username);
  await page.locator('form input[name="password"]').pressSequentially(password);
  step('click the submit button');
  const submit = page.locator('form:has(input[name="password"]) button[type="submit"]');
  // Either we land back on the app page, or the provider refuses with an alert (then fail
  // at once instead of waiting out the timeout).
  const landed = page.waitForURL(isAppPage, { waitUntil: 'load' }).then(() => null);
  const alert = page.getByRole('alert').first();
  const refused = alert
    .waitFor({ state: 'visible' })
    .then(() => alert.innerText())
    .catch(() => new Promise(() => {})); // no alert: never settles, `landed` decides
  landed.catch(() => {}); // awaited below; keep Node from calling it unhandled meanwhile
  await submit.click();
  const alertText = await Promise.race([landed, refused]);
  if (alertText !== null) fail(`the provider refused the login: "${alertText.trim()}" (at ${page.url()})`);
  step(`back on the app: ${page.url()}`);

  const report = await upstreamReport(page);
  const users = report.headers
    .filter(([k]) => k.toLowerCase() === 'x-authentik-username')
    .map(([, v]) => v);
  if (users.length !== 1 || users[0] !== username) {
    fail(`the app received x-authentik-username ${JSON.stringify(users)}, want ["${username}"]; report: ${JSON.stringify(report)}`);
  }
  step(`the app received x-authentik-username: ${users[0]}`);
  const cookies = await context.cookies(app.origin);
  if (!cookies.some((c) => c.name === 'sso_session')) {
    fail(`no sso_session cookie for ${app.origin}: ${cookies.map((c) => c.name).join(', ')}`);
  }
  await page.screenshot({ path: screenshotPath, fullPage: true });
  step(`screenshot of the signed-in page: ${screenshotPath}`);

  const signOut = new URL(SIGN_OUT, app.origin).href;
  step(`open ${signOut}`);
  await page.goto(signOut);
  const confirm = page.locator('form:has(input[name="logout"][value="yes"]) button[type="submit"]');
  try {
    await confirm.waitFor({ state: 'visible' });
  } catch (e) {
    fail(`no logout confirmation form (logout=yes and a submit button): ${e.message.split('\n')[0]}`);
  }
  const confirmUrl = page.url();
  const confirmAt = new URL(confirmUrl);
  if (onApp(confirmAt)) fail(`the logout confirmation is on the app's origin, not the provider's: ${confirmUrl}`);
  step(`logout confirmation shown at ${confirmAt.origin}${confirmAt.pathname}`);
  if ((await context.cookies(app.origin)).some((c) => c.name === 'sso_session')) {
    fail('the sso_session cookie is still there after sign_out');
  }
  step('click the confirm button');
  await Promise.all([page.waitForURL((u) => u.href !== confirmUrl, { waitUntil: 'load' }), confirm.click()]);
  step(`signed out, now at ${page.url()}`);

  step(`open ${app.href} again`);
  await page.goto(app.href);
  const again = await expectLoginForm(page, 'opening the app after signing out');
  step(`login page shown again at ${again.origin}${again.pathname}`);
}

let code = 1;
let page;
try {
  step(`launch ${CHROMIUM}`);
  try {
    // launch() runs Chromium on a fresh, temporary user-data dir that it removes on close.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: TIMEOUT_MS });
  } catch (e) {
    fail(`cannot start ${CHROMIUM} (run scripts/browser-deps): ${e.message}`);
  }
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  context.setDefaultNavigationTimeout(TIMEOUT_MS);
  page = await context.newPage();
  await run(page, context);
  step('OK');
  code = 0;
} catch (e) {
  step(`FAILED: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (page) {
    try {
      step(`page URL: ${page.url()}`);
      const text = await page.locator('body').innerText({ timeout: 5000 });
      step(`page text:\n${text.slice(0, 3000)}`);
      const shot = screenshotPath.replace(/(\.png)?$/, '.failure.png');
      await page.screenshot({ path: shot, fullPage: true, timeout: 5000 });
      step(`screenshot of the failure: ${shot}`);
    } catch {
      // what we could show, we showed
    }
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(code);
