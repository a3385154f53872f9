//! Attachment checks of the conformance suite: declaring, resuming, completing against the
//! whole-file SHA-256, and who may read — through the [`Storage`] trait only.

use super::referrals::op_with;
use super::{case_op, enrolled, NOW};
use crate::service::Service;
use crate::storage::*;
use fieldcase_core::attachments::wire::Declaration;
use fieldcase_core::attachments::Sha256Digest;
use fieldcase_core::{RecordId, RecordKind};
use serde_json::json;

const CHUNK: u32 = 16 * 1024;

fn declaration(case_id: RecordId, content: &[u8]) -> Declaration {
    Declaration {
        case_id,
        field: "photo".into(),
        content_type: "image/jpeg".into(),
        size: content.len() as u64,
        chunk_size: CHUNK,
        sha256: Sha256Digest::of(content),
        label: Some("passport".into()),
    }
}

pub fn attachments_resume_complete_and_stay_with_their_agency(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let a2 = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    let case_id = RecordId::new();
    store.push(&a, &[case_op(&a, 1, case_id)], NOW).unwrap();
    let content: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let id = RecordId::new();
    let declared = declaration(case_id, &content);

    // Another agency cannot declare on the case; an unknown case is the same answer.
    assert!(matches!(
        store.declare_attachment(&b, id, &declared, NOW),
        Err(StorageError::NotFound(_))
    ));
    let state = store.declare_attachment(&a, id, &declared, NOW).unwrap();
    assert_eq!(
        (state.chunk_count, state.missing.clone()),
        (3, vec![0, 1, 2])
    );

    let chunks: Vec<&[u8]> = content.chunks(CHUNK as usize).collect();
    let receipt = store
        .put_attachment_chunk(&a, id, 2, chunks[2], NOW)
        .unwrap();
    assert_eq!((receipt.missing, receipt.complete), (2, false));
    // A resent chunk is not stored twice; a chunk of the wrong length is refused.
    store
        .put_attachment_chunk(&a, id, 2, chunks[2], NOW)
        .unwrap();
    assert!(matches!(
        store.put_attachment_chunk(&a, id, 0, chunks[2], NOW),
        Err(StorageError::Rejected(_))
    ));
    // Redeclaring (a device resuming) reports what is missing; a different one conflicts.
    let again = store.declare_attachment(&a2, id, &declared, NOW).unwrap();
    assert_eq!(again.missing, vec![0, 1]);
    let other = Declaration {
        size: declared.size - 1,
        ..declared.clone()
    };
    assert!(matches!(
        store.declare_attachment(&a, id, &other, NOW),
        Err(StorageError::Conflict(_))
    ));
    // Not readable before it is complete, and never by the other agency.
    assert_eq!(store.attachment_chunk(&a2, id, 0, NOW).unwrap(), None);
    store
        .put_attachment_chunk(&a, id, 0, chunks[0], NOW)
        .unwrap();
    let last = store
        .put_attachment_chunk(&a, id, 1, chunks[1], NOW)
        .unwrap();
    assert_eq!((last.missing, last.complete), (0, true));
    let info = store.attachment_info(&a2, id, NOW).unwrap().unwrap();
    assert!(info.complete);
    assert_eq!(info.sha256, Sha256Digest::of(&content));
    let read: Vec<u8> = (0..3)
        .flat_map(|i| store.attachment_chunk(&a2, id, i, NOW).unwrap().unwrap())
        .collect();
    assert_eq!(read, content);
    assert_eq!(store.attachment_info(&b, id, NOW).unwrap(), None);
    assert_eq!(store.attachment_chunk(&b, id, 0, NOW).unwrap(), None);
    assert_eq!(store.attachment_upload_state(&b, id).unwrap(), None);
    assert_eq!(store.case_attachments(&b, case_id).unwrap(), None);
    assert_eq!(
        store.case_attachments(&a2, case_id).unwrap().unwrap().len(),
        1
    );
}

pub fn a_file_that_fails_its_checksum_is_dropped_whole(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let case_id = RecordId::new();
    store.push(&a, &[case_op(&a, 1, case_id)], NOW).unwrap();
    let content = vec![7u8; 20_000];
    let id = RecordId::new();
    let mut declared = declaration(case_id, &content);
    declared.sha256 = Sha256Digest::of(b"something else");
    store.declare_attachment(&a, id, &declared, NOW).unwrap();
    let chunks: Vec<&[u8]> = content.chunks(CHUNK as usize).collect();
    store
        .put_attachment_chunk(&a, id, 0, chunks[0], NOW)
        .unwrap();
    let receipt = store
        .put_attachment_chunk(&a, id, 1, chunks[1], NOW)
        .unwrap();
    assert_eq!((receipt.missing, receipt.complete), (2, false));
    let state = store.attachment_upload_state(&a, id).unwrap().unwrap();
    assert_eq!(state.missing, vec![0, 1]);
}

