//! Conformance checks of the audit chain: entries appended through the service are chained
//! without gaps, selected by record, user and checkpoint, verified intact; concurrent writers
//! never fork the chain; a second entry at a taken sequence number is refused.

use super::{enrolled, NOW};
use crate::service::audit::{self, TrailOf};
use crate::service::audit_chain;
use crate::storage::*;
use fieldcase_core::RecordId;

fn entry(device: &DeviceAuth, record: RecordId, at_ms: u64) -> AuditEntry {
    AuditEntry {
        at_ms,
        event: AuditEvent::TimelineRead,
        agency: device.agency.clone(),
        device: Some(device.id),
        user_id: Some(device.user_id.clone()),
        record_id: Some(record),
        first_position: None,
        last_position: None,
        ops: None,
        detail: None,
    }
}

fn append(store: &dyn Storage, e: &AuditEntry) {
    write(store, |tx| audit::append(tx, e)).unwrap();
}

pub fn the_audit_chain_links_selects_and_verifies(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    let (case, other) = (RecordId::new(), RecordId::new());
    assert!(
        audit::checkpoint(store, &a.agency, NOW).unwrap().is_none(),
        "nothing to sign"
    );
    append(store, &entry(&a, case, NOW));
    append(store, &entry(&b, case, NOW + 1));
    append(store, &entry(&b, other, NOW + 2));
    assert!(audit::needs_checkpoint(store).unwrap());
    let checkpoint = audit::checkpoint(store, &a.agency, NOW + 3)
        .unwrap()
        .expect("signed");
    assert_eq!(checkpoint.seq, Some(4));
    assert!(!audit::needs_checkpoint(store).unwrap());
    append(store, &entry(&a, other, NOW + 4));

    let mut all = Vec::new();
    store
        .scan_audit(&AuditSelect::All, &mut |c| all.push(c))
        .unwrap();
    let seqs: Vec<_> = all.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=5).map(Some).collect::<Vec<_>>());
    assert_eq!(all[3], checkpoint, "stored as signed");
    let mut previous = audit_chain::GENESIS;
    for c in &all {
        assert_eq!(
            c.hash,
            Some(audit_chain::entry_hash(&previous, c.seq.unwrap(), &c.entry))
        );
        previous = c.hash.unwrap();
    }

    let mut of_case = Vec::new();
    store
        .scan_audit(&AuditSelect::Record(case), &mut |c| of_case.push(c.seq))
        .unwrap();
    assert_eq!(of_case, vec![Some(1), Some(2)]);
    let mut of_b = Vec::new();
    store
        .scan_audit(&AuditSelect::User(b.user_id.clone()), &mut |c| {
            of_b.push(c.seq)
        })
        .unwrap();
    assert_eq!(of_b, vec![Some(2), Some(3)]);
    let exported = audit::export_checkpoints(store).unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].seq, 4);

    let report = audit::verify(store, &exported).unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(
        (report.entries, report.checkpoints, report.exported_checked),
        (5, 1, 1)
    );

    // Scoped trails: an agency admin of B sees B's acts on A's case, not A's.
    let scope_b = AdminScope::Agency(b.agency.clone());
    let trail = audit::trail(store, &scope_b, &TrailOf::Case(case))
        .unwrap()
        .unwrap();
    assert!(trail.iter().all(|c| c.entry.agency == b.agency));
    assert_eq!(trail.len(), 1);
    assert_eq!(
        audit::trail(store, &scope_b, &TrailOf::User(a.user_id.clone())).unwrap(),
        None,
        "a user of another agency is not there"
    );
    let everything = audit::trail(store, &AdminScope::System, &TrailOf::Case(case))
        .unwrap()
        .unwrap();
    assert_eq!(everything.len(), 2);
}

pub fn a_taken_sequence_number_is_refused(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    append(store, &entry(&a, RecordId::new(), NOW));
    let stale = audit_chain::next_link(None, &entry(&a, RecordId::new(), NOW));
    assert!(
        write(store, |tx| tx.append_audit(
            &entry(&a, RecordId::new(), NOW),
            &stale,
            None
        ))
        .is_err(),
        "a fork at sequence number 1"
    );
    assert!(audit::verify(store, &[]).unwrap().intact());
}

/// Writers on several threads (and, for a backend that runs several server processes, on
/// several handles of one database: `others`) extend the chain at once: every entry lands,
/// numbered 1..=n without a gap, and the chain verifies.
pub fn concurrent_audit_writers_keep_one_chain(store: &dyn Storage, others: &[&dyn Storage]) {
    const WRITERS: usize = 4;
    const ENTRIES: usize = 12;
    let a = enrolled(store, "agency_a");
    let handles: Vec<&dyn Storage> = std::iter::once(store)
        .chain(others.iter().copied())
        .collect();
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let handle = handles[w % handles.len()];
            let a = &a;
            scope.spawn(move || {
                for i in 0..ENTRIES {
                    append(handle, &entry(a, RecordId::new(), NOW + i as u64));
                }
            });
        }
    });
    let report = audit::verify(store, &[]).unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.entries, (WRITERS * ENTRIES) as u64);
    assert_eq!(report.last_position, (WRITERS * ENTRIES) as u64);
}
