// The central office's dashboard. Plain script, no framework: it signs in with an API token
// kept in this tab's sessionStorage, calls the report API of this server and draws what comes
// back, with the d3 modules and the Natural Earth map of vendor.js / world.json (both served
// by this server: no CDN, no tile server). Every figure passes the server's role and
// disclosure checks; this page never computes a count itself, it only shows the server's —
// charts, map and trends draw the same published cells the tables show.
//
// The script is in parts, plain scripts sharing their top-level names, loaded in this order:
// /dashboard/vendor.js (d3, topojson-client), parts/words.js (English and French),
// parts/charts.js (bars, lines, flows, tables), parts/map.js, parts/figures.js (cards,
// headline, trend, exports), then this file (state, address, filters, loading, duplicates).
'use strict';

const TOKEN_KEY = 'fieldcase.apiToken';
const REFERRAL_FLOW = 'referrals_by_agency_pair';
const HEADLINE_TABLES = ['by_sex', 'victims_by_exploitation', 'services_by_type', REFERRAL_FLOW];
/// What marks a hidden count: the same `x` as CSV, HXL and text reports (docs/reports.md).
const HIDDEN_COUNT = 'x';
const ACCENT = '#0b6aa2';
const LAST_YEAR = '#b4541a';
const HIDDEN_FILL = '#9aa5b1';
const $ = (selector) => document.querySelector(selector);
const V = () => window.fieldcaseVendor;

const state = {
  lang: 'en',
  view: 'overview',
  periodKind: 'all',
  period: '',
  from: '',
  to: '',
  agency: '',
  country: '',
  region: '',
  count: 'individuals',
  disclosure: '',
  map: 'by_country_of_assistance',
  modes: {},
  threshold: 5,
  options: null,
  labels: null,
  world: null,
  report: null,
  previous: null,
  series: null,
  /// Where agencies are drawn, by request (see agencyPlaces).
  places: new Map(),
};

const t = (key) => WORDS[state.lang][key] ?? WORDS.en[key] ?? key;
const numberFormat = () => new Intl.NumberFormat(state.lang === 'fr' ? 'fr-FR' : 'en-GB');

/// The name of a code of a report dimension, in the page's language (never the code itself
/// when a name is known: labels come from the forms' definitions, /dashboard/labels.json).
function codeName(dimension, code) {
  const labels = state.labels || {};
  const pick = (entry) => entry && (entry[state.lang] || entry.en);
  if (dimension === 'nationality' || dimension === 'country_of_assistance') {
    const name = pick(labels.countries?.[code]);
    if (name) return name;
  }
  if (dimension === 'region') {
    const name = pick(labels.regions?.[code]);
    if (name) return name;
  }
  if (dimension === 'from_agency' || dimension === 'to_agency' || dimension === 'agency') {
    return state.options?.agency_names?.[code] || code;
  }
  return pick(labels.dimensions?.[dimension]?.[code]) || pick(labels.dimensions?.['*']?.[code]) || code;
}

function rowName(table, row) {
  return row.key.map((code, i) => codeName(table.row_dimensions[i], code)).join(' → ');
}

function columnName(table, column) {
  const name = table.column_dimension ? codeName(table.column_dimension, column) : column;
  return name !== column ? name : t('columns')[column] || codeName('age_group', column);
}

const tableTitle = (table) => t('tables')[table.id] || table.title;

/// A table's note in the page's language (the API's notes are English and name codes).
function noteOf(table) {
  if (!table.note) return '';
  return t('notes')[table.id] || t('notes').multi;
}

// --- small helpers -------------------------------------------------------------------------

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

/// The same request, as a file (CSV and HXL exports).
async function download(path, name) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    let message = `the server answered ${response.status}`;
    try { message = (await response.json()).message || message; } catch { /* not JSON */ }
    throw new Error(message);
  }
  saveBlob(await response.blob(), name);
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = element('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svgElement(tag, attributes = {}, text) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(selector, message) {
  const node = $(selector);
  node.textContent = message || '';
  node.hidden = !message;
}

const isHidden = (cell) => !cell || cell.count === null || cell.count === undefined;

