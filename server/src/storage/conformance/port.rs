//! Port checks of the conformance suite: each [`crate::storage::port::StoreTx`] method, called
//! directly inside `write_tx`/`read_tx`, stores what it is given and reads it back — including
//! the methods the service-level checks only reach indirectly.

use super::{case_op, enrolled, NOW};
use crate::service::Service;
use crate::storage::port::*;
use crate::storage::*;
use fieldcase_core::attachments::wire::Declaration;
use fieldcase_core::attachments::Sha256Digest;
use fieldcase_core::protocol::{CommandOutcome, CommandRejection, SERVER_DEVICE_ID};
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{RecordId, RecordKind};
use std::collections::BTreeSet;

fn case_record(agency: &AgencyCode) -> StoredRecord {
    StoredRecord {
        kind: RecordKind::Case,
        owner_agency: agency.clone(),
        case_id: None,
    }
}

pub fn the_port_reads_back_records_state_and_the_log(store: &dyn Storage) {
    let d = enrolled(store, "agency_a");
    let b = agency_code("agency_b");
    store.create_agency(&b, "B", NOW).unwrap();
    let record = RecordId::new();
    let op = case_op(&d, 1, record);
    let listed: BTreeSet<String> = ["sex".to_owned()].into();
    let position = write(store, |tx| {
        assert_eq!(tx.record(record)?, None);
        assert_eq!(tx.record_state(record)?, None);
        assert!(tx.agency_exists(&d.agency)? && !tx.agency_exists(&agency_code("nowhere"))?);
        assert_eq!(tx.device_agency(d.id)?, Some(d.agency.clone()));
        assert_eq!(tx.device_agency(SERVER_DEVICE_ID)?, None);
        assert_eq!(
            tx.device_progress(d.id)?,
            Some(DeviceProgress {
                last_seq: 0,
                revoked: false
            })
        );
        tx.insert_record(&op, &case_record(&d.agency))?;
        let state = fieldcase_core::merge::merged_state(None, &op);
        tx.store_record_state(record, Some(&state))?;
        tx.refresh_facts(record, &state)?;
        let before = tx.log_end()?;
        let position = tx.append(
            &op,
            &d.agency,
            &[
                (d.agency.clone(), None),
                (b.clone(), Some(listed.clone())),
                (d.agency.clone(), None),
            ],
        )?;
        assert!(
            position > before,
            "a new position is above every earlier one"
        );
        assert_eq!(tx.log_end()?, position);
        tx.set_device_progress(d.id, 1, NOW + 1)?;
        Ok(position)
    })
    .unwrap();
    read(store, |tx| {
        assert_eq!(tx.record(record)?, Some(case_record(&d.agency)));
        assert_eq!(tx.record_creator(record)?, Some(d.agency.clone()));
        assert_eq!(tx.creation_fields(record)?, Some(op.fields.clone()));
        let state = tx.record_state(record)?.expect("stored");
        assert_eq!(state, fieldcase_core::merge::merged_state(None, &op));
        assert_eq!(tx.device_progress(d.id)?.map(|p| p.last_seq), Some(1));
        let own = tx.addressed_after(&d.agency, 0, 10)?;
        assert_eq!(own.len(), 1, "an agency listed twice gets one row");
        assert_eq!(
            (own[0].position, own[0].op_id, own[0].record_id, own[0].hlc),
            (position, op.op_id, record, op.hlc)
        );
        assert_eq!(
            (own[0].listed.clone(), own[0].kind),
            (None, RecordKind::Case)
        );
        assert_eq!(tx.open_payload(&own[0])?, op.fields);
        let other = tx.addressed_after(&b, 0, 10)?;
        assert_eq!(other[0].listed, Some(listed.clone()));
        assert_eq!(other[0].owner_agency, d.agency);
        assert!(tx.addressed_after(&b, position, 10)?.is_empty());
        Ok(())
    })
    .unwrap();
    assert_eq!(
        store.list_devices(None).unwrap()[0].last_seen_at_ms,
        Some(NOW + 1)
    );

    // The owner moves; the server's ids and clock only go forward.
    let (first, second) = write(store, |tx| {
        tx.set_record_owner(record, &b)?;
        let ids = (tx.server_op_id()?, tx.server_op_id()?);
        let clocks = (tx.server_clock(NOW)?, tx.server_clock(NOW - 1000)?);
        assert!(clocks.1 > clocks.0, "the server's clock never goes back");
        Ok(ids)
    })
    .unwrap();
    assert_eq!(first.device, SERVER_DEVICE_ID);
    assert_eq!(second.seq, first.seq + 1);
    let next = write(store, |tx| tx.server_op_id()).unwrap();
    assert_eq!(next.seq, second.seq + 1, "server ids are never reused");
    let owner = read(store, |tx| tx.record(record))
        .unwrap()
        .unwrap()
        .owner_agency;
    assert_eq!(owner, b);
    assert_eq!(store.log_end().unwrap(), position);
}

