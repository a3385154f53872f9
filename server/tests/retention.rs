//! Retention end to end: a real server on loopback whose clock an admin's 40 days pass on,
//! two phones of one agency holding a closed and an open case, one of them offline across the purge with
//! an edit it never sent. The period is set and the purge run with the real `fieldcase`
//! binary. After the purge the online phone drops the case at its next sync; the offline one
//! pushes its edit, which the server refuses as purged and the phone keeps aside, then drops
//! the case; a phone enrolled later never sees it; the report facts still count it.

mod common;

use common::{admin_cli, enrolled_device, ok, Device};
use fieldcase_core::model::{Case, Fields};
use fieldcase_core::store::StoreError;
use fieldcase_core::RecordId;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::reports::facts::FactFilter;
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::Storage;
use fieldcase_server::time::ManualTimeSource;
use fieldcase_server::{Server, ServerConfig};
use serde_json::json;
use std::sync::Arc;

const A: &str = "iom_uga";
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn new_case(device: &Device, status: &str) -> RecordId {
    let mut case = json!({
        "given_name": "Amina", "sex": "female", "nationality": "ETH",
        "country_of_assistance": "UGA", "intake_date": "2026-09-14", "status": status,
        "consent": {
            "assistance": {"given": true, "date": "2026-09-14", "recorded_by": "cw-1"},
            "data_sharing": "none"
        }
    });
    if status == "closed" {
        case["closure_reason"] = json!("assistance_completed");
    }
    device
        .store()
        .create_case(&Case::from_json(&case).unwrap())
        .unwrap()
}

fn holds(device: &Device, case: &RecordId) -> bool {
    match device.store().get_case(case) {
        Ok(_) => true,
        Err(StoreError::NoSuchRecord { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_case_leaves_every_phone_and_an_offline_edit_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = Arc::new(ManualTimeSource::new(now));
    let server = Server::spawn(ServerConfig {
        time: clock.clone(),
        ..ServerConfig::new(&data_dir)
    })
    .await
    .unwrap();
    let token = server.admin_token().unwrap();
    let admin = AdminClient::new(&server.base_url, token.clone()).unwrap();
    admin.create_agency(A, "IOM Uganda").await.unwrap();
    let online = enrolled_device(&server.base_url, &admin, A, dir.path(), "online").await;
    let offline = enrolled_device(&server.base_url, &admin, A, dir.path(), "offline").await;

    let case = new_case(&online, "closed");
    let kept = new_case(&online, "open");
    online.sync().await.unwrap();
    offline.sync().await.unwrap();
    assert!(holds(&offline, &case));

    // Offline from here: an edit typed on the phone, never sent before the purge.
    let mut note = Fields::new();
    note.insert("risk_level".into(), json!("low"));
    offline.store().update_case(&case, note).unwrap();

    // The agency keeps closed cases 30 days; 40 pass; an admin purges now.
    let url = server.base_url.clone();
    let set = ok(admin_cli(
        &url,
        &token,
        &["retention", "set", "--agency", A, "--days", "30"],
    ));
    assert_eq!(set["days"], 30);
    let shown = ok(admin_cli(
        &url,
        &token,
        &["retention", "show", "--agency", A],
    ));
    assert_eq!(shown["days"], 30);
    clock.advance_ms(40 * DAY_MS);
    let purged = ok(admin_cli(&url, &token, &["retention", "purge"]));
    assert_eq!(purged["cases"], 1);

    // The online phone drops it at its next sync and keeps the other.
    online.sync().await.unwrap();
    assert!(!holds(&online, &case));
    assert!(holds(&online, &kept));

    // The offline phone: its edit is refused as purged and kept aside, then the case goes.
    let outcome = offline.sync().await.unwrap();
    assert_eq!(outcome.rejected, 1);
    let rejected = offline.store().rejected_ops().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0.record_id, case);
    assert_eq!(rejected[0].1, "Purged");
    assert!(
        rejected[0].0.fields.contains_key("risk_level"),
        "what was typed is still there"
    );
    assert!(!holds(&offline, &case));
    assert!(holds(&offline, &kept));
    assert_eq!(offline.store().status().unwrap().pending_ops, 0);

    // A phone enrolled later never sees it.
    let later = enrolled_device(&server.base_url, &admin, A, dir.path(), "later").await;
    later.sync().await.unwrap();
    assert!(!holds(&later, &case));
    assert!(holds(&later, &kept));
    server.shutdown().await.unwrap();

    // Figures for past periods hold: both cases are still counted.
    let (sealer, _) = Sealer::load_or_create(&data_dir.join("server.key"), false).unwrap();
    let storage = SqliteStorage::open(&data_dir.join("fieldcase.db"), sealer).unwrap();
    let mut counted = 0;
    storage
        .scan_case_facts(&FactFilter::default(), &mut |_| counted += 1)
        .unwrap();
    assert_eq!(counted, 2);
}

/// A closed case referred to a partner agency: the partner's phone, offline across the purge,
/// drops the case and the referral at its next sync, and the partner's phone enrolled after the
/// purge never receives either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_case_leaves_the_referral_partners_phones_too() {
    use fieldcase_core::model::ServiceType;
    use fieldcase_core::referral::Urgency;
    use fieldcase_core::store::NewReferral;
    use fieldcase_core::AgencyCode;
    const B: &str = "iom_eth";

    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = Arc::new(ManualTimeSource::new(now));
    let server = Server::spawn(ServerConfig {
        time: clock.clone(),
        ..ServerConfig::new(dir.path().join("server"))
    })
    .await
    .unwrap();
    let token = server.admin_token().unwrap();
    let admin = AdminClient::new(&server.base_url, token.clone()).unwrap();
    admin.create_agency(A, "IOM Uganda").await.unwrap();
    admin.create_agency(B, "IOM Ethiopia").await.unwrap();
    let sender = enrolled_device(&server.base_url, &admin, A, dir.path(), "sender").await;
    let partner = enrolled_device(&server.base_url, &admin, B, dir.path(), "partner").await;

    let case = new_case(&sender, "closed");
    let referral = sender
        .store()
        .create_referral(&NewReferral {
            case_id: case,
            to_agency: AgencyCode::parse(B).unwrap(),
            services: [ServiceType::Shelter].into(),
            reason: "Shelter on return".into(),
            urgency: Urgency::Medium,
            shared_fields: ["sex".to_owned(), "nationality".to_owned()].into(),
            transfer: false,
            share_back: false,
        })
        .unwrap();
    sender.sync().await.unwrap();
    partner.sync().await.unwrap();
    assert!(
        holds(&partner, &case),
        "the referral brought the shared case"
    );
    assert!(partner.store().get_referral(&referral).is_ok());

    // The partner's phone goes offline; the sender's agency purges the case.
    ok(admin_cli(
        &server.base_url,
        &token,
        &["retention", "set", "--agency", A, "--days", "30"],
    ));
    clock.advance_ms(40 * DAY_MS);
    let purged = ok(admin_cli(&server.base_url, &token, &["retention", "purge"]));
    assert_eq!(purged["cases"], 1);

    partner.sync().await.unwrap();
    assert!(!holds(&partner, &case), "the partner's copy is gone");
    assert!(
        partner.store().get_referral(&referral).is_err(),
        "and the referral with it"
    );
    let later = enrolled_device(&server.base_url, &admin, B, dir.path(), "partner-later").await;
    later.sync().await.unwrap();
    assert!(!holds(&later, &case));
    assert!(later.store().get_referral(&referral).is_err());
    server.shutdown().await.unwrap();
}
