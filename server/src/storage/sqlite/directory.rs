//! Agencies, users, devices, enrollment codes and admin tokens in SQLite.
//!
//! Every query that an agency-scoped caller can reach takes the scope as a parameter and puts
//! it in the `WHERE` clause, so "not in your agency" and "does not exist" are one answer.

use super::{agency_col, backend, device_id_col, ms_col, role_col, to_sql_ms};
use crate::credentials::SecretHash;
use crate::storage::*;
use fieldcase_core::{AgencyCode, DeviceId};
use rusqlite::{params, ErrorCode, OptionalExtension, Row, Transaction};

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

pub(super) fn create_agency(
    tx: &Transaction<'_>,
    code: &AgencyCode,
    name: &str,
    now_ms: u64,
) -> Result<Agency, StorageError> {
    tx.execute(
        "INSERT INTO agencies (code, name, created_at) VALUES (?1, ?2, ?3)",
        params![code.as_str(), name, to_sql_ms(now_ms)],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StorageError::AlreadyExists("agency")
        } else {
            backend(e)
        }
    })?;
    Ok(Agency {
        code: code.clone(),
        name: name.to_owned(),
        created_at_ms: now_ms,
    })
}

pub(super) fn agency_codes(tx: &Transaction<'_>) -> Result<Vec<AgencyCode>, StorageError> {
    let mut statement = tx
        .prepare_cached("SELECT code FROM agencies ORDER BY code")
        .map_err(backend)?;
    let codes = statement
        .query_map([], |row| agency_col(row.get(0)?))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend);
    codes
}

fn agency_row(row: &Row<'_>) -> rusqlite::Result<Agency> {
    Ok(Agency {
        code: agency_col(row.get(0)?)?,
        name: row.get(1)?,
        created_at_ms: ms_col(row.get(2)?),
    })
}

pub(super) fn list_agencies(
    tx: &Transaction<'_>,
    only: Option<&AgencyCode>,
) -> Result<Vec<Agency>, StorageError> {
    tx.prepare(
        "SELECT code, name, created_at FROM agencies
         WHERE ?1 IS NULL OR code = ?1 ORDER BY code",
    )
    .and_then(|mut stmt| {
        stmt.query_map([only.map(|a| a.as_str())], agency_row)?
            .collect()
    })
    .map_err(backend)
}

pub(super) fn agency_exists(tx: &Transaction<'_>, code: &AgencyCode) -> Result<bool, StorageError> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM agencies WHERE code = ?1)",
        [code.as_str()],
        |row| row.get(0),
    )
    .map_err(backend)
}

pub(super) fn create_user(
    tx: &Transaction<'_>,
    user: &NewUser,
    now_ms: u64,
) -> Result<User, StorageError> {
    if !agency_exists(tx, &user.agency)? {
        return Err(StorageError::NotFound("agency"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO users (id, agency, role, display_name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            user.agency.as_str(),
            user.role.as_str(),
            user.display_name,
            to_sql_ms(now_ms)
        ],
    )
    .map_err(backend)?;
    Ok(User {
        id,
        agency: user.agency.clone(),
        role: user.role,
        display_name: user.display_name.clone(),
        created_at_ms: now_ms,
    })
}

const USER_COLUMNS: &str = "id, agency, role, display_name, created_at";

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        agency: agency_col(row.get(1)?)?,
        role: role_col(row.get(2)?)?,
        display_name: row.get(3)?,
        created_at_ms: ms_col(row.get(4)?),
    })
}

pub(super) fn list_users(
    tx: &Transaction<'_>,
    agency: Option<&AgencyCode>,
) -> Result<Vec<User>, StorageError> {
    tx.prepare(&format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE ?1 IS NULL OR agency = ?1 ORDER BY agency, created_at, id"
    ))
    .and_then(|mut stmt| {
        stmt.query_map([agency.map(|a| a.as_str())], user_row)?
            .collect()
    })
    .map_err(backend)
}

pub(super) fn user(
    tx: &Transaction<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
) -> Result<Option<User>, StorageError> {
    tx.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1 AND (?2 IS NULL OR agency = ?2)"),
        params![id, scope.map(|a| a.as_str())],
        user_row,
    )
    .optional()
    .map_err(backend)
}

