use super::*;
use proptest::prelude::*;
use serde_json::json;

fn value(text: &str, answers: Value, current: Value) -> Val {
    let expr = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let lookup = move |id: &str| Val::from_answer(answers.get(id));
    let scope = Scope::new(
        &lookup,
        Val::from_answer(Some(&current)),
        "2026-11-29".into(),
    );
    expr.eval(&scope)
}

fn eval(text: &str, answers: Value, current: Value) -> bool {
    value(text, answers, current).truthy()
}

fn text_of(text: &str, answers: Value) -> String {
    value(text, answers, Value::Null).text()
}

#[test]
fn comparisons_follow_xlsform() {
    let a = json!({"age": 17, "sex": "female", "dob": "2001-05-02", "ok": true});
    assert!(eval("${age} < 18", a.clone(), Value::Null));
    assert!(eval("${age} = '17'", a.clone(), Value::Null));
    assert!(!eval("${age} >= 18", a.clone(), Value::Null));
    assert!(eval(
        "${sex} = 'female' and ${age} != 18",
        a.clone(),
        Value::Null
    ));
    assert!(eval(
        "${sex} = 'male' or not(${age} > 20)",
        a.clone(),
        Value::Null
    ));
    assert!(eval("${dob} < today()", a.clone(), Value::Null));
    assert!(eval("${ok} = 'yes'", a.clone(), Value::Null));
    assert!(eval(". >= 0 and . <= 120", a.clone(), json!(45)));
    assert!(eval(". > 0 and . < 120", a.clone(), json!(45)));
    assert!(!eval(". > 0 and . < 120", a.clone(), json!(130)));
    assert!(eval(". > -1.5", a.clone(), json!(0)));
    // Unanswered: empty text, numeric comparisons false, equality with '' true.
    assert!(eval("${missing} = ''", a.clone(), Value::Null));
    assert!(!eval("${missing} > 3", a.clone(), Value::Null));
    assert!(!eval("${missing} < 3", a.clone(), Value::Null));
    assert!(!eval("${missing}", a, Value::Null));
}

#[test]
fn arithmetic_follows_xpath_precedence() {
    let a = json!({"n": 7, "dob": "2000-11-30", "text": "abc"});
    assert_eq!(text_of("1 + 2 * 3", a.clone()), "7");
    assert_eq!(text_of("(1 + 2) * 3", a.clone()), "9");
    assert_eq!(text_of("${n} div 2", a.clone()), "3.5");
    assert_eq!(text_of("${n} mod 3", a.clone()), "1");
    assert_eq!(text_of("-${n} mod 3", a.clone()), "-1");
    assert_eq!(text_of("10 - 2 - 3", a.clone()), "5");
    assert_eq!(text_of("${n}-2", a.clone()), "5");
    assert_eq!(text_of("2 * -3", a.clone()), "-6");
    // Not a number: NaN, shown empty, false.
    assert_eq!(text_of("${text} + 1", a.clone()), "");
    assert_eq!(text_of("${missing} * 2", a.clone()), "");
    assert!(!eval("${missing} + 1 > 0", a.clone(), Value::Null));
    assert_eq!(text_of("1 div 0 > 1000", a.clone()), "true");
    // Dates are days: today() - dob, and age from a date of birth.
    assert_eq!(text_of("today() - ${dob}", a.clone()), "9495");
    assert_eq!(
        text_of(
            "int((decimal-date-time(today()) - decimal-date-time(${dob})) div 365.25)",
            a.clone()
        ),
        "25"
    );
    assert!(
        eval("1 < 2 < 3", a, Value::Null),
        "XPath chains comparisons"
    );
}

