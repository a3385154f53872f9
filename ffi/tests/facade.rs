//! The facade as an app would use it, called from Rust: records in and out, typed errors for
//! bad input, locking, threads, and sync's failure paths (not enrolled, unreachable server,
//! silent server cancelled, a second sync refused) against a fake server on loopback.
//!
//! The full scenario against a real `fieldcase serve` runs from Kotlin
//! (`ffi/kotlin-tests`, `scripts/ffi-kotlin-test.sh`).

use fieldcase_ffi::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PASSPHRASE: &str = "correct horse battery";

fn store_at(dir: &Path) -> Arc<FieldcaseStore> {
    let path = dir.join("store.db").to_string_lossy().into_owned();
    create_unenrolled_store_for_tests(path, PASSPHRASE.into(), "iom_uga".into(), "cw_1".into())
        .unwrap()
}

fn case(given: &str) -> CaseData {
    CaseData {
        given_name: Some(given.into()),
        family_name: Some("Okello".into()),
        sex: Some(Sex::Female),
        nationality: Some("UGA".into()),
        country_of_assistance: Some("KEN".into()),
        intake_date: Some("2024-06-01".into()),
        categories: vec![Category::StrandedMigrant],
        consent_assistance: Some(AssistanceConsent {
            given: true,
            date: "2024-06-01".into(),
            recorded_by: "cw_1".into(),
        }),
        status: Some(CaseStatus::Open),
        answers_json: r#"{"household_size": 4}"#.into(),
        ..CaseData::default()
    }
}

fn problems(error: FieldcaseError) -> Vec<String> {
    match error {
        FieldcaseError::Invalid { problems, .. } => {
            let mut fields: Vec<String> = problems.into_iter().map(|p| p.field).collect();
            fields.sort();
            fields
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn cases_are_recorded_read_searched_and_edited() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    let id = store.create_case(case("Amina")).unwrap();
    store.create_case(case("Grace")).unwrap();

    let record = store.get_case(id.clone()).unwrap();
    assert_eq!(record.owner_agency, "iom_uga");
    assert_eq!(record.data.given_name.as_deref(), Some("Amina"));
    assert_eq!(record.data.answers_json, r#"{"household_size":4}"#);
    assert!(record.unreadable_fields.is_empty());

    let found = store
        .search(SearchQuery::Name {
            text: "amina".into(),
        })
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    assert_eq!(store.list_cases(None, 100, 0).unwrap().len(), 2);
    assert_eq!(store.count_cases(Some(CaseStatus::Open)).unwrap(), 2);

    let mut edited = record.data.clone();
    edited.risk_level = Some(RiskLevel::High);
    edited.status = Some(CaseStatus::Active);
    assert!(store.update_case(record.clone(), edited.clone()).unwrap());
    assert!(
        !store
            .update_case(record.clone(), record.data.clone())
            .unwrap(),
        "no change, no write"
    );
    let after = store.get_case(id).unwrap();
    assert_eq!(after.data.risk_level, Some(RiskLevel::High));
    assert_eq!(store.count_cases(Some(CaseStatus::Active)).unwrap(), 1);
    assert_eq!(store.status().unwrap().pending_changes, 3);
    assert_eq!(format!("{after:?}"), "CaseRecord { .. }");
}

#[test]
fn invalid_input_is_a_typed_error_naming_the_field_and_never_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());

    let mut bad = case("Amina");
    bad.nationality = Some("Zaynab".into());
    bad.intake_date = Some("2024-02-30".into());
    let error = store.create_case(bad).unwrap_err();
    assert!(!error.to_string().contains("Zaynab"), "{error}");
    assert_eq!(problems(error), ["intake_date", "nationality"]);

    let mut no_consent = case("Amina");
    no_consent.consent_assistance = None;
    assert_eq!(
        problems(store.create_case(no_consent).unwrap_err()),
        ["consent.assistance"]
    );

    let mut bad_answers = case("Amina");
    bad_answers.answers_json = "Amina Okello".into();
    assert_eq!(
        problems(store.create_case(bad_answers).unwrap_err()),
        ["answers"]
    );

    assert_eq!(
        problems(store.get_case("not an id".into()).unwrap_err()),
        ["id"]
    );
    assert!(matches!(
        store.get_case("0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10".into()),
        Err(FieldcaseError::NotFound { .. })
    ));
    assert_eq!(store.count_cases(None).unwrap(), 0, "nothing was written");
}

#[test]
fn services_and_notes_are_added_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    let case_id = store.create_case(case("Amina")).unwrap();
    let service = ServiceData {
        case_id: case_id.clone(),
        service_type: ServiceType::Shelter,
        date: "2024-06-02".into(),
        provider_agency: "iom_uga".into(),
        notes: Some("Two nights".into()),
    };
    store.add_service(service.clone()).unwrap();
    let services = store.services_of(case_id.clone()).unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].data, service);

    store
        .add_note(case_id.clone(), "Called; she is safe.".into(), None)
        .unwrap();
    let notes = store.notes_of(case_id.clone()).unwrap();
    assert_eq!(notes[0].author, "cw_1");
    assert_eq!(notes[0].text, "Called; she is safe.");

    let future = ServiceData {
        date: "2999-01-01".into(),
        provider_agency: "IOM Uganda".into(),
        ..service
    };
    assert_eq!(
        problems(store.add_service(future).unwrap_err()),
        ["date", "provider_agency"]
    );
    assert_eq!(
        problems(store.add_note(case_id, " ".into(), None).unwrap_err()),
        ["text"]
    );
}