/// A cell as text: the count in the page's number format, or `x` when hidden.
function cellText(cell) {
  if (!cell) return '';
  if (isHidden(cell)) return HIDDEN_COUNT;
  return numberFormat().format(cell.count);
}

function hiddenWhy(cell) {
  return cell.suppressed === 'primary' ? t('hiddenPrimary')(state.threshold) : t('hiddenSecondary');
}

/// Width of `text` in the charts' font, so labels get the room they need (never cut off).
const measure = (() => {
  let context;
  return (text, size = 12) => {
    context = context || document.createElement('canvas').getContext('2d');
    context.font = `${size}px system-ui, sans-serif`;
    return context.measureText(text).width;
  };
})();

// --- periods -------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');
const lastDay = (y, m) => new Date(Date.UTC(y, m, 0)).getUTCDate();
const monthKey = (y, m) => `${y}-${pad(m)}`;
function addMonths(key, n) {
  const [y, m] = key.split('-').map(Number);
  const index = y * 12 + (m - 1) + n;
  return monthKey(Math.floor(index / 12), (index % 12) + 1);
}
function thisMonth() {
  const now = new Date();
  return monthKey(now.getUTCFullYear(), now.getUTCMonth() + 1);
}

/// The period filter as `from`/`to` dates (inclusive), `null` for all time.
function periodRange() {
  const v = state.period;
  switch (state.periodKind) {
    case 'year': return v ? { from: `${v}-01-01`, to: `${v}-12-31` } : null;
    case 'quarter': {
      const [y, q] = v.split('-Q').map(Number);
      if (!y || !q) return null;
      return { from: `${y}-${pad(q * 3 - 2)}-01`, to: `${y}-${pad(q * 3)}-${lastDay(y, q * 3)}` };
    }
    case 'month': {
      const [y, m] = v.split('-').map(Number);
      if (!y || !m) return null;
      return { from: `${v}-01`, to: `${v}-${pad(lastDay(y, m))}` };
    }
    case 'custom': return state.from || state.to ? { from: state.from, to: state.to } : null;
    default: return null;
  }
}

/// The same period one year earlier, when it has one.
function previousRange() {
  const range = periodRange();
  if (!range || !range.from || !range.to) return null;
  const back = (d) => {
    const y = Number(d.slice(0, 4)) - 1;
    const md = d.slice(5);
    return md === '02-29' ? `${y}-02-28` : `${y}-${md}`;
  };
  // The last day of February moves with leap years.
  let to = back(range.to);
  if (range.to.slice(5) === '02-28' || range.to.slice(5) === '02-29') {
    to = `${to.slice(0, 4)}-02-${pad(lastDay(Number(to.slice(0, 4)), 2))}`;
  }
  return { from: back(range.from), to };
}

function periodLabel(kind = state.periodKind, value = state.period) {
  const dateFormat = (y, m) => new Intl.DateTimeFormat(state.lang === 'fr' ? 'fr-FR' : 'en-GB',
    { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, 1)));
  switch (kind) {
    case 'year': return value;
    case 'quarter': { const [y, q] = value.split('-Q'); return t('quarterName')(y, q); }
    case 'month': { const [y, m] = value.split('-').map(Number); return dateFormat(y, m); }
    case 'custom': return `${state.from || '…'} – ${state.to || '…'}`;
    default: return t('periods').all;
  }
}

/// The twelve months the trend shows (ending with the period's last month, or this month for
/// all time) and the twelve before them, for "a year before".
function trendWindow() {
  const range = periodRange();
  const end = range && range.to ? range.to.slice(0, 7) : thisMonth();
  const start = addMonths(end, -11);
  return { start, end, requestFrom: addMonths(start, -12), months: Array.from({ length: 12 }, (_, i) => addMonths(start, i)) };
}

function periodChoices(kind) {
  const year = new Date().getUTCFullYear();
  const out = [];
  for (let y = year; y >= year - 5; y--) {
    if (kind === 'year') out.push(String(y));
    if (kind === 'quarter') for (let q = 4; q >= 1; q--) out.push(`${y}-Q${q}`);
    if (kind === 'month') for (let m = 12; m >= 1; m--) out.push(monthKey(y, m));
  }
  const current = thisMonth();
  return out.filter((v) => v.slice(0, 7) <= current || kind !== 'month');
}