/// Pushes a referral of `case` from `from` to `to` sharing `shared`.
fn refer(
    store: &dyn Storage,
    from: &DeviceAuth,
    seq: u64,
    case: RecordId,
    to: &str,
    shared: &[&str],
) {
    let op = op_with(
        from,
        seq,
        RecordKind::Referral,
        RecordId::new(),
        &[
            ("case_id", json!(case.to_string())),
            ("from_agency", json!(from.agency.as_str())),
            ("to_agency", json!(to)),
            ("services", json!(["shelter"])),
            ("reason", json!("needs a bed")),
            ("urgency", json!("high")),
            ("shared_fields", json!(shared)),
            ("transfer", json!(false)),
            ("share_back", json!(false)),
            ("created_by", json!("staff")),
            ("created_on", json!("2023-11-14")),
        ],
    );
    let pushed = store.push(from, &[op], NOW).unwrap();
    assert!(pushed.rejections.is_empty(), "{:?}", pushed.rejections);
}

/// Declares and uploads a whole attachment on `field` of `case`.
fn upload(store: &dyn Storage, device: &DeviceAuth, case: RecordId, field: &str) -> RecordId {
    let content = vec![9u8; 20_000];
    let id = RecordId::new();
    let declared = Declaration {
        field: field.into(),
        ..declaration(case, &content)
    };
    store
        .declare_attachment(device, id, &declared, NOW)
        .unwrap();
    for (i, chunk) in content.chunks(CHUNK as usize).enumerate() {
        store
            .put_attachment_chunk(device, id, i as u32, chunk, NOW)
            .unwrap();
    }
    id
}

pub fn a_receiving_agency_sees_an_attachment_only_through_a_shared_field_and_consent(
    store: &dyn Storage,
) {
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    let c = enrolled(store, "agency_c");
    let consented = RecordId::new();
    let unconsented = RecordId::new();
    let case = |record, sharing: serde_json::Value, seq| {
        op_with(
            &a,
            seq,
            RecordKind::Case,
            record,
            &[
                ("given_name", json!("Conformancemarker")),
                ("sex", json!("female")),
                ("consent.data_sharing", sharing),
            ],
        )
    };
    store
        .push(
            &a,
            &[
                case(consented, json!(["agency_b", "agency_c"]), 1),
                case(unconsented, json!("none"), 2),
            ],
            NOW,
        )
        .unwrap();
    refer(store, &a, 3, consented, "agency_b", &["sex", "photo"]);
    refer(store, &a, 4, consented, "agency_c", &["sex"]);
    refer(store, &a, 5, unconsented, "agency_b", &["sex", "photo"]);
    let photo = upload(store, &a, consented, "photo");
    let document = upload(store, &a, consented, "document_numbers");
    let no_consent = upload(store, &a, unconsented, "photo");

    // B: the photo its referral shares, with consent naming it — and the read is audited.
    assert!(store.attachment_info(&b, photo, NOW).unwrap().is_some());
    assert!(store.attachment_chunk(&b, photo, 0, NOW).unwrap().is_some());
    assert!(store
        .audit_log(Some(photo))
        .unwrap()
        .iter()
        .any(|e| e.event == AuditEvent::SharedDelivery && e.agency == b.agency));
    let listed = store.case_attachments(&b, consented).unwrap().unwrap();
    assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), vec![photo]);
    // Not a field its referral does not share, and not without consent.
    assert_eq!(store.attachment_info(&b, document, NOW).unwrap(), None);
    assert_eq!(store.attachment_info(&b, no_consent, NOW).unwrap(), None);
    assert_eq!(
        store.attachment_chunk(&b, no_consent, 0, NOW).unwrap(),
        None
    );
    // C: its referral shares no attachment field.
    assert_eq!(store.attachment_info(&c, photo, NOW).unwrap(), None);
    assert!(store
        .case_attachments(&c, consented)
        .unwrap()
        .unwrap()
        .is_empty());
    // The owner reads without an audit entry of its own.
    assert!(store.attachment_info(&a, document, NOW).unwrap().is_some());
    assert!(store
        .audit_log(Some(document))
        .unwrap()
        .iter()
        .all(|e| e.agency != a.agency));
}
