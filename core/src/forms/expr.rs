//! The expression language of `relevant`, `constraint`, `calculation` and `choice_filter`:
//! XLSForm's XPath subset, one engine for the device and the server (it is this code).
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := eq ("and" eq)*
//! eq      := rel (("=" | "!=") rel)*
//! rel     := add (("<" | "<=" | ">" | ">=") add)*
//! add     := mul (("+" | "-") mul)*
//! mul     := unary (("*" | "div" | "mod") unary)*
//! unary   := "-" unary | primary
//! primary := number | 'string' | "string" | ‘string’ | “string” | ${field} | "."
//!          | name (a choice column, in a choice_filter) | "(" expr ")" | function(args)
//!          | "position(..)"
//! ```
//!
//! An expression is parsed once, when a form definition is read ([`Expr::parse`], in
//! `expr/parse.rs`); a parse error gives the character position and the reason. Evaluation
//! ([`Expr::eval`]) never fails: it follows XPath's forgiving conversions, so a condition on an
//! unanswered field is simply false rather than an error a caseworker cannot act on:
//!
//! - an unanswered field is the empty string; a yes/no answer is `'yes'` or `'no'`; a
//!   multiple choice is its codes joined by spaces (as in XLSForm);
//! - a `YYYY-MM-DD` date read as a number is its days since 1970-01-01 (as in ODK), so
//!   `today() - ${dob}` is a number of days;
//! - `=` and `!=` compare as numbers when both sides read as numbers, else as text;
//! - `<`, `<=`, `>`, `>=` compare as numbers when both sides read as numbers, as text when
//!   neither does, and are false otherwise;
//! - arithmetic on something that is not a number gives NaN, which is false, equal to nothing
//!   and shown as `''`;
//! - in a condition, a number is true unless 0 or NaN, text is true unless empty.
//!
//! Expressions come from form definitions, not from answers, so an error may quote them.

mod functions;
mod parse;

pub use functions::Function;

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// Longest expression, in characters: real conditions and calculations fit in far less, and
/// the bound keeps a hostile definition from costing much to parse.
pub const MAX_EXPR_CHARS: usize = 2000;

/// Deepest nesting of parentheses, calls and operators, so parsing and evaluation (both
/// recursive) cannot exhaust the stack.
pub const MAX_EXPR_DEPTH: usize = 32;

/// Longest compiled `regex()` pattern, in bytes of the regex engine's program: ample for a
/// phone number or an id format, small enough that one form cannot make matching costly.
pub const MAX_REGEX_PROGRAM_BYTES: usize = 256 * 1024;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(f64),
    Text(String),
    /// `${field}`.
    Field(String),
    /// `.`: the value of the field being checked.
    Current,
    /// A bare name: in a `choice_filter`, a column of the choices sheet (`country`).
    Name(String),
    Negate(Box<Expr>),
    Binary(Box<Expr>, BinaryOp, Box<Expr>),
    Call(Function, Vec<Expr>),
    /// `regex(value, 'pattern')`: the pattern is compiled once, when parsed.
    Regex(Box<Expr>, Pattern),
}

/// A `regex()` pattern as written and compiled.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub text: String,
    regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 6,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "div",
            BinaryOp::Mod => "mod",
        }
    }
}

/// Why an expression does not parse, and where (a character offset from 0).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: {reason}")]
pub struct ExprError {
    pub position: usize,
    pub reason: String,
}

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Text(String),
    Number(f64),
    Bool(bool),
    /// The codes of a multiple choice.
    List(Vec<String>),
}

impl Val {
    /// The value an answer (or an unanswered field, `None`) has in an expression.
    pub fn from_answer(answer: Option<&Value>) -> Val {
        match answer {
            None | Some(Value::Null) => Val::Text(String::new()),
            Some(Value::Bool(b)) => Val::Text(if *b { "yes" } else { "no" }.to_owned()),
            Some(Value::Number(n)) => Val::Number(n.as_f64().unwrap_or(f64::NAN)),
            Some(Value::String(s)) => Val::Text(s.clone()),
            Some(Value::Array(items)) => Val::List(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
            ),
            Some(other @ Value::Object(_)) => Val::Text(other.to_string()),
        }
    }

