//! The expression language of `relevant` and `constraint`: the XLSForm subset fieldcase needs.
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := cmp ("and" cmp)*
//! cmp     := unary (("=" | "!=" | "<" | "<=" | ">" | ">=") unary)?
//! unary   := "-" unary | primary
//! primary := number | 'string' | "string" | ${field} | "." | "(" expr ")"
//!          | not(expr) | selected(expr, expr) | count-selected(expr) | string-length(expr)
//!          | today()
//! ```
//!
//! An expression is parsed once, when a form definition is read ([`Expr::parse`]); a parse
//! error gives the character position and the reason. Evaluation ([`Expr::eval`]) never fails:
//! it follows XPath's forgiving conversions, so a condition on an unanswered field is simply
//! false rather than an error a caseworker cannot act on. The rules, as `docs/forms.md` states:
//!
//! - an unanswered field is the empty string; a yes/no answer is `'yes'` or `'no'`; a
//!   multiple choice is its codes joined by spaces (as in XLSForm);
//! - `=` and `!=` compare as numbers when both sides read as numbers, else as text;
//! - `<`, `<=`, `>`, `>=` compare as numbers when both sides read as numbers, as text when
//!   neither does (so ISO dates and `today()` compare correctly), and are false otherwise;
//! - in a condition, a number is true unless 0, text is true unless empty.
//!
//! Expressions come from form definitions, not from answers, so an error may quote them.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// Longest expression, in characters: any real condition fits in far less, and the bound keeps
/// a hostile definition from costing much to parse.
pub const MAX_EXPR_CHARS: usize = 2000;

/// Deepest nesting of parentheses and operators, so parsing cannot exhaust the stack.
pub const MAX_EXPR_DEPTH: usize = 32;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(f64),
    Text(String),
    /// `${field}`.
    Field(String),
    /// `.`: the value of the field being checked.
    Current,
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, CompareOp, Box<Expr>),
    Negate(Box<Expr>),
    Selected(Box<Expr>, Box<Expr>),
    CountSelected(Box<Expr>),
    StringLength(Box<Expr>),
    Today,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
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

    fn text(&self) -> String {
        match self {
            Val::Text(s) => s.clone(),
            Val::Number(n) => format_number(*n),
            Val::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
            Val::List(items) => items.join(" "),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Number(n) => Some(*n),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Val::Text(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            Val::List(_) => None,
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Number(n) => *n != 0.0 && !n.is_nan(),
            Val::Text(s) => !s.is_empty(),
            Val::List(items) => !items.is_empty(),
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// What an expression can see while it is evaluated.
pub struct Scope<'a> {
    /// The value of a field by id, as [`Val::from_answer`] gives it.
    pub field: &'a dyn Fn(&str) -> Val,
    /// The value of `.`.
    pub current: Val,
    /// `today()`, as `YYYY-MM-DD`.
    pub today: String,
}

impl Expr {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > MAX_EXPR_CHARS {
            return Err(ExprError {
                position: MAX_EXPR_CHARS,
                reason: format!("longer than {MAX_EXPR_CHARS} characters"),
            });
        }
        let tokens = lex(&chars)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            depth: 0,
            end: chars.len(),
        };
        let expr = parser.or()?;
        match parser.peek() {
            None => Ok(expr),
            Some((pos, _)) => Err(ExprError {
                position: pos,
                reason: "unexpected text after the end of the expression".into(),
            }),
        }
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
            Expr::Not(e) => Val::Bool(!e.eval(scope).truthy()),
            Expr::And(a, b) => Val::Bool(a.eval(scope).truthy() && b.eval(scope).truthy()),
            Expr::Or(a, b) => Val::Bool(a.eval(scope).truthy() || b.eval(scope).truthy()),
            Expr::Compare(a, op, b) => Val::Bool(compare(&a.eval(scope), *op, &b.eval(scope))),
            Expr::Negate(e) => Val::Number(-e.eval(scope).number().unwrap_or(f64::NAN)),
            Expr::Selected(list, code) => {
                let code = code.eval(scope).text();
                let selected = match list.eval(scope) {
                    Val::List(items) => items.contains(&code),
                    other => other.text().split_whitespace().any(|c| c == code),
                };
                Val::Bool(selected)
            }
            Expr::CountSelected(list) => {
                let n = match list.eval(scope) {
                    Val::List(items) => items.len(),
                    other => other.text().split_whitespace().count(),
                };
                Val::Number(n as f64)
            }
            Expr::StringLength(e) => Val::Number(e.eval(scope).text().chars().count() as f64),
            Expr::Today => Val::Text(scope.today.clone()),
        }
    }

    /// The field ids the expression refers to with `${...}`.
    pub fn references(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_references(&mut out);
        out
    }

    fn collect_references(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Field(id) => {
                out.insert(id.clone());
            }
            Expr::Not(e) | Expr::Negate(e) | Expr::CountSelected(e) | Expr::StringLength(e) => {
                e.collect_references(out)
            }
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(a, _, b) | Expr::Selected(a, b) => {
                a.collect_references(out);
                b.collect_references(out);
            }
            Expr::Number(_) | Expr::Text(_) | Expr::Current | Expr::Today => {}
        }
    }
}

