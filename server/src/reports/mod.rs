//! Aggregate reports for the central office, duplicate finding, and disclosure control.
//!
//! - [`facts`]: the non-identifying columns of each case and service that reports count
//!   (kept sealed by storage, in step with the sealed state);
//! - [`engine`]: one streaming pass over the facts in scope into every table, counted with
//!   [`tally`]; [`activity`]: the services and referrals tables;
//! - [`cellkey`] and [`disclosure`]: cell-key perturbation and small-count rules for anything
//!   that leaves the network;
//! - [`matching`], [`comparison`], [`fellegi_sunter`] and [`duplicates`]: sealed match
//!   profiles, blocking, scoring with estimated weights, candidate pairs for review;
//! - [`cache`]: published reports reused while nothing they count has changed;
//! - [`query`]: the request parameters and their allowed values; [`format`]: JSON, CSV, HXL;
//! - [`regions`]: countries to IOM regions; [`labels`]: the names of codes in English and
//!   French, from the forms' definitions, for the dashboard;
//! - [`series`]: one table month by month, each month published as its own report.
//!
//! `docs/reports.md` describes every figure, the counting rules and who may see what.

pub mod activity;
pub mod cache;
pub mod cellkey;
pub mod comparison;
pub mod disclosure;
pub mod duplicates;
pub mod engine;
pub mod facts;
pub mod fellegi_sunter;
pub mod format;
pub mod labels;
pub mod matching;
pub mod pairs;
pub mod query;
pub mod regions;
pub mod saved_review;
pub mod series;
pub mod table;
pub mod tally;
