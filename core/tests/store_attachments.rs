//! Attachments in the store: round trips, refusals that change nothing, tampered chunks, and
//! no plaintext on disk.

mod common;
use common::*;
use fieldcase_core::attachments::{AttachmentError, CHUNK_BYTES, MAX_ATTACHMENT_BYTES};
use fieldcase_core::store::{AttachmentSyncState, NewAttachment, Store, StoreError};
use fieldcase_core::RecordId;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::Path;

/// A JPEG-looking payload of `len` bytes: the JPEG magic, a marker, then seeded pseudo-random
/// bytes (xorshift), so any window of it is recognizable and does not compress away.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut out = b"\xFF\xD8\xFF\xE0ATTACHMENT-MARKER-Zaynab-passport".to_vec();
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn store_with_case(dir: &Path) -> (Store, RecordId) {
    let mut store = new_store(dir, "a", 1);
    let case_id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    (store, case_id)
}

fn row_counts(path: &Path) -> (i64, i64) {
    let conn = Connection::open(path).unwrap();
    let count = |table: &str| {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    (count("attachments"), count("attachment_chunks"))
}

#[test]
fn an_attachment_round_trips_and_is_listed_with_its_case() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, case_id) = store_with_case(dir.path());
    // A size that is not a multiple of the chunk size, and one that is.
    for len in [CHUNK_BYTES as usize * 3 + 17, CHUNK_BYTES as usize * 2] {
        let content = payload(len, len as u64);
        let id = store
            .add_attachment(&case_id, "image/jpeg", &content[..], Some("passport p.1"))
            .unwrap();
        assert_eq!(&store.read_attachment(&id).unwrap()[..], &content[..]);
        let meta = store.attachment(&id).unwrap();
        assert_eq!(meta.size, len as u64);
        assert_eq!(
            meta.chunk_count as usize,
            len.div_ceil(CHUNK_BYTES as usize)
        );
        assert_eq!(meta.label.as_deref(), Some("passport p.1"));
        assert!(!meta.uploaded);
        assert!(!format!("{meta:?}").contains("passport"));
    }
    assert_eq!(store.attachments_of_case(&case_id).unwrap().len(), 2);
    let status = store.status().unwrap();
    assert_eq!(status.pending_attachments, 2);
    assert!(!status.synced, "an unsent attachment is never 'synced'");
}

#[test]
fn the_list_shows_each_attachments_upload_progress_and_a_read_streams_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, case_id) = store_with_case(dir.path());
    let content = payload(CHUNK_BYTES as usize * 4 + 5, 11);
    let id = store
        .add_attachment(&case_id, "image/jpeg", &content[..], Some("passport p.1"))
        .unwrap();
    let state = |store: &Store| store.list_attachments(&case_id).unwrap()[0].state;
    assert_eq!(state(&store), AttachmentSyncState::LocalOnly);
    store.note_chunks_on_server(&id, 3).unwrap();
    assert_eq!(
        state(&store),
        AttachmentSyncState::Uploading {
            chunks_sent: 3,
            chunk_count: 5
        }
    );
    // Kept across a restart; never more than the attachment has.
    store.close().unwrap();
    let mut store =
        Store::open(&store_path(dir.path(), "a"), PASSPHRASE, None, &options()).unwrap();
    store.note_chunks_on_server(&id, 99).unwrap();
    assert_eq!(
        state(&store),
        AttachmentSyncState::Uploading {
            chunks_sent: 5,
            chunk_count: 5
        }
    );
    store.mark_attachment_uploaded(&id).unwrap();
    assert_eq!(state(&store), AttachmentSyncState::Uploaded);
    store.note_chunks_on_server(&id, 1).unwrap();
    assert_eq!(state(&store), AttachmentSyncState::Uploaded);
    let listed = &store.list_attachments(&case_id).unwrap()[0];
    assert_eq!(
        (listed.id, listed.size, listed.label.as_deref()),
        (id, content.len() as u64, Some("passport p.1"))
    );
    assert!(!format!("{listed:?}").contains("passport"));

    let mut out = Vec::new();
    let mut seen = Vec::new();
    let meta = store
        .read_attachment_to(&id, &mut out, &mut |done, total| seen.push((done, total)))
        .unwrap();
    assert_eq!(out, content);
    assert_eq!(meta.id, id);
    let total = content.len() as u64;
    let expected: Vec<(u64, u64)> = [0, 1, 2, 3, 4]
        .iter()
        .map(|i| (i * u64::from(CHUNK_BYTES), total))
        .chain([(total, total)])
        .collect();
    assert_eq!(seen, expected);
    // An attachment the store does not hold.
    assert!(matches!(
        store.read_attachment_to(&RecordId::new(), &mut Vec::new(), &mut |_, _| {}),
        Err(StoreError::NoSuchAttachment { .. })
    ));
}

