// The dashboard's figure cards, headline and month-by-month trend (part of the page's
// script: see app.js): chart / table / trend switches, CSV, HXL, SVG and PNG exports.
'use strict';

// --- figures: one card per table, chart / table / trend ------------------------------------

function chartable(table) {
  return !table.column_dimension && table.rows.length > 0 && table.rows.length <= 40;
}

function exportButtons(table, holder) {
  const bar = element('div', { class: 'exports', role: 'group', 'aria-label': `${t('download')}: ${tableTitle(table)}` });
  const api = (format) => async () => {
    try {
      // CSV and HXL are always the published figures (the API refuses exact ones): the same
      // file anyone gets from the API with these filters.
      const query = reportQuery(periodRange(), { format });
      const params = new URLSearchParams(query);
      params.delete('disclosure');
      await download(`/v1/reports/${table.id}?${params}`, `${table.id}${format === 'hxl' ? '.hxl' : ''}.csv`);
    } catch (error) { showError('#app-error', error.message); }
  };
  const button = (label, action, cls) => {
    const b = element('button', { type: 'button', class: `small secondary ${cls || ''}`, text: label,
      'aria-label': `${t('download')} ${label}: ${tableTitle(table)}` });
    b.addEventListener('click', action);
    return b;
  };
  bar.append(element('span', { class: 'hint', text: `${t('download')}:` }),
    button(t('csv'), api('csv'), 'csv'), button(t('hxl'), api('hxl'), 'hxl'),
    button(t('svg'), () => saveSvg(holder, table.id), 'svg-export'),
    button(t('png'), () => savePng(holder, table.id), 'png-export'));
  return bar;
}

function currentSvg(holder) {
  return holder.querySelector('.body svg');
}

function svgText(svg) {
  const copy = svg.cloneNode(true);
  copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  return new XMLSerializer().serializeToString(copy);
}

function saveSvg(holder, name) {
  const svg = currentSvg(holder);
  if (!svg) return;
  saveBlob(new Blob([svgText(svg)], { type: 'image/svg+xml' }), `${name}.svg`);
}

