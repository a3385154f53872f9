//! What report codes are called, in the languages the forms ship in (English and French): the
//! dashboard's row labels, served as `GET /dashboard/labels.json`.
//!
//! The names come from the definitions people already read when they record a case: the
//! choice lists of the forms (`forms/screening.json`, `forms/assistance.json`) for sex,
//! categories, programmes, exploitation, sectors, trafficking type and reintegration; the
//! country list the spreadsheet import matches names against (`core/src/spreadsheet/
//! countries.txt`, alpha-3 with English and French names) for nationality and country of
//! assistance. Only what no form defines is named here: the report's own rows
//! (`sexual_and_labour`, `unknown`, the top-N `other`), age groups, IOM regions in French,
//! and the service types that are not a need or a reintegration choice.

use fieldcase_core::model::COUNTRY_CODES;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const SCREENING_FORM: &str = include_str!("../../../forms/screening.json");
const ASSISTANCE_FORM: &str = include_str!("../../../forms/assistance.json");
const COUNTRIES: &str = include_str!("../../../core/src/spreadsheet/countries.txt");

/// Each report dimension and the form choice lists its codes are named in, first match wins.
const DIMENSION_LISTS: [(&str, &[&str]); 8] = [
    ("sex", &["sex"]),
    ("category", &["categories"]),
    ("programme", &["programme"]),
    ("exploitation", &["exploitation"]),
    ("labour_sector", &["sectors"]),
    ("trafficking_type", &["trafficking_type"]),
    ("reintegration_assistance", &["reintegration"]),
    ("service_type", &["needs", "reintegration"]),
];

/// Names of codes no form defines: (dimension, code, English, French).
const REPORT_ONLY: [(&str, &str, &str, &str); 8] = [
    (
        "exploitation",
        "sexual_and_labour",
        "Sexual and labour",
        "Sexuelle et par le travail",
    ),
    (
        "service_type",
        "micro_business",
        "Micro-business",
        "Micro-entreprise",
    ),
    (
        "service_type",
        "cash_assistance",
        "Cash assistance",
        "Aide en espèces",
    ),
    ("age_group", "0-17", "Children (0–17)", "Enfants (0–17 ans)"),
    (
        "age_group",
        "18+",
        "Adults (18+)",
        "Adultes (18 ans et plus)",
    ),
    ("*", "unknown", "Unknown", "Inconnu"),
    ("*", "other", "Other", "Autre"),
    ("region", "unknown", "Unknown", "Inconnue"),
];

/// IOM regions in French (English names are the source's, `regions.rs`).
const REGIONS_FR: [(&str, &str); 8] = [
    ("asia_pacific", "Asie et Pacifique"),
    (
        "central_north_america_caribbean",
        "Amérique centrale et du Nord et Caraïbes",
    ),
    ("central_west_africa", "Afrique centrale et de l'Ouest"),
    ("east_southern_africa", "Afrique de l'Est et australe"),
    ("european_economic_area", "Espace économique européen"),
    (
        "middle_east_north_africa",
        "Moyen-Orient et Afrique du Nord",
    ),
    ("south_america", "Amérique du Sud"),
    (
        "south_eastern_europe_eastern_europe_central_asia",
        "Europe du Sud-Est, Europe orientale et Asie centrale",
    ),
];

fn label(en: &str, fr: &str) -> Value {
    json!({ "en": en, "fr": fr })
}

/// `{code: {en, fr}}` of one choice list of a form.
fn choice_list(form: &Value, list: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for choice in form["choice_lists"][list].as_array().into_iter().flatten() {
        let (Some(code), Some(en)) = (choice["code"].as_str(), choice["label"]["en"].as_str())
        else {
            continue;
        };
        let fr = choice["label"]["fr"].as_str().unwrap_or(en);
        out.insert(code.to_owned(), label(en, fr));
    }
    out
}

/// `{ISO3: {en, fr}}` from the import's country list (the first name of each language).
fn countries() -> Map<String, Value> {
    let mut out = Map::new();
    for line in COUNTRIES.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(';').collect();
        if let [iso3, _, en, fr] = fields[..] {
            let first = |names: &str| names.split('|').next().unwrap_or(names).trim().to_owned();
            out.insert(iso3.to_owned(), label(&first(en), &first(fr)));
        }
    }
    out
}

