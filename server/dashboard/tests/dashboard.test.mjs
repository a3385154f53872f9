// The dashboard end to end: a real server seeded through the real command line, the page in
// headless Debian Chromium driven by playwright-core. Expected figures are computed here from
// the seeded population, not by asking the server's report code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { seededServer, POPULATION } from './seed.mjs';

const THRESHOLD = 5;
let server;
let browser;

before(async () => {
  server = await seededServer();
  browser = await chromium.launch({
    executablePath: process.env.FIELDCASE_CHROMIUM || '/usr/bin/chromium',
    // This machine's network is closed: without these Chromium spends its start-up on
    // connections that are refused.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/// An analyst user of the central office with an API token carrying `grants`.
async function analystToken(name, grants) {
  const user = await server.admin('user', 'add', '--agency', 'iom_uga', '--role', 'analyst',
    '--name', name);
  const args = ['token', 'add', '--user', user.id, '--label', `${name} dashboard`];
  for (const grant of grants) args.push('--grant', grant);
  return (await server.admin(...args)).token;
}

/// A fresh page signed in with `token`; page errors (a CSP violation, a script error) fail
/// the test.
async function signedIn(token) {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(`${server.url}/dashboard`);
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#figure-by_sex table');
  if (process.env.FIELDCASE_DASHBOARD_SCREENSHOT) {
    await page.screenshot({ path: process.env.FIELDCASE_DASHBOARD_SCREENSHOT, fullPage: true });
  }
  return { page, problems };
}

async function cellOf(page, tableId, rowKey, column = 0) {
  return page.locator(`table[data-table="${tableId}"] tr[data-key="${rowKey}"] td`).nth(column).innerText();
}

async function headlineTotal(page) {
  return (await page.locator('#headline-total .value').innerText()).trim();
}

/// Reloads the figures after changing filters and waits for the page to redraw.
async function apply(page) {
  const loads = await page.evaluate(() => Number(document.body.dataset.loads || 0));
  await page.click('#filters button[type=submit]');
  await page.waitForFunction((n) => Number(document.body.dataset.loads || 0) > n, loads);
}

const bySex = (cases) => cases.reduce((counts, c) => {
  counts[c.fields.sex] = (counts[c.fields.sex] || 0) + 1;
  return counts;
}, {});

test('a plain analyst sees published figures only: perturbed, no small count, no case, no review', async () => {
  const { page, problems } = await signedIn(await analystToken('plain analyst', []));
  const expected = bySex(POPULATION);
  assert.ok(expected.female >= THRESHOLD && expected.male < THRESHOLD && expected.other < THRESHOLD,
    'the population is built to have both large and small cells');

  // The legend says the values are perturbed, and by how much at most.
  const legend = await page.locator('#disclosure').innerText();
  assert.match(legend, /perturbed/);
  const max = Number(legend.match(/±(\d+)/)[1]);
  assert.ok(max >= 1, legend);
  assert.equal(await page.locator('#filter-disclosure-label').isVisible(), false);
  assert.equal(await page.locator('#duplicates').isVisible(), false);
  const near = (text, exact) => Math.abs(Number(text) - exact) <= max;
  const female = await cellOf(page, 'by_sex', 'female');
  assert.ok(near(female, expected.female), `female ${female}, exact ${expected.female}`);
  for (const sex of ['male', 'other']) {
    const shown = await cellOf(page, 'by_sex', sex);
    assert.ok(shown === '0' || shown === String(THRESHOLD), `${sex} shows ${shown}`);
  }
  const total = await headlineTotal(page);
  assert.ok(near(total, POPULATION.length), `total ${total}, exact ${POPULATION.length}`);

  // A day-by-day period is for exact figures: published ones cover whole months.
  await page.fill('#filter-from', '2026-05-02');
  await page.click('#filters button[type=submit]');
  await page.waitForSelector('#app-error:not([hidden])');
  assert.match(await page.locator('#app-error').innerText(), /calendar month/);
  // The browser logs the refused request (a 400) to the console; nothing else may be there.
  problems.splice(0, problems.length, ...problems.filter((p) => !/\b400\b/.test(p)));
  await page.fill('#filter-from', '');
  await apply(page);

  // Nowhere on the page (charts' labels aside) is a count between 1 and the threshold.
  const published = await page.locator('td.num').allInnerTexts();
  assert.ok(published.length > 20, 'the page shows the report tables');
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
  await page.close();
});

test('the central office reviews a duplicate and the count of individuals follows', async () => {
  const { page, problems } = await signedIn(
    await analystToken('central analyst', ['exact_counts', 'review_duplicates']));
  await page.selectOption('#filter-disclosure', 'internal');
  await apply(page);
  const expected = bySex(POPULATION);
  assert.match(await page.locator('#disclosure').innerText(), /Exact/);
  assert.equal(await cellOf(page, 'by_sex', 'male'), String(expected.male));
  assert.equal(await cellOf(page, 'by_sex', 'other'), String(expected.other));
  assert.equal(await headlineTotal(page), String(POPULATION.length));

  // Exactly the seeded pair is proposed: the two agencies, no names on the page.
  const rows = page.locator('#duplicate-list tbody tr');
  assert.equal(await rows.count(), 1);
  const row = await rows.first().innerText();
  assert.match(row, /iom_uga ↔ iom_eth|iom_eth ↔ iom_uga/);
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

  // A period: intake from May on.
  await page.fill('#filter-from', '2026-05-01');
  await apply(page);
  const fromMay = POPULATION.filter((c) => c.fields.intake_date >= '2026-05-01').length;
  assert.equal(await headlineTotal(page), String(fromMay));

  // A region with no case in it.
  await page.fill('#filter-from', '');
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
  const flow = page.locator('#referral-flow table');
  const headers = await flow.locator('thead th').allInnerTexts();
  const flowRow = flow.locator('tbody tr', { hasText: 'iom_eth' }).first();
  const cells = await flowRow.locator('td').allInnerTexts();
  const column = (name) => cells[headers.indexOf(name) - 1];
  assert.match(await flowRow.innerText(), /iom_uga/);
  assert.equal(column('sent'), '1');
  assert.equal(column('accepted'), '1');
  assert.deepEqual(problems, []);
  await page.close();
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