pub(super) fn create_admin_token(
    tx: &Transaction<'_>,
    token: &NewAdminToken,
) -> Result<String, StorageError> {
    if let Some(agency) = token.scope.agency() {
        if !agency_exists(tx, agency)? {
            return Err(StorageError::NotFound("agency"));
        }
    }
    let id = super::tokens::new_id();
    tx.execute(
        "INSERT INTO admin_tokens (id, token_hash, agency, label, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            token.token_hash,
            token.scope.agency().map(|a| a.as_str()),
            token.label,
            to_sql_ms(token.created_at_ms),
            to_sql_ms(token.expires_at_ms)
        ],
    )
    .map_err(backend)?;
    Ok(id)
}

pub(super) fn has_system_admin(tx: &Transaction<'_>, now_ms: u64) -> Result<bool, StorageError> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM admin_tokens
                        WHERE agency IS NULL AND revoked_at IS NULL AND expires_at > ?1)",
        [to_sql_ms(now_ms)],
        |row| row.get(0),
    )
    .map_err(backend)
}

pub(super) fn create_enrollment_code(
    tx: &Transaction<'_>,
    code: &NewEnrollmentCode,
) -> Result<String, StorageError> {
    let id = super::tokens::new_id();
    tx.execute(
        "INSERT INTO enrollment_codes (id, code_hash, agency, user_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            code.code_hash,
            code.agency.as_str(),
            code.user_id,
            to_sql_ms(code.created_at_ms),
            to_sql_ms(code.expires_at_ms)
        ],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StorageError::AlreadyExists("enrollment code")
        } else {
            backend(e)
        }
    })?;
    Ok(id)
}

pub(super) fn redeem_enrollment_code(
    tx: &Transaction<'_>,
    code_hash: &SecretHash,
    device: &NewDevice,
    now_ms: u64,
) -> Result<Option<Enrollment>, StorageError> {
    let found = tx
        .query_row(
            "SELECT c.agency, c.user_id, u.role FROM enrollment_codes c
             JOIN users u ON u.id = c.user_id
             WHERE c.code_hash = ?1 AND c.used_at IS NULL AND c.revoked_at IS NULL
               AND c.expires_at > ?2",
            params![code_hash, to_sql_ms(now_ms)],
            |row| {
                Ok((
                    agency_col(row.get(0)?)?,
                    row.get::<_, String>(1)?,
                    role_col(row.get(2)?)?,
                ))
            },
        )
        .optional()
        .map_err(backend)?;
    let Some((agency, user_id, role)) = found else {
        return Ok(None);
    };
    tx.execute(
        "INSERT INTO devices (id, agency, user_id, label, credential_hash, created_at,
                              credential_issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            device.id.as_bytes(),
            agency.as_str(),
            user_id,
            device.label,
            device.credential_hash,
            to_sql_ms(now_ms)
        ],
    )
    .map_err(backend)?;
    tx.execute(
        "UPDATE enrollment_codes SET used_at = ?2, device_id = ?3 WHERE code_hash = ?1",
        params![code_hash, to_sql_ms(now_ms), device.id.as_bytes()],
    )
    .map_err(backend)?;
    Ok(Some(Enrollment {
        device: Device {
            id: device.id,
            agency,
            user_id,
            label: device.label.clone(),
            created_at_ms: now_ms,
            revoked_at_ms: None,
            last_seen_at_ms: None,
            last_seq: 0,
        },
        role,
    }))
}

pub(super) fn device_by_credential(
    tx: &Transaction<'_>,
    credential_hash: &SecretHash,
) -> Result<Option<DeviceAuth>, StorageError> {
    tx.query_row(
        "SELECT d.id, d.agency, d.user_id, u.role, d.revoked_at, d.last_seen_at, d.last_seq,
                CASE WHEN d.credential_hash = ?1 THEN 0
                     WHEN d.next_credential_hash = ?1 THEN 1
                     WHEN d.retired_credential_hash = ?1 THEN 2 ELSE 3 END,
                COALESCE(d.credential_issued_at, d.created_at)
         FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.credential_hash = ?1 OR d.next_credential_hash = ?1
            OR d.retired_credential_hash = ?1 OR d.superseded_credential_hash = ?1",
        [credential_hash],
        |row| {
            Ok(DeviceAuth {
                id: device_id_col(row.get(0)?)?,
                agency: agency_col(row.get(1)?)?,
                user_id: row.get(2)?,
                role: role_col(row.get(3)?)?,
                revoked: row.get::<_, Option<i64>>(4)?.is_some(),
                last_seen_at_ms: row.get::<_, Option<i64>>(5)?.map(ms_col),
                last_seq: ms_col(row.get(6)?),
                credential: credential_slot(row.get(7)?),
                credential_issued_at_ms: ms_col(row.get(8)?),
            })
        },
    )
    .optional()
    .map_err(backend)
}

