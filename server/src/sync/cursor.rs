//! Pull cursors: `"{epoch}.{position}"`, opaque to devices.
//!
//! The epoch is the database's random id ([`crate::storage::Storage::epoch`]); a cursor from
//! another epoch, one that does not parse, or one past the end of the log cannot be trusted to
//! mean anything here, and the device is told to reset.

use crate::storage::Position;
use fieldcase_core::protocol::Cursor;

/// Where a pull starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// After this position.
    After(Position),
    /// From the beginning, telling the device to drop its pull state.
    Reset,
}

/// Reads a device's cursor; `None` (first sync) starts at the beginning without a reset.
pub fn parse(cursor: Option<&Cursor>, epoch: &str) -> Start {
    let Some(Cursor(text)) = cursor else {
        return Start::After(0);
    };
    match text.split_once('.') {
        Some((e, position)) if e == epoch => match position.parse::<Position>() {
            Ok(p) => Start::After(p),
            Err(_) => Start::Reset,
        },
        _ => Start::Reset,
    }
}

pub fn format(epoch: &str, position: Position) -> Cursor {
    Cursor(format!("{epoch}.{position}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_reset() {
        let c = format("e1", 42);
        assert_eq!(parse(Some(&c), "e1"), Start::After(42));
        assert_eq!(parse(Some(&c), "e2"), Start::Reset);
        assert_eq!(parse(Some(&Cursor("e1.x".into())), "e1"), Start::Reset);
        assert_eq!(parse(Some(&Cursor("garbage".into())), "e1"), Start::Reset);
        assert_eq!(parse(None, "e1"), Start::After(0));
    }
}
