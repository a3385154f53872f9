// The dashboard's map (part of the page's script: see app.js): Natural Earth countries
// (/dashboard/world.json) coloured by a published table, and referral flows between agencies.
'use strict';

// --- map -----------------------------------------------------------------------------------

async function loadWorld() {
  if (!state.world) {
    const response = await fetch('/dashboard/world.json');
    const topology = await response.json();
    state.world = V().feature(topology, topology.objects.countries).features;
  }
  return state.world;
}

/// Countries coloured by the published count of the chosen table (the same cells the table
/// shows: hidden ones hatched and marked hidden, never coloured by a guess).
/// Where each agency is drawn for referral flows: the country of assistance of most of its
/// cases in the current filters (from its published `by_country_of_assistance`). Agencies have
/// no address of their own; an agency another token may not see is not placed.
async function agencyPlaces(codes) {
  const out = new Map();
  // A token limited to its agency sees no other agency's figures: those are not placed.
  const scope = state.options?.scope_agency;
  await Promise.all(codes.filter((code) => !scope || code === scope).map(async (code) => {
    const params = new URLSearchParams(reportQuery(periodRange(), { tables: 'by_country_of_assistance' }));
    params.set('agency', code);
    params.delete('country');
    params.delete('region');
    const key = params.toString();
    if (!state.places.has(key)) {
      state.places.set(key, api(`/v1/reports?${key}`).then((body) => {
        const rows = body.tables[0].rows.filter((r) => !isHidden(r.cells[0]) && r.cells[0].count > 0 && r.key[0] !== 'unknown');
        rows.sort((a, b) => b.cells[0].count - a.cells[0].count);
        return rows.length ? rows[0].key[0] : null;
      }).catch(() => null));
    }
    const place = await state.places.get(key);
    if (place) out.set(code, place);
  }));
  return out;
}

