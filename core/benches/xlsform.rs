//! The figures issue 17 asks for: converting a 500-question XLSForm workbook, and validating
//! one case against the form it gives — also with the last group a repeat of 10 instances.
//!
//! The workbook is in the field's style: 25 groups of 20 questions (integers with range
//! constraints, selects with cascading choice filters and `or_other`, texts with a `regex()`,
//! dates, calculations using arithmetic and `if()`), relevance between questions, English and
//! French labels. The case answers every shown question. In the repeat variant the last group
//! of 20 questions is a repeat (household members) answered 10 times, with a total and a count
//! of its instances computed outside it.
//!
//! Run: `cargo bench -p fieldcase-core --bench xlsform`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fieldcase_core::forms::xlsform::import_named;
use fieldcase_core::forms::{check_form, FieldType, FormDefinition};
use fieldcase_core::model::{Date, Fields};
use rust_xlsxwriter::Workbook;
use serde_json::{json, Value};

const GROUPS: usize = 25;
const PER_GROUP: usize = 20;

/// Instances of the repeat variant's repeat.
const INSTANCES: usize = 10;

fn workbook(last_group_repeats: bool) -> Vec<u8> {
    let mut book = Workbook::new();
    let survey = book.add_worksheet();
    survey.set_name("survey").unwrap();
    let header = [
        "type",
        "name",
        "label::English (en)",
        "label::French (fr)",
        "required",
        "relevant",
        "constraint",
        "calculation",
        "choice_filter",
    ];
    let mut row = 0u32;
    let mut write = |cells: &[String]| {
        for (c, text) in cells.iter().enumerate() {
            if !text.is_empty() {
                survey.write_string(row, c as u16, text).unwrap();
            }
        }
        row += 1;
    };
    write(&header.map(str::to_owned));
    for g in 0..GROUPS {
        let repeat = last_group_repeats && g == GROUPS - 1;
        let (begin, end) = if repeat {
            ("begin repeat", "end repeat")
        } else {
            ("begin group", "end group")
        };
        write(&[
            begin.into(),
            format!("group_{g}"),
            format!("Part {g}"),
            format!("Partie {g}"),
        ]);
        for q in 0..PER_GROUP {
            let id = format!("q{g}_{q}");
            let previous = format!("q{g}_{}", q.saturating_sub(1));
            let (kind, required, relevant, constraint, calculation, filter) = match q % 10 {
                0 => ("integer", "yes", "", ". >= 0 and . < 120", "", ""),
                1 => ("select_one country", "yes", "", "", "", ""),
                2 => ("select_one district", "", "", "", "", "country = ${PREV}"),
                3 => (
                    "text",
                    "",
                    "${PREV} != ''",
                    "regex(., '^\\+?[0-9]{9,15}$')",
                    "",
                    "",
                ),
                4 => ("date", "", "", ". <= today()", "", ""),
                5 => (
                    "calculate",
                    "",
                    "",
                    "",
                    "int((decimal-date-time(today()) - decimal-date-time(${PREV})) div 365.25)",
                    "",
                ),
                6 => (
                    "select_multiple needs or_other",
                    "",
                    "${PREV} >= 0",
                    "",
                    "",
                    "",
                ),
                7 => (
                    "decimal",
                    "",
                    "count-selected(${PREV}) > 0",
                    ". > 0",
                    "",
                    "",
                ),
                8 => ("text", "", "", "string-length(.) <= 200", "", ""),
                _ => ("note", "", "if(${PREV} = '', false(), true())", "", "", ""),
            };
            let fill = |s: &str| s.replace("PREV", &previous);
            write(&[
                kind.into(),
                id.clone(),
                format!("Question {id}"),
                format!("Question {id} (fr)"),
                required.into(),
                fill(relevant),
                fill(constraint),
                fill(calculation),
                fill(filter),
            ]);
        }
        write(&[end.into()]);
    }
    if last_group_repeats {
        let last = GROUPS - 1;
        write(&[
            "calculate".into(),
            "members_total_age".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!("sum(${{q{last}_0}})"),
        ]);
        write(&[
            "note".into(),
            "members_many".into(),
            "Many members".into(),
            "Beaucoup".into(),
            String::new(),
            format!("count(${{group_{last}}}) > 5 and ${{members_total_age}} > 100"),
        ]);
    }
    let choices = book.add_worksheet();
    choices.set_name("choices").unwrap();
    let rows = [
        [
            "list_name",
            "name",
            "label::English (en)",
            "label::French (fr)",
            "country",
        ],
        ["country", "UGA", "Uganda", "Ouganda", ""],
        ["country", "KEN", "Kenya", "Kenya", ""],
        ["district", "gulu", "Gulu", "Gulu", "UGA"],
        ["district", "kampala", "Kampala", "Kampala", "UGA"],
        ["district", "nairobi", "Nairobi", "Nairobi", "KEN"],
        ["needs", "shelter", "Shelter", "Hébergement", ""],
        ["needs", "medical", "Medical", "Médical", ""],
        ["needs", "legal", "Legal", "Juridique", ""],
    ];
    for (r, cells) in rows.iter().enumerate() {
        for (c, text) in cells.iter().enumerate() {
            if !text.is_empty() {
                choices.write_string(r as u32, c as u16, *text).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// A case answering every question of the form, each repeat's questions [`INSTANCES`] times.
fn case(form: &FormDefinition) -> Fields {
    let mut fields = Fields::new();
    for section in &form.sections {
        for field in &section.fields {
            let value: Value = match field.field_type {
                FieldType::Integer => json!(34),
                FieldType::Decimal => json!(120.5),
                FieldType::Date => json!("1992-03-14"),
                FieldType::SelectOne if field.choices.as_deref() == Some("country") => json!("UGA"),
                FieldType::SelectOne => json!("gulu"),
                FieldType::SelectMultiple => json!(["shelter", "medical"]),
                FieldType::Text if field.id.as_str().ends_with("_other") => continue,
                FieldType::Text => json!("+256772000111"),
                _ => continue,
            };
            match section.repeat_id() {
                Some(repeat) => {
                    for i in 0..INSTANCES {
                        let key = format!("answers.{repeat}.m{i:02}.{}", field.id);
                        fields.insert(key, value.clone());
                    }
                }
                None => {
                    fields.insert(field.id.key(), value);
                }
            }
        }
    }
    fields
}

fn bench(c: &mut Criterion) {
    let bytes = workbook(false);
    let form = import_named(&bytes, Some("bench.xlsx")).expect("the bench form converts");
    assert_eq!(
        form.fields()
            .filter(|f| !f.id.as_str().ends_with("_other"))
            .count(),
        500
    );
    let fields = case(&form);
    let today = Date::parse("2026-11-29").unwrap();
    check_form(&form, &fields, today).expect("the bench case is valid");
    c.bench_function("xlsform_convert_500_questions", |b| {
        b.iter(|| import_named(black_box(&bytes), Some("bench.xlsx")).unwrap())
    });
    c.bench_function("validate_one_case_500_questions", |b| {
        b.iter(|| check_form(black_box(&form), black_box(&fields), today).unwrap())
    });

    let repeating =
        import_named(&workbook(true), Some("bench.xlsx")).expect("the variant converts");
    assert_eq!(repeating.repeats.len(), 1);
    let fields = case(&repeating);
    let in_repeat = fields
        .keys()
        .filter(|k| k.matches('.').count() == 3)
        .count();
    assert!(
        in_repeat > 10 * PER_GROUP / 2,
        "{in_repeat} instance answers"
    );
    check_form(&repeating, &fields, today).expect("the repeat bench case is valid");
    c.bench_function("validate_one_case_500_questions_repeat_10_instances", |b| {
        b.iter(|| check_form(black_box(&repeating), black_box(&fields), today).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
