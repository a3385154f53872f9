//! Cases that need review in PostgreSQL: one row per flagged case (`case_reviews`), reasons
//! sealed.

use super::{agency_of, backend, col, ms, record_id_of, to_sql, Tx};
use crate::seal::Sealer;
use crate::storage::port::CaseReview;
use crate::storage::sealed_reviews;
use crate::storage::StorageError;
use ::postgres::Row;
use fieldcase_core::{AgencyCode, RecordId};

fn opened(sealer: &Sealer, row: &Row) -> Result<CaseReview, StorageError> {
    let case_id = record_id_of(col(row, 0)?)?;
    Ok(CaseReview {
        case_id,
        agency: agency_of(col(row, 1)?)?,
        flagged_ms: ms(col(row, 2)?),
        reasons: sealed_reviews::open(sealer, case_id, col(row, 3)?)?,
    })
}

pub(super) fn load(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    case: RecordId,
) -> Result<Option<CaseReview>, StorageError> {
    tx.query_opt(
        "SELECT case_id, agency, flagged_at, reasons FROM case_reviews WHERE case_id = $1",
        &[&case.as_bytes().to_vec()],
    )
    .map_err(backend)?
    .map(|row| opened(sealer, &row))
    .transpose()
}

pub(super) fn store(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    case: RecordId,
    review: Option<&CaseReview>,
) -> Result<(), StorageError> {
    let id = case.as_bytes().to_vec();
    match review {
        None => tx.execute("DELETE FROM case_reviews WHERE case_id = $1", &[&id]),
        Some(review) => tx.execute(
            "INSERT INTO case_reviews (case_id, agency, flagged_at, reasons)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (case_id) DO UPDATE SET agency = excluded.agency,
                 flagged_at = excluded.flagged_at, reasons = excluded.reasons",
            &[
                &id,
                &review.agency.as_str(),
                &to_sql(review.flagged_ms),
                &sealed_reviews::seal(sealer, case, &review.reasons),
            ],
        ),
    }
    .map(drop)
    .map_err(backend)
}

pub(super) fn of_agency(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    agency: &AgencyCode,
) -> Result<Vec<CaseReview>, StorageError> {
    tx.query(
        "SELECT case_id, agency, flagged_at, reasons FROM case_reviews
         WHERE agency = $1 ORDER BY flagged_at, case_id",
        &[&agency.as_str()],
    )
    .map_err(backend)?
    .iter()
    .map(|row| opened(sealer, row))
    .collect()
}
