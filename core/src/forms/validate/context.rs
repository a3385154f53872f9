//! What evaluating one form's expressions against one case sees: answers, calculations, the
//! fields found hidden so far, and the repeat instance an expression is evaluated in.
//!
//! A field of a repeat is read in the instance being evaluated (`${member_age}` inside the
//! repeat is this member's age); every instance's value is what [`Scope::nodes`] gives to
//! `count()`, `sum()`, `min()`, `max()` and `indexed-repeat()`. Whether a definition uses a
//! reference sensibly was checked when it was read (`forms/repeat.rs`), so here a repeat's
//! field read outside an instance is simply unanswered.

use super::super::definition::{Choice, Field, FormDefinition, MAX_CALCULATION_CHAIN};
use super::super::expr::{Expr, Scope, Val};
use crate::model::answers::ANSWER_KEY_PREFIX;
use crate::model::Fields;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One instance of a repeat: the repeat's id, the instance's key and its number from 1.
#[derive(Clone, Copy, Debug)]
pub(super) struct At<'a> {
    pub repeat: &'a str,
    pub key: &'a str,
    pub position: usize,
}

pub(super) struct Context<'a> {
    pub form: &'a FormDefinition,
    by_id: BTreeMap<&'a str, &'a Field>,
    /// The repeat of each field that belongs to one.
    home: BTreeMap<&'a str, &'a str>,
    /// Each repeat's instance keys, in order: those with at least one answer.
    pub instances: BTreeMap<&'a str, Vec<&'a str>>,
    pub fields: &'a Fields,
    /// Fields found hidden so far, with the instance they were hidden in (they count as
    /// unanswered).
    hidden: BTreeSet<(&'a str, Option<&'a str>)>,
    today: String,
}

impl<'a> Context<'a> {
    pub fn new(form: &'a FormDefinition, fields: &'a Fields, today: String) -> Context<'a> {
        let home: BTreeMap<&str, &str> = form
            .sections
            .iter()
            .filter_map(|s| Some((s.repeat_id()?, s)))
            .flat_map(|(r, s)| s.fields.iter().map(move |f| (f.id.as_str(), r)))
            .collect();
        let instances = form
            .repeats
            .keys()
            .map(|r| (r.as_str(), instance_keys(fields, r.as_str())))
            .collect();
        Context {
            form,
            by_id: form.fields().map(|f| (f.id.as_str(), f)).collect(),
            home,
            instances,
            fields,
            hidden: BTreeSet::new(),
            today,
        }
    }

    /// The repeat a field belongs to.
    pub fn home(&self, field: &str) -> Option<&'a str> {
        self.home.get(field).copied()
    }

    pub fn hide(&mut self, field: &'a str, at: Option<At<'a>>) {
        self.hidden.insert((field, at.map(|a| a.key)));
    }

    /// A field's answer (`None` when unanswered or null), in instance `at` for a repeat's field.
    pub fn answer(&self, field: &Field, at: Option<At<'_>>) -> Option<&'a Value> {
        self.fields
            .get(&answer_key_at(field, at))
            .filter(|v| !v.is_null())
    }

    /// A field's value: its answer, or its calculation's value; `''` when hidden, and for a
    /// repeat's field outside an instance of that repeat.
    fn value(&self, id: &str, at: Option<At<'a>>, depth: usize) -> Val {
        let Some(field) = self.by_id.get(id) else {
            return Val::from_answer(None);
        };
        let at = match self.home(id) {
            Some(repeat) => match at.filter(|a| a.repeat == repeat) {
                Some(at) => Some(at),
                None => return Val::from_answer(None),
            },
            // A field outside repeats reads the same from inside an instance.
            None => None,
        };
        if self
            .hidden
            .contains(&(field.id.as_str(), at.map(|a| a.key)))
        {
            return Val::from_answer(None);
        }
        match &field.calculation {
            // Chains are bounded when the definition is read; the depth guards the stack.
            Some(c) if depth <= MAX_CALCULATION_CHAIN => {
                self.eval(&c.expr, Val::from_answer(None), depth + 1, None, at)
            }
            Some(_) => Val::from_answer(None),
            None => Val::from_answer(self.answer(field, at)),
        }
    }

    /// Every instance's value of a repeat's field, or one value per instance of a repeat.
    fn nodes(&self, id: &str, depth: usize) -> Option<Vec<Val>> {
        if let Some(keys) = self.instances.get(id) {
            return Some(keys.iter().map(|k| Val::Text((*k).to_owned())).collect());
        }
        let repeat = self.home(id)?;
        let keys = self.instances.get(repeat)?;
        Some(
            keys.iter()
                .enumerate()
                .map(|(i, key)| {
                    let at = At {
                        repeat,
                        key,
                        position: i + 1,
                    };
                    self.value(id, Some(at), depth)
                })
                .collect(),
        )
    }

    /// Evaluates an expression in instance `at` (or outside repeats); `choice` gives the
    /// columns bare names read (a choice filter).
    pub fn eval(
        &self,
        expr: &Expr,
        current: Val,
        depth: usize,
        choice: Option<&Choice>,
        at: Option<At<'a>>,
    ) -> Val {
        let field = |id: &str| self.value(id, at, depth);
        let nodes = |id: &str| self.nodes(id, depth + 1);
        let name = |n: &str| {
            Val::Text(
                choice
                    .and_then(|c| c.columns.get(n))
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        let choice_name = |id: &str, code: &str| {
            self.by_id
                .get(id)
                .and_then(|f| self.form.choice_label(f, code, &self.form.default_language))
                .unwrap_or_default()
                .to_owned()
        };
        expr.eval(&Scope {
            field: &field,
            current,
            today: self.today.clone(),
            name: &name,
            choice_name: &choice_name,
            nodes: &nodes,
            position: at.map_or(0, |a| a.position),
        })
    }

    pub fn holds(&self, expr: &Expr, current: Val, at: Option<At<'a>>) -> bool {
        self.eval(expr, current, 0, None, at).truthy()
    }
}

/// Where a field's answer lives in a case: its core variable, `answers.<id>`, or for a
/// repeat's field in instance `at`, `answers.<repeat>.<instance>.<id>`.
pub(super) fn answer_key_at(field: &Field, at: Option<At<'_>>) -> String {
    match (&field.core, at) {
        (Some(core), _) => core.clone(),
        (None, Some(at)) => format!("{ANSWER_KEY_PREFIX}{}.{}.{}", at.repeat, at.key, field.id),
        (None, None) => field.id.key(),
    }
}

/// The keys of a repeat's instances that hold at least one answer, in key order.
fn instance_keys<'f>(fields: &'f Fields, repeat: &str) -> Vec<&'f str> {
    let prefix = format!("{ANSWER_KEY_PREFIX}{repeat}.");
    let mut keys: Vec<&str> = Vec::new();
    // Instance keys are `[a-z0-9]`, all after `.`, so one instance's answers are consecutive.
    for (key, value) in fields.range(prefix.clone()..) {
        let Some(rest) = key.strip_prefix(&prefix) else {
            break;
        };
        let Some((instance, _field)) = rest.split_once('.') else {
            continue;
        };
        if !value.is_null() && keys.last() != Some(&instance) {
            keys.push(instance);
        }
    }
    keys
}
