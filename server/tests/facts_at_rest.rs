//! The attack of issue 10, item 5: someone with a copy of the server's database (a backup, a
//! stolen disk) reads the report and duplicate-matching tables directly. They must find no
//! per-person value there in the clear — no nationality, sex, age band, intake or service
//! date, exploitation type or labour sector — only sealed rows and what SQL needs to find them;
//! and a database from before the rows were sealed loses its plain rows, free pages included.

mod common;

use common::{enrolled_device, server_with_agencies, Device};
use fieldcase_core::model::{Case, Date, Service, ServiceType};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_server::reports::duplicates::pair_id;
use fieldcase_server::storage::sqlite::schema;
use fieldcase_server::{RunningServer, Server, ServerConfig};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use std::path::Path;

/// The tables derived from cases for reports and duplicate finding.
const DERIVED_TABLES: [&str; 4] = [
    "report_facts",
    "service_facts",
    "match_profiles",
    "match_blocks",
];

/// Values long enough that finding them anywhere, even inside a blob, means the plain value
/// is stored (a sealed blob matches a 7-byte string by chance about once in 2^56 positions).
const LONG_VALUES: [&str; 4] = [
    "2019-11-23",         // intake date, to the day
    "2019-12-02",         // service date
    "forced_criminality", // exploitation type
    "fishing",            // labour sector
];

/// Short codes: found when a stored value, or one comma-separated part of it, is exactly one.
const SHORT_VALUES: [&str; 4] = ["TKM", "female", "35-44", "shelter"];

/// Every plain per-person value found in a derived table, as `table.column: value`.
fn plain_values(db: &Path) -> (Vec<String>, Vec<(String, i64)>) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut found = Vec::new();
    let mut rows_per_table = Vec::new();
    for table in DERIVED_TABLES {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let mut rows = stmt.query([]).unwrap();
        let mut count = 0;
        while let Some(row) = rows.next().unwrap() {
            count += 1;
            for (i, column) in columns.iter().enumerate() {
                let bytes: &[u8] = match row.get_ref(i).unwrap() {
                    ValueRef::Text(t) | ValueRef::Blob(t) => t,
                    _ => continue,
                };
                let long = LONG_VALUES
                    .iter()
                    .find(|v| bytes.windows(v.len()).any(|w| w == v.as_bytes()));
                let short = SHORT_VALUES
                    .iter()
                    .find(|v| bytes.split(|b| *b == b',').any(|p| p == v.as_bytes()));
                if let Some(v) = long.or(short) {
                    found.push(format!("{table}.{column}: {v}"));
                }
            }
        }
        rows_per_table.push((table.to_owned(), count));
    }
    (found, rows_per_table)
}

/// Every `LONG_VALUES` string found anywhere in the files of `dir` (database, WAL, shared
/// memory), as `file: value`: what someone who copies the directory reads without SQL,
/// including free pages.
fn plain_values_in_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for v in LONG_VALUES {
            if bytes.windows(v.len()).any(|w| w == v.as_bytes()) {
                found.push(format!("{}: {v}", path.display()));
            }
        }
    }
    found
}

/// Three cases with the distinctive values above and a service of the first, pushed by
/// `device`; returns the case ids.
async fn push_distinctive_cases(device: &Device) -> Vec<RecordId> {
    let mut generator = SampleCases::new(5);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut case = generator.next_case();
        case["nationality"] = json!("TKM");
        case["country_of_assistance"] = json!("TKM");
        case["sex"] = json!("female");
        case["date_of_birth"] = json!("1980-02-10");
        case["intake_date"] = json!("2019-11-23");
        case["consent"]["assistance"]["date"] = json!("2019-11-23");
        case["categories"] = json!(["victim_of_trafficking"]);
        case["exploitation_types"] = json!(["labour", "forced_criminality"]);
        case["labour_sectors"] = json!(["fishing"]);
        let case = Case::from_json(&case).unwrap_or_else(|e| panic!("test case: {e}"));
        ids.push(device.store().create_case(&case).unwrap());
    }
    let service = Service::new(
        ids[0],
        ServiceType::Shelter,
        Date::parse("2019-12-02").unwrap(),
        AgencyCode::parse("iom_uga").unwrap(),
        None,
    )
    .unwrap();
    device.store().add_service(&service).unwrap();
    device.sync().await.unwrap();
    ids
}

/// Cases of Turkmenistan and services in 2019, as the server reports them.
async fn reported_totals(server: &RunningServer) -> (u64, u64) {
    let report: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/reports?tables=by_nationality,services_by_type&count=assistance\
             &disclosure=internal&year=2019&country=TKM",
            server.base_url
        ))
        .bearer_auth(server.admin_token().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = |i: usize| report["tables"][i]["total"]["count"].as_u64().unwrap();
    (total(0), total(1))
}