#[test]
fn functions_xlsforms_use() {
    let a = json!({
        "needs": ["shelter", "medical"], "name": "  Ana  Lima ", "phone": "+256700123456",
        "dob": "1990-02-03", "sex": "female", "empty": null, "n": 2.567
    });
    let t = |text: &str| text_of(text, a.clone());
    assert_eq!(t("if(${sex} = 'female', 'F', 'M')"), "F");
    assert_eq!(t("concat('a', 1, ${sex})"), "a1female");
    assert_eq!(t("coalesce(${empty}, 'none')"), "none");
    assert_eq!(t("coalesce(${sex}, 'none')"), "female");
    assert_eq!(t("int(-3.7)"), "-3");
    assert_eq!(t("round(${n}, 2)"), "2.57");
    assert_eq!(t("round(2.5)"), "3");
    assert_eq!(t("floor(${n}) + ceiling(${n})"), "5");
    assert_eq!(t("abs(-2) + pow(2, 3)"), "10");
    assert_eq!(t("min(3, 1, 2) + max(3, 1, 2)"), "4");
    assert_eq!(t("decimal-date-time('1970-01-02T12:00:00')"), "1.5");
    assert_eq!(t("decimal-date-time(${dob})"), "7338");
    assert_eq!(t("date(7338)"), "1990-02-03");
    assert_eq!(t("date(${dob})"), "1990-02-03");
    assert_eq!(t("today()"), "2026-11-29");
    assert_eq!(t("now()"), "2026-11-29T00:00:00");
    assert_eq!(t("selected(${needs}, 'medical')"), "true");
    assert_eq!(t("selected(${needs}, 'legal')"), "false");
    assert_eq!(t("count-selected(${needs})"), "2");
    assert_eq!(t("count-selected(${empty})"), "0");
    assert_eq!(t("selected-at(${needs}, 1)"), "medical");
    assert_eq!(t("string-length(${sex})"), "6");
    assert_eq!(t("string-length('abcdéf')"), "6");
    assert_eq!(t("normalize-space(${name})"), "Ana Lima");
    assert_eq!(t("substr('abcdef', 1, 3)"), "bc");
    assert_eq!(t("substr('abc', 5)"), "");
    assert_eq!(t("contains(${phone}, '700')"), "true");
    assert_eq!(t("starts-with(${phone}, '+256')"), "true");
    assert_eq!(t("ends-with(${phone}, '56')"), "true");
    assert_eq!(t("translate('abc', 'ab', 'B')"), "Bc");
    assert_eq!(t("number('4') + 1"), "5");
    assert_eq!(t("string(12)"), "12");
    assert_eq!(t("boolean('') or true()"), "true");
    assert_eq!(t("false()"), "false");
    assert_eq!(t("boolean-from-string('1')"), "true");
    assert_eq!(t("once(3)"), "3");
    assert_eq!(t("regex(${phone}, '^\\+?[0-9]{9,15}$')"), "true");
    assert_eq!(t("regex('07001', '^\\+[0-9]+$')"), "false");
    // Unanchored, as XPath's matches().
    assert_eq!(t("regex('abc123', '[0-9]')"), "true");
}

#[test]
fn choice_names_and_columns_come_from_the_scope() {
    let expr = Expr::parse("jr:choice-name(${sex}, '${sex}')").unwrap();
    let field = |_: &str| Val::Text("f".into());
    let name = |n: &str| Val::Text(format!("col:{n}"));
    let choice_name = |field: &str, code: &str| format!("{field}/{code}");
    let scope = Scope {
        field: &field,
        current: Val::Text(String::new()),
        today: "2026-01-01".into(),
        name: &name,
        choice_name: &choice_name,
        nodes: &|_| None,
        position: 0,
    };
    assert_eq!(expr.eval(&scope).text(), "sex/f");
    let filter = Expr::parse("country = ${c}").unwrap();
    assert_eq!(filter.names().into_iter().collect::<Vec<_>>(), ["country"]);
    assert!(!filter.holds(&scope));
    assert!(Expr::parse("country = 'col:country'")
        .unwrap()
        .holds(&scope));
}

#[test]
fn typographic_quotes_are_strings() {
    let a = json!({"other": "other", "q": "it's"});
    assert!(eval("${other} = ‘other’", a.clone(), Value::Null));
    assert!(eval("${other} = “other”", a.clone(), Value::Null));
    assert!(eval("${other} = ’other’", a.clone(), Value::Null));
    // A straight quote is not closed by a curly one, so apostrophes survive.
    assert!(eval("${q} = \"it's\"", a, Value::Null));
}

#[test]
fn references_are_collected() {
    let e = Expr::parse("selected(${a}, 'x') and (${b} > 1 or not(${c} = ${a} + 1))").unwrap();
    let refs: Vec<_> = e.references().into_iter().collect();
    assert_eq!(refs, ["a", "b", "c"]);
}

#[test]
fn aggregates_read_every_instance_through_the_scope() {
    let field = |_: &str| Val::Text(String::new());
    // Three members, the last one's age unanswered.
    let nodes = |id: &str| match id {
        "member" => Some(vec![Val::Text("k1".into()); 3]),
        "age" => Some(vec![
            Val::Number(34.0),
            Val::Number(7.0),
            Val::Text(String::new()),
        ]),
        "name" => Some(vec![
            Val::Text("A".into()),
            Val::Text("B".into()),
            Val::Text("C".into()),
        ]),
        _ => None,
    };
    let scope = |position| Scope {
        nodes: &nodes,
        position,
        ..Scope::new(&field, Val::Text(String::new()), "2026-01-01".into())
    };
    let t = |text: &str, position: usize| Expr::parse(text).unwrap().eval(&scope(position)).text();
    assert_eq!(t("count(${member})", 0), "3");
    assert_eq!(t("count(${age})", 0), "3");
    // XPath: an unanswered instance makes the sum NaN, shown as ''.
    assert_eq!(t("sum(${age})", 0), "");
    assert_eq!(t("sum(${age}) > 0", 0), "false");
    assert_eq!(t("indexed-repeat(${age}, ${member}, 1) + 1", 0), "35");
    assert_eq!(
        t("indexed-repeat(${name}, ${member}, position(..) - 1)", 3),
        "B"
    );
    assert_eq!(
        t("indexed-repeat(${name}, ${member}, position(..) - 1)", 1),
        ""
    );
    assert_eq!(t("indexed-repeat(${name}, ${member}, 1.5)", 1), "");
    assert_eq!(t("max(indexed-repeat(${age}, ${member}, 1), 50)", 0), "50");
    assert_eq!(t("position(..)", 2), "2");
    // Not a repeat: one value, counted when answered.
    assert_eq!(t("count(${other})", 0), "0");
    assert_eq!(t("sum(3)", 0), "3");
    let complete = |id: &str| match id {
        "age" => Some(vec![Val::Number(34.0), Val::Text("7".into())]),
        _ => None,
    };
    let scope = Scope {
        nodes: &complete,
        ..Scope::new(&field, Val::Text(String::new()), "2026-01-01".into())
    };
    let t = |text: &str| Expr::parse(text).unwrap().eval(&scope).text();
    assert_eq!(t("sum(${age})"), "41");
    assert_eq!(t("min(${age})"), "7");
    assert_eq!(t("max(${age})"), "34");
    assert_eq!(t("max(${age}, 50)"), "");
}

