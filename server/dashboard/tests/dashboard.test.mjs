// The dashboard end to end: a real server seeded through the real command line, the page in
// headless Debian Chromium driven by playwright-core. Expected figures are computed here from
// the seeded population, not by asking the server's report code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { seededServer, POPULATION } from './seed.mjs';
import { launch, analystToken, signedIn, apply, cellOf, headlineTotal } from './browser.mjs';

const THRESHOLD = 5;
let server;
let browser;

before(async () => {
  server = await seededServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const bySex = (cases) => cases.reduce((counts, c) => {
  counts[c.fields.sex] = (counts[c.fields.sex] || 0) + 1;
  return counts;
}, {});

test('a plain analyst sees published figures only: perturbed, no small count, no case, no review', async () => {
  const { page, problems, close } = await signedIn(browser, server,
    await analystToken(server, 'plain analyst', []));
  const expected = bySex(POPULATION);
  assert.ok(expected.female >= THRESHOLD && expected.male < THRESHOLD && expected.other < THRESHOLD,
    'the population is built to have both large and small cells');

  // The legend says the values are perturbed, and by how much at most.
  const legend = await page.locator('#legend').innerText();
  assert.match(legend, /Published figures/);
  const max = Number(legend.match(/±(\d+)/)[1]);
  assert.ok(max >= 1, legend);
  assert.equal(await page.locator('#filter-disclosure-label').isVisible(), false);
  assert.equal(await page.locator('#tab-duplicates').isVisible(), false);
  const near = (text, exact) => Math.abs(Number(text) - exact) <= max;
  const female = await cellOf(page, 'by_sex', 'female');
  assert.ok(near(female, expected.female), `female ${female}, exact ${expected.female}`);
  for (const sex of ['male', 'other']) {
    const shown = await cellOf(page, 'by_sex', sex);
    assert.ok(shown === '0' || shown === String(THRESHOLD), `${sex} shows ${shown}`);
  }
  const total = await headlineTotal(page);
  assert.ok(near(total, POPULATION.length), `total ${total}, exact ${POPULATION.length}`);

  // A day-by-day period is for exact figures: published ones cover fixed periods only, so
  // the period list does not offer dates; a month is offered, and goes into the address.
  assert.equal(await page.locator('#filter-period-kind option[value=custom]').evaluate((o) => o.hidden), true);
  await page.selectOption('#filter-period-kind', 'month');
  await page.selectOption('#filter-period', '2026-05');
  await apply(page);
  assert.match(page.url(), /period=month&which=2026-05/);
  await page.selectOption('#filter-period-kind', 'all');
  await apply(page);

  // Nowhere on the page (charts' labels aside) is a count between 1 and the threshold.
  const published = await page.locator('td.num').allInnerTexts();
  assert.ok(published.length > 20, 'the page holds the report tables');
  for (const text of published) {
    const n = Number(text);
    if (text.trim() !== '' && Number.isInteger(n)) {
      assert.ok(n === 0 || n >= THRESHOLD, `a published cell shows ${n}`);
    }
  }

  assert.deepEqual(problems, []);

  // The same token cannot reach case data, even by hand.
  const refused = await page.evaluate(async () => {
    const token = sessionStorage.getItem('fieldcase.apiToken');
    const response = await fetch('/v1/sync', { method: 'POST',
      headers: { Authorization: `Bearer ${token}` }, body: '{}' });
    return response.status;
  });
  assert.equal(refused, 403);
  await close();
});

test('the first review of a large caseload says the list is a first look', async () => {
  const { page, problems, close } = await signedIn(browser, server,
    await analystToken(server, 'first look analyst', ['review_duplicates']));
  // The server takes a first look only above 100,000 cases (docs/reports.md): the real list,
  // answered as a first look at 1.5% of the blocks is, is what the page reads from here on
  // (the list is read again when the language changes).
  await page.route((url) => url.pathname === '/v1/duplicates', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    await route.fulfill({ response, json: { ...body, refreshing: true, first_look: 0.015 } });
  });
  await page.click('#tab-duplicates');
  const asOf = page.locator('#duplicates-as-of');
  await page.selectOption('#lang', 'fr');
  await page.waitForFunction(() => /Premier aperçu/.test(document.querySelector('#duplicates-as-of')?.textContent));
  assert.match(await asOf.innerText(), /Premier aperçu : paires trouvées dans 1,5\s%\s?des groupes de dossiers\. La comparaison complète est en cours/);
  await page.selectOption('#lang', 'en');
  await page.waitForFunction(() => /A first look/.test(document.querySelector('#duplicates-as-of')?.textContent));
  assert.match(await asOf.innerText(), /^Records compared as of .* UTC\. A first look: pairs found in 1\.5% of the records' groups\. The full comparison is running/);
  assert.deepEqual(problems, []);
  await close();
});

test('the central office reviews a duplicate and the count of individuals follows', async () => {
  const { page, problems, close } = await signedIn(browser, server,
    await analystToken(server, 'central analyst', ['exact_counts', 'review_duplicates']));
  await page.selectOption('#filter-disclosure', 'internal');
  await apply(page);
  const expected = bySex(POPULATION);
  assert.match(await page.locator('#disclosure').innerText(), /Exact/);
  await page.click('#tab-duplicates');
  assert.equal(await cellOf(page, 'by_sex', 'male'), String(expected.male));
  assert.equal(await cellOf(page, 'by_sex', 'other'), String(expected.other));
  assert.equal(await headlineTotal(page), String(POPULATION.length));

  // Exactly the seeded pair is proposed: the two agencies, no names on the page.
  const rows = page.locator('#duplicate-list tbody tr');
  assert.equal(await rows.count(), 1);
  // A small caseload is compared on the request: the list is current, no newer run pending.
  const asOf = await page.locator('#duplicates-as-of').innerText();
  assert.match(asOf, /^Records compared as of \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.$/);
  const row = await rows.first().innerText();
  assert.match(row, /IOM Uganda ↔ IOM Ethiopia|IOM Ethiopia ↔ IOM Uganda/);
  const html = await page.content();
  for (const c of POPULATION) {
    assert.ok(!html.includes(c.fields.given_name), 'no name reaches the dashboard');
  }

  await rows.first().locator('button[data-action=confirm]').click();
  await page.waitForSelector('#no-duplicates');
  await page.waitForFunction(
    (n) => document.querySelector('#headline-total .value')?.textContent.trim() === String(n),
    POPULATION.length - 1);
  assert.equal(await cellOf(page, 'by_sex', 'female'), String(expected.female - 1));

  // Counts of assistance still count both records.
  await page.selectOption('#filter-count', 'assistance');
  await apply(page);
  assert.equal(await headlineTotal(page), String(POPULATION.length));

  // A period of days (exact figures): intake from May on.
  await page.selectOption('#filter-period-kind', 'custom');
  await page.fill('#filter-from', '2026-05-01');
  await apply(page);
  const fromMay = POPULATION.filter((c) => c.fields.intake_date >= '2026-05-01').length;
  assert.equal(await headlineTotal(page), String(fromMay));

  // A region with no case in it.
  await page.selectOption('#filter-period-kind', 'all');
  const empty = await page.evaluate(() => [...document.querySelectorAll('#filter-region option')]
    .map((o) => ({ value: o.value, text: o.textContent }))
    .find((o) => o.value && !/africa/i.test(o.text)));
  assert.ok(empty, 'the region list is offered');
  await page.selectOption('#filter-region', empty.value);
  await apply(page);
  assert.equal(await headlineTotal(page), '0');

  // Referral flow: Uganda's referral to Ethiopia, sent and accepted.
  await page.selectOption('#filter-region', '');
  await apply(page);
  await page.click('#tab-referrals');
  await page.click('#referral-flow .mode button[data-mode=table]');
  const flow = page.locator('#referral-flow table');
  const headers = await flow.locator('thead th').allInnerTexts();
  const flowRow = flow.locator('tbody tr', { hasText: 'IOM Ethiopia' }).first();
  const cells = await flowRow.locator('td').allInnerTexts();
  const column = (name) => cells[headers.indexOf(name) - 1];
  assert.match(await flowRow.innerText(), /IOM Uganda/);
  assert.equal(column('Sent'), '1');
  assert.equal(column('Accepted'), '1');
  assert.deepEqual(problems, []);
  await close();
});

test('a wrong token is refused at sign-in and nothing is shown', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/dashboard`);
  await page.fill('#token', 'not-a-token');
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#sign-in-error:not([hidden])');
  assert.match(await page.locator('#sign-in-error').innerText(), /not accepted/);
  assert.equal(await page.locator('#app').isVisible(), false);
  await page.close();
});
