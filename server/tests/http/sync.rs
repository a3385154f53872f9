//! Push and pull between devices: idempotency, gaps, pagination, cursors.

use crate::common::*;
use fieldcase_core::protocol::{Cursor, ErrorCode, RejectReason, SyncRequest, PROTOCOL_VERSION};
use fieldcase_core::{DeviceId, RecordId};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn operations_flow_between_two_devices_of_one_agency() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;

    let case = RecordId::new();
    let pushed = vec![
        case_op(
            &a,
            1,
            case,
            &[("sex", json!("female")), ("nationality", json!("ERI"))],
        ),
        case_op(&a, 2, case, &[("risk_level", json!("high"))]),
    ];
    let reply = h.sync(&a, pushed.clone(), None, None).await;
    assert_eq!(reply.acked_through, 2);
    assert!(reply.rejections.is_empty());
    assert!(
        reply.ops.is_empty(),
        "a device is not sent its own operations"
    );
    assert!(!reply.more);

    let pulled = h.sync(&b, vec![], None, None).await;
    assert_eq!(
        pulled.ops, pushed,
        "same operations, same order, fields intact"
    );
    assert!(!pulled.more);
    assert!(!pulled.reset);

    // B answers with a note; A sees it after its own cursor, and only it.
    let note = note_op(&b, 1, RecordId::new(), case, "first visit");
    let reply_b = h
        .sync(&b, vec![note.clone()], Some(pulled.next_cursor), None)
        .await;
    assert_eq!(reply_b.acked_through, 1);
    assert!(reply_b.ops.is_empty());
    let page_a = h.sync(&a, vec![], Some(reply.next_cursor), None).await;
    assert_eq!(page_a.ops, vec![note]);
    assert_eq!(
        page_a.acked_through, 2,
        "a pull-only sync still reports last_seq"
    );
}

#[tokio::test]
async fn a_resent_batch_is_applied_once() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;
    let case = RecordId::new();
    let batch = vec![
        case_op(&a, 1, case, &[("sex", json!("male"))]),
        case_op(&a, 2, case, &[("status", json!("open"))]),
        case_op(&a, 3, case, &[("status", json!("active"))]),
    ];
    let first = h.sync(&a, batch.clone(), None, None).await;
    let second = h.sync(&a, batch.clone(), None, None).await;
    assert_eq!(first.acked_through, 3);
    assert_eq!(second.acked_through, first.acked_through);
    assert!(second.rejections.is_empty());
    assert_eq!(
        h.pull_all(&b).await,
        batch,
        "each operation is in the log once"
    );

    // A batch overlapping what was applied applies only the new tail.
    let mut overlapping = batch[1..].to_vec();
    overlapping.push(case_op(&a, 4, case, &[("status", json!("closed"))]));
    let third = h.sync(&a, overlapping, None, None).await;
    assert_eq!(third.acked_through, 4);
    assert_eq!(h.pull_all(&b).await.len(), 4);
}

#[tokio::test]
async fn a_gap_stops_the_push_where_the_device_must_resume() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;
    let case = RecordId::new();
    let one = case_op(&a, 1, case, &[("sex", json!("female"))]);
    let two = case_op(&a, 2, case, &[("status", json!("open"))]);
    let three = case_op(&a, 3, case, &[("status", json!("active"))]);

    let reply = h
        .sync(&a, vec![one.clone(), three.clone()], None, None)
        .await;
    assert_eq!(reply.acked_through, 1, "resume after 1");
    assert!(reply.more, "pushed operations were left over");
    assert_eq!(h.pull_all(&b).await, vec![one.clone()]);

    let only_three = h.sync(&a, vec![three.clone()], None, None).await;
    assert_eq!(only_three.acked_through, 1);

    let reply = h
        .sync(&a, vec![two.clone(), three.clone()], None, None)
        .await;
    assert_eq!(reply.acked_through, 3);
    assert!(!reply.more);
    assert_eq!(h.pull_all(&b).await, vec![one, two, three]);
}

#[tokio::test]
async fn pages_follow_the_cursor_and_a_foreign_cursor_resets() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;
    let pushed: Vec<_> = (1..=25)
        .map(|seq| case_op(&a, seq, RecordId::new(), &[("sex", json!("unknown"))]))
        .collect();
    assert_eq!(
        h.sync(&a, pushed.clone(), None, None).await.acked_through,
        25
    );

    let mut cursor = None;
    let mut pages = Vec::new();
    loop {
        let page = h.sync(&b, vec![], cursor.clone(), Some(10)).await;
        assert!(page.ops.len() <= 10);
        assert!(!page.reset);
        pages.push(page.ops.len());
        cursor = Some(page.next_cursor.clone());
        if !page.more {
            break;
        }
    }
    assert_eq!(pages, vec![10, 10, 5]);
    let at_end = h.sync(&b, vec![], cursor.clone(), Some(10)).await;
    assert!(at_end.ops.is_empty() && !at_end.more);
    assert_eq!(
        Some(at_end.next_cursor),
        cursor,
        "an empty page keeps the cursor"
    );

    let Cursor(text) = cursor.unwrap();
    let (epoch, position) = text.split_once('.').unwrap();
    for stale in [
        format!("0000000000000000.{position}"),
        "garbage".to_owned(),
        format!("{epoch}.not-a-number"),
        format!("{epoch}.999999999"),
    ] {
        let page = h
            .sync(&b, vec![], Some(Cursor(stale.clone())), Some(10))
            .await;
        assert!(page.reset, "cursor {stale} must reset");
        assert_eq!(page.ops, pushed[..10].to_vec(), "the page from the start");
        assert!(page.more);
    }
}

