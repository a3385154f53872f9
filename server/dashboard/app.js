// The central office's dashboard. Plain script, no framework and no build step: it signs in
// with an API token kept in this tab's sessionStorage, calls the report API of this server and
// draws what comes back. Every figure passes the server's role and disclosure checks; this
// page never computes a count itself, it only shows the server's.
'use strict';

const TOKEN_KEY = 'fieldcase.apiToken';
/// The report table drawn in its own section rather than among the figures.
const REFERRAL_FLOW = 'referrals_by_agency_pair';
const $ = (selector) => document.querySelector(selector);

/// A request to this server's API with the signed-in token; a typed error otherwise.
async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(options.headers || {}) },
  });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.message) || `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svgElement(tag, attributes = {}) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function showError(selector, message) {
  const node = $(selector);
  node.textContent = message || '';
  node.hidden = !message;
}

/// What marks a hidden count: the same `x` as CSV, HXL and text reports (docs/reports.md).
const HIDDEN_COUNT = 'x';

/// A cell as text: the count, or `x` when hidden.
function cellText(cell) {
  if (!cell) return '';
  if (cell.count === null || cell.count === undefined) return HIDDEN_COUNT;
  return String(cell.count);
}

/// Why a hidden cell is hidden, for its tooltip.
function hiddenWhy(cell, threshold) {
  return cell.suppressed === 'primary'
    ? `hidden: below ${threshold}`
    : 'hidden so that it cannot be worked back from a total';
}

function rowName(row) {
  return row.label || row.key.join(' · ');
}

// --- figures -----------------------------------------------------------------------------

/// A horizontal bar chart of a one-way table; suppressed bars are drawn empty and grey.
function barChart(table) {
  const rows = table.rows;
  const max = Math.max(1, ...rows.map((r) => (r.cells[0] && r.cells[0].count) || 0));
  const barHeight = 18;
  const gap = 6;
  const labelWidth = 130;
  const width = 420;
  const height = rows.length * (barHeight + gap) + gap;
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${table.title} (chart)` });
  rows.forEach((row, i) => {
    const y = gap + i * (barHeight + gap);
    const cell = row.cells[0] || {};
    const suppressed = cell.count === null || cell.count === undefined;
    const value = suppressed ? 0 : cell.count;
    const label = svgElement('text', { x: 0, y: y + barHeight - 5 });
    label.textContent = rowName(row).slice(0, 22);
    svg.append(label);
    const barWidth = suppressed ? 6 : Math.max(1, ((width - labelWidth - 40) * value) / max);
    svg.append(svgElement('rect', { class: suppressed ? 'bar suppressed' : 'bar', x: labelWidth,
      y, width: barWidth, height: barHeight }));
    const count = svgElement('text', { x: labelWidth + barWidth + 4, y: y + barHeight - 5 });
    count.textContent = cellText(cell);
    svg.append(count);
  });
  return svg;
}

/// A table element for any report table: rows, columns, row totals, column totals, total.
function tableElement(table) {
  const twoWay = Boolean(table.column_dimension);
  const hasRowTotals = table.rows.some((r) => r.total);
  const hasMedian = table.rows.some((r) => r.median_hours_to_answer !== undefined);
  const head = element('tr', {},
    element('th', { scope: 'col', text: table.row_dimensions.join(' · ') }),
    ...table.columns.map((c) => element('th', { scope: 'col', class: 'num', text: c })),
    ...(hasRowTotals ? [element('th', { scope: 'col', class: 'num', text: 'total' })] : []),
    ...(hasMedian ? [element('th', { scope: 'col', class: 'num', text: 'median hours to answer' })] : []));
  const body = element('tbody');
  for (const row of table.rows) {
    const tr = element('tr', { 'data-key': row.key.join('|') },
      element('th', { scope: 'row', text: rowName(row) }));
    for (const cell of row.cells) {
      const suppressed = cell.count === null || cell.count === undefined;
      tr.append(element('td', { class: suppressed ? 'num suppressed' : 'num',
        'data-suppressed': cell.suppressed, text: cellText(cell),
        title: suppressed ? hiddenWhy(cell, state.threshold) : undefined }));
    }
    if (hasRowTotals) tr.append(element('td', { class: 'num', text: cellText(row.total) }));
    if (hasMedian) {
      const median = row.median_hours_to_answer;
      tr.append(element('td', { class: 'num', text: median === null || median === undefined ? '–' : median.toFixed(1) }));
    }
    body.append(tr);
  }
  if (table.column_totals && twoWay) {
    const tr = element('tr', { class: 'total' }, element('th', { scope: 'row', text: 'total' }));
    for (const cell of table.column_totals) tr.append(element('td', { class: 'num', text: cellText(cell) }));
    if (hasRowTotals) tr.append(element('td', { class: 'num', text: cellText(table.total) }));
    body.append(tr);
  } else if (table.total) {
    const tr = element('tr', { class: 'total' }, element('th', { scope: 'row', text: 'total' }),
      element('td', { class: 'num', 'data-total': true, text: cellText(table.total) }));
    body.append(tr);
  }
  return element('table', { 'data-table': table.id }, element('thead', {}, head), body);
}