fn compare(a: &Val, op: CompareOp, b: &Val) -> bool {
    let numbers = (a.number(), b.number());
    match op {
        CompareOp::Eq | CompareOp::Ne => {
            let equal = match numbers {
                (Some(x), Some(y)) => x == y,
                _ => a.text() == b.text(),
            };
            equal == (op == CompareOp::Eq)
        }
        _ => {
            let ordering = match numbers {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                (None, None) => Some(a.text().cmp(&b.text())),
                // A number against text that is not one (an unanswered field): XPath's NaN.
                _ => None,
            };
            let Some(ordering) = ordering else {
                return false;
            };
            match op {
                CompareOp::Lt => ordering.is_lt(),
                CompareOp::Le => ordering.is_le(),
                CompareOp::Gt => ordering.is_gt(),
                CompareOp::Ge => ordering.is_ge(),
                CompareOp::Eq | CompareOp::Ne => unreachable!("handled above"),
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Text(String),
    Field(String),
    Name(String),
    Dot,
    LParen,
    RParen,
    Comma,
    Minus,
    Op(CompareOp),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(_) => f.write_str("a number"),
            Token::Text(_) => f.write_str("a string"),
            Token::Field(_) => f.write_str("a field reference"),
            Token::Name(n) => write!(f, "`{n}`"),
            Token::Dot => f.write_str("`.`"),
            Token::LParen => f.write_str("`(`"),
            Token::RParen => f.write_str("`)`"),
            Token::Comma => f.write_str("`,`"),
            Token::Minus => f.write_str("`-`"),
            Token::Op(_) => f.write_str("a comparison"),
        }
    }
}

fn err<T>(position: usize, reason: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        position,
        reason: reason.into(),
    })
}