/// Individuals of Turkmenistan in 2019: cases less confirmed links.
async fn reported_individuals(server: &RunningServer) -> u64 {
    let report: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/reports?tables=by_nationality&count=individuals&disclosure=internal\
             &year=2019&country=TKM",
            server.base_url
        ))
        .bearer_auth(server.admin_token().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    report["tables"][0]["total"]["count"].as_u64().unwrap()
}

/// Rows of `duplicate_decisions`, and whether any value in it holds either record id (as
/// bytes or as text): which two records a person linked.
fn decisions_naming(db: &Path, a: RecordId, b: RecordId) -> (i64, bool) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let needles: Vec<Vec<u8>> = [a, b]
        .iter()
        .flat_map(|id| [id.as_bytes().to_vec(), id.to_string().into_bytes()])
        .collect();
    let mut stmt = conn.prepare("SELECT * FROM duplicate_decisions").unwrap();
    let columns = stmt.column_count();
    let mut rows = stmt.query([]).unwrap();
    let (mut count, mut named) = (0, false);
    while let Some(row) = rows.next().unwrap() {
        count += 1;
        for i in 0..columns {
            if let ValueRef::Text(v) | ValueRef::Blob(v) = row.get_ref(i).unwrap() {
                named |= needles
                    .iter()
                    .any(|n| v.windows(n.len()).any(|w| w == n.as_slice()));
            }
        }
    }
    (count, named)
}

#[tokio::test]
async fn a_copy_of_the_database_holds_no_per_person_value_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let device = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "a").await;
    let cases = push_distinctive_cases(&device).await;
    assert_eq!(
        reported_totals(&server).await,
        (3, 1),
        "the facts are there and count"
    );
    // A reviewer links two of the cases as one person.
    let confirmed = reqwest::Client::new()
        .post(format!(
            "{}/v1/duplicates/{}/confirm",
            server.base_url,
            pair_id(cases[0], cases[1])
        ))
        .bearer_auth(server.admin_token().unwrap())
        .send()
        .await
        .unwrap();
    assert!(confirmed.status().is_success());
    assert_eq!(reported_individuals(&server).await, 2, "the link counts");

    let data = server.data_dir.clone();
    server.shutdown().await.unwrap();

    let (found, rows) = plain_values(&data.join("fieldcase.db"));
    // Every case has its derived rows, else the search below would prove nothing.
    let count = |table: &str| rows.iter().find(|(t, _)| t == table).unwrap().1;
    assert_eq!(count("report_facts"), 3);
    assert_eq!(count("service_facts"), 1);
    assert_eq!(count("match_profiles"), 3);
    assert!(count("match_blocks") > 0);
    assert_eq!(
        found,
        Vec::<String>::new(),
        "plain per-person values at rest"
    );
    assert_eq!(plain_values_in_files(&data), Vec::<String>::new());
    assert_eq!(
        decisions_naming(&data.join("fieldcase.db"), cases[0], cases[1]),
        (1, false),
        "the decision is stored, and does not name the records it links"
    );
}

/// Plain facts rows of cases the server no longer has, added to the version 5 file.
const PLAIN_FILLER_ROWS: usize = 500;

/// The tables as schema version 5 made them, frozen: plain columns.
const PLAIN_TABLES_V5: &str = r#"
CREATE TABLE report_facts (
    record_id                BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    intake_date              TEXT,
    sex                      TEXT,
    age_group                TEXT,
    age_band                 TEXT,
    nationality              TEXT,
    country_of_assistance    TEXT,
    programme                TEXT,
    categories               TEXT NOT NULL,
    exploitation_types       TEXT NOT NULL,
    labour_sectors           TEXT NOT NULL,
    trafficking_type         TEXT,
    country_of_destination   TEXT,
    reintegration_assistance TEXT NOT NULL,
    status                   TEXT
);
CREATE INDEX report_facts_by_intake ON report_facts(intake_date);
CREATE TABLE service_facts (
    record_id       BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    case_id         BLOB NOT NULL,
    service_type    TEXT NOT NULL,
    service_date    TEXT NOT NULL,
    provider_agency TEXT NOT NULL
);
CREATE INDEX service_facts_by_case ON service_facts(case_id);
CREATE TABLE match_profiles (
    record_id   BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    name_tokens BLOB NOT NULL,
    dob         BLOB NOT NULL,
    documents   BLOB NOT NULL,
    phone       BLOB,
    nationality TEXT,
    sex         TEXT
);
CREATE TABLE duplicate_decisions (
    record_a   BLOB NOT NULL REFERENCES records(record_id),
    record_b   BLOB NOT NULL REFERENCES records(record_id),
    decision   TEXT NOT NULL CHECK (decision IN ('confirmed', 'rejected')),
    decided_at INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    PRIMARY KEY (record_a, record_b)
);
"#;

