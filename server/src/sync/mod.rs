//! The sync service: one `SyncRequest` in, one `SyncResponse` out.
//!
//! Transport-free: the HTTP handler decodes the body and calls [`sync`] on a blocking thread.
//! A sync is a push (the device's operations, applied in one transaction by
//! [`crate::service::push`] under its rules), then the device's referral commands (one
//! transaction, [`crate::service::referrals`]), then a pull (one bounded page
//! read on a reader, never holding the writer), whose deliveries of other agencies' shared
//! data are audited before the reply leaves. Every part is safe to retry: the push skips
//! `(device, seq)` pairs already processed, a command seen before gets its recorded result,
//! and the cursor only moves when the device stores the page it came with.

pub mod cursor;

use crate::config::LAST_SEEN_GRANULARITY_MS;
use crate::storage::{DeviceAuth, PushOutcome, Storage, StorageError};
use fieldcase_core::protocol::{
    SyncRequest, SyncResponse, DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PUSH_COMMANDS, MAX_PUSH_OPS,
    PROTOCOL_VERSION,
};

/// Why a sync request was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("protocol version {0} is not supported; this server speaks {PROTOCOL_VERSION}")]
    UnsupportedProtocol(u32),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Counts for logs and metrics (never values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub pushed: u32,
    pub applied: u32,
    pub skipped: u32,
    pub rejected: u32,
    pub pulled: u32,
    pub commands: u32,
    pub gap: bool,
    pub reset: bool,
}

/// Runs one sync for an authenticated device.
pub fn sync(
    storage: &dyn Storage,
    device: &DeviceAuth,
    request: &SyncRequest,
    now_ms: u64,
) -> Result<(SyncResponse, SyncStats), SyncError> {
    if request.protocol != PROTOCOL_VERSION {
        return Err(SyncError::UnsupportedProtocol(request.protocol));
    }
    if request.ops.len() > MAX_PUSH_OPS {
        return Err(SyncError::BadRequest(format!(
            "a sync pushes at most {MAX_PUSH_OPS} operations; send the rest in the next sync"
        )));
    }
    if request.ops.iter().any(|op| op.op_id.device != device.id) {
        return Err(SyncError::BadRequest(
            "every pushed operation must be this device's own (op_id.d)".into(),
        ));
    }
    if request.commands.len() > MAX_PUSH_COMMANDS {
        return Err(SyncError::BadRequest(format!(
            "a sync sends at most {MAX_PUSH_COMMANDS} referral commands; send the rest in the \
             next sync"
        )));
    }
    if request
        .commands
        .iter()
        .any(|c| c.command_id.device != device.id)
    {
        return Err(SyncError::BadRequest(
            "every referral command must be this device's own (command_id.d)".into(),
        ));
    }

    // Before anything is applied: a store copied back from an older file would push
    // sequence numbers the server has seen and have them skipped as resends.
    let device_policy =
        crate::service::device_store::check_report(storage, device, request.store.as_ref())?;

    // Handed-over referrals before the operations and commands that may be about them (the
    // receiving phone's acceptance, in this same request).
    let handoff = match &request.handoff {
        Some(handoff) => Some(
            crate::service::handoff::sync(storage, device, handoff, now_ms).map_err(
                |e| match e {
                    crate::service::handoff::HandoffSyncError::BadRequest(why) => {
                        SyncError::BadRequest(why.into())
                    }
                    crate::service::handoff::HandoffSyncError::Storage(e) => SyncError::Storage(e),
                },
            )?,
        ),
        None => None,
    };

    let push = if request.ops.is_empty() {
        let stale = device
            .last_seen_at_ms
            .is_none_or(|seen| now_ms.saturating_sub(seen) >= LAST_SEEN_GRANULARITY_MS);
        if stale {
            storage.touch_device(device.id, now_ms)?;
        }
        None
    } else {
        Some(crate::service::push::push(
            storage,
            device,
            &request.ops,
            now_ms,
        )?)
    };

    // Commands follow the operations they may be about (a referral made in this same
    // request). After a gap, that referral may not be in yet: the commands wait, unanswered,
    // for the device to resend them with the rest of its outbox.
    let gap = push.as_ref().is_some_and(|p| p.gap);
    let command_results = if request.commands.is_empty() || gap {
        Vec::new()
    } else {
        crate::service::referrals::apply_commands(storage, device, &request.commands, now_ms)?
    };

    let limit = request
        .pull_limit
        .unwrap_or(DEFAULT_PULL_LIMIT)
        .clamp(1, MAX_PULL_LIMIT);
    let epoch = storage.epoch();
    let mut reset = false;
    let after = match cursor::parse(request.cursor.as_ref(), epoch) {
        cursor::Start::After(position) => position,
        cursor::Start::Reset => {
            reset = true;
            0
        }
    };
    let mut page = crate::service::pull::pull(storage, device, after, limit)?;
    if after > page.log_end {
        // A cursor past the end of the log came from a history this database no longer has
        // (restored from a backup): start over rather than skip what is written next.
        reset = true;
        page = crate::service::pull::pull(storage, device, 0, limit)?;
    }
    // No shared data leaves unaudited: if the audit cannot be written, the reply fails.
    crate::service::audit::record_deliveries(storage, device, &page.deliveries, now_ms)?;

    let acked_through = match &push {
        Some(outcome) => outcome.acked_through,
        // A pull-only sync still says where the server is, so a device that lost an
        // acknowledgement can drop its outbox.
        None => device.last_seq,
    };
    let PushOutcome {
        applied,
        skipped,
        rejections,
        gap,
        ..
    } = push.unwrap_or_default();
    let stats = SyncStats {
        pushed: request.ops.len() as u32,
        applied,
        skipped,
        rejected: rejections.len() as u32,
        pulled: page.ops.len() as u32,
        commands: command_results.len() as u32,
        gap,
        reset,
    };
    let response = SyncResponse {
        device_policy: Some(device_policy),
        acked_through,
        rejections,
        ops: page.ops,
        next_cursor: cursor::format(epoch, page.last_scanned),
        more: page.more || gap,
        reset,
        server_time_ms: now_ms,
        command_results,
        next_credential: None,
        handoff,
    };
    Ok((response, stats))
}