#[tokio::test]
async fn a_locked_store_refuses_everything_until_the_right_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    let id = store.create_case(case("Amina")).unwrap();
    store.lock();
    assert!(store.is_locked());
    assert!(matches!(
        store.get_case(id.clone()),
        Err(FieldcaseError::Locked { .. })
    ));
    assert!(matches!(
        store.create_case(case("Grace")),
        Err(FieldcaseError::Locked { .. })
    ));
    assert_eq!(store.identity().agency, "iom_uga", "identity reads locked");
    assert!(matches!(
        store.unlock("wrong".into(), None).await,
        Err(FieldcaseError::WrongPassphrase { .. })
    ));
    assert!(store.is_locked());
    store.unlock(PASSPHRASE.into(), None).await.unwrap();
    assert_eq!(
        store.get_case(id).unwrap().data.family_name.as_deref(),
        Some("Okello")
    );

    let path = dir.path().join("store.db").to_string_lossy().into_owned();
    assert!(matches!(
        open_store(path.clone(), "wrong".into(), None).await,
        Err(FieldcaseError::WrongPassphrase { .. })
    ));
    assert!(matches!(
        open_store(
            dir.path().join("none.db").to_string_lossy().into_owned(),
            PASSPHRASE.into(),
            None
        )
        .await,
        Err(FieldcaseError::NotFound { .. })
    ));
}

#[test]
fn many_threads_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..10 {
                    store.create_case(case(&format!("Person{t}x{i}"))).unwrap();
                    store.list_cases(None, 20, 0).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(store.count_cases(None).unwrap(), 40);
}

fn referral(case_id: &str, shared: &[&str]) -> NewReferral {
    NewReferral {
        case_id: case_id.into(),
        to_agency: "iom_eth".into(),
        services: vec![ServiceType::Shelter, ServiceType::ReturnTravel],
        reason: "Returns home next month; needs a bed on arrival".into(),
        urgency: Urgency::High,
        shared_fields: shared.iter().map(|k| (*k).to_owned()).collect(),
        transfer: false,
        share_back: false,
    }
}

#[test]
fn a_referral_shares_only_what_consent_allows_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    // The sample case's consent names no agency for identifying data.
    let id = store.create_case(case("Amina")).unwrap();
    let allowed = store
        .allowed_shared_fields(id.clone(), "iom_eth".into())
        .unwrap();
    assert!(allowed.contains(&"sex".to_owned()) && allowed.contains(&"nationality".to_owned()));
    assert!(!allowed.contains(&"given_name".to_owned()));
    assert!(!allowed.iter().any(|k| k.starts_with("answers.")));
    assert!(is_identifying_field("given_name".into()));
    assert!(!is_identifying_field("sex".into()));

    let error = store
        .create_referral(referral(&id, &["sex", "given_name"]))
        .unwrap_err();
    assert!(!error.to_string().contains("Amina"), "{error}");
    let FieldcaseError::Invalid {
        problems: sharing, ..
    } = error
    else {
        panic!("not Invalid: {error:?}");
    };
    assert_eq!(sharing[0].field, "shared_fields");
    assert!(sharing[0].reason.contains("given_name"));

    let mut bad = referral(&id, &["sex"]);
    bad.to_agency = "Amina Okello".into();
    assert_eq!(
        problems(store.create_referral(bad).unwrap_err()),
        ["to_agency"]
    );
    let mut bad = referral(&id, &["sex"]);
    bad.services.clear();
    bad.to_agency = "iom_uga".into();
    assert_eq!(
        problems(store.create_referral(bad).unwrap_err()),
        ["services", "to_agency"],
        "no service, and a referral to its own agency"
    );
    assert_eq!(
        problems(
            store
                .create_referral(referral("not an id", &["sex"]))
                .unwrap_err()
        ),
        ["case_id"]
    );
    assert!(
        store.list_referrals().unwrap().is_empty(),
        "nothing was written"
    );

    // Consent that names the agency opens the identifying fields and the answers.
    let mut named = case("Grace");
    named.consent_data_sharing = Some(DataSharingConsent::Agencies {
        codes: vec!["iom_eth".into()],
    });
    let named = store.create_case(named).unwrap();
    let allowed = store
        .allowed_shared_fields(named.clone(), "iom_eth".into())
        .unwrap();
    assert!(allowed.contains(&"given_name".to_owned()));
    assert!(allowed.contains(&"answers.household_size".to_owned()));
    assert!(!store
        .allowed_shared_fields(named.clone(), "ngo_x".into())
        .unwrap()
        .contains(&"given_name".to_owned()));
    store
        .create_referral(referral(&named, &["given_name", "sex"]))
        .unwrap();
}

