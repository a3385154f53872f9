//! Which column feeds which field: the targets, the headers recognised without help, and the
//! mapping file that says the rest.
//!
//! A column's *target* is a case field key (`sex`, `date_of_birth`, `consent.guardian`…), a
//! part of a composite field (`consent.assistance.given`, `consent.assistance.date`,
//! `consent.assistance.recorded_by`, `document_numbers.passport`…), a yes/no column that adds
//! one code to a set (`categories:victim_of_trafficking`), or `ignore`. Common English and
//! French headers ("Sex", "Gender", "DOB", "Date de naissance", "Nationalité"…) are recognised
//! by [`builtin_target`]; a mapping file (TOML or JSON, `docs/spreadsheet-import.md`) names
//! other headers, adds labels for codes, sets the day/month order of dates, fixes the header
//! row, and gives defaults for fields the file lacks. A mapping is checked whole when it is
//! read: an unknown target, code or option is an error naming it, before any row is read.

use super::convert::{self, DateOrder, Labels};
use super::{fold, Cell};
use crate::model::keys::*;
use crate::model::{
    Category, ClosureReason, DocumentType, ExploitationType, LabourSector, Programme,
    ReintegrationAssistance, RiskLevel, Sex, Status, TraffickingType,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Where one column's cells go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A case field taking the cell whole (text, code, country, date, number, list or set).
    Field(&'static str),
    /// A yes/no column: "yes" adds the code to the set field.
    CodeFlag {
        field: &'static str,
        code: &'static str,
    },
    /// A document number of this type (one entry of `document_numbers`).
    Document(DocumentType),
    /// `consent.assistance.given`: yes or no.
    ConsentGiven,
    /// `consent.assistance.date` (default: the intake date).
    ConsentDate,
    /// `consent.assistance.recorded_by` (default: the mapping's default, else the importing user).
    ConsentRecordedBy,
    /// Read nothing from this column.
    Ignore,
}

/// The text of `consent.assistance.given` etc. as targets.
pub const CONSENT_GIVEN: &str = "consent.assistance.given";
pub const CONSENT_DATE: &str = "consent.assistance.date";
pub const CONSENT_RECORDED_BY: &str = "consent.assistance.recorded_by";
/// The prefix of a document target: `document_numbers.<type>`.
pub const DOCUMENT_PREFIX: &str = "document_numbers.";
pub const IGNORE: &str = "ignore";

impl Target {
    /// Reads a target as a mapping file writes it.
    pub fn parse(text: &str) -> Option<Target> {
        let text = text.trim();
        match text {
            IGNORE => return Some(Target::Ignore),
            CONSENT_GIVEN | CONSENT_ASSISTANCE => return Some(Target::ConsentGiven),
            CONSENT_DATE => return Some(Target::ConsentDate),
            CONSENT_RECORDED_BY => return Some(Target::ConsentRecordedBy),
            _ => {}
        }
        if let Some(doc_type) = text.strip_prefix(DOCUMENT_PREFIX) {
            return DocumentType::parse(doc_type).map(Target::Document);
        }
        if let Some((field, code)) = text.split_once(':') {
            let field = CASE_KEYS.iter().find(|k| **k == field)?;
            let code = codes_of(field)?.iter().find(|c| **c == code)?;
            return is_set(field).then_some(Target::CodeFlag { field, code });
        }
        let key = CASE_KEYS.iter().find(|k| **k == text)?;
        // Composite fields come through their parts; a photo is an attachment, not a cell.
        match *key {
            DOCUMENT_NUMBERS | PHOTO => None,
            key => Some(Target::Field(key)),
        }
    }

    /// The case field key this target writes (for problems and the column report).
    pub fn field_key(&self) -> &'static str {
        match self {
            Target::Field(key) | Target::CodeFlag { field: key, .. } => key,
            Target::Document(_) => DOCUMENT_NUMBERS,
            Target::ConsentGiven | Target::ConsentDate | Target::ConsentRecordedBy => {
                CONSENT_ASSISTANCE
            }
            Target::Ignore => IGNORE,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Field(key) => f.write_str(key),
            Target::CodeFlag { field, code } => write!(f, "{field}:{code}"),
            Target::Document(t) => write!(f, "{DOCUMENT_PREFIX}{}", t.as_str()),
            Target::ConsentGiven => f.write_str(CONSENT_GIVEN),
            Target::ConsentDate => f.write_str(CONSENT_DATE),
            Target::ConsentRecordedBy => f.write_str(CONSENT_RECORDED_BY),
            Target::Ignore => f.write_str(IGNORE),
        }
    }
}

