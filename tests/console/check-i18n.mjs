#!/usr/bin/env node
// check-i18n.mjs - the two dictionaries of the console have the same keys, the same {params}
// in each string, no empty strings, and every literal t('key') in console/src exists.
// Exit 1 with the list of problems.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'console', 'src');
const { zh } = await import(pathToFileURL(path.join(src, 'i18n-zh.js')).href);
const { en } = await import(pathToFileURL(path.join(src, 'i18n-en.js')).href);
const problems = [];
const params = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
for (const k of Object.keys(en)) if (!(k in zh)) problems.push(`zh-CN lacks ${k}`);
for (const k of Object.keys(zh)) if (!(k in en)) problems.push(`en lacks ${k}`);
for (const k of Object.keys(en)) {
  if (!en[k] || !zh[k]) problems.push(`empty string for ${k}`);
  else if (k in zh && params(en[k]) !== params(zh[k])) problems.push(`placeholders differ for ${k}: ${en[k]} / ${zh[k]}`);
}
function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(jsx?|mjs)$/.test(n) ? [p] : [];
  });
}
let used = 0;
for (const f of files(src)) {
  for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-zA-Z0-9_.-]+)'(\s*[,)])/g)) {
    used++;
    if (!(m[1] in en)) problems.push(`${path.basename(f)} uses unknown key ${m[1]}`);
  }
}
// Keys named in data (menu items, notices) rather than t('...') calls.
for (const k of ['nav.tenant', 'session.expired', 'session.signedout']) if (!(k in en)) problems.push(`missing ${k}`);
if (used < 100) problems.push(`only ${used} t('...') calls found: is the scan broken?`);
if (problems.length) {
  console.log(problems.join('\n'));
  process.exit(1);
}
console.log(`ok: ${Object.keys(en).length} keys in both dictionaries, ${used} uses checked`);
