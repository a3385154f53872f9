//! Lexing and parsing expressions: a recursive-descent parser over XPath's precedence levels,
//! bounded in length ([`MAX_EXPR_CHARS`]) and depth ([`MAX_EXPR_DEPTH`]) so no input can make
//! it panic or exhaust the stack.

use super::{
    BinaryOp, Expr, ExprError, Function, Pattern, MAX_EXPR_CHARS, MAX_EXPR_DEPTH,
    MAX_REGEX_PROGRAM_BYTES,
};
use std::fmt;

pub(super) fn parse(text: &str) -> Result<Expr, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_EXPR_CHARS {
        return err(
            MAX_EXPR_CHARS,
            format!("longer than {MAX_EXPR_CHARS} characters"),
        );
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
        Some((pos, _)) => err(pos, "unexpected text after the end of the expression"),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Text(String),
    Field(String),
    Name(String),
    Dot,
    /// `..`, only in `position(..)`.
    DotDot,
    LParen,
    RParen,
    Comma,
    Minus,
    Plus,
    Star,
    Op(BinaryOp),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(_) => f.write_str("a number"),
            Token::Text(_) => f.write_str("a string"),
            Token::Field(_) => f.write_str("a field reference"),
            Token::Name(n) => write!(f, "`{n}`"),
            Token::Dot => f.write_str("`.`"),
            Token::DotDot => f.write_str("`..`"),
            Token::LParen => f.write_str("`(`"),
            Token::RParen => f.write_str("`)`"),
            Token::Comma => f.write_str("`,`"),
            Token::Minus => f.write_str("`-`"),
            Token::Plus => f.write_str("`+`"),
            Token::Star => f.write_str("`*`"),
            Token::Op(op) => write!(f, "`{}`", op.as_str()),
        }
    }
}

fn err<T>(position: usize, reason: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        position,
        reason: reason.into(),
    })
}

