//! Repeat groups: questions asked once per household member (or travelling companion), and the
//! rules for referring to their answers.
//!
//! A repeat is declared once in a definition's `repeats` (its label, the `relevant` condition
//! of the whole repeat and XLSForm's `repeat_count`), and the sections whose fields it repeats
//! name it in their `repeat`; those sections are consecutive (nested groups inside a repeat
//! become several sections, as they do outside). Answers are stored per instance, as
//! `answers.<repeat id>.<instance key>.<field id>` (see [`crate::model::AnswerPath`]).
//!
//! [`RefCheck`] decides, when a definition is read, whether each `${...}` makes sense where it
//! is written: inside a repeat, `${field}` of the same repeat is that instance's answer;
//! outside it, a repeat's fields are many answers, readable only through `count()`, `sum()`,
//! `min()`, `max()` and `indexed-repeat()`, and `${repeat}` itself only through `count()` and as
//! `indexed-repeat()`'s second argument. Anything else is refused with the reason. Repeats do
//! not nest (a repeat's sections name one repeat); XLSForm import refuses a nested repeat with
//! its row.

use super::definition::{Condition, Labels};
use super::expr::{Expr, Function};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One repeat group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label: Labels,
    /// When the repeat is shown at all, evaluated outside it; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<Condition>,
    /// XLSForm's `repeat_count`: the most instances there may be (a number or an expression,
    /// evaluated outside the repeat; a count that is not a number allows none). Without it, as
    /// many as the caseworker adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Condition>,
}

/// How an expression uses a `${...}` reference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// As one value.
    Scalar,
    /// As every instance's value, by an aggregate function.
    Nodes(Function),
    /// As `indexed-repeat()`'s second argument: the repeat the first one belongs to.
    RepeatOf(&'static str),
}

/// What reference checking knows of a form: where each field lives.
pub(crate) struct RefCheck<'a> {
    /// Every field id → the repeat it belongs to, if any.
    pub home: BTreeMap<&'a str, Option<&'a str>>,
    pub repeats: BTreeSet<&'a str>,
}

impl RefCheck<'_> {
    /// Whether every reference of `expr` makes sense in an expression evaluated `within` a
    /// repeat (or outside all of them); the reason when one does not.
    pub fn check(&self, expr: &Expr, within: Option<&str>) -> Result<(), String> {
        self.walk(expr, within)
    }

    fn walk(&self, expr: &Expr, within: Option<&str>) -> Result<(), String> {
        match expr {
            Expr::Field(id) => self.reference(id, within, Use::Scalar),
            Expr::Call(function @ (Function::Count | Function::Sum), args) => match args.first() {
                Some(Expr::Field(id)) => self.reference(id, within, Use::Nodes(*function)),
                _ => Err(format!(
                    "{}() takes a repeat or a field of one, as in {}(${{member}})",
                    function.name(),
                    function.name()
                )),
            },
            Expr::Call(function @ (Function::Min | Function::Max), args) => match &args[..] {
                [Expr::Field(id)] if self.aggregated(id, within) => {
                    self.reference(id, within, Use::Nodes(*function))
                }
                _ => args.iter().try_for_each(|a| self.walk(a, within)),
            },
            Expr::Call(Function::IndexedRepeat, args) => {
                let (Some(Expr::Field(field)), Some(Expr::Field(repeat)), Some(index)) =
                    (args.first(), args.get(1), args.get(2))
                else {
                    return Err("indexed-repeat() is written indexed-repeat(${field}, \
                                ${repeat}, number)"
                        .into());
                };
                self.reference(field, within, Use::Nodes(Function::IndexedRepeat))?;
                let home = self.home.get(field.as_str()).copied().flatten();
                let home = home.unwrap_or_default();
                if repeat != home {
                    return Err(format!(
                        "indexed-repeat(): `${{{field}}}` belongs to repeat `{home}`, not \
                         `{repeat}`"
                    ));
                }
                self.reference(repeat, within, Use::RepeatOf("indexed-repeat"))?;
                self.walk(index, within)
            }
            Expr::Call(Function::Position, _) if within.is_none() => Err(
                "position(..) is the number of a repeat's instance: only inside a repeat".into(),
            ),
            Expr::Call(_, args) => args.iter().try_for_each(|a| self.walk(a, within)),
            Expr::Negate(e) | Expr::Regex(e, _) => self.walk(e, within),
            Expr::Binary(a, _, b) => {
                self.walk(a, within)?;
                self.walk(b, within)
            }
            Expr::Number(_) | Expr::Text(_) | Expr::Current | Expr::Name(_) => Ok(()),
        }
    }

    /// Whether `min()`/`max()` of this one field means "over every instance": it belongs to a
    /// repeat other than the one the expression is evaluated in.
    fn aggregated(&self, id: &str, within: Option<&str>) -> bool {
        match self.home.get(id) {
            Some(Some(home)) => within != Some(*home),
            _ => false,
        }
    }

    fn reference(&self, id: &str, within: Option<&str>, usage: Use) -> Result<(), String> {
        if self.repeats.contains(id) {
            return match usage {
                Use::Nodes(Function::Count) | Use::RepeatOf(_) => Ok(()),
                Use::Nodes(function) => Err(format!(
                    "`${{{id}}}` is a repeat group: {}() takes one of its fields, as in \
                     {}(${{field}})",
                    function.name(),
                    function.name()
                )),
                Use::Scalar => Err(format!(
                    "`${{{id}}}` is a repeat group, not a value: count its instances with \
                     count(${{{id}}})"
                )),
            };
        }
        let Some(home) = self.home.get(id) else {
            return Err(format!(
                "refers to ${{{id}}}, which is not a field of this form"
            ));
        };
        match (usage, home) {
            (Use::Scalar, None) => Ok(()),
            (Use::Scalar, Some(home)) if within == Some(*home) => Ok(()),
            (Use::Scalar, Some(home)) => Err(format!(
                "`${{{id}}}` is answered once per instance of repeat `{home}`: outside it, use \
                 count(), sum(), min(), max() or indexed-repeat()"
            )),
            (Use::Nodes(function), None) => Err(format!(
                "`${{{id}}}` is not in a repeat group: {}() of it would read one answer",
                function.name()
            )),
            (Use::Nodes(Function::IndexedRepeat), Some(_)) => Ok(()),
            (Use::Nodes(function), Some(home)) if within == Some(*home) => Err(format!(
                "inside repeat `{home}`, `${{{id}}}` is this instance's answer: {}() over \
                 every instance is written outside the repeat",
                function.name()
            )),
            (Use::Nodes(_), Some(_)) => Ok(()),
            (Use::RepeatOf(function), _) => {
                Err(format!("{function}(): `${{{id}}}` is not a repeat group"))
            }
        }
    }
}
