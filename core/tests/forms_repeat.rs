//! Repeat groups (issue 17): a definition's repeats and the references into them, answers
//! stored and validated per instance, aggregates outside the repeat, the case model reading
//! instance keys, and XLSForm's `begin repeat` / `repeat_count` through import and export;
//! and XLSForm's `begin loop over`, expanded into one copy per choice.

use fieldcase_core::forms::xlsform::{export, import, XlsFormError};
use fieldcase_core::forms::{check_case, check_form, DefinitionError, FormDefinition, FormId};
use fieldcase_core::model::{Case, Date, Fields, Reason};
use rust_xlsxwriter::Workbook;
use serde_json::{json, Value};

fn today() -> Date {
    Date::parse("2026-11-29").unwrap()
}

/// Travellers in one group: a repeat of companions, with a calculation per companion, a
/// constraint using `position(..)` and `indexed-repeat()`, and totals outside.
fn definition() -> Value {
    json!({
        "id": "travel",
        "version": 1,
        "title": {"en": "Travel group"},
        "default_language": "en",
        "choice_lists": {
            "rel": [
                {"code": "self", "label": {"en": "The person"}},
                {"code": "child", "label": {"en": "Child"}},
                {"code": "other", "label": {"en": "Other"}}
            ]
        },
        "repeats": {
            "companion": {
                "label": {"en": "Companion"},
                "relevant": "${travelled_with_others} = 'yes'",
                "count": "${group_size}"
            }
        },
        "sections": [
            {"fields": [
                {"id": "travelled_with_others", "type": "text", "label": {"en": "With others?"},
                 "required": true},
                {"id": "group_size", "type": "integer", "label": {"en": "How many?"},
                 "relevant": "${travelled_with_others} = 'yes'"}
            ]},
            {"repeat": "companion", "fields": [
                {"id": "companion_relation", "type": "select_one", "choices": "rel",
                 "label": {"en": "Relation"}, "required": true,
                 "constraint": "position(..) = 1 or . != 'self'"},
                {"id": "companion_age", "type": "integer", "label": {"en": "Age"},
                 "required": true},
                {"id": "companion_minor", "type": "calculate", "label": {},
                 "calculation": "if(${companion_age} < 18, 1, 0)"}
            ]},
            {"id": "companion_guardian", "repeat": "companion",
             "relevant": "${companion_minor} = 1", "label": {"en": "Guardian"}, "fields": [
                {"id": "guardian_present", "type": "yes_no", "label": {"en": "Guardian here?"},
                 "required": true,
                 "constraint": "position(..) = 1 or . = true() or indexed-repeat(${companion_relation}, ${companion}, 1) = 'self'"}
            ]},
            {"id": "totals", "fields": [
                {"id": "minors", "type": "calculate", "label": {}, "calculation": "sum(${companion_minor})"},
                {"id": "oldest", "type": "calculate", "label": {}, "calculation": "max(${companion_age})"},
                {"id": "minors_note", "type": "note", "label": {"en": "Minors travelling"},
                 "relevant": "${minors} > 0"},
                {"id": "child_protection_referral", "type": "yes_no",
                 "label": {"en": "Referred to child protection?"},
                 "required_if": "${minors} >= 2 and count(${companion}) >= 2"},
                {"id": "oldest_checked", "type": "yes_no", "label": {"en": "Oldest checked"},
                 "relevant": "${oldest} >= 60"}
            ]}
        ]
    })
}

fn form() -> FormDefinition {
    FormDefinition::from_value(&definition()).unwrap()
}

fn fields(value: Value) -> Fields {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (format!("answers.{k}"), v.clone()))
        .collect()
}

fn errors(form: &FormDefinition, answers: Value) -> Vec<(String, Reason)> {
    match check_form(form, &fields(answers), today()) {
        Ok(()) => Vec::new(),
        Err(e) => e
            .iter()
            .map(|e| (e.field.clone(), e.reason.clone()))
            .collect(),
    }
}

