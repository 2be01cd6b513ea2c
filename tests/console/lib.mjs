// lib.mjs - helpers for the console's browser scenarios: Debian's Chromium through
// playwright-core (installed as a devDependency of console/), sign-in, screenshots, checks.
//
// Configuration comes from the environment (tests/integration/test_console.py sets it):
//   GZY_CONSOLE_CONFIG  JSON: {base, artifacts, users:{name:{ak,sk,tenant,role}}, ...}
//   GZY_CHROMIUM        the browser (default /usr/bin/chromium)
//   GZY_CONSOLE_HEADED=1  show the browser (debugging)
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
// playwright-core lives in console/node_modules (a devDependency of the console build).
const require = createRequire(path.join(repoRoot, 'console', 'package.json'));
const { chromium } = require('playwright-core');

export const config = JSON.parse(process.env.GZY_CONSOLE_CONFIG || '{}');
export const WIDTHS = { desktop: { width: 1280, height: 860 }, phone: { width: 390, height: 844 } };
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export class CheckError extends Error {}

export function check(cond, what) {
  if (!cond) throw new CheckError(what);
}

export function checkEq(got, want, what) {
  if (got !== want) throw new CheckError(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

export function log(msg) {
  process.stdout.write(`  [${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/* A fresh browser profile (its own --user-data-dir) for one scenario. */
export async function openBrowser(name) {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'gzy-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.GZY_CHROMIUM || '/usr/bin/chromium',
    headless: process.env.GZY_CONSOLE_HEADED !== '1',
    args: CHROMIUM_ARGS,
    viewport: WIDTHS.desktop,
    acceptDownloads: true,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    timeout: 30000,
  });
  context.setDefaultTimeout(15000);
  // A Content-Security-Policy violation (an inline style or script the server's policy
  // refuses) becomes a console error, which fails the scenario.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} ${e.sample || ''}`);
    });
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|403|404|409|413|400)/.test(m.text())) {
      problems.push('console error: ' + m.text());
    }
  });
  // The console talks to its own origin only, and only to /console/ and /admin/v1/ (no CDN,
  // no stray /favicon.ico that the admin API would log as a denied call).
  const origin = config.base ? new URL(config.base).origin : null;
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!/^https?:$/.test(u.protocol)) return; // data:, blob:, about:
    if (u.origin !== origin) problems.push('request to another origin: ' + r.url());
    else if (!/^\/(console\/|admin\/v1\/)/.test(u.pathname)) problems.push('request outside /console and /admin/v1: ' + r.url());
  });
  // window.confirm() answers yes.
  page.on('dialog', (d) => d.accept());
  const close = async () => {
    try { await context.close(); } finally { rmSync(profile, { recursive: true, force: true }); }
  };
  return { context, page, problems, close, name };
}

export function artifactPath(file) {
  const dir = config.artifacts || path.join(repoRoot, 'build', 'test-artifacts', 'console');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, file);
}

/* Screenshots the current page at 1280 and at 390 px (then back to 1280). */
export async function shoot(page, name) {
  for (const [label, size] of Object.entries(WIDTHS)) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    await page.screenshot({ path: artifactPath(`${name}-${label === 'desktop' ? 1280 : 390}.png`), fullPage: true });
  }
  await page.setViewportSize(WIDTHS.desktop);
}

export async function gotoConsole(page, hash = '') {
  await page.goto(config.base + '/console/' + (hash ? '#' + hash : ''));
}

export async function signIn(page, user, { hash = '' } = {}) {
  const u = config.users[user];
  check(u, 'no such test user ' + user);
  await gotoConsole(page, hash);
  await page.locator('[data-test=signin-form]').waitFor();
  await page.fill('input[name=access_key]', u.ak);
  await page.fill('input[name=secret_key]', u.sk);
  await page.click('[data-test=signin-submit]');
  await page.locator('[data-test=who-user]').waitFor();
  return u;
}

export async function signOut(page) {
  await page.click('[data-test=signout]');
  await page.locator('[data-test=signin-form]').waitFor();
}

export async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

/* Runs a fetch inside the page (same origin, the session cookie): {status, body}. */
export async function pageFetch(page, url, init) {
  return page.evaluate(async ([u, i]) => {
    const r = await fetch(u, { credentials: 'same-origin', ...(i || {}) });
    const t = await r.text();
    let body = t;
    try { body = JSON.parse(t); } catch { /* text */ }
    return { status: r.status, body };
  }, [url, init || null]);
}

/* Polls fn() until it returns a truthy value or timeoutMs passes; returns the value. */
export async function until(fn, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new CheckError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/* Waiting assertions: a page re-renders after an action, a poll or a route change, so a value
 * read once right after one may still be the old one. These poll until the value is the one
 * wanted (want: a value, or a predicate) and otherwise fail with the last value seen. */
async function expectValue(read, want, what, timeoutMs) {
  const ok = typeof want === 'function' ? want : (v) => v === want;
  let last;
  try {
    await until(async () => ok(last = await read()), timeoutMs, what);
  } catch (e) {
    const w = typeof want === 'function' ? '' : `expected ${JSON.stringify(want)}, `;
    throw new CheckError(`${what}: ${w}got ${JSON.stringify(last)} (waited ${timeoutMs} ms)`);
  }
  return last;
}

/* The trimmed innerText of the first element matching selector (null while there is none). */
export async function expectText(page, selector, want, what, timeoutMs = 10000) {
  const loc = page.locator(selector).first();
  return expectValue(async () => ((await loc.count()) ? (await loc.innerText()).trim() : null), want, what, timeoutMs);
}

/* How many elements match selector (a string) or locator. */
export async function expectCount(page, selector, want, what, timeoutMs = 10000) {
  const loc = typeof selector === 'string' ? page.locator(selector) : selector;
  return expectValue(() => loc.count(), want, what, timeoutMs);
}

/* An attribute of the first element matching selector (null while there is none). */
export async function expectAttr(page, selector, attr, want, what, timeoutMs = 10000) {
  const loc = page.locator(selector).first();
  return expectValue(async () => ((await loc.count()) ? loc.getAttribute(attr) : null), want, what, timeoutMs);
}

/* Any value read from the page by fn(). */
export async function expectFn(fn, want, what, timeoutMs = 10000) {
  return expectValue(fn, want, what, timeoutMs);
}
