//! Who may see what: the one place that decides whether a record's operations reach a device.
//!
//! Today a device sees the records its agency owns, whole. Referrals will add a second rule —
//! an agency a case is referred to sees only the fields the case's consent allows — and that
//! rule grows here, as a new [`Visibility`] variant, not as filters scattered over queries.
//! Storage pre-selects candidate rows by owner (an index range scan) and then asks this
//! function about each one, so a query that selected too much can never leak.

use fieldcase_core::{AgencyCode, RecordKind};

/// What the server knows about a record without opening its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMeta<'a> {
    pub kind: RecordKind,
    pub owner_agency: &'a AgencyCode,
}

/// How much of a record a device may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Visibility {
    /// Every field.
    Full,
    /// Nothing, not even that the record exists.
    None,
}

/// The visibility of `record` to a device of `device_agency`.
pub fn visible_to(device_agency: &AgencyCode, record: &RecordMeta<'_>) -> Visibility {
    if record.owner_agency == device_agency {
        Visibility::Full
    } else {
        Visibility::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agency_sees_its_own_records_and_nothing_else() {
        let a = AgencyCode::parse("iom_uga").unwrap();
        let b = AgencyCode::parse("shelter_b").unwrap();
        for kind in RecordKind::ALL {
            let record = RecordMeta {
                kind,
                owner_agency: &a,
            };
            assert_eq!(visible_to(&a, &record), Visibility::Full);
            assert_eq!(visible_to(&b, &record), Visibility::None);
        }
    }
}
