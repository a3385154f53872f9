//! The sync service: one `SyncRequest` in, one `SyncResponse` out.
//!
//! Transport-free: the HTTP handler decodes the body and calls [`sync`] on a blocking thread.
//! A sync is a push (the device's operations, applied in one transaction by
//! [`Storage::push`] under the [`rules`]) followed by a pull (one bounded page read on a
//! reader, never holding the writer). Both halves are safe to retry: the push skips
//! `(device, seq)` pairs already processed, and the cursor only moves when the device stores
//! the page it came with.

pub mod cursor;
pub mod rules;

use crate::config::LAST_SEEN_GRANULARITY_MS;
use crate::storage::{DeviceAuth, PushOutcome, Storage, StorageError};
use fieldcase_core::protocol::{
    SyncRequest, SyncResponse, DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PUSH_OPS, PROTOCOL_VERSION,
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

    let push = if request.ops.is_empty() {
        let stale = device
            .last_seen_at_ms
            .is_none_or(|seen| now_ms.saturating_sub(seen) >= LAST_SEEN_GRANULARITY_MS);
        if stale {
            storage.touch_device(device.id, now_ms)?;
        }
        None
    } else {
        Some(storage.push(device, &request.ops, now_ms)?)
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
    let mut page = storage.pull(device, after, limit)?;
    if after > page.log_end {
        // A cursor past the end of the log came from a history this database no longer has
        // (restored from a backup): start over rather than skip what is written next.
        reset = true;
        page = storage.pull(device, 0, limit)?;
    }

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
        gap,
        reset,
    };
    let response = SyncResponse {
        acked_through,
        rejections,
        ops: page.ops,
        next_cursor: cursor::format(epoch, page.last_scanned),
        more: page.more || gap,
        reset,
        server_time_ms: now_ms,
        command_results: Vec::new(),
    };
    Ok((response, stats))
}