/// The codes a code or set field takes.
pub fn codes_of(key: &str) -> Option<&'static [&'static str]> {
    Some(match key {
        SEX => Sex::CODES,
        PROGRAMME => Programme::CODES,
        TRAFFICKING_TYPE => TraffickingType::CODES,
        STATUS => Status::CODES,
        CLOSURE_REASON => ClosureReason::CODES,
        RISK_LEVEL => RiskLevel::CODES,
        CATEGORIES => Category::CODES,
        EXPLOITATION_TYPES => ExploitationType::CODES,
        LABOUR_SECTORS => LabourSector::CODES,
        REINTEGRATION_ASSISTANCE => ReintegrationAssistance::CODES,
        _ => return None,
    })
}

/// Whether a field holds a set of codes.
pub fn is_set(key: &str) -> bool {
    matches!(
        key,
        CATEGORIES | EXPLOITATION_TYPES | LABOUR_SECTORS | REINTEGRATION_ASSISTANCE
    )
}

/// Headers recognised without a mapping file, folded (see [`fold`]), with their targets.
/// English and French, as agencies' spreadsheets write them.
const BUILTIN_HEADERS: &[(&str, &str)] = &[
    ("givenname", GIVEN_NAME),
    ("firstname", GIVEN_NAME),
    ("forename", GIVEN_NAME),
    ("prenom", GIVEN_NAME),
    ("prenoms", GIVEN_NAME),
    ("familyname", FAMILY_NAME),
    ("lastname", FAMILY_NAME),
    ("surname", FAMILY_NAME),
    ("nom", FAMILY_NAME),
    ("nomdefamille", FAMILY_NAME),
    ("othernames", OTHER_NAMES),
    ("alias", OTHER_NAMES),
    ("aliases", OTHER_NAMES),
    ("autresnoms", OTHER_NAMES),
    ("dob", DATE_OF_BIRTH),
    ("dateofbirth", DATE_OF_BIRTH),
    ("birthdate", DATE_OF_BIRTH),
    ("datedenaissance", DATE_OF_BIRTH),
    ("datenaissance", DATE_OF_BIRTH),
    ("nele", DATE_OF_BIRTH),
    ("age", AGE_ESTIMATE),
    ("estimatedage", AGE_ESTIMATE),
    ("ageestimate", AGE_ESTIMATE),
    ("ageestime", AGE_ESTIMATE),
    ("ageestimatedon", AGE_ESTIMATED_ON),
    ("phone", PHONE),
    ("phonenumber", PHONE),
    ("telephone", PHONE),
    ("tel", PHONE),
    ("mobile", PHONE),
    ("contactnumber", PHONE),
    ("passport", "document_numbers.passport"),
    ("passportnumber", "document_numbers.passport"),
    ("passportno", "document_numbers.passport"),
    ("passeport", "document_numbers.passport"),
    ("numerodepasseport", "document_numbers.passport"),
    ("nationalid", "document_numbers.national_id"),
    ("nationalidnumber", "document_numbers.national_id"),
    ("idnumber", "document_numbers.national_id"),
    ("cartedidentite", "document_numbers.national_id"),
    ("cni", "document_numbers.national_id"),
    ("traveldocument", "document_numbers.travel_document"),
    ("sex", SEX),
    ("gender", SEX),
    ("sexe", SEX),
    ("genre", SEX),
    ("nationality", NATIONALITY),
    ("nationalite", NATIONALITY),
    ("citizenship", NATIONALITY),
    ("countryoforigin", NATIONALITY),
    ("paysdorigine", NATIONALITY),
    ("countryofassistance", COUNTRY_OF_ASSISTANCE),
    ("paysdassistance", COUNTRY_OF_ASSISTANCE),
    ("intakedate", INTAKE_DATE),
    ("dateofintake", INTAKE_DATE),
    ("registrationdate", INTAKE_DATE),
    ("dateofregistration", INTAKE_DATE),
    ("dateoffirstcontact", INTAKE_DATE),
    ("datedenregistrement", INTAKE_DATE),
    ("datedaccueil", INTAKE_DATE),
    ("category", CATEGORIES),
    ("categories", CATEGORIES),
    ("categorie", CATEGORIES),
    ("vot", "categories:victim_of_trafficking"),
    ("victimoftrafficking", "categories:victim_of_trafficking"),
    ("victimedetraite", "categories:victim_of_trafficking"),
    ("uamc", "categories:unaccompanied_migrant_child"),
    (
        "unaccompaniedminor",
        "categories:unaccompanied_migrant_child",
    ),
    (
        "unaccompaniedchild",
        "categories:unaccompanied_migrant_child",
    ),
    (
        "mineurnonaccompagne",
        "categories:unaccompanied_migrant_child",
    ),
    ("programme", PROGRAMME),
    ("program", PROGRAMME),
    ("exploitation", EXPLOITATION_TYPES),
    ("exploitationtype", EXPLOITATION_TYPES),
    ("exploitationtypes", EXPLOITATION_TYPES),
    ("typedexploitation", EXPLOITATION_TYPES),
    ("laboursector", LABOUR_SECTORS),
    ("laboursectors", LABOUR_SECTORS),
    ("secteur", LABOUR_SECTORS),
    ("traffickingtype", TRAFFICKING_TYPE),
    ("typeoftrafficking", TRAFFICKING_TYPE),
    ("typedetraite", TRAFFICKING_TYPE),
    ("countryofdestination", COUNTRY_OF_DESTINATION),
    ("destinationcountry", COUNTRY_OF_DESTINATION),
    ("paysdedestination", COUNTRY_OF_DESTINATION),
    ("hostcountry", HOST_COUNTRY),
    ("countryreturnedfrom", HOST_COUNTRY),
    ("returndate", RETURN_DATE),
    ("dateofreturn", RETURN_DATE),
    ("datederetour", RETURN_DATE),
    ("reintegrationassistance", REINTEGRATION_ASSISTANCE),
    ("consent", CONSENT_GIVEN),
    ("consentgiven", CONSENT_GIVEN),
    ("consenttoassistance", CONSENT_GIVEN),
    ("consentement", CONSENT_GIVEN),
    ("consentdate", CONSENT_DATE),
    ("dateofconsent", CONSENT_DATE),
    ("dateduconsentement", CONSENT_DATE),
    ("consentrecordedby", CONSENT_RECORDED_BY),
    ("guardian", CONSENT_GUARDIAN),
    ("guardianname", CONSENT_GUARDIAN),
    ("legalguardian", CONSENT_GUARDIAN),
    ("tuteur", CONSENT_GUARDIAN),
    ("tuteurlegal", CONSENT_GUARDIAN),
    ("researchconsent", CONSENT_RESEARCH),
    ("consentresearch", CONSENT_RESEARCH),
    ("datasharing", CONSENT_DATA_SHARING),
    ("sharewith", CONSENT_DATA_SHARING),
    ("status", STATUS),
    ("casestatus", STATUS),
    ("statut", STATUS),
    ("closurereason", CLOSURE_REASON),
    ("reasonforclosure", CLOSURE_REASON),
    ("motifdecloture", CLOSURE_REASON),
    ("risk", RISK_LEVEL),
    ("risklevel", RISK_LEVEL),
    ("niveauderisque", RISK_LEVEL),
    ("assignedto", ASSIGNED_TO),
    ("caseworker", ASSIGNED_TO),
];