#[tokio::test]
async fn a_device_own_operations_advance_its_cursor() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;
    let own: Vec<_> = (1..=5)
        .map(|seq| case_op(&a, seq, RecordId::new(), &[("sex", json!("male"))]))
        .collect();
    let reply = h.sync(&a, own, None, Some(2)).await;
    assert!(reply.ops.is_empty());
    assert!(
        !reply.more,
        "own operations are scanned past, not left waiting"
    );

    let theirs = case_op(&b, 1, RecordId::new(), &[("sex", json!("female"))]);
    h.sync(&b, vec![theirs.clone()], None, None).await;
    let next = h.sync(&a, vec![], Some(reply.next_cursor), Some(2)).await;
    assert_eq!(next.ops, vec![theirs]);
}

#[tokio::test]
async fn append_only_records_refuse_edits_but_accept_exact_repeats() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;
    let case = RecordId::new();
    let note = RecordId::new();
    let service = RecordId::new();
    let created = note_op(&a, 2, note, case, "first visit");
    let mut repeat = note_op(&a, 3, note, case, "first visit");
    repeat.hlc.wall_ms += 1;
    let edit = note_op(&a, 4, note, case, "rewritten");
    let reply = h
        .sync(
            &a,
            vec![
                case_op(&a, 1, case, &[("sex", json!("female"))]),
                created.clone(),
                repeat,
                edit.clone(),
                service_op(&a, 5, service, case),
                service_op(&a, 6, service, case),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(reply.acked_through, 6);
    assert_eq!(reply.rejections.len(), 1);
    assert_eq!(reply.rejections[0].op_id, edit.op_id);
    assert_eq!(reply.rejections[0].reason, RejectReason::NotEditable);
    let seen: Vec<_> = h.pull_all(&b).await.iter().map(|o| o.op_id.seq).collect();
    assert_eq!(
        seen,
        vec![1, 2, 5],
        "repeats and refused edits are not in the log"
    );
}

#[tokio::test]
async fn malformed_operations_are_rejected_one_by_one() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let case = RecordId::new();
    let mut borrowed_clock = case_op(&a, 2, RecordId::new(), &[("sex", json!("male"))]);
    borrowed_clock.hlc.device = DeviceId::new_random();
    let wrong_kind = {
        let mut o = case_op(&a, 3, case, &[("x", json!(1))]);
        o.kind = fieldcase_core::RecordKind::Referral;
        o
    };
    let valid_note = note_op(&a, 4, RecordId::new(), case, "x");
    let mut no_case_id = valid_note.clone();
    no_case_id.op_id.seq = 5;
    no_case_id.record_id = RecordId::new();
    no_case_id.fields.remove("case_id");
    let reply = h
        .sync(
            &a,
            vec![
                case_op(&a, 1, case, &[("sex", json!("female"))]),
                borrowed_clock,
                wrong_kind,
                valid_note,
                no_case_id,
            ],
            None,
            None,
        )
        .await;
    assert_eq!(reply.acked_through, 5);
    let reasons: Vec<_> = reply
        .rejections
        .iter()
        .map(|r| (r.op_id.seq, &r.reason))
        .collect();
    assert!(matches!(reasons[0], (2, RejectReason::Invalid { .. })));
    assert!(matches!(reasons[1], (3, RejectReason::Invalid { .. })));
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(matches!(reasons[2], (5, RejectReason::Invalid { .. })));
}

#[tokio::test]
async fn whole_requests_that_break_the_protocol_are_refused_and_change_nothing() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let other = h.device("iom_uga").await;

    let mixed = vec![
        case_op(&a, 1, RecordId::new(), &[("sex", json!("male"))]),
        case_op(&other, 1, RecordId::new(), &[("sex", json!("male"))]),
    ];
    let reply = h
        .sync_raw(
            &a.credential,
            &SyncRequest {
                store: None,
                protocol: PROTOCOL_VERSION,
                ops: mixed,
                cursor: None,
                pull_limit: None,
                commands: vec![],
                handoff: None,
            },
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().error, ErrorCode::BadRequest);

    let too_many: Vec<_> = (1..=501)
        .map(|seq| case_op(&a, seq, RecordId::new(), &[]))
        .collect();
    let reply = h
        .sync_raw(
            &a.credential,
            &SyncRequest {
                store: None,
                protocol: PROTOCOL_VERSION,
                ops: too_many,
                cursor: None,
                pull_limit: None,
                commands: vec![],
                handoff: None,
            },
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    reply.error();

    let reply = h
        .sync_raw(
            &a.credential,
            &SyncRequest {
                store: None,
                protocol: PROTOCOL_VERSION + 1,
                ops: vec![],
                cursor: None,
                pull_limit: None,
                commands: vec![],
                handoff: None,
            },
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().error, ErrorCode::UnsupportedProtocol);

    assert_eq!(h.sync(&a, vec![], None, None).await.acked_through, 0);
}