#[test]
fn a_referral_is_followed_and_impossible_transitions_are_refused_before_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    let case_id = store.create_case(case("Amina")).unwrap();
    let id = store
        .create_referral(referral(&case_id, &["sex", "nationality"]))
        .unwrap();

    let sent = store.get_referral(id.clone()).unwrap();
    assert_eq!(sent.case_id, case_id);
    assert_eq!(
        (sent.from_agency.as_str(), sent.to_agency.as_str()),
        ("iom_uga", "iom_eth")
    );
    assert_eq!(sent.party, Some(Party::Sender));
    assert_eq!((sent.status, sent.confirmed), (ReferralStatus::Sent, false));
    assert_eq!(sent.shared_fields, ["nationality", "sex"]);
    assert_eq!(sent.created_by, "cw_1");
    assert!(sent.pending.is_empty() && sent.last_rejection.is_none());
    assert_eq!(format!("{sent:?}"), "ReferralRecord { .. }");
    assert_eq!(store.list_referrals().unwrap(), std::slice::from_ref(&sent));
    assert_eq!(store.referrals_of_case(case_id.clone()).unwrap(), [sent]);

    // Only the receiving agency accepts, declines or completes.
    for refused in [
        store.accept_referral(id.clone(), None),
        store.decline_referral(id.clone(), "no".into()),
        store.complete_referral(id.clone(), None),
    ] {
        let error = refused.unwrap_err();
        assert!(
            matches!(&error, FieldcaseError::NotAllowed { reason } if reason.contains("only the receiving agency")),
            "{error:?}"
        );
    }
    assert!(store.get_referral(id.clone()).unwrap().pending.is_empty());

    // The sender cancels: pending until the server answers; a second cancel is refused.
    let cancelled = store
        .cancel_referral(id.clone(), Some("made twice by mistake".into()))
        .unwrap();
    assert_eq!(cancelled.status, ReferralStatus::Sent);
    assert_eq!(cancelled.expected_status, ReferralStatus::Cancelled);
    assert_eq!(cancelled.pending.len(), 1);
    assert_eq!(cancelled.pending[0].transition, Transition::Cancel);
    assert!(matches!(
        store.cancel_referral(id.clone(), None),
        Err(FieldcaseError::NotAllowed { .. })
    ));

    let timeline = store.referral_timeline(id.clone()).unwrap();
    assert_eq!(timeline.len(), 2, "the creation and the pending cancel");
    assert_eq!(
        (timeline[0].transition, timeline[0].confirmed),
        (None, false)
    );
    assert_eq!(
        (timeline[1].transition, timeline[1].status),
        (Some(Transition::Cancel), ReferralStatus::Cancelled)
    );
    assert!(timeline.iter().all(|e| e.referral_id == id));
    assert_eq!(store.case_referral_timeline(case_id).unwrap(), timeline);

    assert!(matches!(
        store.get_referral("0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10".into()),
        Err(FieldcaseError::NotFound { .. })
    ));
    store.lock();
    assert!(matches!(
        store.list_referrals(),
        Err(FieldcaseError::Locked { .. })
    ));
}

#[test]
fn a_wiped_store_is_gone_and_every_call_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    store.create_case(case("Amina")).unwrap();
    store.wipe().unwrap();
    assert!(!dir.path().join("store.db").exists());
    assert!(store.is_wiped());
    assert!(matches!(
        store.list_cases(None, 10, 0),
        Err(FieldcaseError::Wiped { .. })
    ));
    assert!(matches!(
        store.count_cases(None),
        Err(FieldcaseError::Wiped { .. })
    ));
}

#[tokio::test]
async fn an_unenrolled_store_cannot_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path());
    assert!(matches!(
        store.sync(None).await,
        Err(FieldcaseError::NotEnrolled { .. })
    ));
}

/// A fake server: answers enrollment, then either never answers a sync (until the client
/// hangs up) or is gone.
struct FakeServer {
    url: String,
    syncs_seen: Arc<Mutex<u32>>,
    stop: Arc<AtomicBool>,
}

const ENROLLED: &str = r#"{"device_id":"0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10","agency":"iom_uga","user_id":"cw_9","role":"caseworker","credential":"not-a-real-credential"}"#;