/// A chart as PNG: the SVG drawn on a canvas (as a data: URL, which the CSP allows for images).
function savePng(holder, name) {
  const svg = currentSvg(holder);
  if (!svg) return;
  const scale = 2;
  const width = Number(svg.getAttribute('width'));
  const height = Number(svg.getAttribute('height'));
  const image = new Image();
  image.onload = () => {
    const canvas = element('canvas', { width: width * scale, height: height * scale });
    const context = canvas.getContext('2d');
    context.fillStyle = '#fff';
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => saveBlob(blob, `${name}.png`), 'image/png');
  };
  image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText(svg))}`;
}

function modeSwitch(table, modes, current, onChange) {
  const group = element('div', { class: 'mode', role: 'group', 'aria-label': `${t('showAs')}: ${tableTitle(table)}` });
  for (const mode of modes) {
    const b = element('button', { type: 'button', class: 'small', 'data-mode': mode, 'aria-pressed': String(mode === current), text: t(mode) });
    b.addEventListener('click', () => onChange(mode));
    group.append(b);
  }
  return group;
}

function figure(table) {
  const modes = chartable(table) ? ['chart', 'table', 'trend'] : ['table', 'trend'];
  const holder = element('article', { class: 'figure', id: `figure-${table.id}`, 'aria-labelledby': `title-${table.id}` });
  const heading = element('h3', { id: `title-${table.id}`, text: tableTitle(table) });
  const unit = element('p', { class: 'unit', text: t('units')[table.unit] || table.unit });
  const body = element('div', { class: 'body' });
  const draw = async (mode) => {
    state.modes[table.id] = mode;
    for (const b of holder.querySelectorAll('.mode button')) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    holder.dataset.mode = mode;
    if (mode === 'chart') body.replaceChildren(barChart(table), tableElement(table, tableTitle(table)));
    else if (mode === 'table') body.replaceChildren(tableElement(table));
    else {
      body.replaceChildren(element('p', { class: 'hint', text: t('loadingTrend') }));
      try { body.replaceChildren(...await rowTrend(table)); } catch (error) { body.replaceChildren(element('p', { class: 'error', text: error.message })); }
    }
  };
  const mode = modes.includes(state.modes[table.id]) ? state.modes[table.id] : modes[0];
  holder.append(element('div', { class: 'figure-head' }, heading, modeSwitch(table, modes, mode, draw)), unit, body,
    exportButtons(table, holder));
  const note = noteOf(table);
  if (note) holder.append(element('p', { class: 'hint note', text: note }));
  draw(mode);
  return holder;
}

/// A table's largest rows month by month over the trend window, the total a year before
/// dashed; the numbers below in a table (months × rows).
async function rowTrend(table) {
  const span = trendWindow();
  const series = await fetchSeries([table.id], span);
  const months = span.months;
  const tableOf = (month) => series.get(month)?.find((x) => x.id === table.id);
  const top = table.rows.filter((r) => r.key[0] !== 'other').slice(0, 5);
  const palette = [ACCENT, '#2f8f5b', '#7b4fa0', '#c2407b', '#4b5563'];
  const lines = top.map((row, i) => ({
    name: rowName(table, row), colour: palette[i % palette.length],
    values: months.map((m) => tableOf(m)?.rows.find((r) => r.key.join('|') === row.key.join('|'))?.cells[0] || { count: 0 }),
  }));
  lines.push({ name: `${t('total')} — ${t('lastYearLine')}`, colour: LAST_YEAR, dashed: true,
    values: months.map((m) => tableOf(addMonths(m, -12))?.total || null) });
  const svg = lineChart({ months, lines, title: t('trendOf')(tableTitle(table)) });
  const rows = months.map((m) => {
    const tr = element('tr', {}, element('th', { scope: 'row', text: m }));
    for (const l of lines) {
      const i = months.indexOf(m);
      tr.append(element('td', { class: 'num', text: cellText(l.values[i]) }));
    }
    return tr;
  });
  const numbers = element('table', { class: 'trend-table', 'data-trend': table.id },
    element('caption', { text: t('trendOf')(tableTitle(table)) }),
    element('thead', {}, element('tr', {}, element('th', { scope: 'col', text: t('monthAxis') }),
      ...lines.map((l) => element('th', { scope: 'col', class: 'num', text: l.name })))),
    element('tbody', {}, ...rows));
  return [svg, element('p', { class: 'hint', text: t('rowTrendNote') }), numbers];
}

// --- headline and trend --------------------------------------------------------------------

function headlineSpecs(report) {
  const individuals = report.count !== 'assistance';
  return [
    { id: 'headline-total', table: 'by_sex', label: individuals ? t('headlineIndividuals') : t('headlineCases') },
    { id: 'headline-vot', table: 'victims_by_exploitation', label: t('headlineVictims') },
    { id: 'headline-services', table: 'services_by_type', label: individuals ? t('headlineServed') : t('headlineServices') },
    { id: 'headline-referrals', table: REFERRAL_FLOW, label: t('headlineReferrals') },
  ];
}

/// The figure a headline card shows: a table's total (referrals: the total of `sent`).
function headlineCell(tables, id) {
  const table = tables?.find((x) => x.id === id);
  if (!table) return undefined;
  if (id === REFERRAL_FLOW) return table.column_totals ? table.column_totals[table.columns.indexOf('sent')] : table.total;
  return table.total;
}

function drawHeadline() {
  const report = state.report;
  const holder = $('#headline');
  const previous = previousRange();
  holder.replaceChildren(...headlineSpecs(report).map((spec) => {
    const cell = headlineCell(report.tables, spec.table);
    if (cell === undefined) return null;
    const card = element('div', { class: 'card', id: spec.id },
      element('div', { class: 'value', text: cellText(cell) }),
      element('div', { class: 'label', text: spec.label }));
    if (previous) {
      const before = state.previous ? cellText(headlineCell(state.previous.tables, spec.table)) : '…';
      card.append(element('div', { class: 'compare', text: t('sameLastYear')(t('previousPeriod'), before) }));
    }
    if (isHidden(cell)) card.title = hiddenWhy(cell);
    return card;
  }).filter(Boolean));
}

function fetchSeries(tables, span) {
  const params = new URLSearchParams(reportQuery({ from: `${span.requestFrom}-01`,
    to: `${span.end}-${pad(lastDay(...span.end.split('-').map(Number)))}` }, { tables: tables.join(',') }));
  // A series is published month by month: exact only when exact figures were asked for.
  return api(`/v1/reports/series?${params}`).then((body) => new Map(body.months.map((m) => [m.month, m.tables])));
}

async function loadTrend(current) {
  const span = trendWindow();
  const series = await busy('#trend', t('loadingTrend'), () => fetchSeries(['by_sex', 'victims_by_exploitation'], span));
  if (!current()) return;
  state.series = { span, series };
  drawTrend();
}

function drawTrend() {
  if (!state.series) return;
  const { span, series } = state.series;
  const holder = $('#trend .chart-holder');
  const total = (month, id) => series.get(month)?.find((x) => x.id === id)?.total || null;
  const individuals = state.count !== 'assistance';
  const name = individuals ? t('headlineIndividuals') : t('headlineCases');
  const lines = [
    { name: `${name} — ${t('thisPeriod')}`, colour: ACCENT, values: span.months.map((m) => total(m, 'by_sex')) },
    { name: `${name} — ${t('lastYearLine')}`, colour: LAST_YEAR, dashed: true, values: span.months.map((m) => total(addMonths(m, -12), 'by_sex')) },
    { name: t('headlineVictims'), colour: '#2f8f5b', values: span.months.map((m) => total(m, 'victims_by_exploitation')) },
  ];
  const chart = lineChart({ months: span.months, lines, title: t('trendOf')(name), width: 1100, height: 280, onMonth: (month) => {
    state.periodKind = 'month';
    state.period = month;
    filtersToForm();
    reload();
  } });
  const mode = state.modes.trend || 'chart';
  const table = element('table', { class: 'trend-table', 'data-trend': 'headline' },
    element('caption', { text: t('trendOf')(name) }),
    element('thead', {}, element('tr', {}, element('th', { scope: 'col', text: t('monthAxis') }),
      ...lines.map((l) => element('th', { scope: 'col', class: 'num', text: l.name })))),
    element('tbody', {}, ...span.months.map((m, i) => element('tr', {}, element('th', { scope: 'row', text: m }),
      ...lines.map((l) => element('td', { class: 'num', text: cellText(l.values[i]) }))))));
  const body = element('div', { class: 'body' });
  const fake = { id: 'trend', title: t('trendTitle') };
  const draw = (m) => {
    state.modes.trend = m;
    for (const b of holder.querySelectorAll('.mode button')) b.setAttribute('aria-pressed', String(b.dataset.mode === m));
    body.replaceChildren(m === 'chart' ? chart : table);
  };
  const switcher = modeSwitch(fake, ['chart', 'table'], mode, draw);
  holder.replaceChildren(switcher, body, element('div', { class: 'exports' },
    ...['svg', 'png'].map((format) => {
      const b = element('button', { type: 'button', class: 'small secondary', text: t(format),
        'aria-label': `${t('download')} ${t(format)}: ${t('trendTitle')}` });
      b.addEventListener('click', () => (format === 'svg' ? saveSvg(holder, 'trend') : savePng(holder, 'trend')));
      return b;
    })));
  draw(mode);
}
