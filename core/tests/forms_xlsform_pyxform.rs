//! XLSForm as agencies write it (issue 17): workbooks in the spellings pyxform accepts, each
//! feature on its own, a small corpus of realistic forms, and the round trip
//! import → export → import for every supported feature. Workbooks are built here with
//! rust_xlsxwriter; answers are checked with the same validation the case model runs.

use fieldcase_core::forms::xlsform::{export, import, import_named, XlsFormError};
use fieldcase_core::forms::{check_form, FieldType, FormDefinition};
use fieldcase_core::model::{Date, Fields, Reason};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::{json, Value};

type Rows = Vec<Vec<&'static str>>;

/// Writes a workbook with the given sheets, each a list of rows of text cells.
fn workbook(sheets: &[(&str, Rows)]) -> Vec<u8> {
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

fn problems(result: Result<FormDefinition, XlsFormError>) -> String {
    match result {
        Err(XlsFormError::Problems(p)) => p
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("expected problems, got {other:?}"),
    }
}

fn today() -> Date {
    Date::parse("2026-11-29").unwrap()
}

/// The validation errors of answers against a form, as `(key, reason)`.
fn errors(form: &FormDefinition, answers: Value) -> Vec<(String, Reason)> {
    let fields: Fields = answers
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (format!("answers.{k}"), v.clone()))
        .collect();
    match check_form(form, &fields, today()) {
        Ok(()) => Vec::new(),
        Err(e) => e
            .iter()
            .map(|e| (e.field.clone(), e.reason.clone()))
            .collect(),
    }
}

fn round_trips(form: &FormDefinition) {
    let again = import(&export(form).unwrap()).unwrap();
    assert_eq!(&again, form);
}

#[test]
fn without_settings_the_form_id_comes_from_the_file_name() {
    let bytes = workbook(&[(
        "survey",
        vec![vec!["type", "name", "label"], vec!["text", "q1", "Q1"]],
    )]);
    let form = import_named(&bytes, Some("forms/Household Screening-v2.xlsx")).unwrap();
    assert_eq!(form.id.as_str(), "household_screening_v2");
    assert_eq!(form.version, 1);
    assert_eq!(form.default_language, "en");
    assert_eq!(form.title["en"], "household_screening_v2");
    round_trips(&form);
    // No settings and no name: a clear problem, not a panic.
    assert!(problems(import(&bytes)).contains("settings: no form_id"));
}

#[test]
fn form_ids_and_versions_are_normalised() {
    let cases = [
        ("IOM-Screening", "v1.2", "iom_screening", 10200),
        (
            "Case.Management 2024",
            "2024-03-15",
            "case_management_2024",
            2024031500,
        ),
        ("intake", "2024031502", "intake", 2024031502),
        ("2024_intake", "7", "f_2024_intake", 7),
    ];
    for (id, version, want_id, want_version) in cases {
        let bytes = workbook(&[
            (
                "survey",
                vec![vec!["type", "name", "label"], vec!["text", "q1", "Q1"]],
            ),
            (
                "settings",
                vec![vec!["form_id", "version"], vec![id, version]],
            ),
        ]);
        let form = import(&bytes).unwrap();
        assert_eq!((form.id.as_str(), form.version), (want_id, want_version));
        round_trips(&form);
    }
    let bad = workbook(&[
        (
            "survey",
            vec![vec!["type", "name", "label"], vec!["text", "q1", "Q1"]],
        ),
        (
            "settings",
            vec![vec!["form_id", "version"], vec!["x", "beta"]],
        ),
    ]);
    assert!(problems(import(&bad)).contains("settings row 2: version: a whole number from 1"));
}

#[test]
fn a_version_typed_as_a_date_cell_is_a_date() {
    let mut book = Workbook::new();
    let survey = book.add_worksheet();
    survey.set_name("survey").unwrap();
    for (c, text) in ["type", "name", "label"].iter().enumerate() {
        survey.write_string(0, c as u16, *text).unwrap();
    }
    for (c, text) in ["text", "q1", "Q1"].iter().enumerate() {
        survey.write_string(1, c as u16, *text).unwrap();
    }
    let settings = book.add_worksheet();
    settings.set_name("settings").unwrap();
    settings.write_string(0, 0, "form_id").unwrap();
    settings.write_string(0, 1, "version").unwrap();
    settings.write_string(1, 0, "dated").unwrap();
    let date = ExcelDateTime::from_ymd(2025, 6, 30).unwrap();
    let format = Format::new().set_num_format("yyyy-mm-dd");
    settings
        .write_datetime_with_format(1, 1, &date, &format)
        .unwrap();
    let form = import(&book.save_to_buffer().unwrap()).unwrap();
    assert_eq!(form.version, 2025063000);
}

