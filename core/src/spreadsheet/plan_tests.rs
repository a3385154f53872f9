//! Tests of the column plan: header detection, composite fields, problems.

use super::*;

fn t(text: &str) -> Cell {
    if text.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(text.into())
    }
}

fn row(number: u64, cells: &[&str]) -> (u64, Vec<Cell>) {
    (number, cells.iter().map(|c| t(c)).collect())
}

#[test]
fn the_header_row_is_found_below_a_title_and_a_group_row() {
    let head = vec![
        row(1, &["Caseload export, Kampala office"]),
        row(3, &["Identity", "", "", "Profile", "", "Sex"]),
        row(4, &["Prénom", "Nom", "DOB", "Nationality", "Notes", ""]),
        row(5, &["Amina", "Okello", "04/03/2001", "Ouganda", "x", "F"]),
    ];
    let plan = ColumnPlan::detect(&head, &Mapping::builtin(), "cw_1").unwrap();
    assert_eq!(plan.header_row, 4);
    let report = plan.report();
    let targets: Vec<Option<&str>> = report.iter().map(|c| c.target.as_deref()).collect();
    assert_eq!(
        targets,
        [
            Some("given_name"),
            Some("family_name"),
            Some("date_of_birth"),
            Some("nationality"),
            None,
            Some("sex")
        ]
    );
    assert_eq!(report[0].header, "Identity Prénom");
    assert_eq!(report[5].header, "Sex", "a label merged down two rows");
    let fields = plan.convert_row(5, &head[3].1);
    assert_eq!(fields.fields["date_of_birth"], "2001-03-04");
    assert_eq!(fields.fields["nationality"], "UGA");
    assert_eq!(fields.fields["sex"], "female");
    assert!(fields.problems.is_empty(), "{:?}", fields.problems);
}

#[test]
fn composite_fields_are_assembled() {
    let head = vec![row(
        1,
        &[
            "Intake date",
            "Age",
            "Consent",
            "Passport",
            "VoT",
            "Category",
            "Guardian",
        ],
    )];
    let plan = ColumnPlan::detect(&head, &Mapping::builtin(), "cw_1").unwrap();
    let cells: Vec<Cell> = [
        "2024-06-01",
        "16",
        "Oui",
        "P123",
        "yes",
        "Stranded migrant",
        "",
    ]
    .iter()
    .map(|c| t(c))
    .collect();
    let read = plan.convert_row(2, &cells);
    assert_eq!(read.problems, []);
    let f = &read.fields;
    assert_eq!(f["age_estimate"], 16);
    assert_eq!(f["age_estimated_on"], "2024-06-01", "dated by the intake");
    assert_eq!(
        f["consent.assistance"],
        json!({"given": true, "date": "2024-06-01", "recorded_by": "cw_1"})
    );
    assert_eq!(
        f["document_numbers"],
        json!([{"type": "passport", "number": "P123"}])
    );
    assert_eq!(
        f["categories"],
        json!(["stranded_migrant", "victim_of_trafficking"])
    );
}

#[test]
fn problems_name_row_column_and_rule_not_the_value() {
    let head = vec![row(1, &["Name", "DOB", "Sex", "Nationality"])];
    let plan = ColumnPlan::detect(&head, &Mapping::builtin(), "cw_1").unwrap();
    let cells: Vec<Cell> = ["Zaynab", "Zaynab", "Zaynab", "Zaynab"]
        .iter()
        .map(|c| t(c))
        .collect();
    let read = plan.convert_row(7, &cells);
    let shown: Vec<String> = read.problems.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(shown[0].starts_with("row 7, column B (date_of_birth): not a date"));
    for text in &shown {
        assert!(!text.contains("Zaynab"), "{text}");
    }
    assert_eq!(plan.report()[0].target, None, "Name is not guessed");
}

#[test]
fn duplicate_targets_are_reported_and_one_wins() {
    let head = vec![row(1, &["Sex", "Gender", "Category", "Categories"])];
    let plan = ColumnPlan::detect(&head, &Mapping::builtin(), "cw_1").unwrap();
    let report = plan.report();
    assert_eq!(report[1].target, None);
    assert!(report[1].how.contains("column A"), "{}", report[1].how);
    assert_eq!(
        report[3].target.as_deref(),
        Some("categories"),
        "sets merge"
    );
}

#[test]
fn no_header_is_a_clear_error() {
    let head = vec![row(1, &["a", "b"]), row(2, &["1", "2"])];
    assert!(matches!(
        ColumnPlan::detect(&head, &Mapping::builtin(), "cw_1"),
        Err(PlanError::NoHeader)
    ));
}
