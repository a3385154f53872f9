//! XLSForm import and export: workbooks written here with rust_xlsxwriter, the round trip
//! import → export → import, and clear errors for what is not supported.

use fieldcase_core::forms::xlsform::{export, import, XlsFormError};
use fieldcase_core::forms::{FieldType, FormDefinition};
use rust_xlsxwriter::Workbook;

/// Writes a workbook with the given sheets, each a list of rows of cells.
fn workbook(sheets: &[(&str, Vec<Vec<&str>>)]) -> Vec<u8> {
    let mut book = Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if !cell.is_empty() {
                    sheet.write_string(r as u32, c as u16, *cell).unwrap();
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

fn settings() -> (&'static str, Vec<Vec<&'static str>>) {
    (
        "settings",
        vec![
            vec![
                "form_id",
                "version",
                "default_language",
                "form_title::English (en)",
                "form_title::French (fr)",
            ],
            vec!["household", "3", "English (en)", "Household", "Ménage"],
        ],
    )
}

fn choices() -> (&'static str, Vec<Vec<&'static str>>) {
    (
        "choices",
        vec![
            vec![
                "list_name",
                "name",
                "label::English (en)",
                "label::French (fr)",
            ],
            vec!["needs", "shelter", "Shelter", "Hébergement"],
            vec!["needs", "medical", "Medical", "Médical"],
            vec!["sex", "female", "Female", "Femme"],
            vec!["sex", "male", "Male", "Homme"],
        ],
    )
}

const SURVEY_HEADER: [&str; 10] = [
    "type",
    "name",
    "label::English (en)",
    "label::French (fr)",
    "hint::English (en)",
    "required",
    "relevant",
    "constraint",
    "constraint_message::English (en)",
    "fieldcase::core",
];

fn survey(rows: Vec<Vec<&'static str>>) -> (&'static str, Vec<Vec<&'static str>>) {
    let mut all = vec![SURVEY_HEADER.to_vec()];
    all.extend(rows);
    ("survey", all)
}

fn household() -> Vec<u8> {
    workbook(&[
        survey(vec![
            vec![
                "note",
                "intro",
                "Read the consent aloud",
                "Lire le consentement",
            ],
            vec![
                "select_one sex",
                "sex",
                "Sex",
                "Sexe",
                "",
                "yes",
                "",
                "",
                "",
                "sex",
            ],
            vec!["begin_group", "person", "Person", "Personne"],
            vec![
                "text",
                "nickname",
                "Nickname",
                "Surnom",
                "As the person prefers",
            ],
            vec![
                "integer",
                "age",
                "Age",
                "Âge",
                "",
                "yes",
                "",
                ". >= 0 and . <= 120",
                "0 to 120",
            ],
            vec!["decimal", "height", "Height (m)", "Taille (m)"],
            vec![
                "date",
                "arrived",
                "Arrived",
                "Arrivée",
                "",
                "",
                "",
                ". <= today()",
            ],
            vec!["partial_date", "left_home", "Left home", "Départ"],
            vec![
                "country",
                "origin",
                "Origin",
                "Origine",
                "",
                "",
                "",
                "",
                "",
                "nationality",
            ],
            vec![
                "yes_no",
                "pregnant",
                "Pregnant",
                "Enceinte",
                "",
                "",
                "${sex} = 'female'",
            ],
            vec!["end_group"],
            vec![],
            vec![
                "begin group",
                "needs_group",
                "Needs",
                "Besoins",
                "",
                "",
                "${age} >= 18",
            ],
            vec![
                "select_multiple needs",
                "needs",
                "Needs",
                "Besoins",
                "",
                "true",
            ],
            vec!["end group"],
        ]),
        choices(),
        settings(),
    ])
}

#[test]
fn a_workbook_imports_with_every_supported_column() {
    let form = import(&household()).unwrap();
    assert_eq!(form.id.as_str(), "household");
    assert_eq!(form.version, 3);
    assert_eq!(form.default_language, "en");
    assert_eq!(form.title["fr"], "Ménage");
    let ids: Vec<_> = form
        .sections
        .iter()
        .map(|s| s.id.as_ref().map(|i| i.to_string()))
        .collect();
    assert_eq!(
        ids,
        [None, Some("person".into()), Some("needs_group".into())]
    );
    let types: Vec<_> = form.fields().map(|f| f.field_type).collect();
    assert_eq!(
        types,
        [
            FieldType::Note,
            FieldType::SelectOne,
            FieldType::Text,
            FieldType::Integer,
            FieldType::Decimal,
            FieldType::Date,
            FieldType::PartialDate,
            FieldType::Country,
            FieldType::YesNo,
            FieldType::SelectMultiple,
        ]
    );
    let age = form.field("age").unwrap();
    assert!(age.required);
    assert_eq!(age.constraint.as_ref().unwrap().text, ". >= 0 and . <= 120");
    assert_eq!(age.constraint_message["en"], "0 to 120");
    assert_eq!(
        form.field("origin").unwrap().core.as_deref(),
        Some("nationality")
    );
    assert_eq!(
        form.field("nickname").unwrap().hint["en"],
        "As the person prefers"
    );
    assert!(form.field("needs").unwrap().required);
    assert_eq!(
        form.sections[2].relevant.as_ref().unwrap().text,
        "${age} >= 18"
    );
    assert_eq!(
        form.choice_label(form.field("needs").unwrap(), "medical", "fr"),
        Some("Médical")
    );
}

#[test]
fn import_export_import_gives_an_equal_definition() {
    let first = import(&household()).unwrap();
    let again = import(&export(&first).unwrap()).unwrap();
    assert_eq!(again, first);
    // And through JSON too.
    assert_eq!(FormDefinition::from_value(&again.to_json()).unwrap(), first);
}

fn problems(bytes: &[u8]) -> String {
    match import(bytes) {
        Err(XlsFormError::Problems(p)) => p
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn unsupported_types_are_listed_with_their_rows() {
    let bytes = workbook(&[
        survey(vec![
            vec!["text", "name_given", "Name"],
            vec!["geopoint", "where", "Where"],
            vec!["image", "photo", "Photo"],
            vec!["begin loop children", "children", "Children"],
            vec!["pulldata_holder", "total", ""],
            vec!["end_loop"],
            vec!["select_one_from_file people.csv", "person", "Person"],
            vec!["texte", "typo", "Typo"],
        ]),
        choices(),
        settings(),
    ]);
    let shown = problems(&bytes);
    for expected in [
        "survey row 3: type `geopoint` is not supported",
        "survey row 4: type `image` is not supported",
        "survey row 5: type `begin loop children`: write begin loop over LIST",
        "survey row 6: type `pulldata_holder` is not an XLSForm type fieldcase knows",
        "survey row 7: end loop without begin loop",
        "survey row 8: type `select_one_from_file people.csv` is not supported: it needs data \
         outside the form",
        "survey row 9: type `texte` is not an XLSForm type fieldcase knows",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
}

#[test]
fn unsupported_columns_bad_expressions_and_names_are_reported() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec![
                    "type",
                    "name",
                    "label",
                    "relevant",
                    "constraint",
                    "read_only",
                    "required",
                ],
                vec!["select_one sex", "sex", "Sex", "", "", "yes"],
                vec!["integer", "age", "Age", "", ". >"],
                vec!["text", "---", "Bad"],
                vec!["text", "other", "Other", "${nope} = 1"],
                vec!["text", "sometimes", "Sometimes", "", "", "", "maybe later"],
                vec!["begin_group", "g1", "G1"],
                vec!["begin_group", "g2", "G2"],
                vec!["end_group"],
                vec!["end_group"],
                vec!["end_group"],
                vec!["text", "Age", "Age again"],
            ],
        ),
        choices(),
        settings(),
    ]);
    let shown = problems(&bytes);
    for expected in [
        "survey row 2: the read_only column is not supported",
        "survey row 3: constraint `. >`: at character 3",
        "survey row 4: name: needs at least one letter or digit",
        "survey row 6: required `maybe later`: at character 6",
        "survey row 11: end_group without begin_group",
        "survey row 12: name `Age` becomes `age`, as `age` does: rename one",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }

    // A reference to a field that does not exist is caught by the definition check.
    let bytes = workbook(&[
        survey(vec![vec![
            "text",
            "other",
            "Other",
            "",
            "",
            "",
            "${nope} = 1",
        ]]),
        settings(),
    ]);
    let e = import(&bytes).unwrap_err().to_string();
    assert!(
        e.contains("field other, relevant: refers to ${nope}"),
        "{e}"
    );
}