// --- state and the URL ---------------------------------------------------------------------

const URL_KEYS = { lang: 'lang', view: 'view', periodKind: 'period', period: 'which', from: 'from',
  to: 'to', agency: 'agency', country: 'country', region: 'region', count: 'count',
  disclosure: 'figures', map: 'map' };
const DEFAULTS = { lang: 'en', view: 'overview', periodKind: 'all', period: '', from: '', to: '',
  agency: '', country: '', region: '', count: 'individuals', disclosure: '', map: 'by_country_of_assistance' };

function readUrl() {
  const params = new URLSearchParams(location.search);
  for (const [key, name] of Object.entries(URL_KEYS)) {
    if (params.has(name)) state[key] = params.get(name);
  }
  if (!params.has('lang')) {
    const preferred = (navigator.language || 'en').slice(0, 2);
    if (WORDS[preferred]) state.lang = preferred;
  }
  if (!WORDS[state.lang]) state.lang = 'en';
}

/// The view's state in the address bar, so it can be bookmarked and shared (no token in it).
function writeUrl() {
  const params = new URLSearchParams();
  for (const [key, name] of Object.entries(URL_KEYS)) {
    if (state[key] && state[key] !== DEFAULTS[key]) params.set(name, state[key]);
  }
  const query = params.toString();
  history.replaceState(null, '', query ? `?${query}` : location.pathname);
}

/// The report API's parameters for the current filters (`range` overrides the period).
function reportQuery(range = periodRange(), extra = {}) {
  const params = new URLSearchParams();
  if (range) {
    if (range.from) params.set('from', range.from);
    if (range.to) params.set('to', range.to);
  }
  if (state.agency) params.set('agency', state.agency);
  if (state.country) params.set('country', state.country);
  else if (state.region) params.set('region', state.region);
  params.set('count', state.count);
  if (state.disclosure) params.set('disclosure', state.disclosure);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params.toString();
}

function filtersToForm() {
  $('#lang').value = state.lang;
  $('#filter-period-kind').value = state.periodKind;
  fillPeriodChoices();
  $('#filter-period').value = state.period;
  $('#filter-from').value = state.from;
  $('#filter-to').value = state.to;
  $('#filter-agency').value = state.agency;
  $('#filter-country').value = state.country;
  $('#filter-region').value = state.region;
  $('#filter-count').value = state.count;
  if (state.disclosure) $('#filter-disclosure').value = state.disclosure;
  $('#map-dimension').value = state.map;
}

function formToFilters() {
  state.periodKind = $('#filter-period-kind').value;
  state.period = state.periodKind === 'all' || state.periodKind === 'custom' ? '' : $('#filter-period').value;
  state.from = state.periodKind === 'custom' ? $('#filter-from').value : '';
  state.to = state.periodKind === 'custom' ? $('#filter-to').value : '';
  state.agency = $('#filter-agency').value;
  state.country = $('#filter-country').value;
  state.region = state.country ? '' : $('#filter-region').value;
  state.count = $('#filter-count').value;
  state.disclosure = $('#filter-disclosure').value;
}

function fillPeriodChoices() {
  const kind = $('#filter-period-kind').value;
  const select = $('#filter-period');
  const keep = select.value;
  select.replaceChildren(...periodChoices(kind).map((v) =>
    element('option', { value: v, text: periodLabel(kind, v) })));
  if (keep && [...select.options].some((o) => o.value === keep)) select.value = keep;
  $('#filter-period-label').hidden = kind === 'all' || kind === 'custom';
  for (const label of document.querySelectorAll('.custom-period')) label.hidden = kind !== 'custom';
}

// --- words on the page ---------------------------------------------------------------------

function translatePage() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  $('#filters').setAttribute('aria-label', t('figures'));
  $('#views').setAttribute('aria-label', t('overview'));
  $('#headline').setAttribute('aria-label', t('figures'));
  fillSelects();
}

