// The dashboard's charts (part of the page's script: see app.js): bar and line charts, the
// referral flow and report tables, drawn as SVG with presentation attributes (the CSP allows
// no inline style) from the published cells only; bars of a filterable dimension are buttons.
'use strict';

// --- charts --------------------------------------------------------------------------------

/// Filters a bar or a country can set: the API filters by these dimensions only.
const DRILL = {
  country_of_assistance: (code) => { state.country = code; state.region = ''; },
  region: (code) => { if (code !== 'unknown') { state.region = code; state.country = ''; } },
  from_agency: (code) => { state.agency = code; },
  to_agency: (code) => { state.agency = code; },
};

function drillable(table) {
  const dimension = table.row_dimensions[0];
  if (dimension === 'country_of_assistance' || table.id === 'victims_top_countries_of_identification') {
    return (row) => row.key[0] !== 'other' && row.key[0] !== 'unknown' && DRILL.country_of_assistance;
  }
  if (DRILL[dimension] && !(state.options?.scope_agency && dimension.endsWith('agency'))) {
    return () => DRILL[dimension];
  }
  return null;
}

/// Makes `node` a button for the keyboard and assistive technology (and `clickTarget`, which
/// may be larger, for the mouse).
function activate(node, action, clickTarget = node) {
  node.setAttribute('tabindex', '0');
  node.setAttribute('role', 'button');
  clickTarget.addEventListener('click', action);
  node.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); action(); }
  });
}

function drillTo(set, code) {
  set(code);
  filtersToForm();
  reload();
}

/// A horizontal bar chart of a one-way table: labels get the width they need, values are
/// printed at the bars' ends, hidden cells are drawn as a short hatched bar marked `x`.
function barChart(table) {
  const rows = table.rows;
  const fmt = numberFormat();
  const maxLabel = 240;
  // Long names wrap onto more lines rather than being cut.
  const labels = rows.map((r) => wrap(rowName(table, r), maxLabel));
  const labelWidth = Math.ceil(Math.max(40, ...labels.flat().map((l) => measure(l)))) + 12;
  const width = 520;
  const lineHeight = 14;
  const gap = 6;
  const heights = labels.map((lines) => Math.max(18, lines.length * lineHeight + 4));
  const height = heights.reduce((a, b) => a + b + gap, gap);
  const max = Math.max(1, ...rows.map((r) => r.cells[0]?.count || 0));
  const x = V().scaleLinear().domain([0, max]).range([0, width - labelWidth - 56]);
  const drill = drillable(table);
  // A picture, unless its bars are buttons (an image may not hold controls).
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: drill ? 'group' : 'img',
    'aria-label': t('chartOf')(tableTitle(table)), xmlns: 'http://www.w3.org/2000/svg',
    'font-family': 'system-ui, sans-serif', 'font-size': 12 });
  svg.append(hatchPattern(`hatch-${table.id}`));
  let y = gap;
  rows.forEach((row, i) => {
    const rowHeight = heights[i];
    const cell = row.cells[0] || {};
    const hidden = isHidden(cell);
    const name = rowName(table, row);
    const group = svgElement('g', { class: 'bar-row', 'data-key': row.key.join('|') });
    const label = svgElement('text', { x: labelWidth - 8, y: y + (rowHeight - labels[i].length * lineHeight) / 2 + 11,
      'text-anchor': 'end', fill: '#1d2733' });
    labels[i].forEach((line, j) => label.append(svgElement('tspan', { x: labelWidth - 8, dy: j === 0 ? 0 : lineHeight }, line)));
    group.append(label);
    const barY = y + (rowHeight - 18) / 2;
    const barWidth = hidden ? 10 : Math.max(cell.count > 0 ? 2 : 0, x(cell.count));
    const bar = svgElement('rect', { class: hidden ? 'bar hidden' : 'bar', x: labelWidth, y: barY, width: Math.max(barWidth, 1),
      height: 18, fill: hidden ? `url(#hatch-${table.id})` : ACCENT, stroke: hidden ? HIDDEN_FILL : undefined });
    group.append(bar);
    group.append(svgElement('text', { x: labelWidth + barWidth + 5, y: barY + 13, fill: '#1d2733' },
      hidden ? HIDDEN_COUNT : fmt.format(cell.count)));
    group.append(svgElement('title', {}, `${name}: ${hidden ? `${HIDDEN_COUNT} (${hiddenWhy(cell)})` : fmt.format(cell.count)}`));
    const set = drill && drill(row);
    if (set) {
      group.classList.add('drill');
      bar.setAttribute('aria-label', `${name}: ${cellText(cell)} — ${t('clickToFilter')}`);
      activate(bar, () => drillTo(set, row.key[0]), group);
    }
    svg.append(group);
    y += rowHeight + gap;
  });
  return svg;
}