/// The target of a header recognised without a mapping file.
pub fn builtin_target(header: &str) -> Option<Target> {
    let folded = fold(header);
    BUILTIN_HEADERS
        .iter()
        .find(|(label, _)| *label == folded)
        .and_then(|(_, target)| Target::parse(target))
}

/// What a mapping file says, checked.
#[derive(Clone, Debug, Default)]
pub struct Mapping {
    /// The (last) header row, 1-based; detected when absent.
    pub header_row: Option<u32>,
    pub date_order: DateOrder,
    /// Folded header → target, from the file.
    pub columns: BTreeMap<String, Target>,
    /// Labels of codes per field key (folded label → code), from the file.
    pub labels: Labels,
    /// Values for fields a row leaves empty, as cells (read like the file's own cells).
    pub defaults: Vec<(Target, Cell)>,
    /// Whether common headers are recognised too (default yes).
    pub builtin_headers: bool,
}

/// Why a mapping file cannot be used. Mapping files hold no personal data, so the messages
/// name the keys and targets they are about.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read the mapping file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the mapping file is not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    #[error("the mapping file's name must end in .toml or .json")]
    UnknownFormat,
    #[error("column \"{header}\": \"{target}\" is not a target (a case field key such as sex or date_of_birth, consent.assistance.given/date/recorded_by, document_numbers.<type>, <set field>:<code>, or ignore)")]
    UnknownTarget { header: String, target: String },
    #[error("values.{field}: not a field with codes")]
    NotACodeField { field: String },
    #[error("values.{field}: \"{code}\" is not one of its codes ({})", .allowed.join(", "))]
    UnknownCode {
        field: String,
        code: String,
        allowed: &'static [&'static str],
    },
    #[error("defaults: \"{target}\" is not a target")]
    UnknownDefault { target: String },
    #[error("header_row must be 1 or more")]
    BadHeaderRow,
}

