// build.mjs - bundles the console (src/main.jsx) with esbuild into dist/:
//   dist/index.html                 (no-cache; references the hashed files)
//   dist/favicon.svg
//   dist/assets/main-<hash>.js      (immutable)
//   dist/assets/main-<hash>.css     (immutable)
// Nothing is fetched at run time: chart.js and preact are bundled in. No inline scripts or
// styles (the server's Content-Security-Policy is default-src 'self').
// Usage: node build.mjs [--watch] [--dev]   (--dev: no minification, source maps)
import * as esbuild from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const args = process.argv.slice(2);
const dev = args.includes('--dev') || args.includes('--watch');

const options = {
  entryPoints: [path.join(here, 'src', 'main.jsx')],
  bundle: true,
  outdir: path.join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !dev,
  sourcemap: dev,
  metafile: true,
  legalComments: 'eof',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
};

async function writeIndex(metafile) {
  const outputs = Object.keys(metafile.outputs).map((p) => path.relative(dist, path.resolve(p)));
  const js = outputs.find((p) => /^assets\/main-[^/]+\.js$/.test(p));
  const css = outputs.find((p) => /^assets\/main-[^/]+\.css$/.test(p));
  if (!js || !css) throw new Error('build: main JS/CSS output missing: ' + outputs.join(', '));
  const template = await readFile(path.join(here, 'src', 'index.html'), 'utf8');
  // Absolute URLs: the console always lives under /console/ on the admin listener.
  const html = template
    .replace('%CSS%', '/console/' + css)
    .replace('%JS%', '/console/' + js);
  await writeFile(path.join(dist, 'index.html'), html);
  // The icon (so browsers do not ask the server for /favicon.ico).
  await copyFile(path.join(here, 'src', 'favicon.svg'), path.join(dist, 'favicon.svg'));
  return [js, css];
}

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, 'assets'), { recursive: true });
if (args.includes('--watch')) {
  const ctx = await esbuild.context({
    ...options,
    plugins: [{
      name: 'index',
      setup(b) {
        b.onEnd(async (r) => { if (r.metafile) await writeIndex(r.metafile); });
      },
    }],
  });
  await ctx.watch();
  console.log('watching src/ ...');
} else {
  const result = await esbuild.build(options);
  const files = await writeIndex(result.metafile);
  console.log('console built: dist/index.html, ' + files.map((f) => 'dist/' + f).join(', '));
}