/// `text` in lines no wider than `width` (words kept whole).
function wrap(text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    const candidate = line ? `${line} ${word}` : word;
    if (line && measure(candidate) > width) { lines.push(line); line = word; } else line = candidate;
  }
  if (line) lines.push(line);
  return lines;
}

function hatchPattern(id) {
  const pattern = svgElement('pattern', { id, width: 6, height: 6, patternUnits: 'userSpaceOnUse',
    patternTransform: 'rotate(45)' });
  pattern.append(svgElement('rect', { width: 6, height: 6, fill: '#eef1f4' }));
  pattern.append(svgElement('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: HIDDEN_FILL, 'stroke-width': 3 }));
  const defs = svgElement('defs');
  defs.append(pattern);
  return defs;
}

/// A line chart of monthly values: `lines` = [{name, values: [cell|null per month], dashed,
/// colour}]. Hidden months break the line and are marked `x` on the axis.
function lineChart({ months, lines, title, onMonth, width = 560, height = 260 }) {
  const margin = { top: 16, right: 16, bottom: 58, left: 48 };
  const fmt = numberFormat();
  const values = lines.flatMap((l) => l.values.map((c) => (isHidden(c) ? 0 : c.count)));
  const max = Math.max(1, ...values);
  const x = V().scaleBand().domain(months).range([margin.left, width - margin.right]).padding(0.1);
  const y = V().scaleLinear().domain([0, max]).nice().range([height - margin.bottom, margin.top]);
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: onMonth ? 'group' : 'img',
    'aria-label': title, xmlns: 'http://www.w3.org/2000/svg', 'font-family': 'system-ui, sans-serif', 'font-size': 11 });
  for (const tick of y.ticks(Math.min(5, max)).filter(Number.isInteger)) {
    svg.append(svgElement('line', { x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick), stroke: '#e3e8ee' }));
    svg.append(svgElement('text', { x: margin.left - 6, y: y(tick) + 4, 'text-anchor': 'end', fill: '#5b6775' }, fmt.format(tick)));
  }
  const monthName = new Intl.DateTimeFormat(state.lang === 'fr' ? 'fr-FR' : 'en-GB', { month: 'short', timeZone: 'UTC' });
  months.forEach((m) => {
    const [yy, mm] = m.split('-').map(Number);
    const cx = x(m) + x.bandwidth() / 2;
    svg.append(svgElement('text', { x: cx, y: height - margin.bottom + 16, 'text-anchor': 'middle', fill: '#5b6775' },
      monthName.format(new Date(Date.UTC(yy, mm - 1, 1)))));
    if (mm === 1 || m === months[0]) {
      svg.append(svgElement('text', { x: cx, y: height - margin.bottom + 30, 'text-anchor': 'middle', fill: '#5b6775' }, String(yy)));
    }
  });
  for (const l of lines) {
    const points = l.values.map((c, i) => (isHidden(c) ? null : [x(months[i]) + x.bandwidth() / 2, y(c.count)]));
    const path = V().line().defined((p) => p !== null)(points);
    svg.append(svgElement('path', { d: path, fill: 'none', stroke: l.colour, 'stroke-width': 2.5,
      'stroke-dasharray': l.dashed ? '6 4' : undefined }));
    l.values.forEach((c, i) => {
      const cx = x(months[i]) + x.bandwidth() / 2;
      if (isHidden(c)) {
        svg.append(svgElement('text', { x: cx, y: height - margin.bottom - 4, 'text-anchor': 'middle', fill: l.colour,
          'font-weight': 'bold' }, HIDDEN_COUNT));
        return;
      }
      const dot = svgElement('circle', { cx, cy: y(c.count), r: l.dashed ? 3 : 4.5, fill: l.dashed ? '#fff' : l.colour,
        stroke: l.colour, 'stroke-width': 1.5, class: 'point' });
      dot.append(svgElement('title', {}, `${l.name}, ${months[i]}: ${fmt.format(c.count)}`));
      if (onMonth && !l.dashed) {
        dot.setAttribute('aria-label', `${months[i]}: ${fmt.format(c.count)} — ${t('clickToFilter')}`);
        activate(dot, () => onMonth(months[i]));
      }
      svg.append(dot);
    });
  }
  // Legend.
  let lx = margin.left;
  for (const l of lines) {
    const ly = height - 8;
    svg.append(svgElement('line', { x1: lx, x2: lx + 22, y1: ly - 4, y2: ly - 4, stroke: l.colour, 'stroke-width': 2.5,
      'stroke-dasharray': l.dashed ? '6 4' : undefined }));
    svg.append(svgElement('text', { x: lx + 28, y: ly, fill: '#1d2733' }, l.name));
    lx += 40 + measure(l.name, 11);
  }
  return svg;
}

