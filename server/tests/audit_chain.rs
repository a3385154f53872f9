//! The audit chain end to end: a real server on loopback, devices of two agencies that
//! refer a case and pull it, admins of each scope reading the trail, a checkpoint signed and
//! exported — then the database file attacked with the server stopped (an entry edited,
//! deleted, two entries swapped) and `fieldcase admin audit verify` run as a command, which
//! must fail naming the position that broke.

mod common;

use common::{enrolled_device, Device, BIN};
use fieldcase_core::model::Case;
use fieldcase_core::store::NewReferral;
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_server::admin_client::{AdminClient, ServerRefused};
use fieldcase_server::api::{AdminTokenBody, AuditEntryBody, NewAdminTokenBody};
use fieldcase_server::service::audit_chain::ExportedCheckpoint;
use fieldcase_server::{Server, ServerConfig};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

const A: &str = "iom_uga";
const B: &str = "iom_eth";

fn new_case(device: &Device) -> RecordId {
    let case = json!({
        "given_name": "Amina", "sex": "female", "nationality": "ETH",
        "country_of_assistance": "UGA", "intake_date": "2026-09-14", "status": "open",
        "consent": {
            "assistance": {"given": true, "date": "2026-09-14", "recorded_by": "cw-1"},
            "data_sharing": "none"
        }
    });
    device
        .store()
        .create_case(&Case::from_json(&case).unwrap())
        .unwrap()
}

fn referral(case_id: RecordId) -> NewReferral {
    NewReferral {
        case_id,
        to_agency: AgencyCode::parse(B).unwrap(),
        services: [fieldcase_core::model::ServiceType::Shelter].into(),
        reason: "shelter".into(),
        urgency: fieldcase_core::referral::Urgency::High,
        shared_fields: ["sex".to_owned(), "nationality".to_owned()].into(),
        transfer: false,
        share_back: false,
    }
}

async fn agency_admin(system: &AdminClient, base_url: &str, agency: &str) -> AdminClient {
    let token: AdminTokenBody = system
        .call(
            Method::POST,
            "/v1/admin/tokens",
            Some(&NewAdminTokenBody {
                agency: agency.into(),
                label: format!("{agency} admin"),
                expires_days: None,
            }),
        )
        .await
        .unwrap();
    AdminClient::new(base_url, token.token).unwrap()
}

async fn trail(admin: &AdminClient, query: &str) -> Result<Vec<AuditEntryBody>, u16> {
    admin
        .call(
            Method::GET,
            &format!("/v1/admin/audit?{query}"),
            None::<&()>,
        )
        .await
        .map_err(|e| e.downcast::<ServerRefused>().unwrap().status)
}

/// `fieldcase --json admin audit verify --data-dir DIR [--checkpoints FILE]`.
fn verify(data_dir: &Path, checkpoints: Option<&Path>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(["--json", "admin", "audit", "verify", "--data-dir"])
        .arg(data_dir)
        .env_remove("FIELDCASE_DATABASE_URL")
        .env_remove("FIELDCASE_SERVER_KEY")
        .env_remove("FIELDCASE_SERVER_KEY_FILE");
    if let Some(file) = checkpoints {
        command.arg("--checkpoints").arg(file);
    }
    command.output().unwrap()
}

fn report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&output.stderr)))
}