/// The mapping file as written: see `docs/spreadsheet-import.md`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    header_row: Option<u32>,
    #[serde(default)]
    date_order: DateOrder,
    #[serde(default)]
    builtin_headers: Option<bool>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
}

impl Mapping {
    /// No file: common headers only, day-first dates.
    pub fn builtin() -> Mapping {
        Mapping {
            builtin_headers: true,
            ..Mapping::default()
        }
    }

    /// Reads a mapping file, TOML or JSON by its extension.
    pub fn from_path(path: &Path) -> Result<Mapping, MappingError> {
        let text = std::fs::read_to_string(path)?;
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("toml") => Mapping::from_toml(&text),
            Some(ext) if ext.eq_ignore_ascii_case("json") => Mapping::from_json(&text),
            _ => Err(MappingError::UnknownFormat),
        }
    }

    pub fn from_toml(text: &str) -> Result<Mapping, MappingError> {
        let file: MappingFile = toml::from_str(text).map_err(|e| MappingError::Syntax {
            format: "TOML",
            message: e.message().to_owned(),
        })?;
        Mapping::check(file)
    }

    pub fn from_json(text: &str) -> Result<Mapping, MappingError> {
        let file: MappingFile = serde_json::from_str(text).map_err(|e| MappingError::Syntax {
            format: "JSON",
            message: e.to_string(),
        })?;
        Mapping::check(file)
    }

    fn check(file: MappingFile) -> Result<Mapping, MappingError> {
        if file.header_row == Some(0) {
            return Err(MappingError::BadHeaderRow);
        }
        let mut columns = BTreeMap::new();
        for (header, target) in file.columns {
            let parsed = Target::parse(&target).ok_or_else(|| MappingError::UnknownTarget {
                header: header.clone(),
                target,
            })?;
            columns.insert(fold(&header), parsed);
        }
        let mut labels = Labels::new();
        for (field, values) in file.values {
            let Some((key, allowed)) = CASE_KEYS
                .iter()
                .find(|k| **k == field)
                .and_then(|k| codes_of(k).map(|c| (*k, c)))
            else {
                return Err(MappingError::NotACodeField { field });
            };
            let field_labels = labels.entry(key.to_owned()).or_default();
            for (label, code) in values {
                let Some(code) = allowed.iter().find(|c| **c == code) else {
                    return Err(MappingError::UnknownCode {
                        field,
                        code,
                        allowed,
                    });
                };
                field_labels.insert(fold(&label), *code);
            }
        }
        let mut defaults = Vec::new();
        for (target, value) in file.defaults {
            let parsed = Target::parse(&target)
                .filter(|t| *t != Target::Ignore)
                .ok_or(MappingError::UnknownDefault { target })?;
            defaults.push((parsed, Cell::Text(value)));
        }
        Ok(Mapping {
            header_row: file.header_row,
            date_order: file.date_order,
            columns,
            labels,
            defaults,
            builtin_headers: file.builtin_headers.unwrap_or(true),
        })
    }

    /// The target of a header: the mapping file's, else a common header's.
    pub fn target_of(&self, header: &str) -> Option<(Target, Recognised)> {
        if let Some(target) = self.columns.get(&fold(header)) {
            return Some((target.clone(), Recognised::MappingFile));
        }
        if self.builtin_headers {
            return builtin_target(header).map(|t| (t, Recognised::CommonHeader));
        }
        None
    }
}

