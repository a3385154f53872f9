//! `GET /v1/referrals/{referral_id}/timeline`: who did what to a referral, when — for the
//! devices of the two agencies party to it.
//!
//! Device credential, like sync. A referral the device's agency is not party to and a
//! referral that does not exist get the same `404`; a malformed id gets it too, so the path
//! tells nothing. Every read is audited.

use super::auth::AuthedDevice;
use super::{blocking, AppState};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::Json;
use fieldcase_core::protocol::ReferralTimeline;
use fieldcase_core::RecordId;

pub async fn timeline(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Path(referral_id): Path<String>,
) -> Result<Json<ReferralTimeline>, ApiError> {
    let Ok(id) = referral_id.parse::<RecordId>() else {
        return Err(ApiError::not_found("referral"));
    };
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let found =
        blocking(move || crate::service::referrals::timeline(&*storage, &device, id, now)).await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found("referral"))
}