fn agency_code(code: &str) -> AgencyCode {
    AgencyCode::parse(code).unwrap()
}

pub fn the_port_keeps_agencies_settings_and_records_by_kind(store: &dyn Storage) {
    let d = enrolled(store, "agency_b");
    let a = agency_code("agency_a");
    let case = RecordId::new();
    write(store, |tx| {
        let created = tx.insert_agency(&a, "A", NOW)?;
        assert_eq!(
            (created.code.as_str(), created.name.as_str()),
            ("agency_a", "A")
        );
        Ok(())
    })
    .unwrap();
    assert!(matches!(
        write(store, |tx| tx.insert_agency(&a, "A again", NOW)),
        Err(StorageError::AlreadyExists("agency"))
    ));
    let codes = read(store, |tx| tx.agency_codes()).unwrap();
    assert_eq!(
        codes,
        vec![a.clone(), d.agency.clone()],
        "ascending, once each"
    );

    // Keys that a `LIKE` would misread (`_`, `%`) and a key that only shares a prefix's
    // first bytes: only the real prefix matches, in byte order.
    write(store, |tx| {
        assert_eq!(tx.setting("p_x/a")?, None);
        for (key, value) in [
            ("p_x/b", b"2"),
            ("p_x/a", b"1"),
            ("pax/c", b"3"),
            ("p_x%", b"4"),
        ] {
            tx.insert_setting(key, value)?;
        }
        Ok(())
    })
    .unwrap();
    assert!(matches!(
        write(store, |tx| tx.insert_setting("p_x/a", b"other")),
        Err(StorageError::AlreadyExists(_))
    ));
    read(store, |tx| {
        assert_eq!(
            tx.setting("p_x/a")?,
            Some(b"1".to_vec()),
            "the first value is kept"
        );
        assert_eq!(
            tx.settings_with_prefix("p_x/")?,
            vec![
                ("p_x/a".to_owned(), b"1".to_vec()),
                ("p_x/b".to_owned(), b"2".to_vec())
            ]
        );
        Ok(())
    })
    .unwrap();

    store.push(&d, &[case_op(&d, 1, case)], NOW).unwrap();
    read(store, |tx| {
        assert_eq!(
            tx.records_of_kind(RecordKind::Case, None)?,
            vec![(case, d.agency.clone())]
        );
        assert_eq!(tx.records_of_kind(RecordKind::Case, Some(&a))?, vec![]);
        assert_eq!(tx.records_of_kind(RecordKind::Referral, None)?, vec![]);
        Ok(())
    })
    .unwrap();
}

