//! Cases that need review in SQLite: one row per flagged case (`case_reviews`), reasons sealed.

use super::{agency_col, backend, ms_col, record_id_col, to_sql_ms};
use crate::seal::Sealer;
use crate::storage::port::CaseReview;
use crate::storage::sealed_reviews;
use crate::storage::StorageError;
use fieldcase_core::{AgencyCode, RecordId};
use rusqlite::{params, OptionalExtension, Transaction};

type Row = (RecordId, AgencyCode, u64, Vec<u8>);

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        record_id_col(row.get(0)?)?,
        agency_col(row.get(1)?)?,
        ms_col(row.get(2)?),
        row.get(3)?,
    ))
}

fn opened(
    sealer: &Sealer,
    (case_id, agency, flagged_ms, sealed): Row,
) -> Result<CaseReview, StorageError> {
    Ok(CaseReview {
        reasons: sealed_reviews::open(sealer, case_id, &sealed)?,
        case_id,
        agency,
        flagged_ms,
    })
}

pub(super) fn load(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    case: RecordId,
) -> Result<Option<CaseReview>, StorageError> {
    tx.prepare_cached(
        "SELECT case_id, agency, flagged_at, reasons FROM case_reviews WHERE case_id = ?1",
    )
    .and_then(|mut stmt| stmt.query_row([&case.as_bytes()[..]], read_row).optional())
    .map_err(backend)?
    .map(|row| opened(sealer, row))
    .transpose()
}

pub(super) fn store(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    case: RecordId,
    review: Option<&CaseReview>,
) -> Result<(), StorageError> {
    let result = match review {
        None => tx
            .prepare_cached("DELETE FROM case_reviews WHERE case_id = ?1")
            .and_then(|mut stmt| stmt.execute([&case.as_bytes()[..]])),
        Some(review) => tx
            .prepare_cached(
                "INSERT INTO case_reviews (case_id, agency, flagged_at, reasons)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (case_id) DO UPDATE SET agency = excluded.agency,
                     flagged_at = excluded.flagged_at, reasons = excluded.reasons",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    &case.as_bytes()[..],
                    review.agency.as_str(),
                    to_sql_ms(review.flagged_ms),
                    sealed_reviews::seal(sealer, case, &review.reasons),
                ])
            }),
    };
    result.map(drop).map_err(backend)
}

pub(super) fn of_agency(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    agency: &AgencyCode,
) -> Result<Vec<CaseReview>, StorageError> {
    let rows: Vec<Row> = tx
        .prepare_cached(
            "SELECT case_id, agency, flagged_at, reasons FROM case_reviews
             WHERE agency = ?1 ORDER BY flagged_at, case_id",
        )
        .and_then(|mut stmt| {
            stmt.query_map([agency.as_str()], read_row)?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(backend)?;
    rows.into_iter().map(|row| opened(sealer, row)).collect()
}
