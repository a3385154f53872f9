//! The lifecycle of bearer credentials in SQLite: authenticating admin and API tokens (live =
//! not revoked, not expired), recording their last use, listing and revoking them and
//! enrollment codes, and rotating an admin token.
//!
//! Listings read only ids, labels, scopes and times: no query here selects a secret's hash
//! into a listing. Every call an agency admin can reach takes the agency as a parameter in
//! the `WHERE` clause, so "another agency's" and "does not exist" are one answer.

use super::{agency_col, backend, ms_col, role_col, to_sql_ms};
use crate::config::LAST_USED_GRANULARITY_MS;
use crate::credentials::SecretHash;
use crate::roles::Grant;
use crate::storage::*;
use rusqlite::{params, OptionalExtension, Row, Transaction};

/// A new public id: 128 random bits as 32 lowercase hex digits (the form the version-6
/// migration gives existing rows).
pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn opt_ms(value: Option<i64>) -> Option<u64> {
    value.map(ms_col)
}

fn scope_col(agency: Option<String>) -> rusqlite::Result<AdminScope> {
    Ok(match agency {
        None => AdminScope::System,
        Some(code) => AdminScope::Agency(agency_col(code)?),
    })
}

/// Whether a stored `last_used_at` is old enough to be written again.
fn use_is_news(last_used: Option<i64>, now_ms: u64) -> bool {
    last_used.is_none_or(|t| now_ms.saturating_sub(ms_col(t)) >= LAST_USED_GRANULARITY_MS)
}

// --- admin tokens ---------------------------------------------------------------------------

/// The live admin token with this hash, and whether its last use should be recorded.
pub(super) fn admin_by_token(
    tx: &Transaction<'_>,
    token_hash: &SecretHash,
    now_ms: u64,
) -> Result<Option<(AdminAuth, bool)>, StorageError> {
    tx.query_row(
        "SELECT id, agency, last_used_at FROM admin_tokens
         WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        params![token_hash, to_sql_ms(now_ms)],
        |row| {
            Ok((
                AdminAuth {
                    id: row.get(0)?,
                    scope: scope_col(row.get(1)?)?,
                },
                use_is_news(row.get(2)?, now_ms),
            ))
        },
    )
    .optional()
    .map_err(backend)
}

pub(super) fn touch_admin_token(
    tx: &Transaction<'_>,
    id: &str,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE admin_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    Ok(())
}

const ADMIN_TOKEN_COLUMNS: &str =
    "id, agency, label, created_at, expires_at, last_used_at, revoked_at";

fn admin_token_row(row: &Row<'_>) -> rusqlite::Result<AdminTokenInfo> {
    Ok(AdminTokenInfo {
        id: row.get(0)?,
        scope: scope_col(row.get(1)?)?,
        label: row.get(2)?,
        created_at_ms: ms_col(row.get(3)?),
        expires_at_ms: row.get::<_, Option<i64>>(4)?.map_or(0, ms_col),
        last_used_at_ms: opt_ms(row.get(5)?),
        revoked_at_ms: opt_ms(row.get(6)?),
    })
}

pub(super) fn list_admin_tokens(
    tx: &Transaction<'_>,
    scope: Option<&AgencyCode>,
) -> Result<Vec<AdminTokenInfo>, StorageError> {
    tx.prepare(&format!(
        "SELECT {ADMIN_TOKEN_COLUMNS} FROM admin_tokens
         WHERE ?1 IS NULL OR agency = ?1 ORDER BY created_at, id"
    ))
    .and_then(|mut stmt| {
        stmt.query_map([scope.map(|a| a.as_str())], admin_token_row)?
            .collect()
    })
    .map_err(backend)
}

fn admin_token(
    tx: &Transaction<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
) -> Result<Option<AdminTokenInfo>, StorageError> {
    tx.query_row(
        &format!(
            "SELECT {ADMIN_TOKEN_COLUMNS} FROM admin_tokens
             WHERE id = ?1 AND (?2 IS NULL OR agency = ?2)"
        ),
        params![id, scope.map(|a| a.as_str())],
        admin_token_row,
    )
    .optional()
    .map_err(backend)
}

