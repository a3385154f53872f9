//! fieldcase-core: the engine a caseworker's phone runs.
//!
//! It records cases with no network, keeps everything it stores sealed under a key only the
//! caseworker's passphrase can unwrap, turns every change into an operation for the outbox,
//! and merges operations from other devices without losing anything a caseworker typed.
//!
//! Layers point down: [`model`] and [`merge`] are pure (no I/O); [`crypto`] is pure key and
//! sealing code; [`store`] is the only layer that knows SQLite; [`import`] streams files into
//! the store, and [`spreadsheet`] reads CSV and XLSX caseloads into cases for it. [`forms`] holds form definitions and checks answers against them. [`referral`] holds the pure rules of referrals and transfers between agencies.

pub mod attachments;
pub mod codec;
pub mod crypto;
pub mod device_policy;
pub mod forms;
pub mod handoff;
pub mod hlc;
pub mod ids;

pub mod merge;
pub mod model;
pub mod normalize;
pub mod population;
pub mod protocol;
pub mod referral;
pub mod sample;
pub mod spreadsheet;
pub mod store;
pub mod sync;
#[cfg(any(feature = "xlsform", feature = "spreadsheet-xlsx"))]
mod workbook;

pub use store::import;

pub use hlc::{Clock, Hlc};
pub use ids::{AgencyCode, DeviceId, RecordId};
pub use merge::op::{FieldChange, OpId, Operation, RecordKind};