#[test]
fn a_wrong_type_an_oversize_or_an_empty_content_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let (mut store, case_id) = store_with_case(dir.path());
    let jpeg = payload(100_000, 1);
    let refusals: Vec<(&str, Vec<u8>)> = vec![
        ("image/png", jpeg.clone()),
        ("text/html", b"<html>hello</html>".to_vec()),
        ("application/pdf", b"not a pdf at all".to_vec()),
        ("image/jpeg", Vec::new()),
        ("image/jpeg", payload(MAX_ATTACHMENT_BYTES as usize + 1, 2)),
    ];
    for (declared, content) in &refusals {
        let error = store
            .add_attachment(&case_id, declared, &content[..], None)
            .unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Attachment(
                    AttachmentError::TypeMismatch { .. }
                        | AttachmentError::UnsupportedType { .. }
                        | AttachmentError::Empty
                        | AttachmentError::TooLarge { .. }
                )
            ),
            "{declared}: {error:?}"
        );
        assert!(!error.to_string().contains("hello"), "{error}");
    }
    let bad_field = NewAttachment {
        case_id,
        content_type: "image/jpeg",
        field: "given_name",
        label: None,
    };
    assert!(matches!(
        store.add_attachment_with(&bad_field, &jpeg[..], CHUNK_BYTES),
        Err(StoreError::Attachment(AttachmentError::Field { .. }))
    ));
    assert!(matches!(
        store.add_attachment(&RecordId::new(), "image/jpeg", &jpeg[..], None),
        Err(StoreError::NoSuchRecord { .. })
    ));
    assert!(store.attachments_of_case(&case_id).unwrap().is_empty());
    store.close().unwrap();
    assert_eq!(row_counts(&path), (0, 0), "nothing half-written");
}

/// Runs `tamper` on the closed database, then expects reading `id` back to fail cleanly.
fn expect_integrity_error(dir: &Path, tamper: impl FnOnce(&Connection, &RecordId, &RecordId)) {
    let path = store_path(dir, "a");
    let (mut store, case_id) = store_with_case(dir);
    let a = store
        .add_attachment(&case_id, "image/jpeg", &payload(200_000, 7)[..], None)
        .unwrap();
    let b = store
        .add_attachment(&case_id, "image/jpeg", &payload(200_000, 8)[..], None)
        .unwrap();
    store.close().unwrap();
    tamper(&Connection::open(&path).unwrap(), &a, &b);
    let store = Store::open(&path, PASSPHRASE, None, &options()).unwrap();
    let error = store.read_attachment(&a).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Integrity { .. } | StoreError::Attachment(AttachmentError::Checksum)
        ),
        "{error:?}"
    );
    // Streamed a chunk at a time, it fails the same way (what was written is thrown away).
    let streamed = store
        .read_attachment_to(&a, &mut Vec::new(), &mut |_, _| {})
        .unwrap_err();
    assert!(
        matches!(
            streamed,
            StoreError::Integrity { .. } | StoreError::Attachment(AttachmentError::Checksum)
        ),
        "{streamed:?}"
    );
    // The other attachment still reads, unless the tampering took from it.
    let _ = store.read_attachment(&b);
}

fn chunk(conn: &Connection, id: &RecordId, index: u32) -> Vec<u8> {
    conn.query_row(
        "SELECT data FROM attachment_chunks WHERE attachment_id = ?1 AND idx = ?2",
        rusqlite::params![&id.as_bytes()[..], index],
        |r| r.get(0),
    )
    .unwrap()
}

fn set_chunk(conn: &Connection, id: &RecordId, index: u32, data: &[u8]) {
    conn.execute(
        "UPDATE attachment_chunks SET data = ?3 WHERE attachment_id = ?1 AND idx = ?2",
        rusqlite::params![&id.as_bytes()[..], index, data],
    )
    .unwrap();
}

#[test]
fn a_chunk_swapped_between_attachments_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    expect_integrity_error(dir.path(), |conn, a, b| {
        set_chunk(conn, a, 1, &chunk(conn, b, 1));
    });
}

#[test]
fn reordered_chunks_do_not_open() {
    let dir = tempfile::tempdir().unwrap();
    expect_integrity_error(dir.path(), |conn, a, _| {
        let (first, second) = (chunk(conn, a, 0), chunk(conn, a, 1));
        set_chunk(conn, a, 0, &second);
        set_chunk(conn, a, 1, &first);
    });
}