fn credential_slot(code: i64) -> CredentialSlot {
    match code {
        0 => CredentialSlot::Current,
        1 => CredentialSlot::Next,
        2 => CredentialSlot::Retired,
        _ => CredentialSlot::Superseded,
    }
}

pub(super) fn stage_device_credential(
    tx: &Transaction<'_>,
    id: DeviceId,
    next_hash: &SecretHash,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE devices SET next_credential_hash = ?2,
                superseded_credential_hash = COALESCE(next_credential_hash, superseded_credential_hash)
         WHERE id = ?1",
        params![id.as_bytes(), next_hash],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn promote_device_credential(
    tx: &Transaction<'_>,
    id: DeviceId,
    next_hash: &SecretHash,
    now_ms: u64,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            "UPDATE devices SET retired_credential_hash = credential_hash,
                    credential_hash = next_credential_hash, next_credential_hash = NULL,
                    credential_issued_at = ?3
             WHERE id = ?1 AND next_credential_hash = ?2",
            params![id.as_bytes(), next_hash, to_sql_ms(now_ms)],
        )
        .map_err(backend)?;
    Ok(changed == 1)
}

pub(super) fn renew_device_credential(
    tx: &Transaction<'_>,
    id: DeviceId,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<Device>, StorageError> {
    tx.execute(
        "UPDATE devices SET credential_issued_at = ?3
         WHERE id = ?1 AND (?2 IS NULL OR agency = ?2)",
        params![id.as_bytes(), scope.map(|a| a.as_str()), to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    device_in_scope(tx, id, scope)
}

const DEVICE_COLUMNS: &str =
    "id, agency, user_id, label, created_at, revoked_at, last_seen_at, last_seq";

fn device_row(row: &Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        id: device_id_col(row.get(0)?)?,
        agency: agency_col(row.get(1)?)?,
        user_id: row.get(2)?,
        label: row.get(3)?,
        created_at_ms: ms_col(row.get(4)?),
        revoked_at_ms: row.get::<_, Option<i64>>(5)?.map(ms_col),
        last_seen_at_ms: row.get::<_, Option<i64>>(6)?.map(ms_col),
        last_seq: ms_col(row.get(7)?),
    })
}

pub(super) fn list_devices(
    tx: &Transaction<'_>,
    agency: Option<&AgencyCode>,
) -> Result<Vec<Device>, StorageError> {
    tx.prepare(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices
         WHERE ?1 IS NULL OR agency = ?1 ORDER BY agency, created_at, id"
    ))
    .and_then(|mut stmt| {
        stmt.query_map([agency.map(|a| a.as_str())], device_row)?
            .collect()
    })
    .map_err(backend)
}

pub(super) fn revoke_device(
    tx: &Transaction<'_>,
    id: DeviceId,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<Device>, StorageError> {
    tx.execute(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?3)
         WHERE id = ?1 AND (?2 IS NULL OR agency = ?2)",
        params![id.as_bytes(), scope.map(|a| a.as_str()), to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    device_in_scope(tx, id, scope)
}

/// The device `id`, if it is in `scope` (when given).
fn device_in_scope(
    tx: &Transaction<'_>,
    id: DeviceId,
    scope: Option<&AgencyCode>,
) -> Result<Option<Device>, StorageError> {
    tx.query_row(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1 AND (?2 IS NULL OR agency = ?2)"
        ),
        params![id.as_bytes(), scope.map(|a| a.as_str())],
        device_row,
    )
    .optional()
    .map_err(backend)
}

pub(super) fn touch_device(
    tx: &Transaction<'_>,
    id: DeviceId,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE devices SET last_seen_at = ?2 WHERE id = ?1",
        params![id.as_bytes(), to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn device_counts(tx: &Transaction<'_>) -> Result<DeviceCounts, StorageError> {
    tx.query_row(
        "SELECT count(*) FILTER (WHERE revoked_at IS NULL),
                count(*) FILTER (WHERE revoked_at IS NOT NULL)
         FROM devices",
        [],
        |row| {
            Ok(DeviceCounts {
                active: ms_col(row.get(0)?),
                revoked: ms_col(row.get(1)?),
            })
        },
    )
    .map_err(backend)
}
