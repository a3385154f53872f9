//! Reading `.xlsx` workbooks from people's files without letting a malformed one panic.
//!
//! calamine returns typed errors for most damage, but a few malformed inputs reach arithmetic
//! that overflows (cell references of many letters, found by the XLSForm fuzz target): a panic
//! in a build with overflow checks, silently wrapped numbers in one without. Every workbook
//! read therefore runs through [`read_guarded`], and a panic inside becomes the caller's
//! "damaged workbook" error; nothing has been written by then, since reading comes first.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `read` (a parse of workbook bytes, which writes nothing), turning a panic inside it
/// into `None`.
pub(crate) fn read_guarded<T>(read: impl FnOnce() -> T) -> Option<T> {
    // Unwind safety: `read` only builds values it returns; a panic drops them all.
    catch_unwind(AssertUnwindSafe(read)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_reading_is_none_and_a_result_passes_through() {
        assert_eq!(read_guarded(|| 7), Some(7));
        let overflowing = || -> u32 { u32::MAX.checked_add(1).expect("overflow") };
        assert_eq!(read_guarded(overflowing), None);
    }
}