#[test]
fn language_columns_as_agencies_name_them() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec![
                    "TYPE",
                    "Name",
                    "label",
                    "label::english",
                    "label::chinese",
                    "LABEL::FR",
                    "Hint::Swahili (sw)",
                    "Constraint Message::English",
                ],
                vec![
                    "integer",
                    "age",
                    "Age (plain)",
                    "Age",
                    "年龄",
                    "Âge",
                    "Umri",
                    "0 to 120",
                ],
                vec!["text", "note_only_plain", "Plain only", "", "", "", "", ""],
            ],
        ),
        ("settings", vec![vec!["Form_ID"], vec!["langs"]]),
    ]);
    let form = import(&bytes).unwrap();
    let age = form.field("age").unwrap();
    // The translated English column wins over the plain one; the plain one fills gaps.
    assert_eq!(age.label["en"], "Age");
    assert_eq!(age.label["zh"], "年龄");
    assert_eq!(age.label["fr"], "Âge");
    assert_eq!(age.hint["sw"], "Umri");
    assert_eq!(age.constraint_message["en"], "0 to 120");
    assert_eq!(
        form.field("note_only_plain").unwrap().label["en"],
        "Plain only"
    );
    round_trips(&form);

    // Only translated columns and no default_language: the first one is the default.
    let bytes = workbook(&[(
        "survey",
        vec![
            vec!["type", "name", "label::Swahili (sw)", "label::French (fr)"],
            vec!["text", "q1", "Swali", "Question"],
        ],
    )]);
    let form = import_named(&bytes, Some("sw.xlsx")).unwrap();
    assert_eq!(form.default_language, "sw");
    round_trips(&form);
}

#[test]
fn older_spellings_of_types_and_columns() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec![
                    "type",
                    "name",
                    "label",
                    "constraint message",
                    "bind::relevant",
                ],
                vec!["select one from sex", "sex", "Sex", "", ""],
                vec!["select all that apply from needs", "needs", "Needs", "", ""],
                vec![
                    "phone number",
                    "phone",
                    "Phone",
                    "Digits only",
                    "${sex} != ''",
                ],
                vec![
                    "add integer prompt",
                    "Household-Size",
                    "Household size",
                    "",
                    "",
                ],
                vec!["Begin Group", "more", "More", "", ""],
                vec!["string", "remarks", "Remarks", "", ""],
                vec!["End Group", "", "", "", ""],
            ],
        ),
        (
            "choices",
            vec![
                vec!["List Name", "value", "label"],
                vec!["sex", "female", "Female"],
                vec!["sex", "male", "Male"],
                vec!["needs", "shelter", "Shelter"],
                vec!["needs", "medical", "Medical"],
            ],
        ),
        ("settings", vec![vec!["id_string"], vec!["old_style"]]),
    ]);
    let form = import(&bytes).unwrap();
    let types: Vec<(&str, FieldType)> = form
        .fields()
        .map(|f| (f.id.as_str(), f.field_type))
        .collect();
    assert_eq!(
        types,
        [
            ("sex", FieldType::SelectOne),
            ("needs", FieldType::SelectMultiple),
            ("phone", FieldType::Text),
            ("household_size", FieldType::Integer),
            ("remarks", FieldType::Text),
        ]
    );
    let phone = form.field("phone").unwrap();
    assert_eq!(phone.constraint_message["en"], "Digits only");
    assert_eq!(phone.relevant.as_ref().unwrap().text, "${sex} != ''");
    round_trips(&form);
}

#[test]
fn renamed_fields_keep_their_references() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label", "relevant"],
                vec!["integer", "HH-Size", "Household size", ""],
                vec!["text", "Why.Large", "Why so many?", "${HH-Size} > 10"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["renamed"]]),
    ]);
    let form = import(&bytes).unwrap();
    let why = form.field("why_large").unwrap();
    assert_eq!(why.relevant.as_ref().unwrap().text, "${hh_size} > 10");
    assert_eq!(
        errors(
            &form,
            json!({"hh_size": 12, "why_large": "Extended family"})
        ),
        []
    );
    assert_eq!(
        errors(&form, json!({"hh_size": 3, "why_large": "Extended family"})),
        [("answers.why_large".to_owned(), Reason::NotRelevant)]
    );
}

