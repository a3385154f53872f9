//! The form expression parser and evaluator (`forms::expr`): any text parses or gives a
//! typed error; what parses evaluates without panicking and prints (`Display`) as text that
//! parses back to an equal expression.

use crate::tape::Tape;
use bolero::check;
use fieldcase_core::forms::expr::{Scope, Val};
use fieldcase_core::forms::Expr;

/// Tokens of the language, so most inputs get past the lexer.
const TOKENS: &[&str] = &[
    "${a}",
    "${b}",
    "${n}",
    ".",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "div",
    "mod",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "and",
    "or",
    "'x'",
    "\"yes\"",
    "‘q’",
    "1",
    "0",
    "2.5",
    "-3",
    "1e308",
    "today()",
    "count(",
    "sum(",
    "min(",
    "max(",
    "if(",
    "concat(",
    "selected(",
    "regex(",
    "'^[a-z]+$'",
    "'('",
    "string-length(",
    "substr(",
    "round(",
    "int(",
    "number(",
    "coalesce(",
    "not(",
    "true()",
    "false()",
    "position(..)",
    "indexed-repeat(",
    "date(",
    "format-date(",
    "'%Y'",
    "jr:choice-name(",
    "'${a}'",
    "decimal-date-time(",
    "pow(",
    "ceiling(",
    "abs(",
    "name",
    "boolean(",
    "string(",
    "contains(",
    "starts-with(",
    "count-selected(",
    "selected-at(",
    "once(",
    "uuid()",
    "now()",
    "translate(",
    "join(",
    "' '",
    "999999999999999999999",
    "0.0000001",
    "'2024-02-29'",
];

fn field(id: &str) -> Val {
    match id {
        "a" => Val::Text("2024-02-29".into()),
        "b" => Val::List(vec!["x".into(), "y".into()]),
        "n" => Val::Number(-0.5),
        _ => Val::Text(String::new()),
    }
}

fn check_text(text: &str) {
    let Ok(expr) = Expr::parse(text) else {
        return;
    };
    let nodes = |id: &str| (id == "n").then(|| vec![Val::Number(1.0), Val::Text("z".into())]);
    let mut scope = Scope::new(&field, Val::Text("x".into()), "2026-12-04".into());
    scope.nodes = &nodes;
    scope.position = 1;
    let _ = expr.eval(&scope);
    let printed = expr.to_string();
    let again = Expr::parse(&printed).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
    // NaN is unequal to itself, so compare the printed forms.
    assert_eq!(again.to_string(), printed, "from {text:?}");
}

#[test]
fn expr_arbitrary_text() {
    check!().for_each(|bytes: &[u8]| {
        if let Ok(text) = std::str::from_utf8(bytes) {
            check_text(text);
        }
    });
}

#[test]
fn expr_token_sequences() {
    check!().for_each(|bytes: &[u8]| {
        let mut tape = Tape::new(bytes);
        let mut text = String::new();
        while !tape.is_empty() {
            let token: &&str = tape.pick(TOKENS);
            text.push_str(token);
            if tape.byte() & 1 == 1 {
                text.push(' ');
            }
        }
        check_text(&text);
    });
}
