//! What the audit chain costs: appending audit entries one transaction each (as a pull's
//! delivery audit does) with the chain — read the head, SHA-256 over the canonical bytes —
//! and, for comparison, the same rows stored at precomputed links (no head read, no hash);
//! then verifying the whole chain. SQLite, `synchronous=FULL`, on this machine's disk.
//!
//! `cargo bench -p fieldcase-server --bench audit_chain` prints one JSON object per figure.
//! Pushes of new records write no audit entry, so the chain adds nothing to the ingest
//! figure of `sync_load` (`server_ingest_*`); what it adds is per audited act, measured here.

use fieldcase_core::{AgencyCode, DeviceId, RecordId};
use fieldcase_server::seal::Sealer;
use fieldcase_server::service::{audit, audit_chain};
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{write, AuditEntry, AuditEvent, AuditLink, Storage};
use std::time::Instant;

/// Entries per run: enough for a steady per-entry figure, a few seconds with fsync.
const ENTRIES: u64 = 3_000;

fn entry(i: u64, agency: &AgencyCode, device: DeviceId) -> AuditEntry {
    AuditEntry {
        at_ms: 1_760_000_000_000 + i,
        event: AuditEvent::SharedDelivery,
        agency: agency.clone(),
        device: Some(device),
        user_id: Some("0b7c3f7e-5d1a-4c55-9a55-2f1d6c1e0d11".into()),
        record_id: Some(RecordId::new()),
        first_position: Some(i),
        last_position: Some(i + 3),
        ops: Some(4),
        detail: None,
    }
}

fn main() {
    let agency = AgencyCode::parse("iom_uga").unwrap();
    let device = DeviceId::new_random();
    let entries: Vec<AuditEntry> = (0..ENTRIES).map(|i| entry(i, &agency, device)).collect();

    for chained in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStorage::open(&dir.path().join("bench.db"), Sealer::from_key(&[5; 32])).unwrap();
        let mut head = None;
        let links: Vec<AuditLink> = entries
            .iter()
            .map(|e| {
                let link = audit_chain::next_link(head.as_ref(), e);
                head = Some(link);
                link
            })
            .collect();
        let started = Instant::now();
        for (e, link) in entries.iter().zip(&links) {
            if chained {
                write(&store, |tx| audit::append(tx, e)).unwrap();
            } else {
                write(&store, |tx| tx.append_audit(e, link, None)).unwrap();
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "figure": if chained { "audit_append_chained" } else { "audit_append_unchained" },
                "entries": ENTRIES,
                "seconds": secs,
                "entries_per_second": ENTRIES as f64 / secs,
                "microseconds_per_entry": secs * 1e6 / ENTRIES as f64,
            })
        );
        if chained {
            let started = Instant::now();
            let report = audit::verify(&store as &dyn Storage, &[]).unwrap();
            let secs = started.elapsed().as_secs_f64();
            assert!(report.intact());
            println!(
                "{}",
                serde_json::json!({
                    "figure": "audit_verify",
                    "entries": report.entries,
                    "seconds": secs,
                    "entries_per_second": report.entries as f64 / secs,
                })
            );
        }
        store.close();
    }
}
