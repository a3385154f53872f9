//! Enrollment, sync and status of a profile.

use super::store::{passphrase, Profile};
use crate::cli::output::Output;
use anyhow::Context;
use fieldcase_core::store::{Identity, OpenOptions, Store, SyncProgress};
use fieldcase_core::sync::{enroll_pinned, sync_with_retry, Pin, RetryPolicy, SyncError};
use serde_json::json;
use std::sync::Mutex;

/// What a refused code means to someone enrolling. The server answers a wrong, used and
/// expired code alike (so guessing codes learns nothing); the sync client's wording for a
/// refused credential ("enroll the device again") would send them in a circle.
const CODE_REFUSED: &str = "this enrollment code was not accepted: it may be mistyped, already \
                            used or expired (the server does not say which); ask your \
                            administrator for a new one";

fn enrollment_error(error: SyncError) -> anyhow::Error {
    match error {
        SyncError::Unauthorized => anyhow::anyhow!(CODE_REFUSED),
        other => other.into(),
    }
}

pub async fn enroll(
    profile: &Profile,
    server: &str,
    code: &str,
    pins: &[Pin],
    label: &str,
    out: Output,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !profile.path.exists(),
        "profile '{}' is already enrolled",
        profile.name
    );
    // Refuse an address the options do not allow before asking for anything.
    profile.connect.check(server)?;
    if let Some(dir) = profile.path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Ask for the passphrase before spending the one-time code.
    let passphrase = passphrase(
        "FIELDCASE_PASSPHRASE",
        "Choose a passphrase for this profile: ",
    )?;
    anyhow::ensure!(
        passphrase.chars().count() >= 8,
        "choose a passphrase of at least 8 characters"
    );
    let enrolled = enroll_pinned(server, code, label, profile.connect, pins)
        .await
        .map_err(enrollment_error)?;
    let identity = Identity {
        device: enrolled.device_id,
        agency: enrolled.agency.clone(),
        user: enrolled.user_id.clone(),
    };
    let mut store = Store::create(
        &profile.path,
        &passphrase,
        None,
        identity,
        &OpenOptions::default(),
    )?;
    store.set_server_pinned(server, &enrolled.credential, pins)?;
    store.close()?;
    out.print(
        &json!({"profile": profile.name, "device_id": enrolled.device_id, "agency": enrolled.agency, "user_id": enrolled.user_id}),
        || format!("enrolled profile '{}' as device {} of {}", profile.name, enrolled.device_id, enrolled.agency),
    );
    Ok(())
}

pub async fn sync(profile: &Profile, attempts: u32, out: Output) -> anyhow::Result<()> {
    let store = profile.open()?;
    let client = profile.sync_client(&store)?;
    let store = Mutex::new(store);
    let policy = RetryPolicy {
        max_attempts: Some(attempts.max(1)),
        ..RetryPolicy::default()
    };
    let show_progress = !out.json;
    let progress = move |p: &SyncProgress| {
        if show_progress {
            eprint!(
                "\rsync: {:>3}%  pushed {}/{}  pulled {}   ",
                (p.fraction() * 100.0).floor(),
                p.pushed,
                p.to_push,
                p.pulled
            );
        }
    };
    let result = sync_with_retry(&store, &client, &policy, &progress).await;
    if show_progress {
        eprintln!();
    }
    let outcome = result?;
    let status = store.lock().unwrap_or_else(|e| e.into_inner()).status()?;
    out.print(
        &json!({
            "requests": outcome.requests, "pushed": outcome.pushed, "rejected": outcome.rejected,
            "pulled": outcome.pulled, "new_conflicts": outcome.new_conflicts,
            "referral_transitions_applied": outcome.commands_applied,
            "referral_transitions_refused": outcome.commands_rejected,
            "bytes_sent": outcome.bytes_sent, "bytes_received": outcome.bytes_received,
            "pending": status.pending_ops, "pending_transitions": status.pending_commands,
            "attachments_uploaded": outcome.attachments_uploaded,
            "attachment_bytes_sent": outcome.attachment_bytes_sent,
            "pending_attachments": status.pending_attachments,
            "synced": status.synced,
        }),
        || {
            // Referral decisions travel as commands, not changes: counted apart, so accepting
            // a referral does not read as "pushed 0".
            let decisions = outcome.commands_applied + outcome.commands_rejected;
            let decisions = if decisions > 0 {
                format!(" and {decisions} referral decision(s)")
            } else {
                String::new()
            };
            let mut text = format!(
                "synced: pushed {} change(s){decisions}, pulled {}, {} new conflict(s), {} refused by the server; {} request(s), {} bytes up, {} down",
                outcome.pushed,
                outcome.pulled,
                outcome.new_conflicts,
                outcome.rejected,
                outcome.requests,
                outcome.bytes_sent,
                outcome.bytes_received
            );
            if outcome.attachments_uploaded > 0 {
                text.push_str(&format!(
                    "\nattachments: {} uploaded ({} bytes sent)",
                    outcome.attachments_uploaded, outcome.attachment_bytes_sent
                ));
            }
            if outcome.commands_applied + outcome.commands_rejected > 0 {
                text.push_str(&format!(
                    "\nreferral transitions: {} confirmed, {} refused (see `fieldcase device referral list`)",
                    outcome.commands_applied, outcome.commands_rejected
                ));
            }
            text
        },
    );
    Ok(())
}

pub fn status(profile: &Profile, out: Output) -> anyhow::Result<()> {
    let store = profile.open()?;
    let status = store.status()?;
    let identity = store.identity().clone();
    out.print(
        &json!({
            "profile": profile.name, "device_id": identity.device, "agency": identity.agency,
            "cases": status.cases, "pending_ops": status.pending_ops,
            "pending_transitions": status.pending_commands, "rejected_ops": status.rejected_ops,
            "pending_attachments": status.pending_attachments,
            "pending_attachment_bytes": status.pending_attachment_bytes,
            "conflicts": status.conflicts, "last_sync_ms": status.last_sync_ms, "last_error": status.last_error,
            "synced": status.synced,
        }),
        || {
            let last = status
                .last_sync_ms
                .map_or("never".to_owned(), |ms| crate::time::rfc3339(ms.max(0) as u64));
            let mut text = format!(
                "profile {} (device {} of {})\ncases: {}\npending changes: {}\npending attachments: {} ({} bytes)\nrefused by the server: {}\nconflicts: {}\nlast sync: {}\n{}",
                profile.name,
                identity.device,
                identity.agency,
                status.cases,
                status.pending_ops,
                status.pending_attachments,
                status.pending_attachment_bytes,
                status.rejected_ops,
                status.conflicts,
                last,
                if status.synced { "all changes synced" } else { "NOT synced: changes are waiting" }
            );
            if let Some(error) = &status.last_error {
                text.push_str(&format!("\nlast sync failed: {error}"));
            }
            text
        },
    );
    Ok(())
}