function figure(table) {
  const holder = element('article', { class: 'figure', id: `figure-${table.id}` },
    element('h2', { text: table.title }));
  if (!table.column_dimension && table.rows.length > 0 && table.rows.length <= 16) {
    holder.append(barChart(table));
  }
  holder.append(tableElement(table));
  if (table.note) holder.append(element('p', { class: 'hint', text: table.note }));
  return holder;
}

function headlineCard(label, cell, id) {
  return element('div', { class: 'card', id },
    element('div', { class: 'value', text: cellText(cell) }),
    element('div', { class: 'label', text: label }));
}

// --- state and loading -------------------------------------------------------------------

const state = { threshold: 5 };

function filterQuery() {
  const params = new URLSearchParams();
  const from = $('#filter-from').value;
  const to = $('#filter-to').value;
  const region = $('#filter-region').value;
  if (from) params.set('from', from);
  if (to) params.set('to', to);
  if (region) params.set('region', region);
  params.set('count', $('#filter-count').value);
  const disclosure = $('#filter-disclosure').value;
  if (disclosure) params.set('disclosure', disclosure);
  return params.toString();
}

async function loadOptions() {
  const options = await api('/v1/reports/options');
  const select = $('#filter-region');
  for (const region of options.regions || []) {
    select.append(element('option', { value: region.id, text: region.name }));
  }
  state.threshold = options.threshold;
  // Exact counts are offered only to those granted them; everyone else sees published figures.
  const disclosure = $('#filter-disclosure');
  disclosure.replaceChildren();
  const choices = options.exact_counts ? ['internal', 'public'] : ['public'];
  for (const choice of choices) {
    disclosure.append(element('option', { value: choice,
      text: choice === 'internal' ? 'Exact (inside the network)' : 'Published (perturbed)' }));
  }
  disclosure.value = options.default_disclosure;
  $('#filter-disclosure-label').hidden = !options.exact_counts;
  return options;
}

/// Marks a region busy while `work` runs: assistive technology is told, and the status line
/// says what is being fetched (a first review after new data can take a while at scale).
async function busy(selector, message, work) {
  const region = $(selector);
  const status = $('#status');
  region.setAttribute('aria-busy', 'true');
  status.textContent = message;
  try {
    return await work();
  } finally {
    region.removeAttribute('aria-busy');
    if (!document.querySelector('[aria-busy="true"]')) status.textContent = '';
  }
}

async function loadReports() {
  showError('#app-error', '');
  const report = await busy('#figures', 'Loading figures…',
    () => api(`/v1/reports?${filterQuery()}`));
  if (report.threshold) state.threshold = report.threshold;
  const perturbation = report.perturbation;
  $('#disclosure').textContent = report.disclosure !== 'public'
    ? 'Exact counts (inside the network only)'
    : perturbation
      ? `Published figures: values are perturbed (each within ±${perturbation.max_perturbation} of the exact count; none from 1 to ${state.threshold - 1}, small counts show as 0 or ${state.threshold}; totals need not add up)`
      : `Published figures: cells below ${state.threshold} hidden (${HIDDEN_COUNT})`;
  $('#disclosure').dataset.disclosure = report.disclosure || '';
  const tables = report.tables || [];
  const byId = Object.fromEntries(tables.map((t) => [t.id, t]));

  const headline = $('#headline');
  headline.replaceChildren();
  const sex = byId.by_sex;
  if (sex) headline.append(headlineCard(report.count === 'assistance' ? 'Cases assisted' : 'Individuals assisted', sex.total, 'headline-total'));
  const vot = byId.victims_by_exploitation;
  if (vot) headline.append(headlineCard('Victims of trafficking', vot.total, 'headline-vot'));

  const figures = $('#figures');
  figures.replaceChildren();
  for (const table of tables) {
    if (table.id === REFERRAL_FLOW) continue;
    figures.append(figure(table));
  }
  const flow = tables.filter((t) => t.id === REFERRAL_FLOW);
  const flowHolder = $('#referral-flow .table-holder');
  flowHolder.replaceChildren(...(flow.length ? flow.map(tableElement)
    : [element('p', { class: 'hint', text: 'No referrals in this period.' })]));
  // How many times the figures were drawn: lets scripts (and tests) wait for a redraw.
  document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
}

