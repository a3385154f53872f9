// The central office's dashboard. Plain script, no framework: it signs in with an API token
// kept in this tab's sessionStorage, calls the report API of this server and draws what comes
// back, with the d3 modules and the Natural Earth map of vendor.js / world.json (both served
// by this server: no CDN, no tile server). Every figure passes the server's role and
// disclosure checks; this page never computes a count itself, it only shows the server's —
// charts, map and trends draw the same published cells the tables show.
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

// --- words ---------------------------------------------------------------------------------

const WORDS = {
  en: {
    centralOffice: 'central office', language: 'Language', signOut: 'Sign out', signIn: 'Sign in',
    signInHelp: 'Paste the API token your administrator issued. It is kept in this tab only and forgotten when the tab closes.',
    apiToken: 'API token', period: 'Period', allTime: 'All time', year: 'Year', quarter: 'Quarter',
    month: 'Month', custom: 'Dates (exact figures)', periodValue: 'Which', from: 'From', to: 'To',
    agency: 'Agency', allAgencies: 'All agencies', countryOfAssistance: 'Country of assistance',
    allCountries: 'All countries', region: 'Region', allRegions: 'All regions', count: 'Count',
    individuals: 'Unique individuals', assistance: 'Counts of assistance', figures: 'Figures',
    apply: 'Apply', clear: 'Clear filters', aboutFigures: 'About these figures',
    overview: 'Overview', breakdowns: 'Breakdowns', referrals: 'Referrals', duplicates: 'Duplicates',
    trendTitle: 'Month by month', mapTitle: 'Where', mapShows: 'Show',
    byCountryOfAssistance: 'By country of assistance', byNationality: 'By nationality',
    referralFlows: 'Referrals between agencies',
    flowNote: 'Each agency is placed in the country where it assists most of its cases in these filters; arrows are as wide as the referrals sent.',
    flowSkipped: 'Not drawn (one country, or an agency not placed):',
    referralFlow: 'Referrals and transfers between agencies',
    duplicatesTitle: 'Probable duplicates to review',
    duplicatesHelp: 'Two records of the same person, found by matching features. Confirm to count them as one individual; reject if they are different people. No names are shown.',
    exactOption: 'Exact (inside the network)', publicOption: 'Published (perturbed)',
    exactBadge: 'Exact counts: for use inside the network only, not to be republished.',
    publicBadge: 'Published figures: safe to share outside the network.',
    legendHidden: 'Hidden: too few people to publish, or hidden so that it cannot be worked out from a total.',
    legendPerturbed: (max, t) => `Each published count is within ±${max} of the exact count (the same cell always shows the same value). No count from 1 to ${t - 1} is shown: small counts show as 0 or ${t}.`,
    legendTotals: 'Totals are perturbed on their own, so rows need not add up to them.',
    legendSuppressed: (t) => `Counts below ${t} are hidden.`,
    legendExact: 'Counts are exact.',
    legendOverlap: 'A person can be in several rows of some tables (categories, types of exploitation): such rows add up to more than the total.',
    perturbedTerm: '≈ n', perturbedLabel: 'Perturbed count',
    hiddenPrimary: (t) => `hidden: fewer than ${t}`, hiddenSecondary: 'hidden so that it cannot be worked out from a total',
    total: 'Total', chart: 'Chart', table: 'Table', trend: 'Trend', showAs: 'Show as',
    download: 'Download', csv: 'CSV', hxl: 'HXL', svg: 'SVG', png: 'PNG',
    asOf: (when) => `Data as of ${when}`, noData: 'No synced data yet',
    signedInNetwork: 'signed in (whole network)', signedInAgency: (a) => `signed in (${a})`,
    loading: 'Loading figures…', loadingTrend: 'Loading month-by-month figures…',
    lookingDuplicates: 'Looking for probable duplicates…',
    notAccepted: 'That token was not accepted: ',
    headlineIndividuals: 'Individuals assisted', headlineCases: 'Cases assisted',
    headlineVictims: 'Victims of trafficking', headlineServices: 'Services given',
    headlineServed: 'Individuals served', headlineReferrals: 'Referrals sent',
    sameLastYear: (p, v) => `${p}: ${v}`, previousPeriod: 'Same period a year before',
    thisPeriod: 'This period', lastYearLine: 'A year before',
    monthAxis: 'Month', noReferrals: 'No referrals in this period.',
    roleNoReview: 'Your role does not review duplicates.', nothingToReview: 'Nothing to review.',
    samePerson: 'Same person', differentPeople: 'Different people',
    score: 'Likelihood', agencies: 'Agencies', intakeDates: 'Intake dates', whatMatches: 'What matches',
    decision: 'Decision', clickToFilter: 'select to filter everything by it',
    mapNoCases: 'No cases', mapHidden: 'Hidden (x)', mapLegend: 'Legend',
    mapOf: (what) => `Map of cases ${what}`, countryOn: (name, value) => `${name}: ${value}`,
    trendOf: (title) => `${title}, month by month`, chartOf: (title) => `${title} (chart)`,
    median: 'Median hours to answer', rowTrendNote: 'The five largest rows, month by month; the total a year before dashed.',
    printed: (when) => `Printed ${when}`, briefTitle: (p) => `Monthly brief: ${p}`,
    periods: { all: 'all time' },
    quarterName: (y, q) => `Q${q} ${y}`,
    dims: {
      sex: 'Sex', age_group: 'Age group', age_band: 'Age band', nationality: 'Nationality',
      country_of_assistance: 'Country of assistance', region: 'IOM region', programme: 'Programme',
      category: 'Category', exploitation: 'Type of exploitation', labour_sector: 'Sector',
      trafficking_type: 'Type of trafficking', reintegration_assistance: 'Reintegration assistance',
      service_type: 'Service', from_agency: 'From agency', to_agency: 'To agency',
    },
    columns: {
      count: 'Count', sent: 'Sent', accepted: 'Accepted', declined: 'Declined', completed: 'Completed',
      cancelled: 'Cancelled', pending: 'Pending', answered: 'Answered',
    },
    units: {
      individuals: 'individuals', cases: 'cases', victims: 'victims', 'victim cases': 'victim cases',
      services: 'services', referrals: 'referrals', 'individuals served': 'individuals served',
      'individuals referred': 'individuals referred',
    },
    tables: {
      by_sex: 'Sex', by_age_group: 'Age group', by_age_band: 'Age band',
      by_sex_and_age_group: 'Sex and age group', by_nationality: 'Nationality',
      by_country_of_assistance: 'Country of assistance', by_region: 'IOM region of assistance',
      by_programme: 'Programme', by_category: 'Category',
      victims_by_exploitation: 'Victims by type of exploitation',
      victims_by_labour_sector: 'Victims of labour exploitation, by sector',
      victims_by_trafficking_type: 'Victims by type of trafficking',
      victims_top_nationalities: 'Victims: main nationalities',
      victims_top_countries_of_identification: 'Victims: main countries of identification',
      reintegration_by_type: 'Reintegration assistance by type', services_by_type: 'Services by type',
      referrals_by_agency_pair: 'Referrals between agencies',
    },
    notes: {
      multi: 'A person may be in several rows; the total counts each person once.',
      by_age_band: 'A date of birth known only to the year can straddle two bands: such people count as unknown here, though their age group may be known.',
      victims_by_exploitation: 'Sexual and labour exploitation together is its own row, not counted under sexual or under labour; a victim of other types too counts in each of their rows.',
      services_by_type: 'Counts of assistance count each service given; unique individuals count each person once per type and once in the total.',
      referrals_by_agency_pair: 'Accepted and declined count first answers; completed, cancelled and pending are current statuses; the median is over hours from sending to the first answer.',
    },
    features: {
      given_name: 'given name', family_name: 'family name', names_swapped: 'names swapped',
      date_of_birth: 'date of birth', document: 'document', phone: 'phone',
      nationality: 'nationality', sex: 'sex',
    },
    levels: {
      exact: 'same', phonetic: 'sounds the same', very_similar: 'very similar', similar: 'similar',
      agree_partially: 'agrees in part', day_month_swapped: 'day and month swapped',
      one_part_off: 'one part differs', shared: 'shared', same: 'same',
    },
  },
  fr: {
    centralOffice: 'bureau central', language: 'Langue', signOut: 'Se déconnecter', signIn: 'Se connecter',
    signInHelp: "Collez le jeton d'API remis par votre administrateur. Il n'est gardé que dans cet onglet et oublié à sa fermeture.",
    apiToken: "Jeton d'API", period: 'Période', allTime: 'Toute la période', year: 'Année',
    quarter: 'Trimestre', month: 'Mois', custom: 'Dates (chiffres exacts)', periodValue: 'Laquelle',
    from: 'Du', to: 'Au', agency: 'Organisation', allAgencies: 'Toutes les organisations',
    countryOfAssistance: "Pays d'assistance", allCountries: 'Tous les pays', region: 'Région',
    allRegions: 'Toutes les régions', count: 'Compter', individuals: 'Personnes uniques',
    assistance: "Actes d'assistance", figures: 'Chiffres', apply: 'Appliquer', clear: 'Effacer les filtres',
    aboutFigures: 'À propos de ces chiffres', overview: "Vue d'ensemble", breakdowns: 'Répartitions',
    referrals: 'Orientations', duplicates: 'Doublons', trendTitle: 'Mois par mois', mapTitle: 'Où',
    mapShows: 'Afficher', byCountryOfAssistance: "Par pays d'assistance", byNationality: 'Par nationalité',
    referralFlows: 'Orientations entre organisations',
    flowNote: "Chaque organisation est placée dans le pays où elle assiste la plupart de ses dossiers selon ces filtres ; les flèches sont aussi larges que les orientations envoyées.",
    flowSkipped: 'Non tracées (un seul pays, ou une organisation non placée) :',
    referralFlow: 'Orientations et transferts entre organisations',
    duplicatesTitle: 'Doublons probables à examiner',
    duplicatesHelp: "Deux dossiers d'une même personne, trouvés par des caractéristiques concordantes. Confirmez pour les compter comme une seule personne ; rejetez s'il s'agit de personnes différentes. Aucun nom n'est affiché.",
    exactOption: 'Exacts (dans le réseau)', publicOption: 'Publiés (perturbés)',
    exactBadge: 'Chiffres exacts : à usage interne au réseau, à ne pas republier.',
    publicBadge: 'Chiffres publiés : peuvent être diffusés hors du réseau.',
    legendHidden: "Masqué : trop peu de personnes pour publier, ou masqué pour qu'on ne puisse pas le déduire d'un total.",
    legendPerturbed: (max, t) => `Chaque chiffre publié est à ±${max} du chiffre exact (une même case montre toujours la même valeur). Aucun chiffre de 1 à ${t - 1} n'est montré : les petits effectifs s'affichent 0 ou ${t}.`,
    legendTotals: "Les totaux sont perturbés séparément : les lignes peuvent ne pas s'additionner exactement.",
    legendSuppressed: (t) => `Les effectifs inférieurs à ${t} sont masqués.`,
    legendExact: 'Les chiffres sont exacts.',
    legendOverlap: "Une personne peut figurer dans plusieurs lignes de certains tableaux (catégories, types d'exploitation) : leur somme dépasse alors le total.",
    perturbedTerm: '≈ n', perturbedLabel: 'Chiffre perturbé',
    hiddenPrimary: (t) => `masqué : moins de ${t}`, hiddenSecondary: "masqué pour qu'on ne puisse pas le déduire d'un total",
    total: 'Total', chart: 'Graphique', table: 'Tableau', trend: 'Évolution', showAs: 'Afficher en',
    download: 'Télécharger', csv: 'CSV', hxl: 'HXL', svg: 'SVG', png: 'PNG',
    asOf: (when) => `Données au ${when}`, noData: 'Aucune donnée synchronisée',
    signedInNetwork: 'connecté (tout le réseau)', signedInAgency: (a) => `connecté (${a})`,
    loading: 'Chargement des chiffres…', loadingTrend: 'Chargement des chiffres mensuels…',
    lookingDuplicates: 'Recherche des doublons probables…',
    notAccepted: "Ce jeton n'a pas été accepté : ",
    headlineIndividuals: 'Personnes assistées', headlineCases: 'Dossiers assistés',
    headlineVictims: 'Victimes de la traite', headlineServices: 'Services fournis',
    headlineServed: 'Personnes servies', headlineReferrals: 'Orientations envoyées',
    sameLastYear: (p, v) => `${p} : ${v}`, previousPeriod: "Même période l'année précédente",
    thisPeriod: 'Cette période', lastYearLine: 'Un an avant',
    monthAxis: 'Mois', noReferrals: 'Aucune orientation sur cette période.',
    roleNoReview: "Votre rôle n'examine pas les doublons.", nothingToReview: 'Rien à examiner.',
    samePerson: 'Même personne', differentPeople: 'Personnes différentes',
    score: 'Vraisemblance', agencies: 'Organisations', intakeDates: "Dates d'accueil",
    whatMatches: 'Ce qui concorde', decision: 'Décision',
    clickToFilter: 'sélectionner pour tout filtrer ainsi', mapNoCases: 'Aucun dossier',
    mapHidden: 'Masqué (x)', mapLegend: 'Légende', mapOf: (what) => `Carte des dossiers ${what}`,
    countryOn: (name, value) => `${name} : ${value}`,
    trendOf: (title) => `${title}, mois par mois`, chartOf: (title) => `${title} (graphique)`,
    median: 'Heures médianes avant réponse',
    rowTrendNote: "Les cinq plus grandes lignes, mois par mois ; le total un an avant en pointillés.",
    printed: (when) => `Imprimé le ${when}`, briefTitle: (p) => `Note mensuelle : ${p}`,
    periods: { all: 'toute la période' },
    quarterName: (y, q) => `T${q} ${y}`,
    dims: {
      sex: 'Sexe', age_group: "Groupe d'âge", age_band: "Tranche d'âge", nationality: 'Nationalité',
      country_of_assistance: "Pays d'assistance", region: 'Région OIM', programme: 'Programme',
      category: 'Catégorie', exploitation: "Type d'exploitation", labour_sector: 'Secteur',
      trafficking_type: 'Type de traite', reintegration_assistance: 'Aide à la réintégration',
      service_type: 'Service', from_agency: 'Organisation qui oriente', to_agency: 'Organisation qui reçoit',
    },
    columns: {
      count: 'Effectif', sent: 'Envoyées', accepted: 'Acceptées', declined: 'Refusées',
      completed: 'Terminées', cancelled: 'Annulées', pending: 'En attente', answered: 'Répondues',
    },
    units: {
      individuals: 'personnes', cases: 'dossiers', victims: 'victimes', 'victim cases': 'dossiers de victimes',
      services: 'services', referrals: 'orientations', 'individuals served': 'personnes servies',
      'individuals referred': 'personnes orientées',
    },
    tables: {
      by_sex: 'Sexe', by_age_group: "Groupe d'âge", by_age_band: "Tranche d'âge",
      by_sex_and_age_group: "Sexe et groupe d'âge", by_nationality: 'Nationalité',
      by_country_of_assistance: "Pays d'assistance", by_region: "Région OIM d'assistance",
      by_programme: 'Programme', by_category: 'Catégorie',
      victims_by_exploitation: "Victimes par type d'exploitation",
      victims_by_labour_sector: 'Victimes d’exploitation par le travail, par secteur',
      victims_by_trafficking_type: 'Victimes par type de traite',
      victims_top_nationalities: 'Victimes : principales nationalités',
      victims_top_countries_of_identification: "Victimes : principaux pays d'identification",
      reintegration_by_type: 'Aide à la réintégration par type', services_by_type: 'Services par type',
      referrals_by_agency_pair: 'Orientations entre organisations',
    },
    notes: {
      multi: 'Une personne peut figurer dans plusieurs lignes ; le total la compte une seule fois.',
      by_age_band: "Une date de naissance connue seulement à l'année peut chevaucher deux tranches : la personne compte alors comme inconnue ici, même si son groupe d'âge est connu.",
      victims_by_exploitation: "L'exploitation sexuelle et par le travail à la fois forme sa propre ligne, non comptée sous sexuelle ni sous travail ; une victime d'autres types aussi compte dans chacune de ses lignes.",
      services_by_type: "Les actes d'assistance comptent chaque service fourni ; les personnes uniques comptent chaque personne une fois par type et une fois dans le total.",
      referrals_by_agency_pair: "Acceptées et refusées comptent les premières réponses ; terminées, annulées et en attente sont les statuts actuels ; la médiane porte sur les heures entre l'envoi et la première réponse.",
    },
    features: {
      given_name: 'prénom', family_name: 'nom de famille', names_swapped: 'noms inversés',
      date_of_birth: 'date de naissance', document: 'document', phone: 'téléphone',
      nationality: 'nationalité', sex: 'sexe',
    },
    levels: {
      exact: 'identique', phonetic: 'se prononce pareil', very_similar: 'très proche', similar: 'proche',
      agree_partially: 'concorde en partie', day_month_swapped: 'jour et mois inversés',
      one_part_off: 'une partie diffère', shared: 'commun', same: 'identique',
    },
  },
};

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
  await Promise.all(codes.map(async (code) => {
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
  if (pairs.length === 0) {
    holder.replaceChildren(element('p', { class: 'hint', id: 'no-duplicates', text: t('nothingToReview') }));
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
  holder.replaceChildren(element('table', { id: 'duplicate-list' },
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
