//! The XPath and ODK functions XLSForm forms use, evaluated the same everywhere. Functions that
//! need data outside the form (`pull_data`, `search`, `instance`) are refused by name with the
//! reason, so an admin learns why rather than "unknown". The functions over a repeat's
//! instances (`count`, `sum`, one-argument `min`/`max`, `indexed-repeat`) read them through
//! [`Scope::nodes`]; where a definition may use them is checked when it is read
//! (`forms/repeat.rs`).

use super::{Expr, Scope, Val};
use crate::model::Date;

/// A supported function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Today,
    Now,
    Not,
    True,
    False,
    Boolean,
    BooleanFromString,
    If,
    Selected,
    CountSelected,
    SelectedAt,
    ChoiceName,
    StringLength,
    Concat,
    Coalesce,
    Contains,
    StartsWith,
    EndsWith,
    Substr,
    Translate,
    NormalizeSpace,
    String,
    Number,
    Int,
    Round,
    Floor,
    Ceiling,
    Abs,
    Pow,
    Min,
    Max,
    DecimalDateTime,
    Date,
    Once,
    Count,
    Sum,
    /// `position(..)`: the number (from 1) of the repeat instance being evaluated.
    Position,
    IndexedRepeat,
}

const TABLE: [(&str, Function, usize, Option<usize>); 38] = [
    ("today", Function::Today, 0, Some(0)),
    ("now", Function::Now, 0, Some(0)),
    ("not", Function::Not, 1, Some(1)),
    ("true", Function::True, 0, Some(0)),
    ("false", Function::False, 0, Some(0)),
    ("boolean", Function::Boolean, 1, Some(1)),
    (
        "boolean-from-string",
        Function::BooleanFromString,
        1,
        Some(1),
    ),
    ("if", Function::If, 3, Some(3)),
    ("selected", Function::Selected, 2, Some(2)),
    ("count-selected", Function::CountSelected, 1, Some(1)),
    ("selected-at", Function::SelectedAt, 2, Some(2)),
    ("jr:choice-name", Function::ChoiceName, 2, Some(2)),
    ("string-length", Function::StringLength, 1, Some(1)),
    ("concat", Function::Concat, 0, None),
    ("coalesce", Function::Coalesce, 2, Some(2)),
    ("contains", Function::Contains, 2, Some(2)),
    ("starts-with", Function::StartsWith, 2, Some(2)),
    ("ends-with", Function::EndsWith, 2, Some(2)),
    ("substr", Function::Substr, 2, Some(3)),
    ("translate", Function::Translate, 3, Some(3)),
    ("normalize-space", Function::NormalizeSpace, 1, Some(1)),
    ("string", Function::String, 1, Some(1)),
    ("number", Function::Number, 1, Some(1)),
    ("int", Function::Int, 1, Some(1)),
    ("round", Function::Round, 1, Some(2)),
    ("floor", Function::Floor, 1, Some(1)),
    ("ceiling", Function::Ceiling, 1, Some(1)),
    ("abs", Function::Abs, 1, Some(1)),
    ("pow", Function::Pow, 2, Some(2)),
    ("min", Function::Min, 1, None),
    ("max", Function::Max, 1, None),
    ("decimal-date-time", Function::DecimalDateTime, 1, Some(1)),
    ("date", Function::Date, 1, Some(1)),
    ("once", Function::Once, 1, Some(1)),
    ("count", Function::Count, 1, Some(1)),
    ("sum", Function::Sum, 1, Some(1)),
    // Written `position(..)`: the parser reads the `..` and keeps no argument.
    ("position", Function::Position, 0, Some(0)),
    ("indexed-repeat", Function::IndexedRepeat, 3, Some(3)),
];

/// Functions XLSForm knows that fieldcase refuses, with the reason.
const REFUSED: [(&str, &str); 8] = [
    ("pulldata", "it reads a CSV file outside the form"),
    ("pull_data", "it reads a CSV file outside the form"),
    ("search", "it reads a CSV file outside the form"),
    ("instance", "it reads data outside the form"),
    (
        "random",
        "a random value would differ between device and server",
    ),
    (
        "uuid",
        "a random value would differ between device and server",
    ),
    (
        "format-date",
        "dates are shown by the app in the reader's locale",
    ),
    (
        "digest",
        "hashing is not part of fieldcase's expression subset",
    ),
];