/// Referral flows on the map: an arrow from the sending agency's country to the receiving
/// agency's, as wide as the referrals sent (the published cell); hidden counts dashed.
function flowLayer(svg, projection, features, note, table, places) {
  if (!table || table.rows.length === 0) { note.textContent = t('noReferrals'); return; }
  const sent = table.columns.indexOf('sent');
  const centre = new Map(features.filter((f) => f.id).map((f) => [f.id, projection(V().geoCentroid(f))]));
  const max = Math.max(1, ...table.rows.map((r) => r.cells[sent]?.count || 0));
  const fmt = numberFormat();
  const defs = svgElement('defs');
  const marker = svgElement('marker', { id: 'flow-head', viewBox: '0 0 10 10', refX: 8, refY: 5, markerWidth: 12,
    markerHeight: 12, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
  marker.append(svgElement('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#b4541a' }));
  defs.append(marker);
  svg.append(defs);
  const skipped = [];
  for (const row of table.rows) {
    const [from, to] = row.key.map((code) => places.get(code));
    const a = from && centre.get(from);
    const b = to && centre.get(to);
    const cell = row.cells[sent];
    const label = `${rowName(table, row)} (${from ? codeName('country_of_assistance', from) : '?'} → ${to ? codeName('country_of_assistance', to) : '?'}): ${cellText(cell)}`;
    if (!a || !b || from === to) { skipped.push(label); continue; }
    const hidden = isHidden(cell);
    const [mx, my] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
    const bend = 0.25;
    const control = [mx - dy * bend, my + dx * bend];
    const arc = svgElement('path', { d: `M${a[0]},${a[1]} Q${control[0]},${control[1]} ${b[0]},${b[1]}`, fill: 'none',
      stroke: hidden ? HIDDEN_FILL : '#b4541a', 'stroke-width': hidden ? 1.5 : 1.5 + (cell.count / max) * 6,
      'stroke-dasharray': hidden ? '4 3' : undefined, 'stroke-opacity': 0.85, 'marker-end': 'url(#flow-head)',
      'data-flow': row.key.join('|'), class: 'flow' });
    arc.append(svgElement('title', {}, label));
    svg.append(arc);
    svg.append(svgElement('text', { x: (mx + control[0]) / 2, y: (my + control[1]) / 2 - 6, 'text-anchor': 'middle',
      fill: '#1d2733', 'font-weight': 'bold', 'font-size': 14, stroke: '#ffffff', 'stroke-width': 3,
      'paint-order': 'stroke' }, hidden ? HIDDEN_COUNT : fmt.format(cell.count)));
  }
  note.textContent = `${t('flowNote')}${skipped.length ? ` ${t('flowSkipped')} ${skipped.join('; ')}.` : ''}`;
}

async function drawMap() {
  const holder = $('#map .chart-holder');
  const report = state.report;
  const flows = state.map === 'referral_flows';
  const table = report?.tables.find((x) => x.id === (flows ? 'by_country_of_assistance' : state.map));
  if (!table) { holder.replaceChildren(); return; }
  const features = await loadWorld();
  const cells = new Map(table.rows.map((r) => [r.key[0], r.cells[0]]));
  const width = 960;
  const height = 470;
  // Flows: the agencies' places first, and the map fitted to their countries (neighbours'
  // arrows would be lost at world scale).
  const flowTable = flows ? report.tables.find((x) => x.id === REFERRAL_FLOW) : null;
  const places = flowTable ? await agencyPlaces([...new Set(flowTable.rows.flatMap((r) => r.key))]) : new Map();
  const placed = features.filter((f) => [...places.values()].includes(f.id));
  const projection = V().geoNaturalEarth1();
  if (placed.length) {
    projection.fitExtent([[width * 0.2, height * 0.15], [width * 0.8, height * 0.85]], { type: 'FeatureCollection', features: placed });
  } else {
    projection.fitExtent([[4, 4], [width - 4, height - 4]], { type: 'Sphere' });
  }
  const path = V().geoPath(projection);
  const counts = [...cells.values()].filter((c) => !isHidden(c)).map((c) => c.count);
  const max = Math.max(1, ...counts);
  const palette = ['#d4e6f1', '#93c1de', '#4f97c6', '#1f6fa8', '#0b4a75'];
  // Up to five classes of whole counts, from 1 to the largest published count.
  const bounds = [...new Set(palette.map((_, i) => Math.ceil((max * (i + 1)) / palette.length)))];
  const steps = palette.slice(palette.length - bounds.length);
  const colour = (n) => steps[bounds.findIndex((b) => n <= b)] || steps[steps.length - 1];
  const title = flows ? t('referralFlows') : t('mapOf')(state.map === 'by_nationality' ? t('byNationality').toLowerCase() : t('byCountryOfAssistance').toLowerCase());
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-label': title,
    xmlns: 'http://www.w3.org/2000/svg', 'font-family': 'system-ui, sans-serif', 'font-size': 12, class: 'map' });
  svg.append(hatchPattern('hatch-map'));
  svg.append(svgElement('path', { d: path({ type: 'Sphere' }), fill: '#f4f8fb', stroke: '#d6dde5' }));
  const fmt = numberFormat();
  for (const f of features) {
    const code = f.id;
    const cell = code ? cells.get(code) : undefined;
    const hidden = cell && isHidden(cell);
    const fill = hidden ? 'url(#hatch-map)' : cell && cell.count > 0 ? colour(cell.count) : '#e6e9ed';
    const shape = svgElement('path', { d: path(f), fill, stroke: '#ffffff', 'stroke-width': 0.5, 'data-country': code || '' });
    const name = code ? codeName('country_of_assistance', code) : f.properties.name;
    if (cell) {
      shape.append(svgElement('title', {}, t('countryOn')(name, hidden ? `${HIDDEN_COUNT} (${hiddenWhy(cell)})` : fmt.format(cell.count))));
      shape.setAttribute('aria-label', `${t('countryOn')(name, cellText(cell))} — ${t('clickToFilter')}`);
      shape.classList.add('drill');
      activate(shape, () => drillTo(DRILL.country_of_assistance, code));
    }
    svg.append(shape);
  }
  // Legend: classes, hidden, none.
  const legend = svgElement('g', { transform: `translate(16, ${height - 118})`, class: 'map-legend' });
  legend.append(svgElement('rect', { x: -8, y: -18, width: 190, height: 128, fill: '#ffffff', opacity: 0.9, rx: 4 }));
  legend.append(svgElement('text', { x: 0, y: -4, 'font-weight': 'bold', fill: '#1d2733' }, t('units')[table.unit] || table.unit));
  steps.forEach((c, i) => {
    const low = i === 0 ? 1 : bounds[i - 1] + 1;
    const high = bounds[i];
    legend.append(svgElement('rect', { x: 0, y: 4 + i * 14, width: 14, height: 12, fill: c }));
    legend.append(svgElement('text', { x: 20, y: 14 + i * 14, fill: '#1d2733' },
      low === high ? fmt.format(low) : `${fmt.format(low)} – ${fmt.format(high)}`));
  });
  legend.append(svgElement('rect', { x: 100, y: 4, width: 14, height: 12, fill: 'url(#hatch-map)', stroke: HIDDEN_FILL }));
  legend.append(svgElement('text', { x: 120, y: 14, fill: '#1d2733' }, t('mapHidden')));
  legend.append(svgElement('rect', { x: 100, y: 22, width: 14, height: 12, fill: '#e6e9ed' }));
  legend.append(svgElement('text', { x: 120, y: 32, fill: '#1d2733' }, t('mapNoCases')));
  svg.append(legend);
  const note = element('p', { class: 'hint', id: 'map-note' });
  const shown = flows ? report.tables.find((x) => x.id === REFERRAL_FLOW) || table : table;
  if (flows) flowLayer(svg, projection, features, note, flowTable, places);
  note.hidden = !note.textContent;
  const body = element('div', { class: 'body' });
  const mode = state.modes.map || 'chart';
  const fakeTable = { id: 'map', title: t('mapTitle') };
  const draw = (m) => {
    state.modes.map = m;
    for (const b of holder.querySelectorAll('.mode button')) b.setAttribute('aria-pressed', String(b.dataset.mode === m));
    body.replaceChildren(m === 'chart' ? svg : tableElement(shown, flows ? tableTitle(shown) : title));
  };
  holder.replaceChildren(modeSwitch(fakeTable, ['chart', 'table'], mode, draw), body, note, exportButtons(shown, holder));
  draw(mode);
}
