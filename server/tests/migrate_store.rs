//! Moving house: an embedded server's data copied into PostgreSQL with
//! `fieldcase admin migrate-store`, interrupted and resumed, verified, and the devices enrolled
//! against the embedded server syncing on against PostgreSQL without re-enrolling. Needs the
//! throwaway PostgreSQL of `scripts/with-postgres.sh`.

mod common;

use common::{enrolled_device, server_with_agencies, BIN};
use fieldcase_core::model::Case;
use fieldcase_core::sample::SampleCases;
use fieldcase_server::server_key::KeySource;
use fieldcase_server::storage::migrate::{self, MigrateError};
use fieldcase_server::storage::postgres::testing::TempDatabase;
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::Storage;
use fieldcase_server::{Server, ServerConfig};
use std::process::Command;

#[tokio::test]
async fn an_embedded_server_moves_into_postgresql_and_its_devices_keep_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let a = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "a").await;
    let b = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "b").await;
    let mut generator = SampleCases::new(11);
    for _ in 0..20 {
        let case = Case::from_json(&generator.next_case()).unwrap();
        a.store().create_case(&case).unwrap();
    }
    a.sync().await.unwrap();
    assert_eq!(b.sync().await.unwrap().pulled, 20);
    let (addr, data) = (server.addr, server.data_dir.clone());
    server.shutdown().await.unwrap();

    // A first run stopped after eight tables (as a killed one would be), then the command.
    let database = tokio::task::spawn_blocking(TempDatabase::create)
        .await
        .unwrap();
    let url = database.url();
    let source = data.join("fieldcase.db");
    {
        let (source, url) = (source.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            migrate::sqlite_to_postgres_interrupted(&source, &url, 8)
        })
        .await
        .unwrap()
        .unwrap();
    }
    let output = Command::new(BIN)
        .args(["admin", "migrate-store", "--data-dir"])
        .arg(&data)
        .env("FIELDCASE_DATABASE_URL", &url)
        .env_remove("FIELDCASE_DATA_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stderr}{stdout}");
    assert!(
        stderr.contains("(copied by an earlier run)"),
        "the second run resumes: {stderr}"
    );
    assert!(stdout.contains("verified"), "{stdout}");

    // Migrating into a database that now holds data is refused, and changes nothing.
    {
        let (source, url) = (source.clone(), url.clone());
        let again =
            tokio::task::spawn_blocking(move || migrate::sqlite_to_postgres(&source, &url, |_| {}))
                .await
                .unwrap();
        assert!(
            matches!(again, Err(MigrateError::TargetNotEmpty(_))),
            "{again:?}"
        );
    }

    // Both stores pick the same profiles for the duplicate model's sample (fewer than the 20
    // cases), so the review list does not depend on where the data lives.
    {
        let (source, url, key) = (source.clone(), url.clone(), data.join("server.key"));
        tokio::task::spawn_blocking(move || {
            let sealer = || KeySource::DataDir.load(&key).unwrap().0;
            let sqlite = SqliteStorage::open(&source, sealer()).unwrap();
            let postgres = PostgresStorage::connect(&url, sealer()).unwrap();
            let (a, b) = (
                sqlite.match_profile_sample(7).unwrap(),
                postgres.match_profile_sample(7).unwrap(),
            );
            assert_eq!((a.cases, a.profiles.len()), (20, 7));
            assert_eq!(b.cases, 20);
            assert!(a.profiles == b.profiles, "the same sample on both backends");
        })
        .await
        .unwrap();
    }

    // The same address and data directory, now on PostgreSQL: the devices carry on.
    let mut config = ServerConfig::new(&data);
    config.listen = addr;
    config.database_url = Some(url);
    let server = Server::spawn(config).await.unwrap();
    let case = Case::from_json(&generator.next_case()).unwrap();
    let new_id = a.store().create_case(&case).unwrap();
    let pushed = a.sync().await.unwrap();
    assert_eq!(pushed.pushed, 1);
    let pulled = b.sync().await.unwrap();
    assert_eq!(
        pulled.pulled, 1,
        "the cursor from SQLite still holds: only the new case, no reset"
    );
    assert!(b.store().get_case(&new_id).is_ok());
    assert_eq!(b.store().count_cases(None).unwrap(), 21);
    server.shutdown().await.unwrap();
    drop(database);
}