impl Function {
    pub fn from_name(name: &str) -> Option<Function> {
        TABLE.iter().find(|(n, ..)| *n == name).map(|(_, f, ..)| *f)
    }

    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, f, ..)| *f == self)
            .map(|(n, ..)| *n)
            .expect("every function is in the table")
    }

    /// Fewest and most arguments (`None`: any number).
    pub fn arity(self) -> (usize, Option<usize>) {
        TABLE
            .iter()
            .find(|(_, f, ..)| *f == self)
            .map(|(_, _, min, max)| (*min, *max))
            .expect("every function is in the table")
    }

    pub(super) fn refused(name: &str) -> Option<&'static str> {
        REFUSED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, why)| *why)
    }

    pub(super) fn supported_names() -> String {
        let mut names: Vec<&str> = TABLE.iter().map(|(n, ..)| *n).collect();
        names.push("regex");
        names.join(", ")
    }

    pub(super) fn call(self, args: &[Expr], scope: &Scope<'_>) -> Val {
        let arg = |i: usize| args[i].eval(scope);
        let number = |i: usize| arg(i).number().unwrap_or(f64::NAN);
        let text = |i: usize| arg(i).text();
        // Every instance's value of a `${...}` argument naming a repeat or one of its fields.
        let nodes = |i: usize| match &args[i] {
            Expr::Field(id) => (scope.nodes)(id),
            _ => None,
        };
        match self {
            Function::Today => Val::Text(scope.today.clone()),
            // Times are not recorded; `now()` is the start of today (UTC), as a date-time.
            Function::Now => Val::Text(format!("{}T00:00:00", scope.today)),
            Function::Not => Val::Bool(!arg(0).truthy()),
            Function::True => Val::Bool(true),
            Function::False => Val::Bool(false),
            Function::Boolean => Val::Bool(arg(0).truthy()),
            Function::BooleanFromString => Val::Bool(matches!(text(0).as_str(), "true" | "1")),
            Function::If => {
                if arg(0).truthy() {
                    arg(1)
                } else {
                    arg(2)
                }
            }
            Function::Selected => {
                let code = text(1);
                let code = code.trim();
                Val::Bool(codes(&arg(0)).iter().any(|c| c == code))
            }
            Function::CountSelected => Val::Number(codes(&arg(0)).len() as f64),
            Function::SelectedAt => {
                let list = codes(&arg(0));
                let at = number(1);
                let item = (at >= 0.0 && at.fract() == 0.0)
                    .then(|| list.get(at as usize).cloned())
                    .flatten();
                Val::Text(item.unwrap_or_default())
            }
            Function::ChoiceName => {
                let code = text(0);
                let field = text(1);
                let field = field
                    .trim()
                    .trim_start_matches("${")
                    .trim_end_matches('}')
                    .trim();
                Val::Text((scope.choice_name)(field, code.trim()))
            }
            Function::StringLength => Val::Number(text(0).chars().count() as f64),
            Function::Concat => Val::Text(args.iter().map(|a| a.eval(scope).text()).collect()),
            Function::Coalesce => {
                let first = arg(0);
                if first.text().is_empty() {
                    arg(1)
                } else {
                    first
                }
            }
            Function::Contains => Val::Bool(text(0).contains(&text(1))),
            Function::StartsWith => Val::Bool(text(0).starts_with(&text(1))),
            Function::EndsWith => Val::Bool(text(0).ends_with(&text(1))),
            Function::Substr => {
                // ODK's substr: 0-based start, exclusive end (unlike XPath 1.0's substring).
                let chars: Vec<char> = text(0).chars().collect();
                let clamp = |n: f64| {
                    if n.is_nan() || n < 0.0 {
                        0
                    } else {
                        (n as usize).min(chars.len())
                    }
                };
                let start = clamp(number(1));
                let end = if args.len() > 2 {
                    clamp(number(2))
                } else {
                    chars.len()
                };
                Val::Text(chars[start..end.max(start)].iter().collect())
            }
            Function::Translate => {
                let from: Vec<char> = text(1).chars().collect();
                let to: Vec<char> = text(2).chars().collect();
                let out = text(0)
                    .chars()
                    .filter_map(|c| match from.iter().position(|f| *f == c) {
                        Some(i) => to.get(i).copied(),
                        None => Some(c),
                    })
                    .collect();
                Val::Text(out)
            }
            Function::NormalizeSpace => {
                Val::Text(text(0).split_whitespace().collect::<Vec<_>>().join(" "))
            }
            Function::String => Val::Text(text(0)),
            Function::Number => Val::Number(number(0)),
            Function::Int => Val::Number(number(0).trunc()),
            Function::Round => {
                let n = number(0);
                let places = if args.len() > 1 { number(1) } else { 0.0 };
                if places.is_nan() || places.abs() > 15.0 {
                    return Val::Number(f64::NAN);
                }
                let scale = 10f64.powi(places as i32);
                // XPath rounds halves up (towards positive infinity).
                Val::Number((n * scale + 0.5).floor() / scale)
            }
            Function::Floor => Val::Number(number(0).floor()),
            Function::Ceiling => Val::Number(number(0).ceil()),
            Function::Abs => Val::Number(number(0).abs()),
            Function::Pow => Val::Number(number(0).powf(number(1))),
            Function::Min | Function::Max => {
                let values: Vec<f64> = match nodes(0).filter(|_| args.len() == 1) {
                    Some(values) => values
                        .iter()
                        .map(|v| v.number().unwrap_or(f64::NAN))
                        .collect(),
                    None => (0..args.len()).map(number).collect(),
                };
                if values.iter().any(|v| v.is_nan()) {
                    return Val::Number(f64::NAN);
                }
                let pick = if self == Function::Min {
                    f64::min
                } else {
                    f64::max
                };
                Val::Number(values.into_iter().reduce(pick).unwrap_or(f64::NAN))
            }
            // Outside a repeat context (checked when the definition is read) one value: it
            // counts as one when answered.
            Function::Count => match nodes(0) {
                Some(values) => Val::Number(values.len() as f64),
                None => Val::Number(if text(0).is_empty() { 0.0 } else { 1.0 }),
            },
            // XPath's sum: an unanswered instance is NaN, so the sum is too (as in ODK).
            Function::Sum => match nodes(0) {
                Some(values) => {
                    Val::Number(values.iter().map(|v| v.number().unwrap_or(f64::NAN)).sum())
                }
                None => Val::Number(number(0)),
            },
            Function::Position => Val::Number(scope.position as f64),
            Function::IndexedRepeat => {
                let at = number(2);
                let value = (at >= 1.0 && at.fract() == 0.0)
                    .then(|| nodes(0)?.into_iter().nth(at as usize - 1))
                    .flatten();
                value.unwrap_or(Val::Text(String::new()))
            }
            Function::DecimalDateTime => Val::Number(number(0)),
            Function::Date => {
                let value = arg(0);
                if let Val::Text(t) = &value {
                    if date_days(t).is_some() {
                        return Val::Text(t.trim().chars().take(10).collect());
                    }
                }
                let days = value.number().unwrap_or(f64::NAN);
                let date = (days.is_finite() && days.abs() < 1e7)
                    .then(|| Date::from_days_since_epoch(days.floor() as i64))
                    .flatten();
                Val::Text(date.map(|d| d.to_string()).unwrap_or_default())
            }
            // Answers are checked, not recomputed, so `once()` is its argument.
            Function::Once => arg(0),
        }
    }
}

fn codes(value: &Val) -> Vec<String> {
    match value {
        Val::List(items) => items.clone(),
        other => other.text().split_whitespace().map(str::to_owned).collect(),
    }
}

/// A `YYYY-MM-DD` date, or a `YYYY-MM-DDTHH:MM[:SS]` date-time, as days since 1970-01-01
/// (with the time of day as a fraction).
pub(super) fn date_days(text: &str) -> Option<f64> {
    let text = text.trim();
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let days = Date::parse(date).ok()?.days_since_epoch() as f64;
    let Some(time) = time else {
        return Some(days);
    };
    // Ignore any zone or fraction: the whole seconds of the local time of day.
    let clock: String = time
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ':')
        .collect();
    let mut parts = clock.split(':').map(|p| p.parse::<u32>().ok());
    let hours = parts.next().flatten()?;
    let minutes = parts.next().flatten()?;
    let seconds = parts.next().flatten().unwrap_or(0);
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(days + f64::from(hours * 3600 + minutes * 60 + seconds) / 86_400.0)
}
