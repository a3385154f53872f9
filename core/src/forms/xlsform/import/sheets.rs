//! The `settings` and `choices` sheets, and the defaults pyxform takes when they are missing:
//! the form id, version, default language and title; choice lists with the columns a
//! `choice_filter` reads, and the `other` choice `or_other` adds.

use super::super::language_code;
use super::super::sheet::{get, labels, Sheet, MAX_ROWS};
use super::super::spelling::{normalize_id, version_number};
use super::{Importer, OTHER_CODE, OTHER_LABEL};
use crate::forms::definition::{valid_code, Choice, Labels};
use crate::model::FieldId;
use std::collections::{BTreeMap, BTreeSet};

/// Without a `default_language` setting: `en` when a plain `label` column exists (pyxform's
/// "default" language), else the language of the first translated label column.
pub(super) fn implied_default_language(survey: &Sheet) -> String {
    let mut first = None;
    for header in &survey.header {
        if header == "label" {
            return "en".into();
        }
        if let Some(language) = header.strip_prefix("label::") {
            first = first.or_else(|| language_code(language));
        }
    }
    first.unwrap_or_else(|| "en".into())
}

/// Adds the `other` choice `or_other` implies, labelled in every language of the list.
pub(super) fn add_other(
    lists: &mut BTreeMap<String, Vec<Choice>>,
    list: &str,
    default_language: &str,
) {
    let Some(choices) = lists.get_mut(list) else {
        return;
    };
    if choices.iter().any(|c| c.code == OTHER_CODE) {
        return;
    }
    let mut languages: BTreeSet<String> = choices
        .iter()
        .flat_map(|c| c.label.keys().cloned())
        .collect();
    languages.insert(default_language.to_owned());
    choices.push(Choice {
        code: OTHER_CODE.into(),
        label: languages
            .into_iter()
            .map(|l| (l, OTHER_LABEL.to_owned()))
            .collect(),
        columns: BTreeMap::new(),
    });
}

pub(super) struct Settings {
    pub id: Option<FieldId>,
    pub version: Option<u32>,
    pub default_language: Option<String>,
    pub title: Labels,
}

impl Importer {
    pub(super) fn settings(&mut self, sheet: Option<&Sheet>) -> Settings {
        let mut settings = Settings {
            id: None,
            version: None,
            default_language: None,
            title: Labels::new(),
        };
        let Some(sheet) = sheet else {
            return settings;
        };
        let Some((row_number, row)) = sheet.data().next() else {
            return settings;
        };
        let language = get(row, sheet.column("default_language"));
        if !language.is_empty() {
            match language_code(language) {
                Some(code) => settings.default_language = Some(code),
                None => self.problem(
                    "settings",
                    row_number,
                    "default_language: write a language code (en) or Name (code)",
                ),
            }
        }
        let id = get(row, sheet.column("form_id"));
        if !id.is_empty() {
            match normalize_id(id) {
                Some(id) => settings.id = Some(id),
                None => self.problem(
                    "settings",
                    row_number,
                    "form_id: needs at least one letter or digit",
                ),
            }
        }
        let version = get(row, sheet.column("version"));
        if !version.is_empty() {
            match version_number(version) {
                Ok(v) => settings.version = Some(v),
                Err(message) => self.problem("settings", row_number, message),
            }
        }
        let mut problems = Vec::new();
        let default_language = settings.default_language.clone();
        let title_columns = sheet.language_columns(
            "form_title",
            default_language.as_deref().unwrap_or("en"),
            &mut problems,
        );
        self.problems.extend(problems);
        settings.title = labels(row, &title_columns);
        settings
    }

    pub(super) fn choices(
        &mut self,
        sheet: &Sheet,
        default_language: &str,
        filter_columns: &BTreeSet<String>,
    ) -> BTreeMap<String, Vec<Choice>> {
        let mut lists: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
        if sheet.too_long() {
            self.problem("choices", 0, format!("more than {MAX_ROWS} rows"));
            return lists;
        }
        let list_column = sheet.column("list_name");
        let name_column = sheet.column("name");
        if list_column.is_none() || name_column.is_none() {
            self.problem(
                "choices",
                sheet.first_row,
                "needs the columns list_name and name",
            );
            return lists;
        }
        let mut problems = Vec::new();
        let label_columns = sheet.language_columns("label", default_language, &mut problems);
        self.problems.extend(problems);
        let extra: Vec<(usize, &String)> = filter_columns
            .iter()
            .filter_map(|name| sheet.column(name).map(|c| (c, name)))
            .collect();
        for (row_number, row) in sheet.data() {
            let list = get(row, list_column);
            let code = get(row, name_column);
            if !valid_code(list) || !valid_code(code) {
                self.problem(
                    "choices",
                    row_number,
                    "list_name and name are 1 to 64 of A-Z, a-z, 0-9, _, . and -",
                );
                continue;
            }
            let columns = extra
                .iter()
                .filter(|(c, _)| !get(row, Some(*c)).is_empty())
                .map(|(c, name)| ((*name).clone(), get(row, Some(*c)).to_owned()))
                .collect();
            lists.entry(list.to_owned()).or_default().push(Choice {
                code: code.to_owned(),
                label: labels(row, &label_columns),
                columns,
            });
        }
        lists
    }
}
