//! A database at schema version 1 (the frozen snapshot in `fixtures/`) is upgraded in place by
//! a starting server, keeps its data, and ends with exactly the schema a fresh database has.

use fieldcase_server::seal::Sealer;
use fieldcase_server::server_key::KeySource;
use fieldcase_server::storage::sqlite::{schema, SqliteStorage};
use fieldcase_server::{Server, ServerConfig};
use rusqlite::Connection;

#[tokio::test]
async fn a_version_1_database_is_upgraded_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("fieldcase.db");
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(include_str!("fixtures/schema_v1.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO agencies VALUES ('iom_uga', 'IOM Uganda', 1700000000000);
             INSERT INTO users VALUES ('u1', 'iom_uga', 'caseworker', 'Staff', 1700000000000);
             INSERT INTO devices (id, agency, user_id, label, credential_hash, created_at, last_seq)
               VALUES (x'00112233445566778899aabbccddeeff', 'iom_uga', 'u1', 'old phone',
                       x'01', 1700000000000, 7);",
        )
        .unwrap();
    }

    let server = Server::spawn(ServerConfig::new(&data)).await.unwrap();
    let token = server.admin_token().unwrap();
    let devices: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/admin/devices", server.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(devices[0]["id"], "00112233-4455-6677-8899-aabbccddeeff");
    assert_eq!(devices[0]["last_seq"], 7);
    assert!(devices[0]["last_seen_at"].is_null(), "the column v2 added");
    server.shutdown().await.unwrap();

    let fresh_path = dir.path().join("fresh.db");
    drop(SqliteStorage::open(&fresh_path, Sealer::from_key(&[1; 32])).unwrap());
    let migrated = Connection::open(&db).unwrap();
    let fresh = Connection::open(&fresh_path).unwrap();
    let version = |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
    assert_eq!(version(&migrated).unwrap(), schema::SCHEMA_VERSION);
    assert_eq!(version(&fresh).unwrap(), schema::SCHEMA_VERSION);
    assert_eq!(
        schema::describe(&migrated).unwrap(),
        schema::describe(&fresh).unwrap()
    );
}

#[tokio::test]
async fn a_server_started_with_another_key_refuses_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::spawn(ServerConfig::new(&data)).await.unwrap();
    server.shutdown().await.unwrap();

    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, [9u8; 32]).unwrap();
    let mut config = ServerConfig::new(&data);
    config.key = KeySource::File(other_key);
    let refused = Server::spawn(config)
        .await
        .err()
        .expect("wrong key refused");
    assert!(refused.to_string().contains("key"), "{refused}");

    let mut config = ServerConfig::new(&data);
    config.key = KeySource::File(dir.path().join("missing.key"));
    assert!(
        Server::spawn(config).await.is_err(),
        "a named key file must exist"
    );
}