#[test]
fn calculate_default_regex_and_typographic_quotes() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec![
                    "type",
                    "name",
                    "label",
                    "calculation",
                    "constraint",
                    "relevant",
                    "default",
                ],
                vec!["date", "dob", "Date of birth", "", ". <= today()", "", ""],
                vec![
                    "calculate",
                    "age",
                    "",
                    "int((decimal-date-time(today()) - decimal-date-time(${dob})) div 365.25)",
                    "",
                    "",
                    "",
                ],
                vec![
                    "calculate",
                    "is_minor",
                    "",
                    "if(${age} < 18, ‘yes’, ‘no’)",
                    "",
                    "",
                    "",
                ],
                vec![
                    "select_one yn",
                    "guardian",
                    "Guardian present?",
                    "",
                    "",
                    "${is_minor} = ’yes’",
                    "",
                ],
                vec![
                    "text",
                    "phone",
                    "Phone",
                    "",
                    "regex(., '^\\+?[0-9]{9,15}$')",
                    "",
                    "+256",
                ],
                vec![
                    "integer",
                    "visits",
                    "Visits",
                    "",
                    ". > 0 and . < 120",
                    "",
                    "1",
                ],
            ],
        ),
        (
            "choices",
            vec![
                vec!["list_name", "name", "label"],
                vec!["yn", "yes", "Yes"],
                vec!["yn", "no", "No"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["calc"]]),
    ]);
    let form = import(&bytes).unwrap();
    assert_eq!(form.field("age").unwrap().field_type, FieldType::Calculate);
    assert_eq!(
        form.field("phone").unwrap().default.as_deref(),
        Some("+256")
    );
    round_trips(&form);

    // A 15-year-old: the guardian question is shown; a 30-year-old: it is hidden.
    let minor =
        json!({"dob": "2011-06-01", "guardian": "yes", "phone": "+256700123456", "visits": 2});
    assert_eq!(errors(&form, minor), []);
    let adult = json!({"dob": "1996-06-01", "guardian": "yes"});
    assert_eq!(
        errors(&form, adult),
        [("answers.guardian".to_owned(), Reason::NotRelevant)]
    );
    let bad = json!({"dob": "2030-01-01", "phone": "0700 123", "visits": 0});
    let found = errors(&form, bad);
    for key in ["answers.dob", "answers.phone", "answers.visits"] {
        assert!(
            found.contains(&(key.to_owned(), Reason::ConstraintFailed)),
            "{key}: {found:?}"
        );
    }
    // A calculation takes no answer.
    assert_eq!(
        errors(
            &form,
            json!({"dob": "2011-06-01", "age": 15, "guardian": "yes"})
        ),
        [("answers.age".to_owned(), Reason::NoAnswerExpected)]
    );
}

#[test]
fn bad_calculations_are_refused_with_their_place() {
    let survey = |calc: &'static str| {
        workbook(&[
            (
                "survey",
                vec![
                    vec!["type", "name", "label", "calculation"],
                    vec!["calculate", "a", "", calc],
                    vec!["calculate", "b", "", "${a} + 1"],
                ],
            ),
            ("settings", vec![vec!["form_id"], vec!["calc"]]),
        ])
    };
    let e = import(&survey("${b} * 2")).unwrap_err().to_string();
    assert!(
        e.contains("calculation") && e.contains("refers to itself"),
        "{e}"
    );
    let e = problems(import(&survey("${b} *")));
    assert!(
        e.contains("survey row 2: calculation `${b} *`: at character 6"),
        "{e}"
    );
    let e = import(&survey("")).unwrap_err().to_string();
    assert!(
        e.contains("field a: a calculate field needs a calculation"),
        "{e}"
    );
}

/// Countries and districts, as a cascading select writes them.
fn cascading() -> Vec<u8> {
    workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label", "choice_filter", "required"],
                vec!["select_one country", "country", "Country", "", "yes"],
                vec![
                    "select_one district",
                    "district",
                    "District",
                    "country = ${country}",
                    "yes",
                ],
                vec![
                    "select_multiple district",
                    "visited",
                    "Districts visited",
                    "country=${country}",
                    "",
                ],
            ],
        ),
        (
            "choices",
            vec![
                vec!["list_name", "name", "label", "country"],
                vec!["country", "UGA", "Uganda", ""],
                vec!["country", "KEN", "Kenya", ""],
                vec!["district", "kampala", "Kampala", "UGA"],
                vec!["district", "gulu", "Gulu", "UGA"],
                vec!["district", "nairobi", "Nairobi", "KEN"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["cascade"]]),
    ])
}

#[test]
fn choice_filters_cascade() {
    let form = import(&cascading()).unwrap();
    let district = &form.choice_lists["district"];
    assert_eq!(district[0].columns["country"], "UGA");
    round_trips(&form);
    assert_eq!(
        errors(
            &form,
            json!({"country": "UGA", "district": "gulu", "visited": ["kampala", "gulu"]})
        ),
        []
    );
    assert_eq!(
        errors(
            &form,
            json!({"country": "KEN", "district": "gulu", "visited": ["nairobi", "gulu"]})
        ),
        [
            ("answers.district".to_owned(), Reason::NotAChoice),
            ("answers.visited".to_owned(), Reason::NotAChoice)
        ]
    );
    // A filter naming a column the list does not have.
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label", "choice_filter"],
                vec!["select_one c", "c", "C", "region = 'x'"],
            ],
        ),
        (
            "choices",
            vec![vec!["list_name", "name", "label"], vec!["c", "a", "A"]],
        ),
        ("settings", vec![vec!["form_id"], vec!["f"]]),
    ]);
    let e = import(&bytes).unwrap_err().to_string();
    assert!(
        e.contains("uses `region`, which is not a column of its choice list"),
        "{e}"
    );
}