/// A table element for any report table: rows, columns, row totals, column totals, total.
function tableElement(table, caption) {
  const twoWay = Boolean(table.column_dimension);
  const hasRowTotals = table.rows.some((r) => r.total);
  const hasMedian = table.rows.some((r) => r.median_hours_to_answer !== undefined);
  const hasAnswered = table.rows.some((r) => r.answered);
  const dimensionHead = table.row_dimensions.map((d) => t('dims')[d] || d).join(' → ');
  const head = element('tr', {},
    element('th', { scope: 'col', text: dimensionHead }),
    ...table.columns.map((c) => element('th', { scope: 'col', class: 'num', text: columnName(table, c) })),
    ...(hasRowTotals ? [element('th', { scope: 'col', class: 'num', text: t('total') })] : []),
    ...(hasAnswered ? [element('th', { scope: 'col', class: 'num', text: t('columns').answered })] : []),
    ...(hasMedian ? [element('th', { scope: 'col', class: 'num', text: t('median') })] : []));
  const body = element('tbody');
  const td = (cell) => element('td', { class: isHidden(cell) ? 'num hidden' : 'num',
    'data-suppressed': cell?.suppressed, text: cellText(cell), title: isHidden(cell) ? hiddenWhy(cell) : undefined });
  for (const row of table.rows) {
    const tr = element('tr', { 'data-key': row.key.join('|') }, element('th', { scope: 'row', text: rowName(table, row) }));
    for (const cell of row.cells) tr.append(td(cell));
    if (hasRowTotals) tr.append(td(row.total));
    if (hasAnswered) tr.append(td(row.answered));
    if (hasMedian) {
      const median = row.median_hours_to_answer;
      tr.append(element('td', { class: 'num', text: median === null || median === undefined ? '–' : numberFormat().format(Number(median.toFixed(1))) }));
    }
    body.append(tr);
  }
  if (table.column_totals) {
    const tr = element('tr', { class: 'total' }, element('th', { scope: 'row', text: t('total') }));
    for (const cell of table.column_totals) tr.append(td(cell));
    if (hasRowTotals) tr.append(td(table.total));
    body.append(tr);
  } else if (table.total && !twoWay) {
    const tr = element('tr', { class: 'total' }, element('th', { scope: 'row', text: t('total') }));
    const cell = td(table.total);
    cell.setAttribute('data-total', '');
    tr.append(cell);
    body.append(tr);
  }
  return element('table', { 'data-table': table.id },
    caption ? element('caption', { text: caption }) : null,
    element('thead', {}, head), body);
}

// --- referral flow -------------------------------------------------------------------------

