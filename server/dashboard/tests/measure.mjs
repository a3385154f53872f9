// Time to first figures and page weight of the dashboard over a large population, in Debian's
// chromium (a measurement, not a test: it prints figures and asserts nothing).
//
//   REPORTS_BENCH_KEEP=/tmp/100k.db REPORTS_BENCH_PHASES= \
//     cargo bench --profile dev -p fieldcase-server --bench reports     # the population
//   FIELDCASE_BIN=target/debug/fieldcase FIELDCASE_MEASURE_DB=/tmp/100k.db \
//     node server/dashboard/tests/measure.mjs
//
// The database is the reports bench's, sealed under the bench's fixed key; the server is
// started on a copy of it with that key. Each run signs in as an analyst without grants (the
// published figures, perturbed: the most work per request) and, with a second token, as an
// analyst with exact counts; "first figures" is from pressing Sign in until the headline
// numbers are on the page, "everything" until the map and the month-by-month trend are drawn
// too. Page weight is the bytes of every response the page received. Then a device syncs one
// new case, and after the server's cache refresh (src/reports/cache.rs) has had its turn, a
// new analyst signs in: "first figures after new data".

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, copyFile, readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launch } from './browser.mjs';

const BIN = process.env.FIELDCASE_BIN;
const DB = process.env.FIELDCASE_MEASURE_DB;
const RUNS = Number(process.env.FIELDCASE_MEASURE_RUNS || 3);
const BENCH_KEY = Buffer.alloc(32, 42).toString('base64');
const run = promisify(execFile);

const dir = await mkdtemp(join(tmpdir(), 'fieldcase-measure-'));
await mkdir(join(dir, 'server'));
await copyFile(DB, join(dir, 'server', 'fieldcase.db'));
const env = { ...process.env, FIELDCASE_SERVER_KEY: BENCH_KEY };
const child = spawn(BIN, ['serve', '--data-dir', join(dir, 'server'), '--listen', '127.0.0.1:0'],
  { env, stdio: ['ignore', 'pipe', 'pipe'] });
const url = await new Promise((resolve, reject) => {
  let seen = '';
  child.stdout.on('data', (chunk) => {
    seen += chunk;
    const match = seen.match(/listening on (http:\/\/[0-9.:]+)/);
    if (match) resolve(match[1]);
  });
  child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
});
const adminToken = (await readFile(join(dir, 'server', 'admin.token'), 'utf8')).trim();
const admin = async (...args) => JSON.parse((await run(BIN, ['--json', 'admin', '--server', url, ...args],
  { env: { ...process.env, FIELDCASE_ADMIN_TOKEN: adminToken } })).stdout);
const agencies = await admin('agency', 'list');
const agency = (agencies.agencies || agencies)[0].code;
const token = async (grants) => {
  const user = await admin('user', 'add', '--agency', agency, '--role', 'analyst', '--name', 'measure');
  return (await admin('token', 'add', '--user', user.id, '--label', 'measure',
    ...grants.flatMap((g) => ['--grant', g]))).token;
};

const browser = await launch();

/// Signs in with `analyst` at `query` and prints the times and bytes.
async function measure(name, analyst, query) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const bodies = [];
  page.on('response', (response) => {
    bodies.push(response.body().then((b) => b.length, () => 0)); // a redirect has no body
  });
  await page.goto(`${url}/dashboard${query}`);
  await page.fill('#token', analyst);
  const started = Date.now();
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForFunction(() => Number(document.body.dataset.loads || 0) > 0, null, { timeout: 600000 });
  const first = Date.now() - started;
  await page.waitForFunction(() => Number(document.body.dataset.trends || 0) > 0, null, { timeout: 600000 });
  const all = Date.now() - started;
  const total = await page.locator('#headline-total .value').innerText();
  await page.waitForLoadState('networkidle');
  const bytes = (await Promise.all(bodies)).reduce((a, b) => a + b, 0);
  console.log(`${name}: first figures ${(first / 1000).toFixed(2)} s, everything ${(all / 1000).toFixed(2)} s, ` +
    `page weight ${(bytes / 1024).toFixed(0)} KiB, individuals shown ${total}`);
  await context.close();
}

const published = await token([]);
for (const [name, analyst, query] of [['published, all time', published, ''],
  ['exact, all time', await token(['exact_counts']), ''], ['published, one year', published, '?period=year&which=2025']]) {
  for (let i = 0; i < RUNS; i++) await measure(name, analyst, query);
}

// New data: a device of the first agency syncs one case; the refresh runs every 30 s.
const PASSPHRASE = 'measure passphrase, not for the field';
const device = (...args) => run(BIN, ['--json', 'device', '--dir', join(dir, 'devices'), '--profile', 'm', ...args],
  { env: { ...process.env, FIELDCASE_PASSPHRASE: PASSPHRASE } });
const caseworker = await admin('user', 'add', '--agency', agency, '--role', 'caseworker', '--name', 'measure cw');
const code = (await admin('enroll-code', '--user', caseworker.id)).code;
await device('enroll', '--server', url, '--code', code);
const file = join(dir, 'one.jsonl');
await writeFile(file, `${JSON.stringify({ given_name: 'New', family_name: 'Person', date_of_birth: '1990-01-01',
  sex: 'female', nationality: 'ETH', country_of_assistance: 'UGA', intake_date: '2026-11-02',
  categories: ['stranded_migrant'], programme: 'avrr',
  consent: { assistance: { given: true, date: '2026-11-02', recorded_by: 'cw' }, data_sharing: 'none' } })}\n`);
await device('import', file);
await device('sync');
const wait = Number(process.env.FIELDCASE_MEASURE_REFRESH_WAIT || 90);
console.log(`synced one case; waiting ${wait} s for the cache refresh`);
await new Promise((r) => setTimeout(r, wait * 1000));
await measure('published, all time, first analyst after new data', await token([]), '');
await browser.close();
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await rm(dir, { recursive: true, force: true });
