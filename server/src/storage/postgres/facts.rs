//! Keeping the plain report facts and the keyed match profile of each record in step with its
//! merged state, in PostgreSQL.
//!
//! [`refresh`] runs in the transaction that merges an operation into a record's state, so facts
//! never describe a state that was rolled back. When the derivation changes ([`FACTS_VERSION`])
//! [`rebuild_if_stale`] rebuilds every row from the sealed states when the storage opens, in one
//! transaction. (Kept apart from the log so the facts' storage can change on its own.)

use super::state::{load_state, read_meta, write_meta};
use super::{backend, col, record_id_of};
use crate::reports::facts::{join_codes, CaseFacts, ServiceFacts};
use crate::reports::matching::MatchProfile;
use crate::seal::Sealer;
use crate::storage::StorageError;
use ::postgres::Transaction;
use fieldcase_core::merge::RecordState;
use fieldcase_core::{RecordId, RecordKind};

/// Version of the derivation of facts and match profiles; the same as SQLite's
/// (`sqlite::facts::FACTS_VERSION`): bump both together.
pub const FACTS_VERSION: &str = "1";

/// Rewrites the facts (and match profile) of one record from its state after a merge.
pub(super) fn refresh(
    tx: &mut Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: &RecordState,
) -> Result<(), StorageError> {
    match state.kind {
        RecordKind::Case => {
            let case = crate::reports::facts::read_case(&state.values());
            write_case(tx, sealer, record, &case)
        }
        RecordKind::Service => refresh_service(tx, record, state),
        _ => Ok(()),
    }
}

fn text<T: ToString>(v: Option<T>) -> Option<String> {
    v.map(|v| v.to_string())
}

/// Writes the facts and match profile of a case read from its state.
fn write_case(
    tx: &mut Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    case: &fieldcase_core::model::Case,
) -> Result<(), StorageError> {
    let f = CaseFacts::from_case(case);
    tx.execute(
        "INSERT INTO report_facts
           (record_id, intake_date, sex, age_group, age_band, nationality, country_of_assistance,
            programme, categories, exploitation_types, labour_sectors, trafficking_type,
            country_of_destination, reintegration_assistance, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (record_id) DO UPDATE SET
           intake_date = excluded.intake_date, sex = excluded.sex,
           age_group = excluded.age_group, age_band = excluded.age_band,
           nationality = excluded.nationality,
           country_of_assistance = excluded.country_of_assistance,
           programme = excluded.programme, categories = excluded.categories,
           exploitation_types = excluded.exploitation_types,
           labour_sectors = excluded.labour_sectors,
           trafficking_type = excluded.trafficking_type,
           country_of_destination = excluded.country_of_destination,
           reintegration_assistance = excluded.reintegration_assistance,
           status = excluded.status",
        &[
            &record.as_bytes().as_slice(),
            &text(f.intake_date),
            &f.sex.map(|s| s.as_str()),
            &f.age_group,
            &f.age_band,
            &f.nationality.map(|c| c.as_str()),
            &f.country_of_assistance.map(|c| c.as_str()),
            &f.programme.map(|p| p.as_str()),
            &join_codes(&f.categories),
            &join_codes(&f.exploitation_types),
            &join_codes(&f.labour_sectors),
            &f.trafficking_type.map(|t| t.as_str()),
            &f.country_of_destination.map(|c| c.as_str()),
            &join_codes(&f.reintegration_assistance),
            &f.status.map(|s| s.as_str()),
        ],
    )
    .map_err(backend)?;
    write_profile(tx, record, MatchProfile::of_case(case, sealer).as_ref())
}

/// Writes (or, with `None`, removes) a case's match profile and blocks.
fn write_profile(
    tx: &mut Transaction<'_>,
    record: RecordId,
    profile: Option<&MatchProfile>,
) -> Result<(), StorageError> {
    let id = record.as_bytes().as_slice();
    tx.execute("DELETE FROM match_blocks WHERE record_id = $1", &[&id])
        .map_err(backend)?;
    let Some(p) = profile else {
        tx.execute("DELETE FROM match_profiles WHERE record_id = $1", &[&id])
            .map_err(backend)?;
        return Ok(());
    };
    tx.execute(
        "INSERT INTO match_profiles
           (record_id, name_tokens, dob, documents, phone, nationality, sex)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (record_id) DO UPDATE SET
           name_tokens = excluded.name_tokens, dob = excluded.dob,
           documents = excluded.documents, phone = excluded.phone,
           nationality = excluded.nationality, sex = excluded.sex",
        &[
            &id,
            &p.name_tokens.concat(),
            &p.dob.concat(),
            &p.documents.concat(),
            &p.phone.map(|t| t.to_vec()),
            &p.nationality.map(|c| c.as_str()),
            &p.sex.map(|s| s.as_str()),
        ],
    )
    .map_err(backend)?;
    for block in &p.blocks {
        tx.execute(
            "INSERT INTO match_blocks (block, record_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&block.as_slice(), &id],
        )
        .map_err(backend)?;
    }
    Ok(())
}

fn refresh_service(
    tx: &mut Transaction<'_>,
    record: RecordId,
    state: &RecordState,
) -> Result<(), StorageError> {
    match ServiceFacts::from_fields(&state.values()) {
        Some(f) => tx
            .execute(
                "INSERT INTO service_facts
                   (record_id, case_id, service_type, service_date, provider_agency)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (record_id) DO UPDATE SET
                   case_id = excluded.case_id, service_type = excluded.service_type,
                   service_date = excluded.service_date,
                   provider_agency = excluded.provider_agency",
                &[
                    &record.as_bytes().as_slice(),
                    &f.case_id.as_bytes().as_slice(),
                    &f.service_type.as_str(),
                    &f.date.to_string(),
                    &f.provider_agency.as_str(),
                ],
            )
            .map_err(backend)?,
        None => tx
            .execute(
                "DELETE FROM service_facts WHERE record_id = $1",
                &[&record.as_bytes().as_slice()],
            )
            .map_err(backend)?,
    };
    Ok(())
}

/// Rebuilds every facts row and match profile from the sealed states when they were made by
/// another derivation (or never), then records [`FACTS_VERSION`]. Runs in the caller's
/// transaction: a crash leaves the old rows and version, and the next start does it again.
pub(super) fn rebuild_if_stale(
    tx: &mut Transaction<'_>,
    sealer: &Sealer,
) -> Result<(), StorageError> {
    if read_meta(tx, "facts_version")?.as_deref() == Some(FACTS_VERSION.as_bytes()) {
        return Ok(());
    }
    tx.batch_execute(
        "DELETE FROM report_facts; DELETE FROM service_facts;
         DELETE FROM match_blocks; DELETE FROM match_profiles;",
    )
    .map_err(backend)?;
    let records = tx
        .query(
            "SELECT record_id FROM records WHERE kind IN ('case', 'service')",
            &[],
        )
        .map_err(backend)?
        .iter()
        .map(|row| record_id_of(col(row, 0)?))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rebuilt = 0usize;
    for record in records {
        if let Some(state) = load_state(tx, sealer, record)? {
            refresh(tx, sealer, record, &state)?;
            rebuilt += 1;
        }
    }
    write_meta(tx, "facts_version", FACTS_VERSION.as_bytes())?;
    if rebuilt > 0 {
        tracing::info!(records = rebuilt, "rebuilt report facts from sealed states");
    }
    Ok(())
}
