// Builds the dashboard's vendored assets from this lockfile's packages:
//   ../vendor.js   d3 modules and topojson-client (entry.mjs), minified into one IIFE;
//   ../world.json  Natural Earth 1:110m country boundaries (world-atlas), with each country's
//                  id changed from ISO 3166-1 numeric to the alpha-3 codes the reports use.
// `node build.mjs --check` builds into memory and fails when a committed file differs, so a
// test can tell that the committed bundle is the lockfile's build.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = (name) => join(here, '..', name);
const require = createRequire(import.meta.url);
const check = process.argv.includes('--check');

const bundle = await build({
  entryPoints: [join(here, 'entry.mjs')],
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'fieldcaseVendor',
  target: 'es2020',
  legalComments: 'inline',
  write: false,
});
const vendorJs = bundle.outputFiles[0].text;

const countries = require('i18n-iso-countries');
const world = JSON.parse(readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'));
for (const geometry of world.objects.countries.geometries) {
  // Kosovo and Northern Cyprus have no numeric code in world-atlas; IOM uses XKX for Kosovo.
  const iso3 = geometry.id ? countries.numericToAlpha3(geometry.id)
    : geometry.properties.name === 'Kosovo' ? 'XKX' : undefined;
  geometry.id = iso3 || null;
  geometry.properties = { name: geometry.properties.name };
}
world.objects.countries.geometries.sort((a, b) => String(a.id).localeCompare(String(b.id)));
const worldJson = `${JSON.stringify(world)}\n`;

let stale = [];
for (const [name, text] of [['vendor.js', vendorJs], ['world.json', worldJson]]) {
  if (check) {
    let committed = '';
    try { committed = readFileSync(out(name), 'utf8'); } catch { committed = ''; }
    if (committed !== text) stale.push(name);
  } else {
    writeFileSync(out(name), text);
    console.log(`wrote ${name} (${text.length} bytes)`);
  }
}
if (stale.length) {
  console.error(`not the lockfile's build: ${stale.join(', ')} (run npm ci && npm run build in server/dashboard/vendor)`);
  process.exit(1);
}