#[test]
fn missing_sheets_and_garbage_are_refused() {
    assert!(matches!(
        import(b"not a zip"),
        Err(XlsFormError::Unreadable(_))
    ));
    let no_survey = workbook(&[settings()]);
    assert!(problems(&no_survey).contains("no survey sheet"));
    let no_settings = workbook(&[survey(vec![vec!["text", "a", "A"]])]);
    assert!(problems(&no_settings).contains("no form_id, and no file name to take it from"));
    let bad_language = workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label::Klingon as spoken on Qo'noS"],
                vec!["text", "a", "A"],
            ],
        ),
        settings(),
    ]);
    assert!(problems(&bad_language).contains("cannot tell the language"));
}

#[test]
fn the_checked_in_fixture_imports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/household.xlsx");
    // FIELDCASE_WRITE_FIXTURES=1 regenerates the fixture from the workbook above.
    if std::env::var_os("FIELDCASE_WRITE_FIXTURES").is_some() {
        std::fs::write(path, household()).unwrap();
    }
    let bytes = std::fs::read(path).unwrap();
    let form = import(&bytes).unwrap();
    assert_eq!(form, import(&household()).unwrap());
}

/// A workbook whose cell reference has fourteen column letters: calamine's reference parser
/// overflows on it (a panic with overflow checks, found by the fuzz target). It is a damaged
/// workbook, told as such, for forms and caseload spreadsheets alike.
#[test]
fn a_cell_reference_too_long_for_a_column_is_a_damaged_workbook() {
    let bytes = include_bytes!("fixtures/damaged-cell-reference.xlsx");
    match import(bytes) {
        Err(XlsFormError::Unreadable(message)) => assert!(message.contains("damaged"), "{message}"),
        other => panic!("expected a damaged workbook, got {other:?}"),
    }
    let sheet = fieldcase_core::spreadsheet::SheetReader::xlsx(std::io::Cursor::new(&bytes[..]));
    assert!(
        matches!(
            sheet,
            Err(fieldcase_core::spreadsheet::ReadError::Xlsx(
                "the workbook is damaged"
            ))
        ),
        "{sheet:?}"
    );
}
