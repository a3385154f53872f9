//! Agencies, users, devices, enrollment codes and admin tokens in PostgreSQL.
//!
//! Every query that an agency-scoped caller can reach takes the scope as a parameter and puts
//! it in the `WHERE` clause, so "not in your agency" and "does not exist" are one answer.
//! (Kept apart from the log so the directory's schema can change on its own.)

use super::Tx;
use super::{agency_of, backend, col, device_id_of, is_unique_violation, ms, role_of, to_sql};
use crate::credentials::SecretHash;
use crate::storage::*;
use ::postgres::Row;
use fieldcase_core::{AgencyCode, DeviceId};

pub(super) fn create_agency(
    tx: &mut Tx<'_>,
    code: &AgencyCode,
    name: &str,
    now_ms: u64,
) -> Result<Agency, StorageError> {
    tx.execute(
        "INSERT INTO agencies (code, name, created_at) VALUES ($1, $2, $3)",
        &[&code.as_str(), &name, &to_sql(now_ms)],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
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

fn agency_row(row: &Row) -> Result<Agency, StorageError> {
    Ok(Agency {
        code: agency_of(col(row, 0)?)?,
        name: col(row, 1)?,
        created_at_ms: ms(col(row, 2)?),
    })
}

pub(super) fn list_agencies(
    tx: &mut Tx<'_>,
    only: Option<&AgencyCode>,
) -> Result<Vec<Agency>, StorageError> {
    tx.query(
        "SELECT code, name, created_at FROM agencies
         WHERE $1::text IS NULL OR code = $1 ORDER BY code",
        &[&only.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .iter()
    .map(agency_row)
    .collect()
}

pub(super) fn agency_codes(tx: &mut Tx<'_>) -> Result<Vec<AgencyCode>, StorageError> {
    tx.query("SELECT code FROM agencies ORDER BY code", &[])
        .map_err(backend)?
        .iter()
        .map(|row| agency_of(col(row, 0)?))
        .collect()
}

pub(super) fn agency_exists(tx: &mut Tx<'_>, code: &AgencyCode) -> Result<bool, StorageError> {
    col(
        &tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM agencies WHERE code = $1)",
            &[&code.as_str()],
        )
        .map_err(backend)?,
        0,
    )
}

pub(super) fn create_user(
    tx: &mut Tx<'_>,
    user: &NewUser,
    now_ms: u64,
) -> Result<User, StorageError> {
    if !agency_exists(tx, &user.agency)? {
        return Err(StorageError::NotFound("agency"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO users (id, agency, role, display_name, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &id,
            &user.agency.as_str(),
            &user.role.as_str(),
            &user.display_name,
            &to_sql(now_ms),
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

fn user_row(row: &Row) -> Result<User, StorageError> {
    Ok(User {
        id: col(row, 0)?,
        agency: agency_of(col(row, 1)?)?,
        role: role_of(col(row, 2)?)?,
        display_name: col(row, 3)?,
        created_at_ms: ms(col(row, 4)?),
    })
}

pub(super) fn list_users(
    tx: &mut Tx<'_>,
    agency: Option<&AgencyCode>,
) -> Result<Vec<User>, StorageError> {
    tx.query(
        &format!(
            "SELECT {USER_COLUMNS} FROM users
             WHERE $1::text IS NULL OR agency = $1 ORDER BY agency, created_at, id"
        ),
        &[&agency.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .iter()
    .map(user_row)
    .collect()
}

pub(super) fn user(
    tx: &mut Tx<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
) -> Result<Option<User>, StorageError> {
    tx.query_opt(
        &format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND ($2::text IS NULL OR agency = $2)"
        ),
        &[&id, &scope.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .map(|row| user_row(&row))
    .transpose()
}

pub(super) fn create_admin_token(
    tx: &mut Tx<'_>,
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
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &token.token_hash.as_slice(),
            &token.scope.agency().map(|a| a.as_str()),
            &token.label,
            &to_sql(token.created_at_ms),
            &to_sql(token.expires_at_ms),
        ],
    )
    .map_err(backend)?;
    Ok(id)
}

pub(super) fn has_system_admin(tx: &mut Tx<'_>, now_ms: u64) -> Result<bool, StorageError> {
    col(
        &tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM admin_tokens
                            WHERE agency IS NULL AND revoked_at IS NULL AND expires_at > $1)",
            &[&to_sql(now_ms)],
        )
        .map_err(backend)?,
        0,
    )
}

pub(super) fn create_enrollment_code(
    tx: &mut Tx<'_>,
    code: &NewEnrollmentCode,
) -> Result<String, StorageError> {
    let id = super::tokens::new_id();
    tx.execute(
        "INSERT INTO enrollment_codes (id, code_hash, agency, user_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &code.code_hash.as_slice(),
            &code.agency.as_str(),
            &code.user_id,
            &to_sql(code.created_at_ms),
            &to_sql(code.expires_at_ms),
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StorageError::AlreadyExists("enrollment code")
        } else {
            backend(e)
        }
    })?;
    Ok(id)
}

pub(super) fn redeem_enrollment_code(
    tx: &mut Tx<'_>,
    code_hash: &SecretHash,
    device: &NewDevice,
    now_ms: u64,
) -> Result<Option<Enrollment>, StorageError> {
    let Some(row) = tx
        .query_opt(
            "SELECT c.agency, c.user_id, u.role FROM enrollment_codes c
             JOIN users u ON u.id = c.user_id
             WHERE c.code_hash = $1 AND c.used_at IS NULL AND c.revoked_at IS NULL
               AND c.expires_at > $2",
            &[&code_hash.as_slice(), &to_sql(now_ms)],
        )
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let agency = agency_of(col(&row, 0)?)?;
    let user_id: String = col(&row, 1)?;
    let role = role_of(col(&row, 2)?)?;
    tx.execute(
        "INSERT INTO devices (id, agency, user_id, label, credential_hash, created_at,
                              credential_issued_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[
            &device.id.as_bytes().as_slice(),
            &agency.as_str(),
            &user_id,
            &device.label,
            &device.credential_hash.as_slice(),
            &to_sql(now_ms),
        ],
    )
    .map_err(backend)?;
    tx.execute(
        "UPDATE enrollment_codes SET used_at = $2, device_id = $3 WHERE code_hash = $1",
        &[
            &code_hash.as_slice(),
            &to_sql(now_ms),
            &device.id.as_bytes().as_slice(),
        ],
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
    tx: &mut Tx<'_>,
    credential_hash: &SecretHash,
) -> Result<Option<DeviceAuth>, StorageError> {
    tx.query_opt(
        "SELECT d.id, d.agency, d.user_id, u.role, d.revoked_at, d.last_seen_at, d.last_seq,
                CASE WHEN d.credential_hash = $1 THEN 0
                     WHEN d.next_credential_hash = $1 THEN 1
                     WHEN d.retired_credential_hash = $1 THEN 2 ELSE 3 END,
                COALESCE(d.credential_issued_at, d.created_at)
         FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.credential_hash = $1 OR d.next_credential_hash = $1
            OR d.retired_credential_hash = $1 OR d.superseded_credential_hash = $1",
        &[&credential_hash.as_slice()],
    )
    .map_err(backend)?
    .map(|row| {
        Ok(DeviceAuth {
            id: device_id_of(col(&row, 0)?)?,
            agency: agency_of(col(&row, 1)?)?,
            user_id: col(&row, 2)?,
            role: role_of(col(&row, 3)?)?,
            revoked: col::<Option<i64>>(&row, 4)?.is_some(),
            last_seen_at_ms: col::<Option<i64>>(&row, 5)?.map(ms),
            last_seq: ms(col(&row, 6)?),
            credential: match col::<i32>(&row, 7)? {
                0 => CredentialSlot::Current,
                1 => CredentialSlot::Next,
                2 => CredentialSlot::Retired,
                _ => CredentialSlot::Superseded,
            },
            credential_issued_at_ms: ms(col(&row, 8)?),
        })
    })
    .transpose()
}

pub(super) fn stage_device_credential(
    tx: &mut Tx<'_>,
    id: DeviceId,
    next_hash: &SecretHash,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE devices SET next_credential_hash = $2,
                superseded_credential_hash = COALESCE(next_credential_hash, superseded_credential_hash)
         WHERE id = $1",
        &[&id.as_bytes().as_slice(), &next_hash.as_slice()],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn promote_device_credential(
    tx: &mut Tx<'_>,
    id: DeviceId,
    next_hash: &SecretHash,
    now_ms: u64,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            "UPDATE devices SET retired_credential_hash = credential_hash,
                    credential_hash = next_credential_hash, next_credential_hash = NULL,
                    credential_issued_at = $3
             WHERE id = $1 AND next_credential_hash = $2",
            &[
                &id.as_bytes().as_slice(),
                &next_hash.as_slice(),
                &to_sql(now_ms),
            ],
        )
        .map_err(backend)?;
    Ok(changed == 1)
}

pub(super) fn renew_device_credential(
    tx: &mut Tx<'_>,
    id: DeviceId,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<Device>, StorageError> {
    let scope = scope.map(|a| a.as_str());
    tx.execute(
        "UPDATE devices SET credential_issued_at = $3
         WHERE id = $1 AND ($2::TEXT IS NULL OR agency = $2)",
        &[&id.as_bytes().as_slice(), &scope, &to_sql(now_ms)],
    )
    .map_err(backend)?;
    tx.query_opt(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 AND ($2::TEXT IS NULL OR agency = $2)"
        ),
        &[&id.as_bytes().as_slice(), &scope],
    )
    .map_err(backend)?
    .map(|row| device_row(&row))
    .transpose()
}

const DEVICE_COLUMNS: &str =
    "id, agency, user_id, label, created_at, revoked_at, last_seen_at, last_seq";

fn device_row(row: &Row) -> Result<Device, StorageError> {
    Ok(Device {
        id: device_id_of(col(row, 0)?)?,
        agency: agency_of(col(row, 1)?)?,
        user_id: col(row, 2)?,
        label: col(row, 3)?,
        created_at_ms: ms(col(row, 4)?),
        revoked_at_ms: col::<Option<i64>>(row, 5)?.map(ms),
        last_seen_at_ms: col::<Option<i64>>(row, 6)?.map(ms),
        last_seq: ms(col(row, 7)?),
    })
}

pub(super) fn list_devices(
    tx: &mut Tx<'_>,
    agency: Option<&AgencyCode>,
) -> Result<Vec<Device>, StorageError> {
    tx.query(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM devices
             WHERE $1::text IS NULL OR agency = $1 ORDER BY agency, created_at, id"
        ),
        &[&agency.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .iter()
    .map(device_row)
    .collect()
}

pub(super) fn revoke_device(
    tx: &mut Tx<'_>,
    id: DeviceId,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<Device>, StorageError> {
    tx.query_opt(
        &format!(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, $3)
             WHERE id = $1 AND ($2::text IS NULL OR agency = $2)
             RETURNING {DEVICE_COLUMNS}"
        ),
        &[
            &id.as_bytes().as_slice(),
            &scope.map(|a| a.as_str()),
            &to_sql(now_ms),
        ],
    )
    .map_err(backend)?
    .map(|row| device_row(&row))
    .transpose()
}

pub(super) fn touch_device(tx: &mut Tx<'_>, id: DeviceId, now_ms: u64) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE devices SET last_seen_at = $2 WHERE id = $1",
        &[&id.as_bytes().as_slice(), &to_sql(now_ms)],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn device_counts(tx: &mut Tx<'_>) -> Result<DeviceCounts, StorageError> {
    let row = tx
        .query_one(
            "SELECT count(*) FILTER (WHERE revoked_at IS NULL),
                    count(*) FILTER (WHERE revoked_at IS NOT NULL)
             FROM devices",
            &[],
        )
        .map_err(backend)?;
    Ok(DeviceCounts {
        active: ms(col(&row, 0)?),
        revoked: ms(col(&row, 1)?),
    })
}