pub(super) fn revoke_admin_token(
    tx: &Transaction<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<AdminTokenInfo>, StorageError> {
    tx.execute(
        "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?3)
         WHERE id = ?1 AND (?2 IS NULL OR agency = ?2)",
        params![id, scope.map(|a| a.as_str()), to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    admin_token(tx, id, scope)
}

pub(super) fn rotate_admin_token(
    tx: &Transaction<'_>,
    old_id: &str,
    new: &NewAdminToken,
    now_ms: u64,
) -> Result<Option<String>, StorageError> {
    let revoked = tx
        .execute(
            "UPDATE admin_tokens SET revoked_at = ?3
             WHERE id = ?1 AND agency IS ?2 AND revoked_at IS NULL AND expires_at > ?3",
            params![
                old_id,
                new.scope.agency().map(|a| a.as_str()),
                to_sql_ms(now_ms)
            ],
        )
        .map_err(backend)?;
    if revoked == 0 {
        return Ok(None);
    }
    super::directory::create_admin_token(tx, new).map(Some)
}

// --- API tokens -------------------------------------------------------------------------------

pub(super) fn create_api_token(
    tx: &Transaction<'_>,
    token: &NewApiToken,
) -> Result<String, StorageError> {
    let grants: Vec<&str> = token.grants.iter().map(|g| g.as_str()).collect();
    let id = new_id();
    let inserted = tx
        .execute(
            "INSERT INTO api_tokens
                 (id, token_hash, user_id, agency, grants, label, created_at, expires_at)
             SELECT ?1, ?2, id, ?4, ?5, ?6, ?7, ?8 FROM users WHERE id = ?3",
            params![
                id,
                token.token_hash,
                token.user_id,
                token.limited_to.as_ref().map(|a| a.as_str()),
                grants.join(","),
                token.label,
                to_sql_ms(token.created_at_ms),
                to_sql_ms(token.expires_at_ms)
            ],
        )
        .map_err(backend)?;
    if inserted == 0 {
        return Err(StorageError::NotFound("user"));
    }
    Ok(id)
}

/// The user of a live API token, the token's id, and whether its last use should be
/// recorded.
pub(super) fn api_token_user(
    tx: &Transaction<'_>,
    token_hash: &SecretHash,
    now_ms: u64,
) -> Result<Option<(ApiTokenUser, String, bool)>, StorageError> {
    let found = tx
        .query_row(
            "SELECT id, user_id, agency, grants, last_used_at FROM api_tokens
             WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            params![token_hash, to_sql_ms(now_ms)],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?
                        .map(agency_col)
                        .transpose()?,
                    row.get::<_, String>(3)?,
                    use_is_news(row.get(4)?, now_ms),
                ))
            },
        )
        .optional()
        .map_err(backend)?;
    let Some((id, user_id, limited_to, grants, news)) = found else {
        return Ok(None);
    };
    let Some(user) = super::directory::user(tx, &user_id, None)? else {
        return Ok(None);
    };
    let user = ApiTokenUser {
        user,
        limited_to,
        grants: grants.split(',').filter_map(Grant::parse).collect(),
    };
    Ok(Some((user, id, news)))
}

pub(super) fn touch_api_token(
    tx: &Transaction<'_>,
    id: &str,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    Ok(())
}

const API_TOKEN_SELECT: &str = "SELECT t.id, t.user_id, u.agency, u.role, t.agency, t.grants,
        t.label, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
    FROM api_tokens t JOIN users u ON u.id = t.user_id";