/// Undoes the steps after 8 that cannot run twice (this rewind to version 6 runs them again;
/// the audit chain's rebuild of `audit_log` can).
const UNDO_STEPS_AFTER_8: &str = "
    DROP INDEX devices_by_next_credential; DROP INDEX devices_by_retired_credential;
    DROP INDEX devices_by_superseded_credential;
    ALTER TABLE devices DROP COLUMN credential_issued_at;
    ALTER TABLE devices DROP COLUMN next_credential_hash;
    ALTER TABLE devices DROP COLUMN retired_credential_hash;
    ALTER TABLE devices DROP COLUMN superseded_credential_hash;
    DROP TABLE case_reviews;
    DROP INDEX records_by_case; ALTER TABLE records DROP COLUMN purged_at;
    DROP TABLE device_store_counters;
";

#[tokio::test]
async fn a_version_5_database_gets_its_plain_facts_sealed_and_wiped() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let device = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "a").await;
    let cases = push_distinctive_cases(&device).await;
    let data = server.data_dir.clone();
    server.shutdown().await.unwrap();

    // Back to the last version before sealing (6: version 5's plain tables, with the
    // credential lifecycle of version 6), holding what it wrote for these cases.
    {
        let conn = Connection::open(data.join("fieldcase.db")).unwrap();
        // The filler rows below name no record.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        conn.execute_batch(
            "DROP TABLE report_facts; DROP TABLE service_facts; DROP TABLE match_profiles;
             DROP TABLE duplicate_decisions;",
        )
        .unwrap();
        conn.execute_batch(UNDO_STEPS_AFTER_8).unwrap();
        conn.execute_batch(PLAIN_TABLES_V5).unwrap();
        conn.execute(
            "INSERT INTO duplicate_decisions VALUES (?1, ?2, 'confirmed', 1, 'reviewer')",
            [
                cases[0].as_bytes().min(cases[1].as_bytes()),
                cases[0].as_bytes().max(cases[1].as_bytes()),
            ],
        )
        .unwrap();
        for id in &cases {
            conn.execute(
                "INSERT INTO report_facts VALUES (?1, '2019-11-23', 'female', '18+', '35-44',
                   'TKM', 'TKM', 'avrr', 'victim_of_trafficking', 'labour,forced_criminality',
                   'fishing', NULL, NULL, '', 'open')",
                [id.as_bytes()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO match_profiles VALUES (?1, x'', x'', x'', NULL, 'TKM', 'female')",
                [id.as_bytes()],
            )
            .unwrap();
        }
        // A real version 5 file holds many such rows, over many pages: more than the sealed
        // rows will take back, so freed pages that are not wiped stay readable.
        for _ in 0..PLAIN_FILLER_ROWS {
            conn.execute(
                "INSERT INTO report_facts VALUES (?1, '2019-11-23', 'female', '18+', '35-44',
                   'TKM', 'TKM', 'avrr', 'victim_of_trafficking', 'labour,forced_criminality',
                   'fishing', NULL, NULL, '', 'open')",
                [RecordId::new().as_bytes()],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO service_facts
               SELECT record_id, case_id, 'shelter', '2019-12-02', 'iom_uga'
               FROM records WHERE kind = 'service';
             UPDATE server_meta SET value = CAST('1' AS BLOB) WHERE key = 'facts_version';
             PRAGMA user_version = 6;",
        )
        .unwrap();
    }
    assert_eq!(
        plain_values_in_files(&data).len(),
        LONG_VALUES.len(),
        "the version 5 file holds the plain facts (else the wipe below proves nothing)"
    );

    let server = Server::spawn(ServerConfig::new(&data)).await.unwrap();
    assert_eq!(
        reported_totals(&server).await,
        (3, 1),
        "facts rebuilt from the sealed states"
    );
    assert_eq!(
        reported_individuals(&server).await,
        2,
        "the confirmed link is kept"
    );
    server.shutdown().await.unwrap();

    let (found, rows) = plain_values(&data.join("fieldcase.db"));
    assert_eq!(rows[0], ("report_facts".to_owned(), 3));
    assert_eq!(found, Vec::<String>::new(), "rows rebuilt sealed");
    assert_eq!(
        plain_values_in_files(&data),
        Vec::<String>::new(),
        "the plain rows are gone from the file's free pages too"
    );
    assert_eq!(
        decisions_naming(&data.join("fieldcase.db"), cases[0], cases[1]),
        (1, false),
        "the decision moved to the sealed table"
    );
    let conn = Connection::open(data.join("fieldcase.db")).unwrap();
    let plain_left: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'duplicate_decisions_v5'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plain_left, 0, "the plain decisions table is dropped");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
}