fn err(key: &str, reason: Reason) -> (String, Reason) {
    (key.to_owned(), reason)
}

#[test]
fn each_instance_is_checked_in_its_own_context() {
    let form = form();
    let group = json!({
        "travelled_with_others": "yes", "group_size": 3,
        "companion.k1.companion_relation": "self", "companion.k1.companion_age": 34,
        "companion.k2.companion_relation": "child", "companion.k2.companion_age": 7,
        "companion.k2.guardian_present": false,
        "companion.k3.companion_relation": "other", "companion.k3.companion_age": 61
    });
    assert_eq!(errors(&form, group.clone()), []);

    let mut changed = group.clone();
    // The second companion cannot be "the person"; the third, 16, needs the guardian question.
    changed["companion.k2.companion_relation"] = json!("self");
    changed["companion.k3.companion_age"] = json!(16);
    assert_eq!(
        errors(&form, changed),
        [
            err(
                "answers.companion.k2.companion_relation",
                Reason::ConstraintFailed
            ),
            // Two minors among three: the referral question outside the repeat is required.
            err("answers.companion.k3.guardian_present", Reason::Required),
            err("answers.child_protection_referral", Reason::Required),
        ]
    );

    // indexed-repeat() reads the first instance from the third: not "self" there, so a minor
    // further down must have a guardian present.
    let mut changed = group.clone();
    changed["companion.k1.companion_relation"] = json!("other");
    assert_eq!(
        errors(&form, changed),
        [err(
            "answers.companion.k2.guardian_present",
            Reason::ConstraintFailed
        )]
    );

    // A hidden group inside one instance: an adult's guardian answer is rejected.
    let mut changed = group.clone();
    changed["companion.k3.guardian_present"] = json!(true);
    assert_eq!(
        errors(&form, changed),
        [err(
            "answers.companion.k3.guardian_present",
            Reason::NotRelevant
        )]
    );

    // Outside the repeat, max() reads every instance: no one 60 or over, the question is hidden.
    let mut changed = group.clone();
    changed["companion.k3.companion_age"] = json!(59);
    changed["oldest_checked"] = json!(true);
    assert_eq!(
        errors(&form, changed),
        [err("answers.oldest_checked", Reason::NotRelevant)]
    );
}

#[test]
fn the_repeat_s_condition_and_count_bound_its_instances() {
    let form = form();
    let too_many = json!({
        "travelled_with_others": "yes", "group_size": 1,
        "companion.k1.companion_relation": "self", "companion.k1.companion_age": 34,
        "companion.k2.companion_relation": "other", "companion.k2.companion_age": 30
    });
    assert_eq!(
        errors(&form, too_many),
        [err(
            "answers.companion",
            Reason::TooManyItems { max_items: 1 }
        )]
    );
    let alone = json!({
        "travelled_with_others": "no",
        "companion.k1.companion_relation": "self", "companion.k1.companion_age": 34
    });
    assert_eq!(
        errors(&form, alone),
        [
            // Hidden with the repeat, and with no group size it takes no instance at all.
            err("answers.companion", Reason::TooManyItems { max_items: 0 }),
            err(
                "answers.companion.k1.companion_relation",
                Reason::NotRelevant
            ),
            err("answers.companion.k1.companion_age", Reason::NotRelevant),
        ]
    );
    // No instance at all is valid: nothing required inside is asked.
    assert_eq!(
        errors(
            &form,
            json!({"travelled_with_others": "yes", "group_size": 2})
        ),
        []
    );
}

