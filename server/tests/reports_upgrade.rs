//! A database from before reports (schema version 4, cases synced, states sealed) is upgraded
//! by a starting server: the report tables are created and their rows rebuilt from the sealed
//! states, so reports count what was synced before the upgrade.

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::model::{Case, Date, Service, ServiceType};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::sync::{enroll, sync_once, SyncClient};
use fieldcase_core::AgencyCode;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::sqlite::{schema, SqliteStorage};
use fieldcase_server::{Server, ServerConfig};
use rusqlite::Connection;
use serde_json::Value;
use std::sync::Mutex;

async fn by_sex_total(base: &str, token: &str) -> (u64, u64) {
    let report: Value = reqwest::Client::new()
        .get(format!(
            "{base}/v1/reports?tables=by_sex,services_by_type&count=assistance&disclosure=internal"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = |i: usize| report["tables"][i]["total"]["count"].as_u64().unwrap();
    (total(0), total(1))
}

#[tokio::test]
async fn a_version_4_database_gets_its_report_facts_rebuilt_from_sealed_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::spawn(ServerConfig::new(&data)).await.unwrap();
    let token = server.admin_token().unwrap();
    let admin = AdminClient::new(&server.base_url, token.clone()).unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    let user = admin
        .create_user("iom_uga", Role::Caseworker, "a")
        .await
        .unwrap();
    let code = admin.enrollment_code(&user.id, None).await.unwrap();
    let enrolled = enroll(&server.base_url, &code.code, "a").await.unwrap();
    let identity = Identity {
        device: enrolled.device_id,
        agency: AgencyCode::parse("iom_uga").unwrap(),
        user: enrolled.user_id,
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    };
    let mut store =
        Store::create(&dir.path().join("a.db"), "pass", None, identity, &options).unwrap();
    store
        .set_server(&server.base_url, &enrolled.credential)
        .unwrap();
    let mut generator = SampleCases::new(3);
    let mut first = None;
    for _ in 0..20 {
        let case = Case::from_json(&generator.next_case()).unwrap();
        let id = store.create_case(&case).unwrap();
        first.get_or_insert(id);
    }
    let service = Service::new(
        first.unwrap(),
        ServiceType::Shelter,
        Date::parse("2026-01-05").unwrap(),
        AgencyCode::parse("iom_uga").unwrap(),
        None,
    )
    .unwrap();
    store.add_service(&service).unwrap();
    let client = SyncClient::for_store(&store).unwrap();
    let store = Mutex::new(store);
    sync_once(&store, &client, &|_| {}).await.unwrap();
    assert_eq!(by_sex_total(&server.base_url, &token).await, (20, 1));
    server.shutdown().await.unwrap();

    // Back to version 4 (before reports): no report tables, no facts.
    {
        let conn = Connection::open(data.join("fieldcase.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE report_facts; DROP TABLE service_facts; DROP TABLE match_blocks;
             DROP TABLE match_profiles; DROP TABLE duplicate_decisions; DROP TABLE api_tokens;
             DELETE FROM server_meta WHERE key = 'facts_version';
             DROP INDEX admin_tokens_by_id;
             ALTER TABLE admin_tokens DROP COLUMN id;
             ALTER TABLE admin_tokens DROP COLUMN expires_at;
             ALTER TABLE admin_tokens DROP COLUMN last_used_at;
             DROP INDEX enrollment_codes_by_id; DROP INDEX enrollment_codes_by_agency;
             ALTER TABLE enrollment_codes DROP COLUMN id;
             ALTER TABLE enrollment_codes DROP COLUMN revoked_at;
             DROP INDEX records_by_case;
             ALTER TABLE records DROP COLUMN purged_at;
             DROP TABLE case_reviews;
             DROP INDEX devices_by_next_credential; DROP INDEX devices_by_retired_credential;
             DROP INDEX devices_by_superseded_credential;
             ALTER TABLE devices DROP COLUMN credential_issued_at;
             ALTER TABLE devices DROP COLUMN next_credential_hash;
             ALTER TABLE devices DROP COLUMN retired_credential_hash;
             ALTER TABLE devices DROP COLUMN superseded_credential_hash;
             DROP TABLE device_store_counters;
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }

    let server = Server::spawn(ServerConfig::new(&data)).await.unwrap();
    assert_eq!(
        by_sex_total(&server.base_url, &token).await,
        (20, 1),
        "facts rebuilt from the sealed states"
    );
    server.shutdown().await.unwrap();

    let fresh_path = dir.path().join("fresh.db");
    drop(SqliteStorage::open(&fresh_path, Sealer::from_key(&[1; 32])).unwrap());
    let migrated = Connection::open(data.join("fieldcase.db")).unwrap();
    let fresh = Connection::open(&fresh_path).unwrap();
    assert_eq!(
        schema::describe(&migrated).unwrap(),
        schema::describe(&fresh).unwrap()
    );
}
