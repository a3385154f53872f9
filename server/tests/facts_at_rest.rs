//! The attack of issue 10, item 5: someone with a copy of the server's database (a backup, a
//! stolen disk) reads the report and duplicate-matching tables directly. They must find no
//! per-person value there in the clear — no nationality, sex, age band, intake or service
//! date, exploitation type or labour sector — only sealed rows and what SQL needs to find them.

mod common;

use common::{enrolled_device, server_with_agencies};
use fieldcase_core::model::{Case, Date, Service, ServiceType};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::AgencyCode;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

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
fn plain_values(db: &std::path::Path) -> (Vec<String>, Vec<(String, i64)>) {
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

#[tokio::test]
async fn a_copy_of_the_database_holds_no_per_person_value_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let device = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "a").await;

    let mut generator = SampleCases::new(5);
    let mut first = None;
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
        let id = device.store().create_case(&case).unwrap();
        first.get_or_insert(id);
    }
    let service = Service::new(
        first.unwrap(),
        ServiceType::Shelter,
        Date::parse("2019-12-02").unwrap(),
        AgencyCode::parse("iom_uga").unwrap(),
        None,
    )
    .unwrap();
    device.store().add_service(&service).unwrap();
    device.sync().await.unwrap();

    // The facts are there and count: the report sees the three cases and the service.
    let report: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/reports?tables=by_nationality,services_by_type&count=assistance\
             &disclosure=internal&year=2019",
            server.base_url
        ))
        .bearer_auth(server.admin_token().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["tables"][0]["total"]["count"], 3, "{report}");
    assert_eq!(report["tables"][1]["total"]["count"], 1, "{report}");

    let db = server.data_dir.join("fieldcase.db");
    server.shutdown().await.unwrap();

    let (found, rows) = plain_values(&db);
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
}
