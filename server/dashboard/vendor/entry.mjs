// What the dashboard's script (../app.js) uses of its third-party code, exposed as one global
// (`window.fieldcaseVendor`): the page has no module loader and its CSP allows only same-origin
// scripts, so the bundle is a plain script loaded before app.js.
export { geoNaturalEarth1, geoPath, geoCentroid } from 'd3-geo';
export { feature, mesh } from 'topojson-client';
export { scaleLinear, scaleBand, scaleSqrt, scaleUtc } from 'd3-scale';
export { line, area, curveMonotoneX } from 'd3-shape';
export { max, extent } from 'd3-array';
export { format } from 'd3-format';