/// The labels document: `{dimensions: {dimension: {code: {en, fr}}}, countries: {ISO3: {en,
/// fr}}, regions: {id: {en, fr}}}`; `dimensions["*"]` holds names shared by every dimension.
pub fn labels() -> &'static Value {
    static LABELS: OnceLock<Value> = OnceLock::new();
    LABELS.get_or_init(|| {
        // Compiled in and checked by the tests below: a form that no longer parses gives no
        // names (the dashboard then shows codes) rather than a server that does not start.
        let forms: Vec<Value> = [SCREENING_FORM, ASSISTANCE_FORM]
            .iter()
            .map(|f| serde_json::from_str(f).unwrap_or(Value::Null))
            .collect();
        let mut dimensions = Map::new();
        for (dimension, lists) in DIMENSION_LISTS {
            let mut names = Map::new();
            for list in lists {
                for form in &forms {
                    for (code, name) in choice_list(form, list) {
                        names.entry(code).or_insert(name);
                    }
                }
            }
            dimensions.insert(dimension.to_owned(), Value::Object(names));
        }
        for (dimension, code, en, fr) in REPORT_ONLY {
            if let Value::Object(names) = dimensions
                .entry(dimension.to_owned())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                names.entry(code.to_owned()).or_insert(label(en, fr));
            }
        }
        let regions: Map<String, Value> = super::regions::all()
            .iter()
            .map(|r| {
                let fr = REGIONS_FR
                    .iter()
                    .find(|(id, _)| *id == r.id)
                    .map_or(r.name, |(_, fr)| fr);
                (r.id.to_owned(), label(r.name, fr))
            })
            .collect();
        let countries = countries();
        debug_assert!(COUNTRY_CODES.iter().all(|c| countries.contains_key(*c)));
        json!({ "dimensions": dimensions, "countries": countries, "regions": regions })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::model::{
        Category, Code, ExploitationType, LabourSector, Programme, ReintegrationAssistance,
        ServiceType, Sex, TraffickingType,
    };

    fn named(dimension: &str, code: &str) -> (String, String) {
        let l = &labels()["dimensions"][dimension][code];
        let l = if l.is_null() {
            &labels()["dimensions"]["*"][code]
        } else {
            l
        };
        (
            l["en"].as_str().unwrap_or_default().to_owned(),
            l["fr"].as_str().unwrap_or_default().to_owned(),
        )
    }

    fn all_named<C: Code>(dimension: &str) {
        for code in C::CODES.iter().chain(&["unknown"]) {
            let (en, fr) = named(dimension, code);
            assert!(!en.is_empty() && !fr.is_empty(), "{dimension} {code}");
            assert_ne!(en, *code, "{dimension} {code} has a name, not its code");
        }
    }

    #[test]
    fn every_code_a_report_shows_has_an_english_and_a_french_name() {
        all_named::<Sex>("sex");
        all_named::<Category>("category");
        all_named::<Programme>("programme");
        all_named::<ExploitationType>("exploitation");
        all_named::<LabourSector>("labour_sector");
        all_named::<TraffickingType>("trafficking_type");
        all_named::<ReintegrationAssistance>("reintegration_assistance");
        all_named::<ServiceType>("service_type");
        assert_eq!(
            named("exploitation", "sexual_and_labour").1,
            "Sexuelle et par le travail"
        );
        for region in super::super::regions::all() {
            let l = &labels()["regions"][region.id];
            assert_eq!(l["en"], region.name);
            assert_ne!(l["fr"], region.name, "{} has a French name", region.id);
        }
    }

    #[test]
    fn names_are_the_forms_and_the_country_lists() {
        assert_eq!(
            named("category", "victim_of_trafficking").1,
            "Victime de la traite"
        );
        assert_eq!(named("sex", "female").0, "Female");
        let countries = labels()["countries"].as_object().unwrap();
        assert_eq!(countries.len(), COUNTRY_CODES.len());
        assert_eq!(countries["CIV"]["fr"], "Côte d'Ivoire");
        assert_eq!(countries["DEU"]["fr"], "Allemagne");
    }
}