#[test]
fn errors_give_position_and_reason() {
    let cases = [
        ("${age} >", 8, "unexpected end"),
        ("${Age} > 1", 2, "not a field id"),
        ("'abc", 0, "unterminated string"),
        ("‘abc", 0, "unterminated string"),
        ("${a", 0, "unterminated field reference"),
        ("$a", 0, "expected `{`"),
        ("foo(1)", 0, "unknown function"),
        ("pulldata('a', 'b', 'c', 'd')", 0, "outside the form"),
        ("position()", 0, "written position(..)"),
        ("position(.)", 0, "written position(..)"),
        (".. = 1", 0, "expected a value"),
        ("sum(${a}, ${b})", 0, "takes 1 argument"),
        ("/data/a = 1", 0, "paths are not supported"),
        ("not(1, 2)", 0, "takes 1 argument"),
        ("if(1, 2)", 0, "takes 3 argument"),
        ("(1 = 1", 6, "expected `)`"),
        ("1 = 1 1", 6, "unexpected text"),
        ("selected(${a} 'x')", 14, "expected `)`"),
        ("# 1", 0, "unexpected character"),
        ("and 1", 0, "needs a value"),
        ("regex(., ${a})", 0, "must be a quoted string"),
        ("regex(., '(a')", 0, "pattern is not supported"),
        ("regex(., '(?=a)')", 0, "pattern is not supported"),
        ("regex(.)", 0, "takes 2 argument"),
    ];
    for (text, position, reason) in cases {
        let e = Expr::parse(text).expect_err(text);
        assert_eq!(e.position, position, "{text}: {e}");
        assert!(e.reason.contains(reason), "{text}: {e}");
    }
    let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    assert!(Expr::parse(&deep).unwrap_err().reason.contains("nested"));
    let chain = "1 + ".repeat(100) + "1";
    assert!(Expr::parse(&chain).unwrap_err().reason.contains("nested"));
    let long = "1 = 1 and ".repeat(300);
    assert!(Expr::parse(&long).unwrap_err().reason.contains("longer"));
}

#[test]
fn display_reads_back_to_the_same_expression() {
    for text in [
        "${a} + 2 * (3 - -${b}) div 4 mod 5",
        "if(selected(${x}, 'y'), concat(‘a’, \"it's\"), coalesce(., 'z'))",
        "regex(., '^[0-9]+$') and not(country = ${c} or 1 < 2 < 3)",
        "jr:choice-name(${s}, '${s}') != '' and today() >= date(0.5)",
        "count(${m}) + sum(${age}) > indexed-repeat(${age}, ${m}, position(..) - 1)",
    ] {
        let e = Expr::parse(text).unwrap();
        let shown = e.to_string();
        assert_eq!(Expr::parse(&shown).unwrap(), e, "{text} → {shown}");
    }
}

/// Characters expressions are made of, weighted towards the ones that make structure.
fn expression_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "${a}",
        "${b}",
        ".",
        "'x'",
        "‘y’",
        "\"z\"",
        "1",
        "2.5",
        "(",
        ")",
        ",",
        "-",
        "+",
        "*",
        " div ",
        " mod ",
        " and ",
        " or ",
        "=",
        "!=",
        "<",
        ">=",
        "not(",
        "if(",
        "concat(",
        "regex(",
        "'^[0-9]+$'",
        "selected(",
        "today()",
        "country",
        "$",
        "{",
        "'",
        "“",
        "é",
        " ",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "\\PC{0,300}") {
        let _ = Expr::parse(&text);
    }

    #[test]
    fn parsed_expressions_evaluate_and_read_back(text in expression_text()) {
        if let Ok(e) = Expr::parse(&text) {
            let answers = json!({"a": 3, "b": "x y"});
            let lookup = move |id: &str| Val::from_answer(answers.get(id));
            let scope = Scope::new(&lookup, Val::Number(1.0), "2026-11-29".into());
            let _ = e.eval(&scope);
            let shown = e.to_string();
            let again = Expr::parse(&shown);
            prop_assert!(again.is_ok(), "{} → {}: {:?}", text, shown, again);
            prop_assert_eq!(again.unwrap(), e);
        }
    }
}