/// How a column's target was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recognised {
    MappingFile,
    CommonHeader,
}

impl Recognised {
    pub fn as_str(self) -> &'static str {
        match self {
            Recognised::MappingFile => "mapping file",
            Recognised::CommonHeader => "common header",
        }
    }
}

/// Re-exported for the mapping's users: the converters read defaults like cells.
pub use convert::CellProblem;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for text in [
            "sex",
            "date_of_birth",
            "consent.guardian",
            "consent.assistance.given",
            "consent.assistance.date",
            "document_numbers.passport",
            "categories:victim_of_trafficking",
            "ignore",
        ] {
            assert_eq!(Target::parse(text).unwrap().to_string(), text);
        }
        for not in [
            "photo",
            "document_numbers",
            "sex:female",
            "categories:x",
            "name",
        ] {
            assert_eq!(Target::parse(not), None, "{not}");
        }
    }

    #[test]
    fn every_builtin_header_has_a_target() {
        for (label, target) in BUILTIN_HEADERS {
            assert_eq!(fold(label), *label, "stored folded");
            assert!(Target::parse(target).is_some(), "{target}");
        }
        assert_eq!(builtin_target("DOB"), Some(Target::Field(DATE_OF_BIRTH)));
        assert_eq!(builtin_target("Gender "), Some(Target::Field(SEX)));
        assert_eq!(
            builtin_target("Date de naissance"),
            Some(Target::Field(DATE_OF_BIRTH))
        );
        assert_eq!(
            builtin_target("Nationalité"),
            Some(Target::Field(NATIONALITY))
        );
        assert_eq!(builtin_target("Notes"), None);
    }

    #[test]
    fn a_mapping_file_in_toml_or_json() {
        let toml = r#"
            header_row = 2
            date_order = "month_first"
            [columns]
            "Nom complet" = "ignore"
            "Fecha de nacimiento" = "date_of_birth"
            "Trafficked?" = "categories:victim_of_trafficking"
            [values.sex]
            "Mwanamke" = "female"
            [defaults]
            country_of_assistance = "UGA"
        "#;
        let mapping = Mapping::from_toml(toml).unwrap();
        assert_eq!(mapping.header_row, Some(2));
        assert_eq!(mapping.date_order, DateOrder::MonthFirst);
        assert_eq!(
            mapping.target_of("fecha de nacimiento"),
            Some((Target::Field(DATE_OF_BIRTH), Recognised::MappingFile))
        );
        assert_eq!(
            mapping.target_of("Sexe"),
            Some((Target::Field(SEX), Recognised::CommonHeader))
        );
        assert_eq!(mapping.labels["sex"]["mwanamke"], "female");
        let json =
            r#"{"columns": {"Fecha de nacimiento": "date_of_birth"}, "builtin_headers": false}"#;
        let mapping = Mapping::from_json(json).unwrap();
        assert_eq!(mapping.target_of("Sex"), None);
    }

    #[test]
    fn a_bad_mapping_file_names_what_is_wrong() {
        let unknown = Mapping::from_toml("[columns]\n\"X\" = \"colour\"").unwrap_err();
        assert!(unknown.to_string().contains("colour"), "{unknown}");
        let code = Mapping::from_toml("[values.sex]\n\"X\" = \"woman\"").unwrap_err();
        assert!(code.to_string().contains("female, male"), "{code}");
        let field = Mapping::from_toml("[values.given_name]\n\"X\" = \"y\"").unwrap_err();
        assert!(matches!(field, MappingError::NotACodeField { .. }));
        let option = Mapping::from_toml("sheet = 2").unwrap_err();
        assert!(matches!(option, MappingError::Syntax { .. }));
    }
}
