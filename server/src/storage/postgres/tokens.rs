//! The lifecycle of bearer credentials in PostgreSQL: authenticating admin and API tokens
//! (live = not revoked, not expired), recording their last use, listing and revoking them and
//! enrollment codes, and rotating an admin token — the same statements as SQLite's
//! `sqlite::tokens`, in PostgreSQL's dialect.
//!
//! Listings read only ids, labels, scopes and times: no query here selects a secret's hash
//! into a listing. Every call an agency admin can reach takes the agency as a parameter in
//! the `WHERE` clause, so "another agency's" and "does not exist" are one answer.

use super::Tx;
use super::{agency_of, backend, col, ms, role_of, to_sql};
use crate::config::LAST_USED_GRANULARITY_MS;
use crate::credentials::SecretHash;
use crate::roles::Grant;
use crate::storage::*;
use ::postgres::Row;

/// A new public id: 128 random bits as 32 lowercase hex digits.
pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn opt_ms(value: Option<i64>) -> Option<u64> {
    value.map(ms)
}

fn scope_of(agency: Option<&str>) -> Result<AdminScope, StorageError> {
    Ok(match agency {
        None => AdminScope::System,
        Some(code) => AdminScope::Agency(agency_of(code)?),
    })
}

/// Whether a stored `last_used_at` is old enough to be written again.
fn use_is_news(last_used: Option<i64>, now_ms: u64) -> bool {
    last_used.is_none_or(|t| now_ms.saturating_sub(ms(t)) >= LAST_USED_GRANULARITY_MS)
}

// --- admin tokens ---------------------------------------------------------------------------

/// The live admin token with this hash, and whether its last use should be recorded.
pub(super) fn admin_by_token(
    tx: &mut Tx<'_>,
    token_hash: &SecretHash,
    now_ms: u64,
) -> Result<Option<(AdminAuth, bool)>, StorageError> {
    let Some(row) = tx
        .query_opt(
            "SELECT id, agency, last_used_at FROM admin_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            &[&token_hash.as_slice(), &to_sql(now_ms)],
        )
        .map_err(backend)?
    else {
        return Ok(None);
    };
    Ok(Some((
        AdminAuth {
            id: col(&row, 0)?,
            scope: scope_of(col(&row, 1)?)?,
        },
        use_is_news(col(&row, 2)?, now_ms),
    )))
}

pub(super) fn touch_admin_token(
    tx: &mut Tx<'_>,
    id: &str,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1",
        &[&id, &to_sql(now_ms)],
    )
    .map_err(backend)?;
    Ok(())
}

const ADMIN_TOKEN_COLUMNS: &str =
    "id, agency, label, created_at, expires_at, last_used_at, revoked_at";

fn admin_token_row(row: &Row) -> Result<AdminTokenInfo, StorageError> {
    Ok(AdminTokenInfo {
        id: col(row, 0)?,
        scope: scope_of(col(row, 1)?)?,
        label: col(row, 2)?,
        created_at_ms: ms(col(row, 3)?),
        expires_at_ms: ms(col(row, 4)?),
        last_used_at_ms: opt_ms(col(row, 5)?),
        revoked_at_ms: opt_ms(col(row, 6)?),
    })
}