pub fn the_port_reads_back_referrals_access_and_commands(store: &dyn Storage) {
    let d = enrolled(store, "agency_a");
    let b = agency_code("agency_b");
    store.create_agency(&b, "B", NOW).unwrap();
    let (case, referral) = (RecordId::new(), RecordId::new());
    let row = ReferralRow {
        referral_id: referral,
        case_id: case,
        from_agency: d.agency.clone(),
        to_agency: b.clone(),
        status: ReferralStatus::Sent,
        transfer: true,
        share_back: false,
        shared_fields: ["given_name".to_owned(), "sex".to_owned()].into(),
    };
    let access = CaseAccess {
        agency: b.clone(),
        referral_id: referral,
        fields: ["sex".to_owned()].into(),
        from: 7,
        until: None,
    };
    let outcome = CommandOutcome::Rejected {
        code: CommandRejection::IllegalTransition,
        current_status: Some(ReferralStatus::Accepted),
    };
    write(store, |tx| {
        tx.insert_record(&case_op(&d, 1, case), &case_record(&d.agency))?;
        tx.insert_record(
            &case_op(&d, 2, referral),
            &StoredRecord {
                kind: RecordKind::Referral,
                owner_agency: d.agency.clone(),
                case_id: Some(case),
            },
        )?;
        tx.insert_referral(&row, NOW)?;
        tx.grant_case_access(case, &access)?;
        assert_eq!(tx.command_outcome(d.id, 3)?, None);
        tx.store_command_outcome(d.id, 3, referral, &outcome, NOW)?;
        Ok(())
    })
    .unwrap();
    write(store, |tx| {
        assert_eq!(tx.referral(referral)?, Some(row.clone()));
        assert_eq!(tx.referral(case)?, None);
        assert_eq!(tx.referrals_of_case(case)?, vec![row.clone()]);
        assert_eq!(tx.case_access(case)?, vec![access.clone()]);
        assert_eq!(tx.command_outcome(d.id, 3)?, Some(outcome));
        assert!(
            !tx.compare_and_set_referral_status(
                referral,
                ReferralStatus::Accepted,
                ReferralStatus::Completed,
                NOW
            )?,
            "not from a status it does not hold"
        );
        assert!(tx.compare_and_set_referral_status(
            referral,
            ReferralStatus::Sent,
            ReferralStatus::Accepted,
            NOW
        )?);
        tx.end_case_access(referral, 9)?;
        tx.end_case_access(referral, 12)?;
        Ok(())
    })
    .unwrap();
    read(store, |tx| {
        assert_eq!(
            tx.referral(referral)?.map(|r| r.status),
            Some(ReferralStatus::Accepted)
        );
        assert_eq!(
            tx.case_access(case)?[0].until,
            Some(9),
            "ending access again keeps when it first ended"
        );
        Ok(())
    })
    .unwrap();
    let entry = AuditEntry {
        at_ms: NOW,
        event: AuditEvent::SharedDelivery,
        agency: b.clone(),
        device: Some(d.id),
        user_id: Some(d.user_id.clone()),
        record_id: Some(case),
        first_position: Some(3),
        last_position: Some(5),
        ops: Some(2),
        detail: Some("code".into()),
    };
    let link = AuditLink {
        seq: 1,
        hash: [9; 32],
    };
    write(store, |tx| {
        assert_eq!(tx.audit_head()?, None);
        tx.append_audit(&entry, &link, None)?;
        assert_eq!(tx.audit_head()?, Some(link));
        Ok(())
    })
    .unwrap();
    assert_eq!(store.audit_log(Some(case)).unwrap(), vec![entry.clone()]);
    assert!(store.audit_log(Some(referral)).unwrap().is_empty());
    assert_eq!(store.audit_log(None).unwrap(), vec![entry]);
}

pub fn the_port_stores_attachments_and_chunks(store: &dyn Storage) {
    let d = enrolled(store, "agency_a");
    let case = RecordId::new();
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let declaration = Declaration {
        case_id: case,
        field: "photo".into(),
        content_type: "image/png".into(),
        size: content.len() as u64,
        chunk_size: 2048,
        sha256: Sha256Digest::of(&content),
        label: None,
    };
    let id = RecordId::new();
    let stored = write(store, |tx| {
        tx.insert_record(&case_op(&d, 1, case), &case_record(&d.agency))?;
        assert_eq!(tx.attachment(id)?, None);
        tx.insert_attachment(id, &d.agency, d.id, &declaration, NOW)?;
        tx.attachment(id)
    })
    .unwrap()
    .expect("declared");
    assert_eq!(
        (
            stored.case_id,
            stored.chunk_count,
            stored.size,
            stored.complete
        ),
        (case, 3, 5000, false)
    );
    assert_eq!(
        (stored.sha256, stored.label.clone()),
        (declaration.sha256, None)
    );
    let chunks: Vec<&[u8]> = content.chunks(2048).collect();
    write(store, |tx| {
        assert_eq!(tx.case_attachment_list(case)?, vec![stored.clone()]);
        assert_eq!(tx.upload_state(&stored)?.missing, vec![0, 1, 2]);
        assert_eq!(
            tx.store_chunk(&stored, 2, chunks[2], NOW)?,
            ChunkStored::Missing(2)
        );
        assert_eq!(
            tx.store_chunk(&stored, 2, chunks[2], NOW)?,
            ChunkStored::Missing(2),
            "a chunk held is kept"
        );
        assert_eq!(tx.upload_state(&stored)?.missing, vec![0, 1]);
        tx.store_chunk(&stored, 0, chunks[0], NOW)?;
        assert_eq!(
            tx.store_chunk(&stored, 1, chunks[1], NOW)?,
            ChunkStored::Complete
        );
        Ok(())
    })
    .unwrap();
    read(store, |tx| {
        let complete = tx.attachment(id)?.expect("still there");
        assert!(complete.complete && tx.upload_state(&complete)?.complete);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(&**tx.chunk(&complete, i as u32)?, *chunk);
        }
        Ok(())
    })
    .unwrap();
}