async function loadDuplicates() {
  if ($('#duplicates').hidden) return;
  const holder = $('#duplicates .table-holder');
  let list;
  try {
    list = await busy('#duplicates', 'Looking for probable duplicates…',
      () => api('/v1/duplicates?status=pending&limit=50'));
  } catch (error) {
    if (error.status === 403) {
      holder.replaceChildren(element('p', { class: 'hint', text: 'Your role does not review duplicates.' }));
      return;
    }
    throw error;
  }
  const pairs = list.candidates;
  if (pairs.length === 0) {
    holder.replaceChildren(element('p', { class: 'hint', id: 'no-duplicates', text: 'Nothing to review.' }));
    return;
  }
  const body = element('tbody');
  for (const pair of pairs) {
    const confirm = element('button', { type: 'button', 'data-action': 'confirm', text: 'Same person' });
    const reject = element('button', { type: 'button', class: 'secondary', 'data-action': 'reject', text: 'Different people' });
    const decide = async (action) => {
      confirm.disabled = true; reject.disabled = true;
      try {
        await api(`/v1/duplicates/${encodeURIComponent(pair.id)}/${action}`, { method: 'POST' });
        await Promise.all([loadReports(), loadDuplicates()]);
      } catch (error) {
        showError('#app-error', error.message);
        confirm.disabled = false; reject.disabled = false;
      }
    };
    confirm.addEventListener('click', () => decide('confirm'));
    reject.addEventListener('click', () => decide('reject'));
    const agencies = `${pair.a.agency} ↔ ${pair.b.agency}`;
    const dates = [pair.a.intake_date, pair.b.intake_date].filter(Boolean).join(' / ');
    const matched = Object.entries(pair.features || {})
      .filter(([, value]) => value !== false && value !== null && value !== 0)
      .map(([name, value]) => (value === true ? name : `${name}: ${value}`)).join(', ');
    body.append(element('tr', { 'data-pair': pair.id },
      element('td', { class: 'num', text: pair.score !== undefined ? Number(pair.score).toFixed(2) : '' }),
      element('td', { text: agencies }),
      element('td', { text: dates }),
      element('td', { text: matched }),
      element('td', {}, confirm, ' ', reject)));
  }
  holder.replaceChildren(element('table', { id: 'duplicate-list' },
    element('thead', {}, element('tr', {},
      element('th', { class: 'num', text: 'score' }), element('th', { text: 'agencies' }),
      element('th', { text: 'intake dates' }),
      element('th', { text: 'what matches' }), element('th', { text: 'decision' }))),
    body));
}

async function showApp() {
  $('#sign-in').hidden = true;
  $('#app').hidden = false;
  $('#session').hidden = false;
  try {
    const options = await loadOptions();
    $('#whoami').textContent = options.scope_agency
      ? `signed in (agency ${options.scope_agency})` : 'signed in (whole network)';
    if (!options.review_duplicates) $('#duplicates').hidden = true;
    await Promise.all([loadReports(), loadDuplicates()]);
  } catch (error) {
    if (error.status === 401) return signOut('That token was not accepted: ' + error.message);
    showError('#app-error', error.message);
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $('#app').hidden = true;
  $('#session').hidden = true;
  $('#sign-in').hidden = false;
  showError('#sign-in-error', message);
}

document.addEventListener('DOMContentLoaded', () => {
  $('#sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('#token').value.trim());
    $('#token').value = '';
    showApp();
  });
  $('#sign-out').addEventListener('click', () => signOut(''));
  $('#filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadReports().catch((error) => showError('#app-error', error.message));
  });
  if (sessionStorage.getItem(TOKEN_KEY)) showApp();
});