/// The positions and kinds of the breaks a failed verify printed.
fn breaks(output: &Output) -> Vec<(u64, String)> {
    assert!(!output.status.success(), "verify should fail");
    report(output)["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["position"].as_u64().unwrap(),
                b["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn sqlite(data_dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data_dir.join("fieldcase.db")).unwrap()
}

#[tokio::test]
async fn admins_read_trails_in_scope_and_verify_finds_every_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    let server = Server::spawn(ServerConfig::new(&data_dir)).await.unwrap();
    let system = AdminClient::new(&server.base_url, server.admin_token().unwrap()).unwrap();
    system.create_agency(A, "IOM Uganda").await.unwrap();
    system.create_agency(B, "IOM Ethiopia").await.unwrap();
    let a1 = enrolled_device(&server.base_url, &system, A, dir.path(), "a1").await;
    let b1 = enrolled_device(&server.base_url, &system, B, dir.path(), "b1").await;

    let case_id = new_case(&a1);
    a1.store().create_referral(&referral(case_id)).unwrap();
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();

    // Who saw what: the system admin sees the referral made by A and the delivery to B.
    let all = trail(&system, &format!("case={case_id}")).await.unwrap();
    let events: Vec<(&str, &str)> = all
        .iter()
        .map(|e| (e.event.as_str(), e.agency.as_str()))
        .collect();
    assert!(events.contains(&("referral_created", A)), "{events:?}");
    assert!(events.contains(&("shared_delivery", B)), "{events:?}");
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");

    // A owns the case: its admin sees every act on it. B's admin sees B's acts only.
    let admin_a = agency_admin(&system, &server.base_url, A).await;
    let admin_b = agency_admin(&system, &server.base_url, B).await;
    assert_eq!(
        trail(&admin_a, &format!("case={case_id}")).await.unwrap(),
        all
    );
    let of_b = trail(&admin_b, &format!("case={case_id}")).await.unwrap();
    assert!(!of_b.is_empty());
    assert!(of_b.iter().all(|e| e.agency == B), "{of_b:?}");

    // By user: B's caseworker, as B's admin sees them; A's admin gets "no such user".
    let b_user = b1.store().identity().user.clone();
    let of_user = trail(&admin_b, &format!("user={b_user}")).await.unwrap();
    assert!(of_user
        .iter()
        .all(|e| e.user_id.as_deref() == Some(b_user.as_str())));
    assert!(!of_user.is_empty());
    assert_eq!(trail(&admin_a, &format!("user={b_user}")).await, Err(404));
    assert_eq!(trail(&admin_a, "").await, Err(400));

    // Checkpoints: only a system admin makes and exports them.
    let refused = admin_a
        .call::<Value>(Method::POST, "/v1/admin/audit/checkpoints", None::<&()>)
        .await
        .unwrap_err()
        .downcast::<ServerRefused>()
        .unwrap();
    assert_eq!(refused.status, 403);
    let made: ExportedCheckpoint = system
        .call(Method::POST, "/v1/admin/audit/checkpoints", None::<&()>)
        .await
        .unwrap();
    assert_eq!(made.seq, all.last().unwrap().seq.unwrap() + 1);
    let exported: Vec<ExportedCheckpoint> = system
        .call(Method::GET, "/v1/admin/audit/checkpoints", None::<&()>)
        .await
        .unwrap();
    assert_eq!(exported, vec![made.clone()]);
    let export_file = dir.path().join("checkpoints.json");
    std::fs::write(&export_file, serde_json::to_vec(&exported).unwrap()).unwrap();
    server.shutdown().await.unwrap();

    let intact = verify(&data_dir, Some(&export_file));
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert_eq!(report(&intact)["checkpoints"], 1);
    assert_eq!(report(&intact)["exported_checked"], 1);

    // Edited: who received the case is changed to A.
    let db = sqlite(&data_dir);
    let delivery: i64 = db
        .query_row(
            "SELECT seq FROM audit_log WHERE event = 'shared_delivery' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE audit_log SET agency = ?1 WHERE seq = ?2",
        rusqlite::params![A, delivery],
    )
    .unwrap();
    assert_eq!(
        breaks(&verify(&data_dir, None)),
        vec![(delivery as u64, "altered".to_owned())]
    );
    db.execute(
        "UPDATE audit_log SET agency = ?1 WHERE seq = ?2",
        rusqlite::params![B, delivery],
    )
    .unwrap();
    assert!(verify(&data_dir, None).status.success(), "undone");

    // Reordered: the first two entries swap places.
    db.execute_batch(
        "UPDATE audit_log SET seq = -1 WHERE seq = 1;
         UPDATE audit_log SET seq = 1 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = -1;",
    )
    .unwrap();
    let found = breaks(&verify(&data_dir, None));
    assert_eq!(found.first(), Some(&(1, "altered".to_owned())), "{found:?}");
    db.execute_batch(
        "UPDATE audit_log SET seq = -1 WHERE seq = 1;
         UPDATE audit_log SET seq = 1 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = -1;",
    )
    .unwrap();
    assert!(verify(&data_dir, None).status.success(), "undone");

    // Deleted: the delivery disappears.
    db.execute(
        "DELETE FROM audit_log WHERE seq = ?1",
        rusqlite::params![delivery],
    )
    .unwrap();
    let found = breaks(&verify(&data_dir, None));
    assert!(
        found.contains(&(delivery as u64, "missing".to_owned())),
        "{found:?}"
    );

    // Rewritten from scratch by someone who can recompute hashes but not sign: the stored
    // checkpoint's signature no longer holds, and the export disagrees.
    db.execute("DELETE FROM audit_log", []).unwrap();
    drop(db);
    let emptied = verify(&data_dir, Some(&export_file));
    let found = breaks(&emptied);
    assert_eq!(
        found,
        vec![(made.seq, "differs_from_export".to_owned())],
        "cut off before the exported checkpoint"
    );
}
