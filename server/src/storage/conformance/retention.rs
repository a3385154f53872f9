//! Conformance checks of retention: a closed case past its agency's period is purged with
//! what hangs on it — its log, state, attachments and match profile go, its report facts stay
//! — a late edit or a new service on it is refused as purged, open or recently closed cases
//! stay, and the port's retention methods behave alike on every backend.

use super::*;
use crate::reports::facts::FactFilter;
use crate::service::retention::{self, PurgeReport};
use crate::service::Service;
use serde_json::{json, Value};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn op_of(
    device: &DeviceAuth,
    seq: u64,
    kind: RecordKind,
    record: RecordId,
    fields: &[(&str, Value)],
) -> Operation {
    let mut op = case_op(device, seq, record);
    op.kind = kind;
    op.fields = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), FieldChange::fresh(v.clone())))
        .collect();
    op
}

fn case_fields(status: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("sex", json!("female")),
        ("intake_date", json!("2025-03-01")),
        ("country_of_assistance", json!("UGA")),
        ("status", json!(status)),
    ]
}

fn facts(store: &dyn Storage) -> usize {
    let mut n = 0;
    store
        .scan_case_facts(&FactFilter::default(), &mut |_| n += 1)
        .unwrap();
    n
}

pub fn closed_cases_past_retention_are_purged_and_late_edits_refused(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let (closed, open, service) = (RecordId::new(), RecordId::new(), RecordId::new());
    let pushed = store
        .push(
            &a,
            &[
                op_of(&a, 1, RecordKind::Case, closed, &case_fields("closed")),
                op_of(&a, 2, RecordKind::Case, open, &case_fields("open")),
                op_of(
                    &a,
                    3,
                    RecordKind::Service,
                    service,
                    &[
                        ("case_id", json!(closed.to_string())),
                        ("service_type", json!("shelter")),
                        ("date", json!("2025-03-02")),
                        ("provider_agency", json!("agency_a")),
                    ],
                ),
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(pushed.applied, 3, "{pushed:?}");
    assert_eq!(facts(store), 2);

    // No period set: nothing goes. A period not yet reached: nothing goes.
    assert_eq!(
        retention::purge_expired(store, NOW + 1000 * DAY_MS).unwrap(),
        PurgeReport::default()
    );
    retention::set_retention_days(store, &a.agency, Some(30)).unwrap();
    assert_eq!(
        retention::retention_days(store, &a.agency).unwrap(),
        Some(30)
    );
    assert_eq!(
        retention::purge_expired(store, NOW + 29 * DAY_MS).unwrap(),
        PurgeReport::default()
    );
    assert!(matches!(
        retention::set_retention_days(store, &agency("agency_x"), Some(30)),
        Err(StorageError::NotFound("agency"))
    ));
    assert!(retention::set_retention_days(store, &a.agency, Some(0)).is_err());

    let later = NOW + 31 * DAY_MS;
    assert_eq!(
        retention::purge_expired(store, later).unwrap(),
        PurgeReport {
            cases: 1,
            dependents: 1
        }
    );
    assert_eq!(
        retention::purge_expired(store, later).unwrap(),
        PurgeReport::default(),
        "purged once"
    );
    read(store, |tx| {
        assert!(tx.is_purged(closed)? && tx.is_purged(service)?);
        assert!(!tx.is_purged(open)?);
        // Only the purge notices are left of it: nothing of the person.
        let left = tx.record_state(closed)?.expect("the notice");
        assert_eq!(
            left.fields.keys().collect::<Vec<_>>(),
            vec![fieldcase_core::protocol::PURGED_FIELD]
        );
        assert_eq!(tx.record_state(service)?, None);
        assert!(tx.record_state(open)?.is_some());
        assert_eq!(tx.records_of_case(closed)?, vec![service]);
        Ok(())
    })
    .unwrap();
    // Nothing of it is pulled any more but the purge notice; the open case is.
    let other = enrolled(store, "agency_a");
    let page = store.pull(&other, 0, 100).unwrap();
    let records: Vec<RecordId> = page.ops.iter().map(|o| o.record_id).collect();
    assert_eq!(records, vec![open, closed]);
    let notice = &page.ops[1];
    assert_eq!(
        notice.op_id.device,
        fieldcase_core::protocol::SERVER_DEVICE_ID
    );
    assert_eq!(
        notice.fields.keys().collect::<Vec<_>>(),
        vec![fieldcase_core::protocol::PURGED_FIELD]
    );
    // Figures for past periods hold: the purged case's facts are still counted.
    assert_eq!(facts(store), 2);
    let purged_entries: Vec<_> = store
        .audit_log(Some(closed))
        .unwrap()
        .into_iter()
        .filter(|e| e.event == AuditEvent::CasePurged)
        .collect();
    assert_eq!(purged_entries.len(), 1);
    assert!(crate::service::audit::verify(store, &[]).unwrap().intact());

    // A device that was offline: its edit to the purged case, and a new note on it, are
    // refused as purged (kept aside on the device), never taken for new records.
    let late = store
        .push(
            &a,
            &[
                op_of(&a, 4, RecordKind::Case, closed, &[("sex", json!("male"))]),
                op_of(
                    &a,
                    5,
                    RecordKind::Note,
                    RecordId::new(),
                    &[
                        ("case_id", json!(closed.to_string())),
                        ("text", json!("follow-up")),
                        ("written_on", json!("2025-03-03")),
                        ("author", json!("u-1")),
                    ],
                ),
            ],
            later,
        )
        .unwrap();
    assert_eq!(late.acked_through, 5);
    let reasons: Vec<_> = late.rejections.iter().map(|r| r.reason.clone()).collect();
    assert_eq!(reasons, vec![RejectReason::Purged, RejectReason::Purged]);
    read(store, |tx| {
        let left = tx.record_state(closed)?.expect("the notice");
        assert!(!left.fields.contains_key("sex"), "the edit went nowhere");
        Ok(())
    })
    .unwrap();
}

pub fn settings_are_replaced_in_place(store: &dyn Storage) {
    write(store, |tx| {
        tx.put_setting("k/1", b"a")?;
        tx.put_setting("k/1", b"b")?;
        tx.put_setting("k/2", b"c")
    })
    .unwrap();
    let all = read(store, |tx| tx.settings_with_prefix("k/")).unwrap();
    assert_eq!(
        all,
        vec![
            ("k/1".to_owned(), b"b".to_vec()),
            ("k/2".to_owned(), b"c".to_vec())
        ]
    );
}