#[test]
fn a_truncated_attachment_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    // The last chunk removed.
    expect_integrity_error(dir.path(), |conn, a, _| {
        conn.execute(
            "DELETE FROM attachment_chunks WHERE attachment_id = ?1 AND idx = 3",
            [&a.as_bytes()[..]],
        )
        .unwrap();
    });
    // ... and the clear chunk count lowered to match: the sealed metadata binds it.
    let dir = tempfile::tempdir().unwrap();
    expect_integrity_error(dir.path(), |conn, a, _| {
        conn.execute(
            "DELETE FROM attachment_chunks WHERE attachment_id = ?1 AND idx = 3",
            [&a.as_bytes()[..]],
        )
        .unwrap();
        conn.execute(
            "UPDATE attachments SET chunk_count = 3, size = ?2 WHERE id = ?1",
            rusqlite::params![&a.as_bytes()[..], 3 * CHUNK_BYTES],
        )
        .unwrap();
    });
}

#[test]
fn a_flipped_byte_in_a_chunk_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    expect_integrity_error(dir.path(), |conn, a, _| {
        let mut data = chunk(conn, a, 2);
        let middle = data.len() / 2;
        data[middle] ^= 0x01;
        set_chunk(conn, a, 2, &data);
    });
}

/// Every 64-byte window of `payload` starting at a multiple of 32, by its first 8 bytes. A
/// copy of 96 or more consecutive payload bytes anywhere contains one of these windows.
fn windows(payload: &[u8]) -> HashMap<u64, Vec<usize>> {
    let mut map: HashMap<u64, Vec<usize>> = HashMap::new();
    for start in (0..payload.len().saturating_sub(64)).step_by(32) {
        let key = u64::from_le_bytes(payload[start..start + 8].try_into().unwrap());
        map.entry(key).or_default().push(start);
    }
    map
}

fn find_any_window(haystack: &[u8], payload: &[u8], index: &HashMap<u64, Vec<usize>>) -> bool {
    haystack.windows(64).any(|w| {
        let key = u64::from_le_bytes(w[..8].try_into().unwrap());
        index
            .get(&key)
            .is_some_and(|starts| starts.iter().any(|&s| &payload[s..s + 64] == w))
    })
}

#[test]
fn an_attachment_never_appears_in_the_clear_in_the_database_wal_or_shm_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let (mut store, case_id) = store_with_case(dir.path());
    let content = payload(2 * 1024 * 1024, 42);
    let index = windows(&content);
    let id = store
        .add_attachment(
            &case_id,
            "image/jpeg",
            &content[..],
            Some("Zaynab passport"),
        )
        .unwrap();
    assert_eq!(&store.read_attachment(&id).unwrap()[..], &content[..]);
    // A refused one (too large, after 10 MiB were streamed in) must leave nothing either.
    let big = {
        let mut big = content.clone();
        big.resize(MAX_ATTACHMENT_BYTES as usize + 10, 0);
        big
    };
    assert!(store
        .add_attachment(&case_id, "image/jpeg", &big[..], None)
        .is_err());
    let check = |when: &str| {
        let bytes = database_bytes(&path);
        assert!(
            bytes.len() > content.len(),
            "{when}: the files hold the sealed copy"
        );
        assert!(
            !find_any_window(&bytes, &content, &index),
            "{when}: a 64-byte window of the attachment is in the files"
        );
        assert!(!contains(&bytes, b"ATTACHMENT-MARKER"), "{when}");
        assert!(!contains(&bytes, b"Zaynab passport"), "{when}: the label");
    };
    check("open");
    store.close().unwrap();
    check("closed");
    // No other file in the directory (no temporary copies).
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().all(|f| f.starts_with("a.db")), "{files:?}");

    // Wiping the store takes the attachments with it.
    let mut store = Store::open(&path, PASSPHRASE, None, &options()).unwrap();
    store.wipe().unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_search_helper_finds_a_planted_window() {
    // The scan itself must work, or the test above proves nothing.
    let content = payload(10_000, 5);
    let index = windows(&content);
    let mut haystack = vec![0u8; 500];
    haystack.extend_from_slice(&content[1234..1234 + 100]);
    haystack.extend(vec![0u8; 500]);
    assert!(find_any_window(&haystack, &content, &index));
    // 60 bytes of it are too few to hold a whole 64-byte window.
    assert!(!find_any_window(&haystack[..560], &content, &index));
}