pub fn a_failed_transaction_leaves_nothing_and_snapshots_do_not_write(store: &dyn Storage) {
    let d = enrolled(store, "agency_a");
    let record = RecordId::new();
    let failed = store.write_tx(&mut |tx| {
        let op = case_op(&d, 1, record);
        tx.insert_record(&op, &case_record(&d.agency))?;
        tx.append(&op, &d.agency, &[(d.agency.clone(), None)])?;
        tx.set_device_progress(d.id, 1, NOW)?;
        Err(StorageError::Rejected("the work gave up".into()))
    });
    assert!(matches!(failed, Err(StorageError::Rejected(_))));
    read(store, |tx| {
        assert_eq!(tx.record(record)?, None);
        assert!(tx.addressed_after(&d.agency, 0, 10)?.is_empty());
        assert_eq!(tx.device_progress(d.id)?.map(|p| p.last_seq), Some(0));
        Ok(())
    })
    .unwrap();
    assert_eq!(store.log_end().unwrap(), 0);
    let written = store.read_tx(&mut |tx| tx.set_device_progress(d.id, 5, NOW));
    assert!(written.is_err(), "a read-only snapshot refuses writes");
    assert_eq!(store.list_devices(None).unwrap()[0].last_seq, 0);
}

pub fn the_port_keeps_secret_settings_sealed(store: &dyn Storage) {
    let secret = b"an agency's handoff secret key!!";
    write(store, |tx| {
        tx.insert_secret_setting("handoff/agency_secret/a", secret)
    })
    .unwrap();
    let (opened, raw, missing) = read(store, |tx| {
        Ok((
            tx.secret_setting("handoff/agency_secret/a")?,
            tx.setting("handoff/agency_secret/a")?,
            tx.secret_setting("handoff/agency_secret/b")?,
        ))
    })
    .unwrap();
    assert_eq!(opened.as_deref().map(Vec::as_slice), Some(&secret[..]));
    let raw = raw.expect("stored as a setting");
    assert!(
        !raw.windows(8).any(|w| w == &secret[..8]),
        "the secret is not in the database in the clear"
    );
    assert!(missing.is_none());
    assert!(matches!(
        write(store, |tx| tx
            .insert_secret_setting("handoff/agency_secret/a", b"x")),
        Err(StorageError::AlreadyExists(_))
    ));
    // Replacing one keeps it sealed and bound to its key.
    write(store, |tx| {
        tx.put_secret_setting(
            "handoff/agency_secret/a",
            b"replaced secret value, sealed too",
        )
    })
    .unwrap();
    let (opened, raw) = read(store, |tx| {
        Ok((
            tx.secret_setting("handoff/agency_secret/a")?,
            tx.setting("handoff/agency_secret/a")?,
        ))
    })
    .unwrap();
    assert_eq!(
        opened.as_deref().map(Vec::as_slice),
        Some(&b"replaced secret value, sealed too"[..])
    );
    let raw = raw.expect("stored as a setting");
    assert!(!raw.windows(8).any(|w| w == b"replaced"));
    // A sealed value moved to another key does not open there.
    write(store, |tx| tx.put_setting("handoff/agency_secret/c", &raw)).unwrap();
    assert!(matches!(
        read(store, |tx| tx.secret_setting("handoff/agency_secret/c")),
        Err(StorageError::Integrity(_))
    ));
}