function fillSelects() {
  const options = state.options;
  if (!options) return;
  const agency = $('#filter-agency');
  agency.replaceChildren(element('option', { value: '', text: t('allAgencies') }),
    ...options.agencies.map((code) => element('option', { value: code, text: codeName('agency', code) })));
  agency.value = state.agency;
  agency.disabled = Boolean(options.scope_agency);
  const countries = Object.keys(state.labels?.countries || {})
    .map((code) => ({ code, name: codeName('country_of_assistance', code) }))
    .sort((a, b) => a.name.localeCompare(b.name, state.lang));
  const country = $('#filter-country');
  country.replaceChildren(element('option', { value: '', text: t('allCountries') }),
    ...countries.map((c) => element('option', { value: c.code, text: c.name })));
  country.value = state.country;
  const region = $('#filter-region');
  region.replaceChildren(element('option', { value: '', text: t('allRegions') }),
    ...(options.regions || []).map((r) => element('option', { value: r.id, text: codeName('region', r.id) })));
  region.value = state.region;
  const disclosure = $('#filter-disclosure');
  const choices = options.exact_counts ? ['internal', 'public'] : ['public'];
  disclosure.replaceChildren(...choices.map((c) => element('option', { value: c,
    text: c === 'internal' ? t('exactOption') : t('publicOption') })));
  disclosure.value = state.disclosure || options.default_disclosure;
  $('#filter-disclosure-label').hidden = !options.exact_counts;
  // Day-by-day periods are for exact figures only (published ones cover fixed periods).
  $('#filter-period-kind option[value=custom]').hidden = !options.exact_counts;
  fillPeriodChoices();
  $('#filter-period').value = state.period;
}

function drawLegend(report) {
  const terms = $('#legend-terms');
  const items = [];
  const term = (symbol, text, cls) => items.push(element('dt', { class: cls, text: symbol }), element('dd', { text }));
  if (report.disclosure !== 'public') {
    $('#disclosure').textContent = t('exactBadge');
    term('=', t('legendExact'), 'exact');
  } else {
    $('#disclosure').textContent = t('publicBadge');
    if (report.perturbation) {
      term('±', t('legendPerturbed')(report.perturbation.max_perturbation, state.threshold), 'perturbed');
      term('Σ', t('legendTotals'), 'totals');
    } else {
      term('<', t('legendSuppressed')(state.threshold), 'suppressed');
    }
    term(HIDDEN_COUNT, t('legendHidden'), 'hidden-term');
  }
  term('∪', t('legendOverlap'), 'overlap');
  terms.replaceChildren(...items);
  $('#disclosure').dataset.disclosure = report.disclosure || '';
  $('#disclosure').dataset.max = report.perturbation ? String(report.perturbation.max_perturbation) : '';
}

function drawAsOf(report) {
  const when = report?.data_as_of;
  $('#as-of').textContent = when ? t('asOf')(`${when.slice(0, 10)} ${when.slice(11, 16)} UTC`) : t('noData');
}

// --- loading -------------------------------------------------------------------------------

/// Marks a region busy while `work` runs: assistive technology is told, and the status line
/// says what is being fetched.
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

function drawReport() {
  const report = state.report;
  if (!report) return;
  drawLegend(report);
  drawAsOf(report);
  drawHeadline();
  const figures = $('#figures');
  figures.replaceChildren(...report.tables.filter((x) => x.id !== REFERRAL_FLOW).map(figure));
  drawReferrals();
  $('#brief-title').textContent = t('briefTitle')(periodLabel());
}

/// Which load is the latest: a load overtaken by a newer one (filters changed again, a
/// decision taken) draws nothing more, so its late answers never replace newer figures.
let generation = 0;

async function loadReports() {
  const mine = ++generation;
  const current = () => mine === generation;
  showError('#app-error', '');
  const report = await busy('#headline', t('loading'), () => api(`/v1/reports?${reportQuery()}`));
  if (!current()) return;
  if (report.threshold) state.threshold = report.threshold;
  state.report = report;
  state.previous = null;
  state.series = null;
  state.places = new Map();
  drawReport();
  // How many times the figures were drawn: lets scripts (and tests) wait for a redraw.
  document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
  await drawMap();
  if (!current()) return;
  const previous = previousRange();
  const later = [loadTrend(current)];
  if (previous) {
    const asked = api(`/v1/reports?${reportQuery(previous, { tables: HEADLINE_TABLES.join(',') })}`)
      .catch(() => ({ tables: [] }));
    later.push(asked.then((body) => {
      if (!current()) return;
      state.previous = body;
      drawHeadline();
    }));
  }
  await Promise.all(later);
  if (!current()) return;
  // Which view the figures are of (the address's query), and how many times everything was
  // drawn: lets scripts (and tests) wait for the redraw of what they asked.
  document.body.dataset.shown = location.search;
  document.body.dataset.trends = String(Number(document.body.dataset.trends || 0) + 1);
}