#[test]
fn or_other_adds_a_choice_and_a_text_field() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label::English (en)", "label::French (fr)"],
                vec!["select_one sector or_other", "sector", "Sector", "Secteur"],
                vec![
                    "select all that apply from need or specify other",
                    "need",
                    "Needs",
                    "Besoins",
                ],
            ],
        ),
        (
            "choices",
            vec![
                vec![
                    "list_name",
                    "name",
                    "label::English (en)",
                    "label::French (fr)",
                ],
                vec!["sector", "farm", "Farm", "Ferme"],
                vec!["need", "food", "Food", "Nourriture"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["other"]]),
    ]);
    let form = import(&bytes).unwrap();
    let other = form.choice_lists["sector"]
        .iter()
        .find(|c| c.code == "other")
        .unwrap();
    assert_eq!(other.label["fr"], "Other");
    let specify = form.field("sector_other").unwrap();
    assert_eq!(specify.field_type, FieldType::Text);
    assert_eq!(
        specify.relevant.as_ref().unwrap().text,
        "selected(${sector}, 'other')"
    );
    assert!(form.field("need_other").is_some());
    round_trips(&form);
    assert_eq!(
        errors(&form, json!({"sector": "other", "sector_other": "Fishing"})),
        []
    );
    assert_eq!(
        errors(&form, json!({"sector": "farm", "sector_other": "Fishing"})),
        [("answers.sector_other".to_owned(), Reason::NotRelevant)]
    );
}

#[test]
fn nested_groups_become_consecutive_sections() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label", "relevant"],
                vec!["select_one yn", "consent", "Consent", ""],
                vec!["begin_group", "person", "Person", "${consent} = 'yes'"],
                vec!["text", "alias", "Alias", ""],
                vec!["begin_group", "work", "Work", "${alias} != ''"],
                vec!["text", "employer", "Employer", ""],
                vec!["end_group", "", "", ""],
                vec!["text", "origin", "Origin", ""],
                vec!["end_group", "", "", ""],
                vec!["text", "closing", "Closing", ""],
            ],
        ),
        (
            "choices",
            vec![
                vec!["list_name", "name", "label"],
                vec!["yn", "yes", "Yes"],
                vec!["yn", "no", "No"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["nested"]]),
    ]);
    let form = import(&bytes).unwrap();
    let sections: Vec<(Option<&str>, Option<&str>, Vec<&str>)> = form
        .sections
        .iter()
        .map(|s| {
            (
                s.id.as_ref().map(|i| i.as_str()),
                s.relevant.as_ref().map(|c| c.text.as_str()),
                s.fields.iter().map(|f| f.id.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        sections,
        [
            (None, None, vec!["consent"]),
            (Some("person"), Some("${consent} = 'yes'"), vec!["alias"]),
            (
                Some("work"),
                Some("(${consent} = 'yes') and (${alias} != '')"),
                vec!["employer"]
            ),
            (Some("person_2"), Some("${consent} = 'yes'"), vec!["origin"]),
            (None, None, vec!["closing"]),
        ]
    );
    round_trips(&form);
    assert_eq!(
        errors(&form, json!({"consent": "no", "employer": "X"})),
        [("answers.employer".to_owned(), Reason::NotRelevant)]
    );
    assert_eq!(
        errors(
            &form,
            json!({"consent": "yes", "alias": "A", "employer": "X", "origin": "Y"})
        ),
        []
    );
}

#[test]
fn external_data_and_loops_without_a_list_are_refused_clearly() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label", "calculation"],
                vec!["begin repeat", "members", "Members", ""],
                vec!["text", "member_name", "Name", ""],
                vec!["end repeat", "", "", ""],
                vec!["begin loop over hh", "loop", "Loop", ""],
                vec![
                    "calculate",
                    "price",
                    "",
                    "pulldata('prices', 'price', 'item', 'rice')",
                ],
                vec!["image", "photo", "Photo", ""],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["refused"]]),
    ]);
    let shown = problems(import(&bytes));
    for expected in [
        "survey: group loop has no end loop",
        "survey row 6: calculation `pulldata('prices', 'price', 'item', 'rice')`: at character 0: \
         `pulldata()` is not supported: it reads a CSV file outside the form",
        "survey row 7: type `image` is not supported: media and locations",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
    assert!(!shown.contains("row 2"), "{shown}");
}