pub(super) fn list_admin_tokens(
    tx: &mut Tx<'_>,
    scope: Option<&AgencyCode>,
) -> Result<Vec<AdminTokenInfo>, StorageError> {
    tx.query(
        &format!(
            "SELECT {ADMIN_TOKEN_COLUMNS} FROM admin_tokens
             WHERE $1::text IS NULL OR agency = $1 ORDER BY created_at, id"
        ),
        &[&scope.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .iter()
    .map(admin_token_row)
    .collect()
}

fn admin_token(
    tx: &mut Tx<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
) -> Result<Option<AdminTokenInfo>, StorageError> {
    tx.query_opt(
        &format!(
            "SELECT {ADMIN_TOKEN_COLUMNS} FROM admin_tokens
             WHERE id = $1 AND ($2::text IS NULL OR agency = $2)"
        ),
        &[&id, &scope.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .map(|row| admin_token_row(&row))
    .transpose()
}

pub(super) fn revoke_admin_token(
    tx: &mut Tx<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<AdminTokenInfo>, StorageError> {
    tx.execute(
        "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, $3)
         WHERE id = $1 AND ($2::text IS NULL OR agency = $2)",
        &[&id, &scope.map(|a| a.as_str()), &to_sql(now_ms)],
    )
    .map_err(backend)?;
    admin_token(tx, id, scope)
}

pub(super) fn rotate_admin_token(
    tx: &mut Tx<'_>,
    old_id: &str,
    new: &NewAdminToken,
    now_ms: u64,
) -> Result<Option<String>, StorageError> {
    let revoked = tx
        .execute(
            "UPDATE admin_tokens SET revoked_at = $3
             WHERE id = $1 AND agency IS NOT DISTINCT FROM $2::text
               AND revoked_at IS NULL AND expires_at > $3",
            &[
                &old_id,
                &new.scope.agency().map(|a| a.as_str()),
                &to_sql(now_ms),
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
    tx: &mut Tx<'_>,
    token: &NewApiToken,
) -> Result<String, StorageError> {
    let grants: Vec<&str> = token.grants.iter().map(|g| g.as_str()).collect();
    let id = new_id();
    let inserted = tx
        .execute(
            "INSERT INTO api_tokens
                 (id, token_hash, user_id, agency, grants, label, created_at, expires_at)
             SELECT $1::text, $2::bytea, id, $4::text, $5::text, $6::text, $7::bigint,
                    $8::bigint
             FROM users WHERE id = $3",
            &[
                &id,
                &token.token_hash.as_slice(),
                &token.user_id,
                &token.limited_to.as_ref().map(|a| a.as_str()),
                &grants.join(","),
                &token.label,
                &to_sql(token.created_at_ms),
                &to_sql(token.expires_at_ms),
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
    tx: &mut Tx<'_>,
    token_hash: &SecretHash,
    now_ms: u64,
) -> Result<Option<(ApiTokenUser, String, bool)>, StorageError> {
    let Some(row) = tx
        .query_opt(
            "SELECT id, user_id, agency, grants, last_used_at FROM api_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            &[&token_hash.as_slice(), &to_sql(now_ms)],
        )
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let id: String = col(&row, 0)?;
    let user_id: String = col(&row, 1)?;
    let limited_to = col::<Option<&str>>(&row, 2)?.map(agency_of).transpose()?;
    let grants: String = col(&row, 3)?;
    let news = use_is_news(col(&row, 4)?, now_ms);
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

pub(super) fn touch_api_token(tx: &mut Tx<'_>, id: &str, now_ms: u64) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
        &[&id, &to_sql(now_ms)],
    )
    .map_err(backend)?;
    Ok(())
}

const API_TOKEN_SELECT: &str = "SELECT t.id, t.user_id, u.agency, u.role, t.agency, t.grants,
        t.label, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
    FROM api_tokens t JOIN users u ON u.id = t.user_id";

fn api_token_row(row: &Row) -> Result<ApiTokenInfo, StorageError> {
    Ok(ApiTokenInfo {
        id: col(row, 0)?,
        user_id: col(row, 1)?,
        agency: agency_of(col(row, 2)?)?,
        role: role_of(col(row, 3)?)?,
        limited_to: col::<Option<&str>>(row, 4)?.map(agency_of).transpose()?,
        grants: col::<String>(row, 5)?
            .split(',')
            .filter_map(Grant::parse)
            .collect(),
        label: col(row, 6)?,
        created_at_ms: ms(col(row, 7)?),
        expires_at_ms: ms(col(row, 8)?),
        last_used_at_ms: opt_ms(col(row, 9)?),
        revoked_at_ms: opt_ms(col(row, 10)?),
    })
}

pub(super) fn list_api_tokens(
    tx: &mut Tx<'_>,
    scope: Option<&AgencyCode>,
) -> Result<Vec<ApiTokenInfo>, StorageError> {
    tx.query(
        &format!(
            "{API_TOKEN_SELECT} WHERE $1::text IS NULL OR u.agency = $1
             ORDER BY t.created_at, t.id"
        ),
        &[&scope.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .iter()
    .map(api_token_row)
    .collect()
}

pub(super) fn revoke_api_token(
    tx: &mut Tx<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<ApiTokenInfo>, StorageError> {
    tx.execute(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3)
         WHERE id = $1
           AND ($2::text IS NULL OR user_id IN (SELECT id FROM users WHERE agency = $2))",
        &[&id, &scope.map(|a| a.as_str()), &to_sql(now_ms)],
    )
    .map_err(backend)?;
    tx.query_opt(
        &format!("{API_TOKEN_SELECT} WHERE t.id = $1 AND ($2::text IS NULL OR u.agency = $2)"),
        &[&id, &scope.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .map(|row| api_token_row(&row))
    .transpose()
}

// --- enrollment codes -------------------------------------------------------------------------

const CODE_COLUMNS: &str = "id, user_id, agency, created_at, expires_at, used_at, revoked_at";

fn code_row(row: &Row) -> Result<EnrollmentCodeInfo, StorageError> {
    Ok(EnrollmentCodeInfo {
        id: col(row, 0)?,
        user_id: col(row, 1)?,
        agency: agency_of(col(row, 2)?)?,
        created_at_ms: ms(col(row, 3)?),
        expires_at_ms: ms(col(row, 4)?),
        used_at_ms: opt_ms(col(row, 5)?),
        revoked_at_ms: opt_ms(col(row, 6)?),
    })
}

pub(super) fn list_enrollment_codes(
    tx: &mut Tx<'_>,
    scope: Option<&AgencyCode>,
) -> Result<Vec<EnrollmentCodeInfo>, StorageError> {
    tx.query(
        &format!(
            "SELECT {CODE_COLUMNS} FROM enrollment_codes
             WHERE $1::text IS NULL OR agency = $1 ORDER BY created_at, id"
        ),
        &[&scope.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .iter()
    .map(code_row)
    .collect()
}

/// Revokes a code; a code already used is left as it is (its device is revoked on its own).
pub(super) fn revoke_enrollment_code(
    tx: &mut Tx<'_>,
    id: &str,
    scope: Option<&AgencyCode>,
    now_ms: u64,
) -> Result<Option<EnrollmentCodeInfo>, StorageError> {
    tx.execute(
        "UPDATE enrollment_codes SET revoked_at = COALESCE(revoked_at, $3)
         WHERE id = $1 AND ($2::text IS NULL OR agency = $2) AND used_at IS NULL",
        &[&id, &scope.map(|a| a.as_str()), &to_sql(now_ms)],
    )
    .map_err(backend)?;
    tx.query_opt(
        &format!(
            "SELECT {CODE_COLUMNS} FROM enrollment_codes
             WHERE id = $1 AND ($2::text IS NULL OR agency = $2)"
        ),
        &[&id, &scope.map(|a| a.as_str())],
    )
    .map_err(backend)?
    .map(|row| code_row(&row))
    .transpose()
}
