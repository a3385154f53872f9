// The dashboard's views in Debian's chromium: names instead of codes in English and French,
// trends, the map and its drill-down, state in the address, exports, keyboard-only use, an
// axe-core accessibility scan, and screenshots of each view compared with checked-in
// references (FIELDCASE_UPDATE_SCREENSHOTS=1 writes them anew). Expected figures are computed
// from the seeded population, not asked of the server's report code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import pixelmatch from 'pixelmatch';
import { seededServer, POPULATION } from './seed.mjs';
import { launch, analystToken, signedIn, apply, settled, loads, cellOf, headlineTotal } from './browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
/// A period that does not move with today's date, so the trend's months are fixed.
const YEAR_2026 = '?period=year&which=2026';
/// Pixels that may differ from a reference (fonts and anti-aliasing of another machine).
const MAX_DIFFERENT = 0.01;
let server;
let browser;
let central;
let plain;

before(async () => {
  server = await seededServer();
  browser = await launch();
  central = await analystToken(server, 'central analyst', ['exact_counts', 'review_duplicates']);
  plain = await analystToken(server, 'plain analyst', []);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const monthsOf = (cases) => cases.reduce((counts, c) => {
  const month = c.fields.intake_date.slice(0, 7);
  counts[month] = (counts[month] || 0) + 1;
  return counts;
}, {});

/// The visible text of every view, one after the other.
async function allText(page) {
  let text = '';
  for (const view of ['overview', 'figures', 'referrals', 'duplicates']) {
    const tab = page.locator(`#tab-${view}`);
    if (!(await tab.isVisible())) continue;
    await tab.click();
    text += `${await page.locator('body').innerText()}\n`;
  }
  await page.click('#tab-overview');
  return text;
}

const RAW_CODES = ['victim_of_trafficking', 'stranded_migrant', 'sexual_and_labour', 'direct_assistance',
  'avrr', 'iom_uga', 'iom_eth', 'by_sex', 'country_of_assistance', 'from_agency', 'to_agency',
  'unaccompanied_migrant', 'domestic_servitude', 'east_southern_africa'];

test('names, not codes, in English and in French, with ISO dates and a legend', async () => {
  const { page, problems, close } = await signedIn(browser, server, central, { query: YEAR_2026 });
  const english = await allText(page);
  for (const code of RAW_CODES) assert.ok(!english.includes(code), `"${code}" is shown`);
  for (const iso3 of ['ETH', 'UGA', 'SOM', 'ERI', 'COD', 'SSD']) {
    assert.ok(!new RegExp(`\\b${iso3}\\b`).test(english), `the code ${iso3} is shown`);
  }
  for (const name of ['Victim of trafficking', 'Ethiopia', 'Democratic Republic of the Congo',
    'Direct assistance', 'Sexual and labour', 'IOM Uganda', 'East & Southern Africa']) {
    assert.ok(english.includes(name), `"${name}" is missing`);
  }
  assert.match(await page.locator('#as-of').innerText(), /^Data as of \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
  assert.match(await page.locator('#legend').innerText(), /Exact counts/);

  // The language switch: everything again, in French, the choice kept in the address.
  await page.selectOption('#lang', 'fr');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'fr');
  assert.match(page.url(), /lang=fr/);
  const french = await allText(page);
  for (const code of RAW_CODES) assert.ok(!french.includes(code), `"${code}" is shown in French`);
  for (const name of ['Victime de la traite', 'Éthiopie', 'Assistance directe', 'Sexuelle et par le travail',
    "Vue d'ensemble", 'Personnes assistées', 'Données au', 'Afrique de l\'Est et australe']) {
    assert.ok(french.includes(name), `"${name}" is missing in French`);
  }
  assert.ok(!french.includes('Individuals assisted'), 'no English left on the French page');

  // Published figures: the legend says what x and the perturbation mean.
  const { page: published, close: closePublished } = await signedIn(browser, server, plain);
  const legend = await published.locator('#legend').innerText();
  assert.match(legend, /±\d+ of the exact count/);
  assert.match(legend, /x\s+Hidden: too few people to publish/);
  assert.match(legend, /show as 0 or 5/);
  await closePublished();
  assert.deepEqual(problems, []);
  await close();
});

/// Compares a full-page screenshot with its reference (written when asked to, or missing).
async function compareScreenshot(page, name) {
  const shot = PNG.sync.read(await page.screenshot({ fullPage: true, animations: 'disabled',
    mask: [page.locator('#as-of'), page.locator('#duplicates-as-of')], maskColor: '#777777' }));
  const file = join(here, 'screenshots', `${name}.png`);
  let reference;
  try { reference = PNG.sync.read(await readFile(file)); } catch { reference = null; }
  if (!reference || process.env.FIELDCASE_UPDATE_SCREENSHOTS) {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, PNG.sync.write(shot));
    if (!reference && !process.env.FIELDCASE_UPDATE_SCREENSHOTS) assert.fail(`no reference for ${name}: written to ${file}, check it in`);
    return 0;
  }
  assert.equal(`${shot.width}x${shot.height}`, `${reference.width}x${reference.height}`, `${name}: page size`);
  const different = pixelmatch(shot.data, reference.data, null, shot.width, shot.height, { threshold: 0.2 });
  const share = different / (shot.width * shot.height);
  assert.ok(share <= MAX_DIFFERENT, `${name}: ${(share * 100).toFixed(2)}% of pixels differ from the reference`);
  return share;
}

// Before the keyboard test below rejects the proposed duplicate: the review view shows it.
test('each view looks like its reference screenshot', async (t) => {
  const token = await analystToken(server, 'screenshot analyst', ['exact_counts', 'review_duplicates']);
  const { page, close } = await signedIn(browser, server, token, { query: `${YEAR_2026}&figures=internal` });
  const shares = [];
  for (const view of ['overview', 'figures', 'referrals', 'duplicates']) {
    await page.click(`#tab-${view}`);
    shares.push(`${view} ${(100 * await compareScreenshot(page, view)).toFixed(3)}%`);
  }
  await page.selectOption('#lang', 'fr');
  await page.click('#tab-overview');
  shares.push(`overview-fr ${(100 * await compareScreenshot(page, 'overview-fr')).toFixed(3)}%`);
  await page.emulateMedia({ media: 'print' });
  shares.push(`print-brief ${(100 * await compareScreenshot(page, 'print-brief')).toFixed(3)}%`);
  t.diagnostic(`pixels different from the references: ${shares.join(', ')}`);
  await close();
});

test('trends: month by month with the same months a year before; a month drills down', async () => {
  const { page, problems, close } = await signedIn(browser, server, central,
    { query: `${YEAR_2026}&count=assistance&figures=internal` });
  const perMonth = monthsOf(POPULATION);
  await page.click('#trend .mode button[data-mode=table]');
  const rows = await page.locator('#trend table tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.children].map((c) => c.textContent.trim())));
  assert.equal(rows.length, 12);
  assert.equal(rows[0][0], '2026-01');
  for (const [month, now, yearBefore] of rows) {
    assert.equal(now, String(perMonth[month] || 0), `${month} this year`);
    assert.equal(yearBefore, '0', `${month} a year before (nothing recorded in 2025)`);
  }
  // Clicking (here: Enter on) May's point filters everything to May.
  await page.click('#trend .mode button[data-mode=chart]');
  const before = await loads(page);
  await page.locator('#trend circle[aria-label^="2026-05"]').first().press('Enter');
  await settled(page, before);
  assert.match(page.url(), /period=month&which=2026-05/);
  assert.equal(await headlineTotal(page), String(perMonth['2026-05']));
  assert.equal(await page.locator('#filter-period').inputValue(), '2026-05');

  // A table's rows month by month.
  await page.click('#tab-figures');
  await page.click('#figure-by_sex .mode button[data-mode=trend]');
  await page.waitForSelector('table[data-trend=by_sex]');
  const header = await page.locator('table[data-trend=by_sex] thead th').allInnerTexts();
  assert.ok(header.includes('Female') && header.some((h) => /a year before/i.test(h)), header.join('|'));
  assert.deepEqual(problems, []);
  await close();
});

test('the map colours countries by the published cells; a country filters everything', async () => {
  const { page, problems, close } = await signedIn(browser, server, central, { query: '?figures=internal' });
  const byCountry = POPULATION.reduce((m, c) => ({ ...m, [c.fields.country_of_assistance]: (m[c.fields.country_of_assistance] || 0) + 1 }), {});
  const shaded = await page.locator('#map path.drill').evaluateAll((paths) => paths.map((p) => p.dataset.country).sort());
  assert.deepEqual(shaded, Object.keys(byCountry).sort());
  // By nationality: every nationality of the population, nothing else.
  await page.selectOption('#map-dimension', 'by_nationality');
  const nationalities = await page.locator('#map path.drill').evaluateAll((paths) => paths.map((p) => p.dataset.country).sort());
  assert.deepEqual(nationalities, [...new Set(POPULATION.map((c) => c.fields.nationality))].sort());
  assert.match(page.url(), /map=by_nationality/);
  // Referral flows: Uganda's agency refers to Ethiopia's, drawn from Uganda to Ethiopia.
  await page.selectOption('#map-dimension', 'referral_flows');
  const flow = page.locator('#map path[data-flow="iom_uga|iom_eth"]');
  await flow.waitFor();
  assert.equal(await flow.locator('title').textContent(), 'IOM Uganda → IOM Ethiopia (Uganda → Ethiopia): 1');
  assert.match(await page.locator('#map-note').innerText(), /country where it assists most/);
  await page.selectOption('#map-dimension', 'by_country_of_assistance');
  // Keyboard: Enter on Uganda.
  const before = await loads(page);
  await page.locator('#map path[data-country=UGA]').press('Enter');
  await settled(page, before);
  assert.match(page.url(), /country=UGA/);
  assert.equal(await page.locator('#filter-country').inputValue(), 'UGA');
  const uganda = POPULATION.filter((c) => c.fields.country_of_assistance === 'UGA');
  const linked = uganda.filter((c) => c.dup).length > 1 ? 1 : 0;
  assert.equal(Number(await headlineTotal(page)), uganda.length - linked);
  assert.deepEqual(problems, []);
  await close();

  // Published figures: each country shows exactly the published cell of the table (perturbed,
  // never a count from 1 to 4), and a country without a published case is not shaded.
  const { page: published, close: closePublished } = await signedIn(browser, server, plain);
  const onMap = await published.locator('#map path.drill').evaluateAll((paths) =>
    paths.map((p) => [p.dataset.country, p.querySelector('title').textContent]));
  assert.ok(onMap.length > 0);
  for (const [code, title] of onMap) {
    const cell = await cellOf(published, 'by_country_of_assistance', code);
    assert.ok(title.endsWith(`: ${cell}`), `${code}: map "${title}", table ${cell}`);
    assert.ok(cell === 'x' || Number(cell) === 0 || Number(cell) >= 5, `${code} shows ${cell}`);
  }
  await closePublished();
});

test('a supervisor sees their own agency, partners by name, and no error', async () => {
  const user = await server.admin('user', 'add', '--agency', 'iom_eth', '--role', 'supervisor', '--name', 'supervisor');
  const token = (await server.admin('token', 'add', '--user', user.id, '--label', 'dashboard')).token;
  const { page, problems, close } = await signedIn(browser, server, token, { query: '?map=referral_flows' });
  const own = POPULATION.filter((c) => c.agency === 'iom_eth').length;
  assert.equal(await headlineTotal(page), String(own));
  assert.equal(await page.locator('#filter-agency').inputValue(), 'iom_eth');
  assert.equal(await page.locator('#filter-agency').isDisabled(), true);
  assert.match(await page.locator('#whoami').innerText(), /IOM Ethiopia/);
  // Uganda's referral reaches Ethiopia: named, but not placed (Uganda's figures are not its).
  assert.match(await page.locator('#map-note').innerText(), /IOM Uganda → IOM Ethiopia/);
  assert.ok(!(await allText(page)).includes('iom_uga'), 'no agency code on the page');
  assert.deepEqual(problems, []);
  await close();
});

test('the view is in the address: a bookmark opens the same filters, language and tab', async () => {
  const { page, close } = await signedIn(browser, server, central,
    { query: '?lang=fr&view=figures&country=ETH&count=assistance&figures=internal' });
  assert.equal(await page.locator('#filter-country').inputValue(), 'ETH');
  assert.equal(await page.locator('#filter-count').inputValue(), 'assistance');
  assert.equal(await page.locator('#tab-figures').getAttribute('aria-selected'), 'true');
  assert.equal(await page.locator('#view-figures').isVisible(), true);
  const ethiopia = POPULATION.filter((c) => c.fields.country_of_assistance === 'ETH').length;
  assert.equal(await page.locator('table[data-table=by_sex] td[data-total]').textContent(), String(ethiopia));
  assert.match(await page.locator('#figure-by_sex h3').innerText(), /Sexe/);
  await close();
});

test('exports: the API\'s published CSV and HXL, and the chart as SVG and PNG', async () => {
  const { page, problems, close } = await signedIn(browser, server, central, { query: '?view=figures' });
  const saved = async (selector) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
    return { name: download.suggestedFilename(), body: await readFile(await download.path()) };
  };
  const csv = await saved('#figure-by_sex button.csv');
  assert.equal(csv.name, 'by_sex.csv');
  const fromApi = await page.evaluate(async () => {
    const token = sessionStorage.getItem('fieldcase.apiToken');
    const r = await fetch('/v1/reports/by_sex?count=individuals&format=csv', { headers: { Authorization: `Bearer ${token}` } });
    return r.text();
  });
  assert.equal(csv.body.toString(), fromApi, 'the same file the API gives');
  const hxl = await saved('#figure-by_sex button.hxl');
  assert.match(hxl.body.toString().split('\n')[1], /#group\+sex/);
  const svg = await saved('#figure-by_sex button.svg-export');
  assert.match(svg.body.toString(), /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg.body.toString(), /Female/);
  const png = await saved('#figure-by_sex button.png-export');
  assert.deepEqual([...png.body.subarray(1, 4)], [...Buffer.from('PNG')]);
  const image = PNG.sync.read(png.body);
  assert.ok(image.width >= 1000, `PNG at twice the chart's size (${image.width})`);
  assert.deepEqual(problems, []);
  await close();
});

test('axe-core finds no serious or critical accessibility problem on any view, in either language', async (t) => {
  // axe is injected as a script, which the page's CSP forbids: this one context bypasses it.
  const { page, close } = await signedIn(browser, server, central,
    { query: `${YEAR_2026}&figures=internal`, context: { bypassCSP: true } });
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const found = [];
  const all = [];
  let checked = 0;
  let passes = 0;
  for (const lang of ['en', 'fr']) {
    await page.selectOption('#lang', lang);
    for (const view of ['overview', 'figures', 'referrals', 'duplicates']) {
      await page.click(`#tab-${view}`);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      checked += 1;
      passes += result.passes?.length || 0;
      for (const v of result.violations) {
        all.push(`${lang}/${view}: ${v.id} (${v.impact}, ${v.nodes.length} nodes)`);
        if (v.impact === 'serious' || v.impact === 'critical') {
          found.push(`${lang}/${view}: ${v.id} (${v.impact}) ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
        }
      }
    }
  }
  assert.equal(checked, 8);
  t.diagnostic(`axe-core ${require('axe-core/package.json').version}: ${checked} scans, ${passes} rules passed, ` +
    `violations: ${all.length ? all.join('; ') : 'none'}`);
  assert.deepEqual(found, []);
  await close();
});

test('keyboard only: filters, tabs and the duplicate review', async () => {
  const token = await analystToken(server, 'keyboard analyst', ['exact_counts', 'review_duplicates']);
  const { page, problems, close } = await signedIn(browser, server, token, { query: '?figures=internal' });
  const focusOn = async (selector, limit = 80) => {
    for (let i = 0; i < limit; i++) {
      if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached ${selector}`);
  };
  await page.evaluate(() => document.activeElement?.blur());
  await focusOn('#filter-count');
  await page.keyboard.press('ArrowDown'); // counts of assistance
  await focusOn('#filters button[type=submit]');
  let before = await loads(page);
  await page.keyboard.press('Enter');
  await settled(page, before);
  assert.match(page.url(), /count=assistance/);
  assert.equal(await headlineTotal(page), String(POPULATION.length));
  // Tabs: arrow keys move between views.
  await focusOn('#tab-overview');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-figures');
  assert.equal(await page.locator('#view-figures').isVisible(), true);
  for (let i = 0; i < 2; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('#view-duplicates').isVisible(), true);
  // The duplicate review: reject the proposed pair with the keyboard.
  await focusOn('#duplicate-list button[data-action=reject]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#no-duplicates');
  assert.deepEqual(problems, []);
  await close();
});

test('the committed vendor bundle and map are what the lockfile builds', async () => {
  const vendor = join(here, '..', 'vendor');
  const { stdout } = await promisify(execFile)(process.execPath, [join(vendor, 'build.mjs'), '--check'], { cwd: vendor });
  assert.equal(stdout, '');
  const world = JSON.parse(await readFile(join(here, '..', 'world.json'), 'utf8'));
  const ids = world.objects.countries.geometries.map((g) => g.id);
  for (const iso3 of ['UGA', 'ETH', 'SOM', 'ERI', 'COD', 'SSD', 'XKX']) assert.ok(ids.includes(iso3), iso3);
});

export { cellOf };
