#!/usr/bin/env node
// run.mjs - runs browser scenarios of the web console against a running gzy.
//   node tests/console/run.mjs SCENARIO [SCENARIO...]     (node tests/console/run.mjs --list)
// Each scenario opens a fresh Chromium profile, prints its steps, and on failure a screenshot
// (failed-SCENARIO.png in the artefact folder) and the reason; the exit status is 1 if any
// failed. tests/integration/test_console.py starts gzy and moto_server and sets
// GZY_CONSOLE_CONFIG (see lib.mjs).
// Node formats dates in the zone the browser is given (lib.mjs), so what a scenario expects
// a page to show is formatted as the page formats it.
process.env.TZ = 'Asia/Shanghai';
import { SCENARIOS } from './scenarios.mjs';
import { artifactPath, openBrowser } from './lib.mjs';

const names = process.argv.slice(2);
if (!names.length || names.includes('--list')) {
  console.log(Object.keys(SCENARIOS).join('\n'));
  process.exit(names.length ? 0 : 2);
}
let failed = 0;
for (const name of names) {
  const fn = SCENARIOS[name];
  if (!fn) {
    console.log(`unknown scenario ${name} (known: ${Object.keys(SCENARIOS).join(', ')})`);
    failed++;
    continue;
  }
  const started = Date.now();
  console.log(`scenario ${name}`);
  let b;
  try {
    b = await openBrowser(name);
    await fn(b);
    if (b.problems.length) throw new Error('the page reported errors:\n  ' + b.problems.join('\n  '));
    console.log(`ok ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    let where = '';
    if (b && b.page) {
      try {
        where = '\n  at URL ' + b.page.url();
        await b.page.screenshot({ path: artifactPath(`failed-${name}.png`), fullPage: true });
        where += '\n  screenshot ' + artifactPath(`failed-${name}.png`);
        const body = await b.page.locator('body').innerText({ timeout: 2000 });
        where += '\n  page text: ' + body.replace(/\s+/g, ' ').slice(0, 1500);
      } catch { /* the browser is gone */ }
    }
    console.log(`FAILED ${name}: ${e && e.stack ? e.stack : e}${where}`);
  } finally {
    if (b) await b.close().catch(() => {});
  }
}
process.exit(failed ? 1 : 0);