fn api_token_row(row: &Row<'_>) -> rusqlite::Result<ApiTokenInfo> {
    Ok(ApiTokenInfo {
        id: row.get(0)?,
        user_id: row.get(1)?,
        agency: agency_col(row.get(2)?)?,
        role: role_col(row.get(3)?)?,
        limited_to: row
            .get::<_, Option<String>>(4)?
            .map(agency_col)
            .transpose()?,
        grants: row
            .get::<_, String>(5)?
            .split(',')
            .filter_map(Grant::parse)
            .collect(),
        label: row.get(6)?,
        created_at_ms: ms_col(row.get(7)?),
        expires_at_ms: row.get::<_, Option<i64>>(8)?.map_or(0, ms_col),
        last_used_at_ms: opt_ms(row.get(9)?),
        revoked_at_ms: opt_ms(row.get(10)?),
    })
}

pub(super) fn list_api_tokens(
    tx: &Transaction<'_>,
    scope: Option<&AgencyCode>,
) -> Result<Vec<ApiTokenInfo>, StorageError> {
    tx.prepare(&format!(
        "{API_TOKEN_SELECT} WHERE ?1 IS NULL OR u.agency = ?1 ORDER BY t.created_at, t.id"
    ))
    .and_then(|mut stmt| {
        stmt.query_map([scope.map(|a| a.as_str())], api_token_row)?
            .collect()
    })
    .map_err(backend)
}

pub(super) fn revoke_api_token(
    tx: &Transaction<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<ApiTokenInfo>, StorageError> {
    tx.execute(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?3)
         WHERE id = ?1
           AND (?2 IS NULL OR user_id IN (SELECT id FROM users WHERE agency = ?2))",
        params![id, scope.map(|a| a.as_str()), to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    tx.query_row(
        &format!("{API_TOKEN_SELECT} WHERE t.id = ?1 AND (?2 IS NULL OR u.agency = ?2)"),
        params![id, scope.map(|a| a.as_str())],
        api_token_row,
    )
    .optional()
    .map_err(backend)
}

// --- enrollment codes -------------------------------------------------------------------------

const CODE_COLUMNS: &str = "id, user_id, agency, created_at, expires_at, used_at, revoked_at";

fn code_row(row: &Row<'_>) -> rusqlite::Result<EnrollmentCodeInfo> {
    Ok(EnrollmentCodeInfo {
        id: row.get(0)?,
        user_id: row.get(1)?,
        agency: agency_col(row.get(2)?)?,
        created_at_ms: ms_col(row.get(3)?),
        expires_at_ms: ms_col(row.get(4)?),
        used_at_ms: opt_ms(row.get(5)?),
        revoked_at_ms: opt_ms(row.get(6)?),
    })
}

pub(super) fn list_enrollment_codes(
    tx: &Transaction<'_>,
    scope: Option<&AgencyCode>,
) -> Result<Vec<EnrollmentCodeInfo>, StorageError> {
    tx.prepare(&format!(
        "SELECT {CODE_COLUMNS} FROM enrollment_codes
         WHERE ?1 IS NULL OR agency = ?1 ORDER BY created_at, id"
    ))
    .and_then(|mut stmt| {
        stmt.query_map([scope.map(|a| a.as_str())], code_row)?
            .collect()
    })
    .map_err(backend)
}

/// Revokes a code; a code already used is left as it is (its device is revoked on its own).
pub(super) fn revoke_enrollment_code(
    tx: &Transaction<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<EnrollmentCodeInfo>, StorageError> {
    tx.execute(
        "UPDATE enrollment_codes SET revoked_at = COALESCE(revoked_at, ?3)
         WHERE id = ?1 AND (?2 IS NULL OR agency = ?2) AND used_at IS NULL",
        params![id, scope.map(|a| a.as_str()), to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    tx.query_row(
        &format!(
            "SELECT {CODE_COLUMNS} FROM enrollment_codes
             WHERE id = ?1 AND (?2 IS NULL OR agency = ?2)"
        ),
        params![id, scope.map(|a| a.as_str())],
        code_row,
    )
    .optional()
    .map_err(backend)
}
