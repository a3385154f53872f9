//! The XLSForm import (`forms::xlsform::import`): arbitrary bytes, a real workbook with bytes
//! changed, and workbooks written here from fuzzer-chosen cells. Each is a form or a typed
//! error; a form that imports exports to a workbook that imports equal.

use crate::tape::Tape;
use bolero::check;
use fieldcase_core::forms::xlsform::{export, import};
use rust_xlsxwriter::Workbook;

const HOUSEHOLD: &[u8] = include_bytes!("../fixtures/household.xlsx");

/// Sheet names, column headers and cell values of XLSForms, for the workbook generator.
const CELLS: &[&str] = &[
    "type",
    "name",
    "label",
    "label::English (en)",
    "label::French (fr)",
    "hint",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "calculation",
    "choice_filter",
    "appearance",
    "default",
    "read_only",
    "repeat_count",
    "fieldcase::core",
    "list_name",
    "form_id",
    "version",
    "default_language",
    "form_title",
    "text",
    "integer",
    "decimal",
    "date",
    "select_one sex",
    "select_multiple needs",
    "select_one missing",
    "begin_group",
    "end_group",
    "begin_repeat",
    "end_repeat",
    "begin group",
    "end group",
    "calculate",
    "note",
    "yes",
    "no",
    "true()",
    "sex",
    "needs",
    "female",
    "male",
    "q1",
    "q2",
    "g1",
    "r1",
    "${q1} > 3",
    "${q2} = 'female'",
    "count(${r1})",
    ". > 0",
    "((",
    "English (en)",
    "1",
    "",
    "given_name",
    "date_of_birth",
    "phone",
    "x y",
    "é",
];

const SHEETS: &[&str] = &["survey", "choices", "settings", "Survey", "other"];

fn generated_workbook(tape: &mut Tape) -> Vec<u8> {
    let mut book = Workbook::new();
    let mut used = Vec::new();
    for _ in 0..tape.below(3) + 1 {
        let name = *tape.pick(SHEETS);
        // Sheet names are unique regardless of case.
        if used.iter().any(|u: &&str| u.eq_ignore_ascii_case(name)) {
            continue;
        }
        used.push(name);
        let sheet = book.add_worksheet();
        sheet.set_name(name).expect("a valid sheet name");
        for row in 0..tape.below(8) as u32 {
            for col in 0..tape.below(6) as u16 {
                let cell = tape.text(CELLS);
                if tape.below(8) == 0 {
                    let _ = sheet.write_number(row, col, f64::from(tape.byte()) - 100.5);
                } else {
                    let _ = sheet.write_string(row, col, &cell);
                }
            }
        }
    }
    book.save_to_buffer().expect("an in-memory workbook saves")
}

/// What imports exports, and the export imports to the same form.
fn check_workbook(bytes: &[u8]) {
    let Ok(form) = import(bytes) else {
        return;
    };
    let exported = export(&form).expect("an imported form exports");
    let again = import(&exported).expect("an exported form imports");
    assert_eq!(again, form);
}

#[test]
fn xlsform_arbitrary_bytes() {
    check!().for_each(|bytes: &[u8]| check_workbook(bytes));
}

#[test]
fn xlsform_altered_workbook() {
    check!().for_each(|bytes: &[u8]| {
        let mut tape = Tape::new(bytes);
        let mut workbook = HOUSEHOLD.to_vec();
        for _ in 0..tape.below(4) + 1 {
            let at = (usize::from(tape.byte()) << 8 | usize::from(tape.byte())) * 7;
            let at = at % workbook.len();
            workbook[at] = tape.byte();
        }
        if tape.below(4) == 0 {
            workbook.truncate(tape.below(workbook.len()));
        }
        check_workbook(&workbook);
    });
}

#[test]
fn xlsform_generated_workbook() {
    check!().for_each(|bytes: &[u8]| {
        let workbook = generated_workbook(&mut Tape::new(bytes));
        check_workbook(&workbook);
    });
}