#[test]
fn a_case_holds_instances_as_flat_keys_and_refuses_what_is_not_in_the_repeat() {
    let form = form();
    let case_fields: Fields = [
        ("forms.travel", json!(1)),
        ("answers.travelled_with_others", json!("yes")),
        ("answers.group_size", json!(2)),
        ("answers.companion.0k3x.companion_relation", json!("self")),
        ("answers.companion.0k3x.companion_age", json!(30)),
        // A field of the form, but not of the repeat; a field of the repeat, answered once.
        ("answers.companion.0k3x.group_size", json!(2)),
        ("answers.companion_age", json!(30)),
        ("answers.companion.0k3y.shoe_size", json!(42)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let id = FormId::parse("travel").unwrap();
    let lookup = |i: &FormId, v: u32| (i == &id && v == 1).then_some(&form);
    let found = check_case(&case_fields, &lookup, today()).unwrap_err();
    assert_eq!(
        found.reasons_for("answers.companion.0k3x.group_size"),
        [&Reason::NotInForm]
    );
    assert_eq!(
        found.reasons_for("answers.companion.0k3y.shoe_size"),
        [&Reason::NotInForm]
    );
    assert_eq!(
        found.reasons_for("answers.companion_age"),
        [&Reason::InRepeat]
    );
    // The unknown field still makes an instance, whose required fields are missing.
    assert_eq!(
        found.reasons_for("answers.companion.0k3y.companion_age"),
        [&Reason::Required]
    );
    assert_eq!(found.0.len(), 5, "{found}");

    // The case model reads instance paths, and refuses malformed ones without their value.
    let flat: Fields = [
        ("forms.travel", json!(1)),
        ("answers.travelled_with_others", json!("yes")),
        ("answers.group_size", json!(2)),
        ("answers.companion.0k3x.companion_relation", json!("self")),
        ("answers.companion.0k3x.companion_age", json!(30)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(check_case(&flat, &lookup, today()), Ok(()));
    let case = Case::from_fields_as_of(&flat, today()).unwrap();
    let paths: Vec<&str> = case.answers.keys().map(|p| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "companion.0k3x.companion_age",
            "companion.0k3x.companion_relation",
            "group_size",
            "travelled_with_others"
        ]
    );
    assert_eq!(case.to_fields(), flat);
    for (bad, reason) in [
        (
            "answers.companion.k_1.companion_age",
            Reason::InvalidInstanceKey,
        ),
        ("answers.companion.k1", Reason::InvalidFieldId),
        ("answers.companion.k1.age.x", Reason::InvalidFieldId),
    ] {
        let mut broken = flat.clone();
        broken.insert(bad.to_owned(), json!("Secret Name"));
        let e = Case::from_fields_as_of(&broken, today()).unwrap_err();
        assert_eq!(e.reasons_for(bad), [&reason], "{bad}");
        assert!(!e.to_string().contains("Secret"));
    }
}

#[test]
fn references_that_make_no_sense_are_refused_when_read() {
    let cases: [(&str, Value, &str); 9] = [
        (
            "a repeat's field as one value outside it",
            json!({"id": "t", "type": "integer", "label": {"en": "T"},
                   "relevant": "${companion_age} > 17"}),
            "field t, relevant: `${companion_age}` is answered once per instance of repeat \
             `companion`: outside it, use count(), sum(), min(), max() or indexed-repeat()",
        ),
        (
            "the repeat itself as a value",
            json!({"id": "t", "type": "calculate", "label": {}, "calculation": "${companion} + 1"}),
            "`${companion}` is a repeat group, not a value: count its instances with \
             count(${companion})",
        ),
        (
            "sum of a field outside every repeat",
            json!({"id": "t", "type": "calculate", "label": {}, "calculation": "sum(${group_size})"}),
            "`${group_size}` is not in a repeat group: sum() of it would read one answer",
        ),
        (
            "sum of the repeat",
            json!({"id": "t", "type": "calculate", "label": {}, "calculation": "sum(${companion})"}),
            "`${companion}` is a repeat group: sum() takes one of its fields",
        ),
        (
            "count of an expression",
            json!({"id": "t", "type": "calculate", "label": {}, "calculation": "count(1 + 2)"}),
            "count() takes a repeat or a field of one",
        ),
        (
            "position outside a repeat",
            json!({"id": "t", "type": "calculate", "label": {}, "calculation": "position(..)"}),
            "position(..) is the number of a repeat's instance: only inside a repeat",
        ),
        (
            "indexed-repeat with the wrong repeat",
            json!({"id": "t", "type": "calculate", "label": {},
                   "calculation": "indexed-repeat(${companion_age}, ${group_size}, 1)"}),
            "indexed-repeat(): `${companion_age}` belongs to repeat `companion`, not \
             `group_size`",
        ),
        (
            "a missing field",
            json!({"id": "t", "type": "calculate", "label": {}, "calculation": "count(${nobody})"}),
            "refers to ${nobody}, which is not a field of this form",
        ),
        (
            "a core variable in a repeat",
            json!({"id": "t", "type": "integer", "label": {"en": "T"}, "core": "age_estimate"}),
            "field t: a field of a repeat group is answered per instance: it cannot record a \
             core variable of the case",
        ),
    ];
    for (what, field, expected) in cases {
        let mut value = definition();
        // The last case puts its field in the repeat; the others after it.
        let section = if what.contains("in a repeat") { 1 } else { 3 };
        value["sections"][section]["fields"]
            .as_array_mut()
            .unwrap()
            .push(field);
        let e = FormDefinition::from_value(&value).unwrap_err();
        assert!(
            e.to_string().contains(expected),
            "{what}: expected {expected:?} in {e}"
        );
    }
    // Inside its own repeat, an aggregate over the repeat's field would read one answer.
    let mut value = definition();
    value["sections"][1]["fields"][1]["constraint"] = json!("sum(${companion_age}) < 200");
    let e = FormDefinition::from_value(&value).unwrap_err();
    assert!(
        e.to_string().contains(
            "inside repeat `companion`, `${companion_age}` is this \
                                instance's answer"
        ),
        "{e}"
    );
    // Ids too long together for a synced answer key.
    let value = json!({
        "id": "long", "version": 1, "title": {"en": "Long"}, "default_language": "en",
        "repeats": {"r".repeat(40): {}},
        "sections": [{"repeat": "r".repeat(40), "fields": [
            {"id": "f".repeat(50), "type": "text", "label": {"en": "F"}}
        ]}]
    });
    let e = FormDefinition::from_value(&value).unwrap_err().to_string();
    assert!(
        e.contains("too long together for an answer key: at most 86"),
        "{e}"
    );
    // Structure: an undeclared repeat, a repeat without fields, sections apart.
    let mut value = definition();
    value["sections"][1]["repeat"] = json!("nobody");
    assert!(matches!(
        FormDefinition::from_value(&value),
        Err(DefinitionError::Invalid { reason, .. }) if reason.contains("no such repeat")
    ));
    let mut value = definition();
    value["repeats"]["empty"] = json!({});
    assert!(FormDefinition::from_value(&value)
        .unwrap_err()
        .to_string()
        .contains("repeat empty: no section repeats its fields"));
    let mut value = definition();
    value["sections"].as_array_mut().unwrap().swap(2, 3);
    assert!(FormDefinition::from_value(&value)
        .unwrap_err()
        .to_string()
        .contains("repeat companion: its sections must be consecutive"));
    // The JSON form reads back to an equal definition.
    let form = form();
    assert_eq!(FormDefinition::from_value(&form.to_json()).unwrap(), form);
}

type Rows = Vec<Vec<&'static str>>;

/// A section as (id, repeat, relevant, field ids).
type SectionShape<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Vec<&'a str>,
);

fn workbook(survey: Rows) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheets: [(&str, Rows); 3] = [
        ("survey", survey),
        (
            "choices",
            vec![
                vec!["list_name", "name", "label"],
                vec!["yn", "yes", "Yes"],
                vec!["yn", "no", "No"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["members"]]),
    ];
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(name).unwrap();
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

#[test]
fn xlsform_repeats_in_every_spelling_import_export_and_import_equal() {
    let header = vec![
        "type",
        "name",
        "label",
        "relevant",
        "repeat_count",
        "calculation",
    ];
    for (begin, end) in [
        ("begin repeat", "end repeat"),
        ("begin_repeat", "end_repeat"),
        ("Begin Repeat", "END_REPEAT"),
    ] {
        let bytes = workbook(vec![
            header.clone(),
            vec!["select_one yn", "has_members", "Members?", "", "", ""],
            vec![
                "begin_group",
                "household",
                "Household",
                "${has_members} = 'yes'",
                "",
                "",
            ],
            vec!["integer", "size", "Size", "", "", ""],
            vec![begin, "person", "Person", "${size} > 0", "${size} + 1", ""],
            vec!["text", "person_name", "Name", "", "", ""],
            vec![
                "begin_group",
                "health",
                "Health",
                "${person_name} != ''",
                "",
                "",
            ],
            vec!["select_one yn", "sick", "Sick?", "", "", ""],
            vec!["end_group", "", "", "", "", ""],
            vec!["integer", "person_age", "Age", "", "", ""],
            vec![end, "", "", "", "", ""],
            vec!["calculate", "sick_count", "", "", "", "count(${sick})"],
            vec!["end_group", "", "", "", "", ""],
        ]);
        let form = import(&bytes).unwrap();
        let repeat = &form.repeats[&fieldcase_core::model::FieldId::parse("person").unwrap()];
        // The enclosing group's condition is the repeat's; the repeat's is not its groups'.
        assert_eq!(
            repeat.relevant.as_ref().unwrap().text,
            "(${has_members} = 'yes') and (${size} > 0)"
        );
        assert_eq!(repeat.count.as_ref().unwrap().text, "${size} + 1");
        let sections: Vec<SectionShape> = form
            .sections
            .iter()
            .map(|s| {
                (
                    s.id.as_ref().map(|i| i.as_str()),
                    s.repeat_id(),
                    s.relevant.as_ref().map(|c| c.text.as_str()),
                    s.fields.iter().map(|f| f.id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            sections,
            [
                (None, None, None, vec!["has_members"]),
                (
                    Some("household"),
                    None,
                    Some("${has_members} = 'yes'"),
                    vec!["size"]
                ),
                (None, Some("person"), None, vec!["person_name"]),
                (
                    Some("health"),
                    Some("person"),
                    Some("${person_name} != ''"),
                    vec!["sick"]
                ),
                (None, Some("person"), None, vec!["person_age"]),
                (
                    Some("household_2"),
                    None,
                    Some("${has_members} = 'yes'"),
                    vec!["sick_count"]
                ),
            ]
        );
        let again = import(&export(&form).unwrap()).unwrap();
        assert_eq!(again, form, "{begin}");
        assert_eq!(
            errors(
                &form,
                json!({"has_members": "yes", "size": 1,
                       "person.a1.person_name": "A", "person.a1.sick": "no",
                       "person.a2.person_age": 40, "person.a2.sick": "yes"})
            ),
            // Person a2 has no name, so its health group is hidden.
            [err("answers.person.a2.sick", Reason::NotRelevant)]
        );
    }
}

#[test]
fn xlsform_repeats_that_cannot_be_read_are_refused_with_their_row() {
    let bytes = workbook(vec![
        vec!["type", "name", "label", "repeat_count", "calculation"],
        vec!["begin repeat", "person", "Person", "", ""],
        vec!["text", "person_name", "Name", "", ""],
        vec!["begin repeat", "visit", "Visit", "", ""],
        vec!["date", "visit_date", "Date", "", ""],
        vec!["end repeat", "", "", "", ""],
        vec!["end group", "", "", "", ""],
        vec!["text", "after", "After", "3", ""],
        vec!["calculate", "first", "", "", "${person_name}"],
        vec!["begin repeat", "open", "Open", "count(", ""],
    ]);
    let shown = problems(import(&bytes));
    for expected in [
        "survey row 4: repeat visit is inside repeat person: repeats inside repeats are not \
         supported",
        "survey row 7: end_group closes repeat person: write end repeat",
        "survey row 8: repeat_count belongs on a begin repeat row",
        "survey row 10: repeat_count `count(`:",
        "survey: group open has no end repeat",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
    // A reference that makes no sense is the definition's error, with the field.
    let bytes = workbook(vec![
        vec!["type", "name", "label", "repeat_count", "calculation"],
        vec!["begin repeat", "person", "Person", "", ""],
        vec!["text", "person_name", "Name", "", ""],
        vec!["end repeat", "", "", "", ""],
        vec!["calculate", "first", "", "", "${person_name}"],
    ]);
    let e = import(&bytes).unwrap_err().to_string();
    assert!(
        e.contains("field first, calculation: `${person_name}` is answered once per instance"),
        "{e}"
    );
}

#[test]
fn xlsform_loops_over_a_list_become_one_copy_per_choice() {
    let mut book = Workbook::new();
    let sheets: [(&str, Rows); 3] = [
        (
            "survey",
            vec![
                vec!["type", "name", "label", "relevant", "constraint"],
                vec!["select_multiple crop", "crops", "Crops grown", "", ""],
                vec![
                    "begin loop over crop",
                    "harvest",
                    "Harvest of %(label)s",
                    "",
                    "",
                ],
                vec![
                    "integer",
                    "kilos",
                    "Kilos of %(label)s (%(name)s)",
                    "",
                    ". >= 0",
                ],
                vec![
                    "decimal",
                    "price",
                    "Price per kilo",
                    "${kilos} > 0",
                    ". > 0 and . < ${kilos} * 100",
                ],
                vec!["end loop", "", "", "", ""],
            ],
        ),
        (
            "choices",
            vec![
                vec!["list_name", "name", "label"],
                vec!["crop", "rice", "Rice"],
                vec!["crop", "sweet-potato", "Sweet potato"],
            ],
        ),
        ("settings", vec![vec!["form_id"], vec!["harvests"]]),
    ];
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if !cell.is_empty() {
                    sheet.write_string(r as u32, c as u16, *cell).unwrap();
                }
            }
        }
    }
    let form = import(&book.save_to_buffer().unwrap()).unwrap();
    let shape: Vec<(Option<&str>, Vec<&str>)> = form
        .sections
        .iter()
        .map(|s| {
            (
                s.id.as_ref().map(|i| i.as_str()),
                s.fields.iter().map(|f| f.id.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (None, vec!["crops"]),
            (Some("harvest_rice"), vec!["kilos_rice", "price_rice"]),
            (
                Some("harvest_sweet_potato"),
                vec!["kilos_sweet_potato", "price_sweet_potato"]
            ),
        ]
    );
    assert_eq!(form.sections[2].label["en"], "Harvest of Sweet potato");
    let kilos = form.field("kilos_sweet_potato").unwrap();
    assert_eq!(kilos.label["en"], "Kilos of Sweet potato (sweet-potato)");
    let price = form.field("price_rice").unwrap();
    assert_eq!(price.relevant.as_ref().unwrap().text, "${kilos_rice} > 0");
    assert_eq!(
        errors(
            &form,
            json!({"crops": ["rice"], "kilos_rice": 10, "price_rice": 2000.0,
                   "kilos_sweet_potato": 0, "price_sweet_potato": 1.0})
        ),
        [
            err("answers.price_rice", Reason::ConstraintFailed),
            err("answers.price_sweet_potato", Reason::NotRelevant),
        ]
    );
    assert_eq!(import(&export(&form).unwrap()).unwrap(), form);
}
