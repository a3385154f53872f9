//! Forms as data: versioned definitions of what a form asks, the expression language of their
//! conditions, and the validation of a case's answers against the form versions they were
//! recorded with.
//!
//! - [`definition`]: the definition format (JSON through serde) and its structural checks.
//! - [`expr`]: the expression language of `relevant`, `constraint`, `calculation` and
//!   `choice_filter` (XLSForm's XPath subset), parsed once; the one engine device and server run.
//! - [`repeat`]: repeat groups (answers per instance) and where their fields may be referred to.
//! - [`validate`]: answers against a form version; a case against the versions it names; one
//!   answer against the rules that read it alone (what the server refuses a pushed write for).
//! - `xlsform` (feature `xlsform`): XLSForm import and export, for admin tools and the server.
//!
//! A case names its forms as `forms.<form id>` → version; answers are `answers.<field id>`, or
//! the core variable a field maps to, or `answers.<repeat id>.<instance key>.<field id>` for
//! a field of a repeat group. Versions are immutable once published and every version
//! is kept, so a case keeps validating against — and being shown with the labels of — the
//! version it was recorded with; moving a case to a newer version is an explicit edit of
//! `forms.<id>` (see `docs/forms.md`). This module is pure; the store finds versions.

pub mod definition;
pub mod expr;
pub mod repeat;
pub mod validate;
#[cfg(feature = "xlsform")]
pub mod xlsform;

pub use definition::{
    Choice, Condition, DefinitionError, Field, FieldType, FormDefinition, FormId, Labels, Section,
};
pub use expr::{Expr, ExprError};
pub use repeat::Repeat;
pub use validate::{check_answer_alone, check_case, check_form, form_refs, FORM_KEY_PREFIX};