impl FakeServer {
    fn start() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let syncs_seen = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (Arc::clone(&syncs_seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return; // drops the listener: later connections are refused
                }
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(stream, &seen));
            }
        });
        FakeServer {
            url,
            syncs_seen,
            stop,
        }
    }

    /// Stops accepting: the next connection wakes the loop, which then closes the socket.
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn serve(mut stream: TcpStream, syncs_seen: &Mutex<u32>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    if head.starts_with("POST /v1/enroll") {
        let reply = format!(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ENROLLED}",
            ENROLLED.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    } else {
        *syncs_seen.lock().unwrap() += 1;
        // Never answer; return when the client hangs up.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}

async fn enrolled(server: &FakeServer, dir: &Path) -> Arc<FieldcaseStore> {
    enroll_with_insecure_fast_kdf(
        server.url.clone(),
        "ABCD-EFGH".into(),
        "test phone".into(),
        dir.join("enrolled.db").to_string_lossy().into_owned(),
        PASSPHRASE.into(),
        None,
    )
    .await
    .unwrap()
}

/// Waits until the fake server has seen a sync request.
async fn until_sync_arrives(server: &FakeServer) {
    for _ in 0..500 {
        if *server.syncs_seen.lock().unwrap() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no sync request arrived");
}

#[tokio::test]
async fn enrollment_creates_the_store_and_refuses_an_existing_path_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start();
    let store = enrolled(&server, dir.path()).await;
    let identity = store.identity();
    assert_eq!(identity.user_id, "cw_9");
    assert_eq!(identity.device_id, "0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10");
    assert!(!store.is_locked());

    let again = enroll_with_insecure_fast_kdf(
        server.url.clone(),
        "ABCD-EFGH".into(),
        "test phone".into(),
        dir.path()
            .join("enrolled.db")
            .to_string_lossy()
            .into_owned(),
        PASSPHRASE.into(),
        None,
    )
    .await;
    assert!(matches!(again, Err(FieldcaseError::AlreadyExists { .. })));
    let weak = enroll_with_insecure_fast_kdf(
        server.url.clone(),
        "ABCD-EFGH".into(),
        "test phone".into(),
        dir.path().join("other.db").to_string_lossy().into_owned(),
        PASSPHRASE.into(),
        Some(vec![1, 2, 3]),
    )
    .await;
    assert_eq!(problems(weak.unwrap_err()), ["extra_secret"]);
}

#[tokio::test]
async fn enrollment_refuses_plain_http_to_another_machine_before_sending_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    // Refused as written, before any connection (the first is a documentation address).
    for url in ["http://192.0.2.123:8080", "http://sync.example.org"] {
        let error = enroll_with_insecure_fast_kdf(
            url.into(),
            "ABCD-EFGH".into(),
            "test phone".into(),
            path.to_string_lossy().into_owned(),
            PASSPHRASE.into(),
            None,
        )
        .await
        .unwrap_err();
        assert!(!error.is_transient(), "{error:?}");
        assert_eq!(problems(error), ["server_url"]);
    }
    assert!(!path.exists(), "no store for a refused enrollment");
}

#[tokio::test]
async fn a_sync_to_a_silent_server_is_cancelled_and_a_second_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start();
    let store = enrolled(&server, dir.path()).await;
    store.create_case(case("Amina")).unwrap();

    let running = tokio::spawn(Arc::clone(&store).sync(None));
    until_sync_arrives(&server).await;
    assert!(matches!(
        Arc::clone(&store).sync(None).await,
        Err(FieldcaseError::SyncInProgress { .. })
    ));
    assert!(store.cancel_sync());
    let outcome = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("cancel is prompt")
        .unwrap();
    assert!(matches!(outcome, Err(FieldcaseError::Cancelled { .. })));
    assert!(!store.cancel_sync(), "nothing running any more");
    assert_eq!(
        store.status().unwrap().pending_changes,
        1,
        "kept for next time"
    );
}

#[tokio::test]
async fn dropping_the_caller_cancels_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start();
    let store = enrolled(&server, dir.path()).await;
    let running = tokio::spawn(Arc::clone(&store).sync(None));
    until_sync_arrives(&server).await;
    running.abort();
    let _ = running.await;
    // The slot is free again: a new sync starts (and is cancelled in turn).
    let again = tokio::spawn(Arc::clone(&store).sync(None));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(store.cancel_sync());
    assert!(matches!(
        again.await.unwrap(),
        Err(FieldcaseError::Cancelled { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_network_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start();
    let store = enrolled(&server, dir.path()).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = Arc::clone(&store).sync(None).await.unwrap_err();
    assert!(matches!(error, FieldcaseError::Network { .. }), "{error:?}");
    assert!(error.is_transient());
    let status = store.status().unwrap();
    assert!(status.last_error.is_some() && !status.synced);
}
