//! `fieldcase admin token add --user`, `fieldcase report` and `fieldcase duplicates` against a
//! real server: tokens from the environment, the three formats, `--out`, errors that list the
//! allowed values, and the analyst's limits.

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::model::Case;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::sync::{enroll, sync_once, SyncClient};
use fieldcase_core::AgencyCode;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::{Server, ServerConfig};
use serde_json::Value;
use std::process::{Command, Output};
use std::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase");

fn run(server: &str, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("FIELDCASE_SERVER", server)
        .env("FIELDCASE_TOKEN", token)
        .env("FIELDCASE_ADMIN_TOKEN", token)
        .env_remove("FIELDCASE_TOKEN_FILE")
        .env_remove("FIELDCASE_ADMIN_TOKEN_FILE")
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_and_review_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let root = server.admin_token().unwrap();
    let url = server.base_url.clone();
    let admin = AdminClient::new(&url, root.clone()).unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    let worker = admin
        .create_user("iom_uga", Role::Caseworker, "a")
        .await
        .unwrap();
    let code = admin.enrollment_code(&worker.id, None).await.unwrap();
    let enrolled = enroll(&url, &code.code, "a").await.unwrap();
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
    store.set_server(&url, &enrolled.credential).unwrap();
    let mut generator = SampleCases::new(9);
    for _ in 0..30 {
        store
            .create_case(&Case::from_json(&generator.next_case()).unwrap())
            .unwrap();
    }
    let client = SyncClient::for_store(&store).unwrap();
    sync_once(&Mutex::new(store), &client, &|_| {})
        .await
        .unwrap();

    // An analyst's API token, issued from the command line.
    let analyst = admin
        .create_user("iom_uga", Role::Analyst, "analyst")
        .await
        .unwrap();
    let issued: Value = serde_json::from_str(&ok(run(
        &url,
        &root,
        &[
            "--json",
            "admin",
            "token",
            "add",
            "--user",
            &analyst.id,
            "--label",
            "reports",
        ],
    )))
    .unwrap();
    assert_eq!(issued["role"], "analyst");
    let token = issued["token"].as_str().unwrap().to_owned();

    // JSON: the analyst's default is public.
    let report: Value = serde_json::from_str(&ok(run(
        &url,
        &token,
        &["--json", "report", "--count", "assistance"],
    )))
    .unwrap();
    assert_eq!(report["disclosure"], "public");
    assert_eq!(report["tables"][0]["id"], "by_sex");
    // Text.
    let text = ok(run(
        &url,
        &token,
        &["report", "by_sex", "--count", "assistance"],
    ));
    assert!(text.contains("By sex (by_sex)"), "{text}");
    assert!(text.contains("values are perturbed"), "{text}");
    // A two-way table in text: one `unknown` row and column, the row totals and a total
    // line with the column totals, as in CSV.
    let text = ok(run(&url, &token, &["report", "by_sex_and_age_group"]));
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .find(|l| l.starts_with("SEX"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["SEX", "0-17", "18+", "UNKNOWN", "TOTAL"],
        "{text}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("unknown")).count(),
        1,
        "{text}"
    );
    let total = lines.iter().find(|l| l.starts_with("total")).unwrap();
    assert_eq!(total.split_whitespace().count(), 5, "{text}");
    // Referral tables count people referred, and say so.
    let text = ok(run(&url, &token, &["report", "referrals_by_agency_pair"]));
    assert!(text.contains("— individuals referred"), "{text}");
    let text = ok(run(
        &url,
        &token,
        &[
            "report",
            "referrals_by_agency_pair",
            "--count",
            "assistance",
        ],
    ));
    assert!(text.contains("— referrals"), "{text}");
    // A raised threshold hides counts: `x` in text and in CSV alike.
    let text = ok(run(
        &url,
        &token,
        &["report", "by_sex", "--threshold", "1000"],
    ));
    assert!(text.contains("x = hidden"), "{text}");
    let table = text.split_once("SEX").unwrap().1;
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("x")),
        "{text}"
    );
    let csv = ok(run(
        &url,
        &token,
        &["report", "by_sex", "--threshold", "1000", "--format", "csv"],
    ));
    assert!(
        csv.starts_with("sex,count\n") && csv.contains(",x\n"),
        "{csv}"
    );

    // HXL to a file.
    let out = dir.path().join("sex.hxl.csv");
    ok(run(
        &url,
        &token,
        &[
            "report",
            "by_sex",
            "--format",
            "hxl",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let hxl = std::fs::read_to_string(&out).unwrap();
    assert_eq!(hxl.lines().nth(1), Some("#group+sex,#affected+num"));
    // CSV to standard output.
    let csv = ok(run(
        &url,
        &token,
        &["report", "by_region", "--format", "csv"],
    ));
    assert!(csv.starts_with("region,region_name,count\n"), "{csv}");

    // Errors: the server's message, with the allowed values, on stderr; exit status 1.
    let bad = run(&url, &token, &["--json", "report", "--count", "people"]);
    assert!(!bad.status.success());
    let err: Value = serde_json::from_slice(&bad.stderr).unwrap();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("assistance, individuals"),
        "{err}"
    );
    let refused = run(&url, &token, &["report", "--disclosure", "internal"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exact_counts"));
    assert!(!run(&url, &token, &["duplicates", "list"]).status.success());

    // The system admin reviews (nothing to review in 30 distinct people, usually).
    let list: Value =
        serde_json::from_str(&ok(run(&url, &root, &["--json", "duplicates", "list"]))).unwrap();
    assert!(list["total"].is_u64());
    let options: Value =
        serde_json::from_str(&ok(run(&url, &root, &["--json", "report", "--options"]))).unwrap();
    assert_eq!(options["review_duplicates"], true);
    assert_eq!(options["threshold"], 5);
    server.shutdown().await.unwrap();
}