function reload() {
  writeUrl();
  return loadReports().catch((error) => showError('#app-error', error.message));
}

async function loadDuplicates() {
  if (!state.options?.review_duplicates) return;
  const holder = $('#duplicates .table-holder');
  let list;
  try {
    list = await busy('#duplicates', t('lookingDuplicates'), () => api('/v1/duplicates?status=pending&limit=50'));
  } catch (error) {
    if (error.status === 403) {
      holder.replaceChildren(element('p', { class: 'hint', text: t('roleNoReview') }));
      return;
    }
    throw error;
  }
  const pairs = list.candidates;
  // A large caseload's list comes from the last comparison run while a newer one runs, or,
  // the very first time, from a first look at a share of it: say which, so a reviewer knows
  // more pairs may still be added.
  const when = list.scanned_at;
  const share = (s) => new Intl.NumberFormat(state.lang === 'fr' ? 'fr-FR' : 'en-GB',
    { style: 'percent', maximumFractionDigits: 1 }).format(s);
  const progress = list.first_look != null ? t('firstLook')(share(list.first_look))
    : list.refreshing ? t('newerBeingCompared') : '';
  const asOf = element('p', { class: 'hint', id: 'duplicates-as-of', role: 'status',
    text: when ? [t('comparedAsOf')(`${when.slice(0, 10)} ${when.slice(11, 16)} UTC`), progress].join(' ').trim() : '' });
  if (pairs.length === 0) {
    holder.replaceChildren(asOf, element('p', { class: 'hint', id: 'no-duplicates', text: t('nothingToReview') }));
    return;
  }
  const body = element('tbody');
  for (const pair of pairs) {
    const confirm = element('button', { type: 'button', 'data-action': 'confirm', text: t('samePerson') });
    const reject = element('button', { type: 'button', class: 'secondary', 'data-action': 'reject', text: t('differentPeople') });
    const decide = async (action) => {
      confirm.disabled = true; reject.disabled = true;
      try {
        await api(`/v1/duplicates/${encodeURIComponent(pair.id)}/${action}`, { method: 'POST' });
        await Promise.all([loadReports(), loadDuplicates()]);
        $('#duplicates h2').focus?.();
      } catch (error) {
        showError('#app-error', error.message);
        confirm.disabled = false; reject.disabled = false;
      }
    };
    confirm.addEventListener('click', () => decide('confirm'));
    reject.addEventListener('click', () => decide('reject'));
    const agencies = `${codeName('agency', pair.a.agency)} ↔ ${codeName('agency', pair.b.agency)}`;
    const dates = [pair.a.intake_date, pair.b.intake_date].filter(Boolean).join(' / ');
    const matched = Object.entries(pair.features || {})
      .filter(([, value]) => value !== false && value !== null && value !== 0 && value !== 'different')
      .map(([name, value]) => {
        const feature = t('features')[name] || name;
        return value === true ? feature : `${feature}: ${t('levels')[value] || value}`;
      }).join(', ');
    const score = pair.score !== undefined && pair.score !== null
      ? new Intl.NumberFormat(state.lang === 'fr' ? 'fr-FR' : 'en-GB', { style: 'percent' }).format(pair.score) : '';
    body.append(element('tr', { 'data-pair': pair.id, 'data-agencies': `${pair.a.agency} ↔ ${pair.b.agency}` },
      element('td', { class: 'num', text: score }),
      element('td', { text: agencies }),
      element('td', { text: dates }),
      element('td', { text: matched }),
      element('td', {}, confirm, ' ', reject)));
  }
  holder.replaceChildren(asOf, element('table', { id: 'duplicate-list' },
    element('thead', {}, element('tr', {},
      element('th', { scope: 'col', class: 'num', text: t('score') }), element('th', { scope: 'col', text: t('agencies') }),
      element('th', { scope: 'col', text: t('intakeDates') }),
      element('th', { scope: 'col', text: t('whatMatches') }), element('th', { scope: 'col', text: t('decision') }))),
    body));
}