fn lex(chars: &[char]) -> Result<Vec<(usize, Token)>, ExprError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let token = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Token::LParen,
            ')' => Token::RParen,
            ',' => Token::Comma,
            '-' => Token::Minus,
            '=' => Token::Op(CompareOp::Eq),
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 1;
                Token::Op(CompareOp::Ne)
            }
            '<' | '>' => {
                let or_equal = chars.get(i + 1) == Some(&'=');
                if or_equal {
                    i += 1;
                }
                Token::Op(match (c, or_equal) {
                    ('<', false) => CompareOp::Lt,
                    ('<', true) => CompareOp::Le,
                    ('>', false) => CompareOp::Gt,
                    _ => CompareOp::Ge,
                })
            }
            '\'' | '"' => {
                let close = chars[i + 1..].iter().position(|&q| q == c);
                let Some(len) = close else {
                    return err(start, "unterminated string");
                };
                let text: String = chars[i + 1..i + 1 + len].iter().collect();
                i += len + 1;
                Token::Text(text)
            }
            '$' => {
                if chars.get(i + 1) != Some(&'{') {
                    return err(start, "expected `{` after `$` (a reference is ${field})");
                }
                let close = chars[i + 2..].iter().position(|&q| q == '}');
                let Some(len) = close else {
                    return err(start, "unterminated field reference (missing `}`)");
                };
                let name: String = chars[i + 2..i + 2 + len].iter().collect();
                if crate::model::FieldId::parse(&name).is_err() {
                    return err(
                        start + 2,
                        "not a field id: a letter a-z, then up to 63 of a-z, 0-9 and _",
                    );
                }
                i += len + 2;
                Token::Field(name)
            }
            '.' if !chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => Token::Dot,
            c if c.is_ascii_digit() || c == '.' => {
                let mut end = i;
                while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
                    end += 1;
                }
                let text: String = chars[i..end].iter().collect();
                let Ok(n) = text.parse::<f64>() else {
                    return err(start, "malformed number");
                };
                i = end - 1;
                Token::Number(n)
            }
            c if c.is_ascii_alphabetic() => {
                let mut end = i;
                while end < chars.len()
                    && (chars[end].is_ascii_alphanumeric() || matches!(chars[end], '-' | '_'))
                {
                    end += 1;
                }
                let name: String = chars[i..end].iter().collect();
                i = end - 1;
                Token::Name(name)
            }
            '+' | '*' | '|' | '/' => {
                return err(start, format!("`{c}` is not supported (no arithmetic)"))
            }
            _ => return err(start, "unexpected character"),
        };
        tokens.push((start, token));
        i += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<(usize, &Token)> {
        self.tokens.get(self.at).map(|(p, t)| (*p, t))
    }

    fn next(&mut self) -> Result<(usize, Token), ExprError> {
        match self.tokens.get(self.at) {
            Some(t) => {
                self.at += 1;
                Ok(t.clone())
            }
            None => err(self.end, "unexpected end of the expression"),
        }
    }

    fn expect(&mut self, want: Token) -> Result<(), ExprError> {
        if self.peek().is_none() {
            return err(
                self.end,
                format!("expected {want}, found the end of the expression"),
            );
        }
        let (pos, got) = self.next()?;
        if got == want {
            Ok(())
        } else {
            err(pos, format!("expected {want}, found {got}"))
        }
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.peek(), Some((_, Token::Name(n))) if n == name)
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            let pos = self.peek().map_or(self.end, |(p, _)| p);
            return err(pos, format!("nested more than {MAX_EXPR_DEPTH} deep"));
        }
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.nested(|p| {
            let mut left = p.and()?;
            while p.is_name("or") {
                p.at += 1;
                left = Expr::Or(Box::new(left), Box::new(p.and()?));
            }
            Ok(left)
        })
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.compare()?;
        while self.is_name("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.compare()?));
        }
        Ok(left)
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let left = self.unary()?;
        if let Some((_, Token::Op(op))) = self.peek() {
            let op = *op;
            self.at += 1;
            let right = self.unary()?;
            if let Some((pos, Token::Op(_))) = self.peek() {
                return err(pos, "comparisons do not chain; join them with `and`");
            }
            return Ok(Expr::Compare(Box::new(left), op, Box::new(right)));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if matches!(self.peek(), Some((_, Token::Minus))) {
            self.at += 1;
            return self.nested(|p| Ok(Expr::Negate(Box::new(p.unary()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let (pos, token) = self.next()?;
        match token {
            Token::Number(n) => Ok(Expr::Number(n)),
            Token::Text(s) => Ok(Expr::Text(s)),
            Token::Field(id) => Ok(Expr::Field(id)),
            Token::Dot => Ok(Expr::Current),
            Token::LParen => {
                let inner = self.or()?;
                self.expect(Token::RParen)?;
                Ok(inner)
            }
            Token::Name(name) => self.call(pos, &name),
            other => err(pos, format!("expected a value, found {other}")),
        }
    }

    fn call(&mut self, pos: usize, name: &str) -> Result<Expr, ExprError> {
        let arity = match name {
            "today" => 0,
            "not" | "count-selected" | "string-length" => 1,
            "selected" => 2,
            "and" | "or" => return err(pos, format!("`{name}` needs a condition before it")),
            _ => {
                return err(
                    pos,
                    format!(
                        "unknown function `{name}` (supported: not, selected, count-selected, \
                         string-length, today)"
                    ),
                )
            }
        };
        self.expect(Token::LParen)?;
        let mut args = Vec::new();
        if !matches!(self.peek(), Some((_, Token::RParen))) {
            args.push(self.or()?);
            while matches!(self.peek(), Some((_, Token::Comma))) {
                self.at += 1;
                args.push(self.or()?);
            }
        }
        self.expect(Token::RParen)?;
        if args.len() != arity {
            return err(
                pos,
                format!("`{name}()` takes {arity} argument(s), not {}", args.len()),
            );
        }
        let mut args = args.into_iter().map(Box::new);
        let mut arg = || args.next().expect("arity checked");
        Ok(match name {
            "today" => Expr::Today,
            "not" => Expr::Not(arg()),
            "count-selected" => Expr::CountSelected(arg()),
            "string-length" => Expr::StringLength(arg()),
            _ => {
                let list = arg();
                Expr::Selected(list, arg())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, answers: Value, current: Value) -> bool {
        let expr = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let lookup = move |id: &str| Val::from_answer(answers.get(id));
        let scope = Scope {
            field: &lookup,
            current: Val::from_answer(Some(&current)),
            today: "2026-11-29".into(),
        };
        expr.holds(&scope)
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
        assert!(eval(". > -1.5", a.clone(), json!(0)));
        // Unanswered: empty text, numeric comparisons false, equality with '' true.
        assert!(eval("${missing} = ''", a.clone(), Value::Null));
        assert!(!eval("${missing} > 3", a.clone(), Value::Null));
        assert!(!eval("${missing} < 3", a.clone(), Value::Null));
        assert!(!eval("${missing}", a, Value::Null));
    }

    #[test]
    fn multiple_choice_functions() {
        let a = json!({"needs": ["shelter", "medical"]});
        assert!(eval(
            "selected(${needs}, 'medical')",
            a.clone(),
            Value::Null
        ));
        assert!(!eval("selected(${needs}, 'legal')", a.clone(), Value::Null));
        assert!(eval("count-selected(${needs}) = 2", a.clone(), Value::Null));
        assert!(eval("count-selected(${none}) = 0", a.clone(), Value::Null));
        assert!(eval("selected(., 'a')", a.clone(), json!(["a"])));
        assert!(eval("string-length(.) <= 5", a.clone(), json!("abcde")));
        assert!(eval("(string-length(.) > 5)", a, json!("abcdéf")));
    }

    #[test]
    fn references_are_collected() {
        let e = Expr::parse("selected(${a}, 'x') and (${b} > 1 or not(${c} = ${a}))").unwrap();
        let refs: Vec<_> = e.references().into_iter().collect();
        assert_eq!(refs, ["a", "b", "c"]);
    }

    #[test]
    fn errors_give_position_and_reason() {
        let cases = [
            ("${age} >", 8, "unexpected end"),
            ("${Age} > 1", 2, "not a field id"),
            ("'abc", 0, "unterminated string"),
            ("${a", 0, "unterminated field reference"),
            ("$a", 0, "expected `{`"),
            ("foo(1)", 0, "unknown function"),
            ("${a} + 1", 5, "not supported"),
            ("not(1, 2)", 0, "takes 1 argument"),
            ("1 < 2 < 3", 6, "do not chain"),
            ("(1 = 1", 6, "expected `)`"),
            ("1 = 1 1", 6, "unexpected text"),
            ("selected(${a} 'x')", 14, "expected `)`"),
            ("# 1", 0, "unexpected character"),
            ("and 1", 0, "needs a condition"),
        ];
        for (text, position, reason) in cases {
            let e = Expr::parse(text).expect_err(text);
            assert_eq!(e.position, position, "{text}: {e}");
            assert!(e.reason.contains(reason), "{text}: {e}");
        }
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(Expr::parse(&deep).unwrap_err().reason.contains("nested"));
        let long = "1 = 1 and ".repeat(300);
        assert!(Expr::parse(&long).unwrap_err().reason.contains("longer"));
    }
}