    /// The value as XPath's `string()`.
    pub fn text(&self) -> String {
        match self {
            Val::Text(s) => s.clone(),
            Val::Number(n) => format_number(*n),
            Val::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
            Val::List(items) => items.join(" "),
        }
    }

    /// The value as XPath's `number()`; `None` for NaN.
    pub fn number(&self) -> Option<f64> {
        match self {
            Val::Number(n) => Some(*n).filter(|n| !n.is_nan()),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Val::Text(s) => text_number(s),
            Val::List(_) => None,
        }
    }

    /// The value as XPath's `boolean()`.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Number(n) => *n != 0.0 && !n.is_nan(),
            Val::Text(s) => !s.is_empty(),
            Val::List(items) => !items.is_empty(),
        }
    }
}

/// A text as a number: a decimal, or a `YYYY-MM-DD` date as days since 1970-01-01.
fn text_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    if plain {
        if let Ok(n) = s.parse::<f64>() {
            return Some(n).filter(|n| n.is_finite());
        }
    }
    functions::date_days(s)
}

/// XPath's number formatting: whole numbers without a point, NaN as `''` (XPath's `NaN` is
/// never useful in a form), others in the shortest form that reads back.
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        String::new()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// What an expression can see while it is evaluated.
pub struct Scope<'a> {
    /// The value of a field by id, as [`Val::from_answer`] gives it (a calculation's value for
    /// a calculate field).
    pub field: &'a dyn Fn(&str) -> Val,
    /// The value of `.`.
    pub current: Val,
    /// `today()`, as `YYYY-MM-DD`.
    pub today: String,
    /// A bare name's value: a choice's column in a `choice_filter`; `''` elsewhere.
    pub name: &'a dyn Fn(&str) -> Val,
    /// `jr:choice-name(code, '${field}')`: the label of `code` in the field's list.
    pub choice_name: &'a dyn Fn(&str, &str) -> String,
    /// Every instance's value, in order, of a repeat's field (or one value per instance for a
    /// repeat's own id): what `count()`, `sum()`, `min()`, `max()` and `indexed-repeat()` read.
    /// `None` for an id that is neither.
    pub nodes: &'a dyn Fn(&str) -> Option<Vec<Val>>,
    /// `position(..)`: the number, from 1, of the repeat instance evaluated; 0 outside one.
    pub position: usize,
}

impl<'a> Scope<'a> {
    /// A scope with only fields, `.` and today (no choice columns or labels).
    pub fn new(field: &'a dyn Fn(&str) -> Val, current: Val, today: String) -> Scope<'a> {
        Scope {
            field,
            current,
            today,
            name: &|_| Val::Text(String::new()),
            choice_name: &|_, _| String::new(),
            nodes: &|_| None,
            position: 0,
        }
    }
}

impl Expr {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        parse::parse(text)
    }

    /// Evaluates the expression as a condition.
    pub fn holds(&self, scope: &Scope<'_>) -> bool {
        self.eval(scope).truthy()
    }

    /// Evaluates the expression.
    pub fn eval(&self, scope: &Scope<'_>) -> Val {
        match self {
            Expr::Number(n) => Val::Number(*n),
            Expr::Text(s) => Val::Text(s.clone()),
            Expr::Field(id) => (scope.field)(id),
            Expr::Current => scope.current.clone(),
            Expr::Name(name) => (scope.name)(name),
            Expr::Negate(e) => Val::Number(-e.eval(scope).number().unwrap_or(f64::NAN)),
            Expr::Binary(a, BinaryOp::And, b) => {
                Val::Bool(a.eval(scope).truthy() && b.eval(scope).truthy())
            }
            Expr::Binary(a, BinaryOp::Or, b) => {
                Val::Bool(a.eval(scope).truthy() || b.eval(scope).truthy())
            }
            Expr::Binary(a, op, b) => binary(&a.eval(scope), *op, &b.eval(scope)),
            Expr::Call(function, args) => function.call(args, scope),
            Expr::Regex(value, pattern) => {
                Val::Bool(pattern.regex.is_match(&value.eval(scope).text()))
            }
        }
    }

    /// The field ids the expression refers to with `${...}`.
    pub fn references(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit(&mut |e| {
            if let Expr::Field(id) = e {
                out.insert(id.clone());
            }
        });
        out
    }