/// The quote that closes a string opened by `open`: straight quotes close themselves;
/// typographic quotes (‘…’, “…”, as spreadsheets and word processors type them) close with
/// either of their pair.
fn closes(open: char, c: char) -> bool {
    match open {
        '‘' | '’' => matches!(c, '‘' | '’'),
        '“' | '”' => matches!(c, '“' | '”'),
        _ => c == open,
    }
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
            '+' => Token::Plus,
            '*' => Token::Star,
            '=' => Token::Op(BinaryOp::Eq),
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 1;
                Token::Op(BinaryOp::Ne)
            }
            '<' | '>' => {
                let or_equal = chars.get(i + 1) == Some(&'=');
                if or_equal {
                    i += 1;
                }
                Token::Op(match (c, or_equal) {
                    ('<', false) => BinaryOp::Lt,
                    ('<', true) => BinaryOp::Le,
                    ('>', false) => BinaryOp::Gt,
                    _ => BinaryOp::Ge,
                })
            }
            '\'' | '"' | '‘' | '’' | '“' | '”' => {
                let close = chars[i + 1..].iter().position(|&q| closes(c, q));
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
            '.' if chars.get(i + 1) == Some(&'.') => {
                i += 1;
                Token::DotDot
            }
            '.' if !chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => Token::Dot,
            c if c.is_ascii_digit() || c == '.' => {
                let mut end = i;
                while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
                    end += 1;
                }
                let text: String = chars[i..end].iter().collect();
                let Some(n) = text.parse::<f64>().ok().filter(|n| n.is_finite()) else {
                    return err(start, "malformed number");
                };
                i = end - 1;
                Token::Number(n)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = i;
                while end < chars.len()
                    && (chars[end].is_ascii_alphanumeric() || matches!(chars[end], '-' | '_' | ':'))
                {
                    end += 1;
                }
                let name: String = chars[i..end].iter().collect();
                i = end - 1;
                Token::Name(name)
            }
            '/' | '|' | '[' | ']' | '@' => {
                return err(
                    start,
                    format!("`{c}`: XPath paths are not supported; refer to fields as ${{name}}"),
                )
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

    /// One left-associative precedence level: `next (op next)*`, each operand counted
    /// towards the depth so a long chain cannot build an unboundedly deep tree.
    fn level(
        &mut self,
        op: fn(&Token) -> Option<BinaryOp>,
        next: fn(&mut Self) -> Result<Expr, ExprError>,
    ) -> Result<Expr, ExprError> {
        let mut left = next(self)?;
        let mut chained = 0;
        while let Some(found) = self.peek().and_then(|(_, t)| op(t)) {
            chained += 1;
            if self.depth + chained > MAX_EXPR_DEPTH {
                let pos = self.peek().map_or(self.end, |(p, _)| p);
                return err(pos, format!("nested more than {MAX_EXPR_DEPTH} deep"));
            }
            self.at += 1;
            let right = next(self)?;
            left = Expr::Binary(Box::new(left), found, Box::new(right));
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.nested(|p| {
            p.level(
                |t| matches!(t, Token::Name(n) if n == "or").then_some(BinaryOp::Or),
                Self::and,
            )
        })
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        self.level(
            |t| matches!(t, Token::Name(n) if n == "and").then_some(BinaryOp::And),
            Self::equality,
        )
    }

    fn equality(&mut self) -> Result<Expr, ExprError> {
        self.level(
            |t| match t {
                Token::Op(op @ (BinaryOp::Eq | BinaryOp::Ne)) => Some(*op),
                _ => None,
            },
            Self::relational,
        )
    }

    fn relational(&mut self) -> Result<Expr, ExprError> {
        self.level(
            |t| match t {
                Token::Op(op @ (BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)) => {
                    Some(*op)
                }
                _ => None,
            },
            Self::additive,
        )
    }

    fn additive(&mut self) -> Result<Expr, ExprError> {
        self.level(
            |t| match t {
                Token::Plus => Some(BinaryOp::Add),
                Token::Minus => Some(BinaryOp::Sub),
                _ => None,
            },
            Self::multiplicative,
        )
    }

    fn multiplicative(&mut self) -> Result<Expr, ExprError> {
        self.level(
            |t| match t {
                Token::Star => Some(BinaryOp::Mul),
                Token::Name(n) if n == "div" => Some(BinaryOp::Div),
                Token::Name(n) if n == "mod" => Some(BinaryOp::Mod),
                _ => None,
            },
            Self::unary,
        )
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
            Token::Name(name) if matches!(self.peek(), Some((_, Token::LParen))) => {
                self.nested(|p| p.call(pos, &name))
            }
            Token::Name(name) if matches!(name.as_str(), "and" | "or" | "div" | "mod") => {
                err(pos, format!("`{name}` needs a value before it"))
            }
            Token::Name(name) => Ok(Expr::Name(name)),
            other => err(pos, format!("expected a value, found {other}")),
        }
    }

    fn call(&mut self, pos: usize, name: &str) -> Result<Expr, ExprError> {
        let function = match Function::from_name(name) {
            Some(f) => Some(f),
            None if name == "regex" => None,
            None => {
                let reason = match Function::refused(name) {
                    Some(why) => format!("`{name}()` is not supported: {why}"),
                    None => format!(
                        "unknown function `{name}` (supported: {})",
                        Function::supported_names()
                    ),
                };
                return err(pos, reason);
            }
        };
        self.expect(Token::LParen)?;
        if function == Some(Function::Position) {
            // ODK's `position(..)`: the instance's number; no other argument makes sense.
            if !matches!(self.peek(), Some((_, Token::DotDot))) {
                return err(pos, "position() is written position(..)");
            }
            self.at += 1;
            self.expect(Token::RParen)?;
            return Ok(Expr::Call(Function::Position, Vec::new()));
        }
        let mut args = Vec::new();
        if !matches!(self.peek(), Some((_, Token::RParen))) {
            args.push(self.or()?);
            while matches!(self.peek(), Some((_, Token::Comma))) {
                self.at += 1;
                args.push(self.or()?);
            }
        }
        self.expect(Token::RParen)?;
        let Some(function) = function else {
            return regex(pos, args);
        };
        let (min, max) = function.arity();
        if args.len() < min || max.is_some_and(|max| args.len() > max) {
            let wanted = match max {
                Some(max) if max == min => format!("{min}"),
                Some(max) => format!("{min} to {max}"),
                None => format!("at least {min}"),
            };
            return err(
                pos,
                format!("`{name}()` takes {wanted} argument(s), not {}", args.len()),
            );
        }
        Ok(Expr::Call(function, args))
    }
}

fn regex(pos: usize, args: Vec<Expr>) -> Result<Expr, ExprError> {
    let mut args = args.into_iter();
    let (Some(value), Some(pattern), None) = (args.next(), args.next(), args.next()) else {
        return err(pos, "`regex()` takes 2 argument(s): a value and a pattern");
    };
    let Expr::Text(text) = pattern else {
        return err(pos, "regex(): the pattern must be a quoted string");
    };
    let compiled = regex::RegexBuilder::new(&text)
        .size_limit(MAX_REGEX_PROGRAM_BYTES)
        .build();
    match compiled {
        Ok(regex) => Ok(Expr::Regex(Box::new(value), Pattern { text, regex })),
        // The regex crate's message names the construct (look-around, a back-reference...).
        Err(e) => err(
            pos,
            format!(
                "regex(): the pattern is not supported: {}",
                e.to_string().lines().last().unwrap_or("invalid")
            ),
        ),
    }
}