/// Origin agency → destination agency, each link as wide as the referrals sent along it;
/// hidden counts drawn as a thin dashed link marked `x`.
function flowChart(table) {
  const fmt = numberFormat();
  const from = [...new Set(table.rows.map((r) => r.key[0]))];
  const to = [...new Set(table.rows.map((r) => r.key[1]))];
  const names = (codes) => codes.map((c) => codeName('from_agency', c));
  const labelWidth = Math.ceil(Math.max(80, ...names(from).map((n) => measure(n, 13)), ...names(to).map((n) => measure(n, 13)))) + 16;
  const width = Math.max(560, labelWidth * 2 + 260);
  const rowHeight = 56;
  const height = Math.max(from.length, to.length) * rowHeight + 40;
  const sent = table.columns.indexOf('sent');
  const max = Math.max(1, ...table.rows.map((r) => r.cells[sent]?.count || 0));
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    'aria-label': t('chartOf')(tableTitle(table)), xmlns: 'http://www.w3.org/2000/svg', 'font-family': 'system-ui, sans-serif', 'font-size': 13 });
  const yFrom = (code) => 30 + from.indexOf(code) * rowHeight + rowHeight / 2;
  const yTo = (code) => 30 + to.indexOf(code) * rowHeight + rowHeight / 2;
  const x0 = labelWidth;
  const x1 = width - labelWidth;
  svg.append(svgElement('text', { x: x0, y: 16, 'text-anchor': 'end', fill: '#5b6775' }, t('dims').from_agency));
  svg.append(svgElement('text', { x: x1, y: 16, fill: '#5b6775' }, t('dims').to_agency));
  for (const row of table.rows) {
    const cell = row.cells[sent];
    const hidden = isHidden(cell);
    const w = hidden ? 2 : Math.max(2, (cell.count / max) * 28);
    const ya = yFrom(row.key[0]);
    const yb = yTo(row.key[1]);
    const mid = (x0 + x1) / 2;
    const link = svgElement('path', { d: `M${x0 + 8},${ya} C${mid},${ya} ${mid},${yb} ${x1 - 8},${yb}`, fill: 'none',
      stroke: hidden ? HIDDEN_FILL : ACCENT, 'stroke-opacity': 0.55, 'stroke-width': w, 'stroke-dasharray': hidden ? '4 3' : undefined });
    link.append(svgElement('title', {}, `${rowName(table, row)}: ${cellText(cell)}`));
    svg.append(link);
    svg.append(svgElement('text', { x: mid, y: (ya + yb) / 2 - w / 2 - 4, 'text-anchor': 'middle', fill: '#1d2733' }, hidden ? HIDDEN_COUNT : fmt.format(cell.count)));
  }
  for (const code of from) svg.append(svgElement('text', { x: x0, y: yFrom(code) + 4, 'text-anchor': 'end', fill: '#1d2733' }, codeName('from_agency', code)));
  for (const code of to) svg.append(svgElement('text', { x: x1, y: yTo(code) + 4, fill: '#1d2733' }, codeName('to_agency', code)));
  return svg;
}

function drawReferrals() {
  const holder = $('#referral-flow .figure-holder');
  const table = state.report?.tables.find((x) => x.id === REFERRAL_FLOW);
  if (!table || table.rows.length === 0) {
    holder.replaceChildren(element('p', { class: 'hint', text: t('noReferrals') }));
    return;
  }
  const body = element('div', { class: 'body' });
  const mode = ['chart', 'table'].includes(state.modes.referrals) ? state.modes.referrals : 'chart';
  const draw = (m) => {
    state.modes.referrals = m;
    for (const b of holder.querySelectorAll('.mode button')) b.setAttribute('aria-pressed', String(b.dataset.mode === m));
    body.replaceChildren(m === 'chart' ? flowChart(table) : tableElement(table));
  };
  holder.replaceChildren(modeSwitch(table, ['chart', 'table'], mode, draw), element('p', { class: 'unit', text: t('units')[table.unit] || table.unit }),
    body, exportButtons(table, holder));
  draw(mode);
}