    /// Whether the expression reads nothing but `.` and literals: no other field, repeat
    /// position, choice column or clock (`today()` is another day when an answer written
    /// offline arrives), so its value depends on the answer alone, wherever and whenever it
    /// is evaluated.
    pub fn reads_only_current(&self) -> bool {
        let mut alone = true;
        self.visit(&mut |e| {
            if matches!(
                e,
                Expr::Field(_)
                    | Expr::Name(_)
                    | Expr::Call(Function::Position | Function::Today | Function::Now, _)
            ) {
                alone = false;
            }
        });
        alone
    }

    /// The bare names (choice columns) the expression uses.
    pub fn names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit(&mut |e| {
            if let Expr::Name(name) = e {
                out.insert(name.clone());
            }
        });
        out
    }

    fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Negate(e) | Expr::Regex(e, _) => e.visit(f),
            Expr::Binary(a, _, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.visit(f)),
            Expr::Number(_) | Expr::Text(_) | Expr::Field(_) | Expr::Current | Expr::Name(_) => {}
        }
    }
}

/// The canonical text of an expression, with only the parentheses precedence needs: it parses
/// back to an equal expression.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => write!(f, "{}", format_number(*n)),
            Expr::Text(s) => write!(f, "{}", quoted(s)),
            Expr::Field(id) => write!(f, "${{{id}}}"),
            Expr::Current => f.write_str("."),
            Expr::Name(name) => f.write_str(name),
            Expr::Negate(e) if matches!(**e, Expr::Binary(..)) => write!(f, "-({e})"),
            Expr::Negate(e) => write!(f, "-{e}"),
            Expr::Binary(a, op, b) => {
                let left =
                    matches!(&**a, Expr::Binary(_, o, _) if o.precedence() < op.precedence());
                let right =
                    matches!(&**b, Expr::Binary(_, o, _) if o.precedence() <= op.precedence());
                let side = |f: &mut fmt::Formatter<'_>, e: &Expr, wrap: bool| {
                    if wrap {
                        write!(f, "({e})")
                    } else {
                        write!(f, "{e}")
                    }
                };
                side(f, a, left)?;
                write!(f, " {} ", op.as_str())?;
                side(f, b, right)
            }
            Expr::Call(Function::Position, _) => f.write_str("position(..)"),
            Expr::Call(function, args) => {
                write!(f, "{}(", function.name())?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
            Expr::Regex(value, pattern) => write!(f, "regex({value}, {})", quoted(&pattern.text)),
        }
    }
}

/// A string literal in quotes it does not contain.
fn quoted(s: &str) -> String {
    let quotes = [('\'', '\''), ('"', '"'), ('‘', '’'), ('“', '”')];
    let (open, close) = quotes
        .into_iter()
        .find(|(o, c)| !s.contains(*o) && !s.contains(*c))
        .unwrap_or(('\'', '\''));
    format!("{open}{s}{close}")
}

fn binary(a: &Val, op: BinaryOp, b: &Val) -> Val {
    let numbers = (a.number(), b.number());
    let arithmetic = |f: fn(f64, f64) -> f64| match numbers {
        (Some(x), Some(y)) => Val::Number(f(x, y)),
        _ => Val::Number(f64::NAN),
    };
    match op {
        BinaryOp::Add => arithmetic(|x, y| x + y),
        BinaryOp::Sub => arithmetic(|x, y| x - y),
        BinaryOp::Mul => arithmetic(|x, y| x * y),
        BinaryOp::Div => arithmetic(|x, y| x / y),
        // XPath's mod keeps the sign of the dividend, as Rust's `%` does.
        BinaryOp::Mod => arithmetic(|x, y| x % y),
        BinaryOp::Eq | BinaryOp::Ne => {
            let equal = match numbers {
                (Some(x), Some(y)) => x == y,
                _ => a.text() == b.text(),
            };
            Val::Bool(equal == (op == BinaryOp::Eq))
        }
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ordering = match numbers {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                (None, None) => Some(a.text().cmp(&b.text())),
                // A number against text that is not one (an unanswered field): XPath's NaN.
                _ => None,
            };
            Val::Bool(ordering.is_some_and(|o| match op {
                BinaryOp::Lt => o.is_lt(),
                BinaryOp::Le => o.is_le(),
                BinaryOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            }))
        }
        BinaryOp::And | BinaryOp::Or => unreachable!("evaluated lazily in Expr::eval"),
    }
}

#[cfg(test)]
mod tests;