function showView(view, focus = false) {
  state.view = view;
  for (const tab of document.querySelectorAll('#views [role=tab]')) {
    const selected = tab.dataset.view === view;
    tab.setAttribute('aria-selected', String(selected));
    tab.setAttribute('tabindex', selected ? '0' : '-1');
    if (selected && focus) tab.focus();
  }
  for (const panel of document.querySelectorAll('.view')) panel.hidden = panel.id !== `view-${view}`;
  writeUrl();
}

async function showApp() {
  $('#sign-in').hidden = true;
  $('#app').hidden = false;
  $('#session').hidden = false;
  try {
    const [options, labels] = await Promise.all([api('/v1/reports/options'), fetch('/dashboard/labels.json').then((r) => r.json())]);
    state.options = options;
    state.labels = labels;
    state.threshold = options.threshold;
    if (options.scope_agency) state.agency = options.scope_agency;
    if (!options.exact_counts && state.periodKind === 'custom') state.periodKind = 'all';
    translatePage();
    filtersToForm();
    $('#whoami').textContent = options.scope_agency
      ? t('signedInAgency')(codeName('agency', options.scope_agency)) : t('signedInNetwork');
    $('#tab-duplicates').hidden = !options.review_duplicates;
    if (!options.review_duplicates && state.view === 'duplicates') state.view = 'overview';
    showView(state.view);
    await Promise.all([reload(), loadDuplicates()]);
  } catch (error) {
    if (error.status === 401) return signOut(t('notAccepted') + error.message);
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
  readUrl();
  translatePage();
  $('#lang').value = state.lang;
  $('#sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('#token').value.trim());
    $('#token').value = '';
    showApp();
  });
  $('#sign-out').addEventListener('click', () => signOut(''));
  $('#filters').addEventListener('submit', (event) => {
    event.preventDefault();
    formToFilters();
    reload();
  });
  $('#filter-period-kind').addEventListener('change', fillPeriodChoices);
  $('#filter-country').addEventListener('change', () => { if ($('#filter-country').value) $('#filter-region').value = ''; });
  $('#filter-region').addEventListener('change', () => { if ($('#filter-region').value) $('#filter-country').value = ''; });
  $('#clear-filters').addEventListener('click', () => {
    Object.assign(state, { periodKind: 'all', period: '', from: '', to: '', country: '', region: '',
      agency: state.options?.scope_agency || '' });
    filtersToForm();
    reload();
  });
  $('#lang').addEventListener('change', () => {
    state.lang = $('#lang').value;
    translatePage();
    filtersToForm();
    writeUrl();
    if (state.options) {
      $('#whoami').textContent = state.options.scope_agency
        ? t('signedInAgency')(codeName('agency', state.options.scope_agency)) : t('signedInNetwork');
      drawReport();
      drawTrend();
      drawMap();
      loadDuplicates().catch((error) => showError('#app-error', error.message));
    }
  });
  $('#map-dimension').addEventListener('change', () => {
    state.map = $('#map-dimension').value;
    writeUrl();
    drawMap();
  });
  const tabs = [...document.querySelectorAll('#views [role=tab]')];
  for (const tab of tabs) {
    tab.addEventListener('click', () => showView(tab.dataset.view));
    tab.addEventListener('keydown', (event) => {
      const visible = tabs.filter((x) => !x.hidden);
      const i = visible.indexOf(tab);
      const next = event.key === 'ArrowRight' ? visible[(i + 1) % visible.length]
        : event.key === 'ArrowLeft' ? visible[(i - 1 + visible.length) % visible.length] : null;
      if (next) { event.preventDefault(); showView(next.dataset.view, true); }
    });
  }
  if (sessionStorage.getItem(TOKEN_KEY)) showApp();
});