/// A case-management form in the field's style: identity with a calculated age, a phone
/// number checked by regex, cascading location, needs with "other", a nested follow-up group.
fn case_management() -> Vec<u8> {
    workbook(&[
        (
            "survey",
            vec![
                vec![
                    "type",
                    "name",
                    "label::English (en)",
                    "label::French (fr)",
                    "hint::English (en)",
                    "required",
                    "relevant",
                    "constraint",
                    "constraint_message::English (en)",
                    "calculation",
                    "choice_filter",
                    "default",
                ],
                vec!["today", "today", "", "", "", "", "", "", "", "", "", ""],
                vec![
                    "begin group",
                    "identity",
                    "Identity",
                    "Identité",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
                vec![
                    "date",
                    "DOB",
                    "Date of birth",
                    "Date de naissance",
                    "Estimate if unknown",
                    "yes",
                    "",
                    ". <= today()",
                    "Not in the future",
                    "",
                    "",
                    "",
                ],
                vec![
                    "calculate",
                    "age_years",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "int((decimal-date-time(today()) - decimal-date-time(${DOB})) div 365.25)",
                    "",
                    "",
                ],
                vec![
                    "note",
                    "minor_note",
                    "Minor: follow the child protocol",
                    "Mineur : protocole enfant",
                    "",
                    "",
                    "${age_years} < 18",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
                vec![
                    "phone number",
                    "phone",
                    "Phone",
                    "Téléphone",
                    "+256…",
                    "",
                    "",
                    "regex(., '^\\+?[0-9]{9,15}$')",
                    "9 to 15 digits",
                    "",
                    "",
                    "",
                ],
                vec!["end group", "", "", "", "", "", "", "", "", "", "", ""],
                vec![
                    "select one from country",
                    "country",
                    "Country of origin",
                    "Pays d'origine",
                    "",
                    "yes",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
                vec![
                    "select one from district",
                    "district",
                    "District",
                    "District",
                    "",
                    "",
                    "${country} != ''",
                    "",
                    "",
                    "",
                    "country=${country}",
                    "",
                ],
                vec![
                    "select all that apply from needs or specify other",
                    "needs",
                    "Needs",
                    "Besoins",
                    "",
                    "yes",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
                vec![
                    "begin group",
                    "follow_up",
                    "Follow-up",
                    "Suivi",
                    "",
                    "",
                    "selected(${needs}, ‘medical’)",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
                vec![
                    "integer",
                    "visits",
                    "Visits planned",
                    "Visites prévues",
                    "",
                    "",
                    "",
                    ". > 0 and . < 20",
                    "",
                    "",
                    "",
                    "1",
                ],
                vec![
                    "begin group",
                    "clinic",
                    "Clinic",
                    "Clinique",
                    "",
                    "",
                    "${visits} > 2",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
                vec![
                    "text",
                    "clinic_name",
                    "Clinic name",
                    "Nom de la clinique",
                    "",
                    "",
                    "",
                    "string-length(.) <= 80",
                    "",
                    "",
                    "",
                    "",
                ],
                vec!["end group", "", "", "", "", "", "", "", "", "", "", ""],
                vec!["end group", "", "", "", "", "", "", "", "", "", "", ""],
                vec![
                    "calculate",
                    "summary",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "concat(${age_years}, ' / ', jr:choice-name(${country}, '${country}'))",
                    "",
                    "",
                ],
            ],
        ),
        (
            "choices",
            vec![
                vec![
                    "list name",
                    "name",
                    "label::English (en)",
                    "label::French (fr)",
                    "country",
                ],
                vec!["country", "UGA", "Uganda", "Ouganda", ""],
                vec!["country", "SSD", "South Sudan", "Soudan du Sud", ""],
                vec!["district", "kampala", "Kampala", "Kampala", "UGA"],
                vec!["district", "gulu", "Gulu", "Gulu", "UGA"],
                vec!["district", "juba", "Juba", "Djouba", "SSD"],
                vec!["needs", "shelter", "Shelter", "Hébergement", ""],
                vec!["needs", "medical", "Medical care", "Soins médicaux", ""],
                vec!["needs", "legal", "Legal aid", "Aide juridique", ""],
            ],
        ),
        (
            "settings",
            vec![
                vec!["form_title", "form_id", "version", "default_language"],
                vec!["Case management", "Case-Management", "v2.1", "English (en)"],
            ],
        ),
    ])
}

/// A household screening form: cascading country → district, and (`with_repeat`) household
/// members as a repeat of at most `hh_size` instances, with a nested group for members of
/// working age, a per-member calculation summed outside the repeat, and a member's district
/// filtered by the household's country.
fn household_screening(with_repeat: bool) -> Vec<u8> {
    let mut survey: Rows = vec![
        vec![
            "type",
            "name",
            "label",
            "required",
            "relevant",
            "constraint",
            "choice_filter",
            "calculation",
        ],
        vec![
            "select_one country",
            "country",
            "Country",
            "yes",
            "",
            "",
            "",
            "",
        ],
        vec![
            "select_one district",
            "district",
            "District",
            "yes",
            "",
            "",
            "country = ${country}",
            "",
        ],
        vec![
            "integer",
            "hh_size",
            "People in the household",
            "yes",
            "",
            ". > 0 and . < 40",
            "",
            "",
        ],
        vec![
            "integer",
            "hh_children",
            "Children under 18",
            "",
            "",
            ". >= 0 and . <= ${hh_size}",
            "",
            "",
        ],
        vec![
            "calculate",
            "hh_adults",
            "",
            "",
            "",
            "",
            "",
            "${hh_size} - coalesce(${hh_children}, 0)",
        ],
        vec![
            "select_one yn",
            "debt",
            "Does the household owe a recruiter?",
            "yes",
            "",
            "",
            "",
            "",
        ],
        vec![
            "decimal",
            "debt_usd",
            "Amount (USD)",
            "yes",
            "${debt} = 'yes'",
            ". > 0",
            "",
            "",
        ],
    ];
    if with_repeat {
        survey[0].push("repeat_count");
        for row in &mut survey[1..] {
            row.push("");
        }
        let row = |cells: [&'static str; 9]| cells.to_vec();
        survey.extend([
            row([
                "begin repeat",
                "member",
                "Household member",
                "",
                "${hh_size} > 1",
                "",
                "",
                "",
                "${hh_size}",
            ]),
            row(["text", "member_name", "Name", "yes", "", "", "", "", ""]),
            row([
                "integer",
                "member_age",
                "Age",
                "yes",
                "",
                ". >= 0 and . < 120",
                "",
                "",
                "",
            ]),
            row([
                "select_one relation",
                "member_relation",
                "Relation to the respondent",
                "yes",
                "",
                "",
                "",
                "",
                "",
            ]),
            row([
                "calculate",
                "member_is_child",
                "",
                "",
                "",
                "",
                "",
                "if(${member_age} < 18, 1, 0)",
                "",
            ]),
            row([
                "begin group",
                "member_work",
                "Work",
                "",
                "${member_age} >= 15",
                "",
                "",
                "",
                "",
            ]),
            row([
                "select_one yn",
                "member_works",
                "Works outside the home?",
                "yes",
                "",
                "",
                "",
                "",
                "",
            ]),
            row([
                "select_one district",
                "member_work_district",
                "District of work",
                "yes",
                "${member_works} = 'yes'",
                "",
                "country = ${country}",
                "",
                "",
            ]),
            row(["end group", "", "", "", "", "", "", "", ""]),
            row(["end repeat", "", "", "", "", "", "", "", ""]),
            row([
                "calculate",
                "children_listed",
                "",
                "",
                "",
                "",
                "",
                "sum(${member_is_child})",
                "",
            ]),
            row([
                "text",
                "missing_members",
                "Why are some members not listed?",
                "yes",
                "${hh_size} > 1 and count(${member}) < ${hh_size}",
                "",
                "",
                "",
                "",
            ]),
        ]);
    }
    let mut choices: Rows = vec![
        vec!["list_name", "name", "label", "country"],
        vec!["country", "MMR", "Myanmar", ""],
        vec!["country", "THA", "Thailand", ""],
        vec!["district", "mae_sot", "Mae Sot", "THA"],
        vec!["district", "ranong", "Ranong", "THA"],
        vec!["district", "myawaddy", "Myawaddy", "MMR"],
        vec!["yn", "yes", "Yes", ""],
        vec!["yn", "no", "No", ""],
    ];
    if with_repeat {
        choices.extend([
            vec!["relation", "head", "Head of household", ""],
            vec!["relation", "spouse", "Spouse", ""],
            vec!["relation", "child", "Child", ""],
            vec!["relation", "other_relative", "Other relative", ""],
        ]);
    }
    workbook(&[("survey", survey), ("choices", choices)])
}

#[test]
fn the_corpus_converts_validates_and_round_trips() {
    let corpus: [(&str, Vec<u8>); 4] = [
        ("Case Management.xlsx", case_management()),
        ("household_screening.xlsx", household_screening(false)),
        (
            "household_screening_members.xlsx",
            household_screening(true),
        ),
        ("cascade.xlsx", cascading()),
    ];
    let converted: Vec<FormDefinition> = corpus
        .iter()
        .filter_map(|(name, bytes)| import_named(bytes, Some(name)).ok())
        .collect();
    // Every form converts, the one with a repeat of household members too.
    assert_eq!(converted.len(), 4);
    for form in &converted {
        round_trips(form);
    }
    let cm = &converted[0];
    assert_eq!((cm.id.as_str(), cm.version), ("case_management", 20100));
    assert_eq!(cm.title["en"], "Case management");
    assert_eq!(
        errors(
            cm,
            json!({
                "dob": "2010-04-12", "phone": "+256772000111", "country": "UGA",
                "district": "gulu", "needs": ["medical", "other"], "needs_other": "School fees",
                "visits": 3, "clinic_name": "Gulu Regional Referral Hospital"
            })
        ),
        []
    );
    let found = errors(
        cm,
        json!({"dob": "2010-04-12", "phone": "0772", "country": "SSD", "district": "gulu",
               "needs": ["shelter"], "visits": 3}),
    );
    assert_eq!(
        found,
        [
            ("answers.phone".to_owned(), Reason::ConstraintFailed),
            ("answers.district".to_owned(), Reason::NotAChoice),
            ("answers.visits".to_owned(), Reason::NotRelevant),
        ]
    );
    let hh = &converted[1];
    assert_eq!(hh.id.as_str(), "household_screening");
    assert_eq!(
        errors(
            hh,
            json!({"country": "THA", "district": "ranong", "hh_size": 5, "hh_children": 3, "debt": "no"})
        ),
        []
    );
    assert_eq!(
        errors(
            hh,
            json!({"country": "THA", "district": "ranong", "hh_size": 2, "hh_children": 3, "debt": "yes"})
        ),
        [
            ("answers.hh_children".to_owned(), Reason::ConstraintFailed),
            ("answers.debt_usd".to_owned(), Reason::Required),
        ]
    );
    household_members_are_checked_per_instance(&converted[2]);
}

/// The household form with its repeat of members: each member checked in its own context.
fn household_members_are_checked_per_instance(form: &FormDefinition) {
    assert_eq!(form.id.as_str(), "household_screening_members");
    let repeat = &form.repeats[&fieldcase_core::model::FieldId::parse("member").unwrap()];
    assert_eq!(repeat.count.as_ref().unwrap().text, "${hh_size}");
    let sections: Vec<(Option<&str>, Option<&str>)> = form
        .sections
        .iter()
        .map(|s| (s.id.as_ref().map(|i| i.as_str()), s.repeat_id()))
        .collect();
    assert_eq!(
        sections,
        [
            (None, None),
            (None, Some("member")),
            (Some("member_work"), Some("member")),
            (None, None),
        ]
    );
    let household = json!({
        "country": "THA", "district": "ranong", "hh_size": 3, "hh_children": 1, "debt": "no",
        "member.0a.member_name": "Aye Aye", "member.0a.member_age": 41,
        "member.0a.member_relation": "head", "member.0a.member_works": "yes",
        "member.0a.member_work_district": "mae_sot",
        "member.0b.member_name": "Ko Min", "member.0b.member_age": 16,
        "member.0b.member_relation": "child", "member.0b.member_works": "no",
        "member.0c.member_name": "Su", "member.0c.member_age": 9,
        "member.0c.member_relation": "child"
    });
    assert_eq!(errors(form, household.clone()), []);
    let with = |changes: Value| {
        let mut answers = household.clone();
        for (k, v) in changes.as_object().unwrap() {
            answers[k] = v.clone();
        }
        answers.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        errors(form, answers)
    };
    // Each member's relevance, choice filter and constraint read that member's answers.
    assert_eq!(
        with(json!({
            "member.0c.member_works": "no",
            "member.0a.member_work_district": "myawaddy",
            "member.0b.member_age": 130
        })),
        [
            (
                "answers.member.0a.member_work_district".to_owned(),
                Reason::NotAChoice
            ),
            (
                "answers.member.0b.member_age".to_owned(),
                Reason::ConstraintFailed
            ),
            (
                "answers.member.0c.member_works".to_owned(),
                Reason::NotRelevant
            ),
        ]
    );
    // Required inside an instance, and the instance's own nested group.
    assert_eq!(
        with(json!({"member.0b.member_name": null, "member.0b.member_works": null})),
        [
            ("answers.member.0b.member_name".to_owned(), Reason::Required),
            (
                "answers.member.0b.member_works".to_owned(),
                Reason::Required
            ),
        ]
    );
    // repeat_count bounds the members; count() outside the repeat asks why some are missing.
    assert_eq!(
        with(json!({"hh_size": 2})),
        [(
            "answers.member".to_owned(),
            Reason::TooManyItems { max_items: 2 }
        )]
    );
    let fewer = with(json!({
        "hh_size": 4,
        "member.0c.member_name": null, "member.0c.member_age": null,
        "member.0c.member_relation": null
    }));
    assert_eq!(
        fewer,
        [("answers.missing_members".to_owned(), Reason::Required)]
    );
    // A member's field answered once for the household is refused.
    assert_eq!(
        with(json!({"member_name": "Aye Aye"})),
        [("answers.member_name".to_owned(), Reason::InRepeat)]
    );
    // A one-person household lists no members.
    let alone = json!({"country": "MMR", "district": "myawaddy", "hh_size": 1, "debt": "no"});
    assert_eq!(errors(form, alone.clone()), []);
    let mut listed = alone;
    listed["member.0a.member_name"] = json!("Hla");
    assert_eq!(
        errors(form, listed),
        [(
            "answers.member.0a.member_name".to_owned(),
            Reason::NotRelevant
        ),]
    );
}

/// The corpus as files, for the end-to-end test on a real server
/// (`server/tests/forms_xlsform_corpus.rs`), which publishes them as an admin would.
/// `FIELDCASE_WRITE_FIXTURES=1` regenerates them from the workbooks above.
#[test]
fn the_checked_in_corpus_is_current() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus");
    let corpus = [
        ("case_management.xlsx", case_management()),
        ("household_screening.xlsx", household_screening(false)),
        (
            "household_screening_members.xlsx",
            household_screening(true),
        ),
    ];
    for (name, bytes) in corpus {
        let path = format!("{dir}/{name}");
        if std::env::var_os("FIELDCASE_WRITE_FIXTURES").is_some() {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path).unwrap();
        match (
            import_named(&stored, Some(name)),
            import_named(&bytes, Some(name)),
        ) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{name}"),
            (a, b) => panic!("{name}: {a:?} vs {b:?}"),
        }
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn cell(options: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(options).prop_map(str::to_owned),
            1 => "\\PC{0,12}",
        ]
    }

    const TYPES: &[&str] = &[
        "text",
        "integer",
        "decimal",
        "date",
        "note",
        "calculate",
        "select_one l",
        "select_multiple l",
        "select one from l",
        "select_one l or_other",
        "begin group",
        "end group",
        "begin repeat",
        "end repeat",
        "begin_repeat",
        "begin loop over l",
        "end loop",
        "geopoint",
        "today",
        "phone number",
        "",
    ];
    const NAMES: &[&str] = &["a", "b", "C-d", "e.f", "g", "2h", "---", "", "a_other"];
    const EXPRESSIONS: &[&str] = &[
        "",
        "${a} > 1",
        ". > 0 and . < 120",
        "${b} + 1",
        "if(${a} = 'x', 1, 2)",
        "${C-d} = ‘y’",
        "regex(., '^[0-9]+$')",
        "count-selected(${a})",
        "${nope}",
        "${a} *",
        "l = ${a}",
        "pulldata('x')",
        "((((",
        "${g}",
        "count(${a})",
        "sum(${b}) > 2",
        "position(..) = 1",
        "indexed-repeat(${a}, ${g}, 1)",
    ];

    fn row() -> impl Strategy<Value = Vec<String>> {
        (
            cell(TYPES),
            cell(NAMES),
            cell(&["Label", "", "Étiquette"]),
            cell(EXPRESSIONS),
            cell(EXPRESSIONS),
            cell(EXPRESSIONS),
            cell(&["", "yes", "no", "maybe"]),
            cell(&["", "l = 'x'", "l = ${a}"]),
            cell(&["", "2", "${a}", "count(", "${g} + 1"]),
        )
            .prop_map(|(t, n, l, r, c, calc, req, f, count)| {
                vec![t, n, l, r, c, calc, req, f, count]
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Any survey of plausible and implausible cells: a form or a list of problems,
        /// never a panic; a form round-trips and validates an empty case.
        #[test]
        fn importing_any_survey_never_panics(rows in prop::collection::vec(row(), 0..12)) {
            let mut book = Workbook::new();
            let survey = book.add_worksheet();
            survey.set_name("survey").unwrap();
            let header = [
                "type", "name", "label", "relevant", "constraint", "calculation", "required",
                "choice_filter", "repeat_count",
            ];
            for (c, h) in header.iter().enumerate() {
                survey.write_string(0, c as u16, *h).unwrap();
            }
            for (r, cells) in rows.iter().enumerate() {
                for (c, text) in cells.iter().enumerate() {
                    if !text.is_empty() {
                        survey.write_string(r as u32 + 1, c as u16, text).unwrap();
                    }
                }
            }
            let choices = book.add_worksheet();
            choices.set_name("choices").unwrap();
            for (r, cells) in [["list_name", "name", "label", "l"], ["l", "x", "X", "x"]]
                .iter()
                .enumerate()
            {
                for (c, text) in cells.iter().enumerate() {
                    choices.write_string(r as u32, c as u16, *text).unwrap();
                }
            }
            let bytes = book.save_to_buffer().unwrap();
            if let Ok(form) = import_named(&bytes, Some("any.xlsx")) {
                let again = import(&export(&form).unwrap()).unwrap();
                prop_assert_eq!(&again, &form);
                let _ = check_form(&form, &Fields::new(), today());
                // Every field answered, repeats' fields in two instances.
                let mut answers = Fields::new();
                for section in &form.sections {
                    for field in &section.fields {
                        let value = json!("x");
                        match section.repeat_id() {
                            Some(r) => {
                                for key in ["a1", "b2"] {
                                    answers.insert(
                                        format!("answers.{r}.{key}.{}", field.id),
                                        value.clone(),
                                    );
                                }
                            }
                            None => {
                                answers.insert(field.id.key(), value);
                            }
                        }
                    }
                }
                let _ = check_form(&form, &answers, today());
            }
        }
    }
}

#[test]
fn required_as_an_expression() {
    let bytes = workbook(&[
        (
            "survey",
            vec![
                vec!["type", "name", "label", "required"],
                vec!["integer", "age", "Age", "yes"],
                vec!["text", "guardian", "Guardian's name", "${age} < 18"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["req"]]),
    ]);
    let form = import(&bytes).unwrap();
    let guardian = form.field("guardian").unwrap();
    assert!(!guardian.required);
    assert_eq!(guardian.required_if.as_ref().unwrap().text, "${age} < 18");
    round_trips(&form);
    assert_eq!(
        errors(&form, json!({"age": 15})),
        [("answers.guardian".to_owned(), Reason::Required)]
    );
    assert_eq!(errors(&form, json!({"age": 30})), []);
    assert_eq!(errors(&form, json!({"age": 15, "guardian": "Mary"})), []);
}
