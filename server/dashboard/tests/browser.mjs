// What both test files share: Debian's chromium started for a closed network, analyst tokens
// made through the real command line, a signed-in page that fails the test on any page error
// (a CSP violation, a script error), and waiting for the page's redraws.

import { chromium } from 'playwright-core';

export async function launch() {
  return chromium.launch({
    executablePath: process.env.FIELDCASE_CHROMIUM || '/usr/bin/chromium',
    // This machine's network is closed: without these Chromium spends its start-up on
    // connections that are refused.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--font-render-hinting=none', '--force-color-profile=srgb'],
  });
}

/// An analyst user of the central office with an API token carrying `grants`.
export async function analystToken(server, name, grants) {
  const user = await server.admin('user', 'add', '--agency', 'iom_uga', '--role', 'analyst',
    '--name', name);
  const args = ['token', 'add', '--user', user.id, '--label', `${name} dashboard`];
  for (const grant of grants) args.push('--grant', grant);
  return (await server.admin(...args)).token;
}

/// A fresh page at `/dashboard<query>` signed in with `token`, once its figures, map and
/// trends are drawn. `problems` collects page errors and console errors.
export async function signedIn(browser, server, token, { query = '', context = {} } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB',
    timezoneId: 'UTC', acceptDownloads: true, ...context });
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(`${server.url}/dashboard${query}`);
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type=submit]');
  await settled(page, 0);
  return { page, problems, close: () => ctx.close() };
}

/// Waits until the figures and trends were drawn more than `before` times.
/// Waits until the figures and trends were drawn more than `before` times, the last time for
/// the filters now in the address.
export async function settled(page, before) {
  await page.waitForFunction((n) => Number(document.body.dataset.trends || 0) > n
    && document.body.dataset.shown === location.search, before, { timeout: 60000 });
}

export const loads = (page) => page.evaluate(() => Number(document.body.dataset.trends || 0));

/// Applies the filter form and waits for everything to be redrawn.
export async function apply(page) {
  const before = await loads(page);
  await page.click('#filters button[type=submit]');
  await settled(page, before);
}

export async function cellOf(page, tableId, rowKey, column = 0) {
  return (await page.locator(`table[data-table="${tableId}"] tr[data-key="${rowKey}"] td`).nth(column)
    .textContent()).trim();
}

export async function headlineTotal(page) {
  return (await page.locator('#headline-total .value').innerText()).trim();
}
