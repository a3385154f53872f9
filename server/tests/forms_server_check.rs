//! The server checks pushed answers against the case's form versions, with the device's own
//! engine, on a real server on loopback.
//!
//! - Attack: a device whose own validation is bypassed (operations pushed raw) sends a code
//!   not in its list, a phone number its `regex()` refuses, a field of no form and a version
//!   never published: each is refused as `Invalid`, naming the field, never the value. A
//!   valid case in the same push is accepted.
//! - Merge: two devices edit the same minor's screening offline, each validly — one records
//!   that the person is an adult (which hides `accompanied`), the other answers `accompanied`.
//!   Both writes are kept; the merged case is flagged for review, listed to the agency's own
//!   admin and no one else, and the flag goes when an edit fixes it.

mod common;

use common::{enrolled_device, server_with_agencies, Device};
use fieldcase_core::model::Fields;
use fieldcase_core::protocol::{
    decode_body, encode_body, RejectReason, SyncRequest, SyncResponse, CONTENT_TYPE,
    PROTOCOL_VERSION,
};
use fieldcase_core::{FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use fieldcase_server::admin_client::{AdminClient, ServerRefused};
use fieldcase_server::api::{AdminTokenBody, NewAdminTokenBody};
use fieldcase_server::cli::admin_forms::read_form_file;
use fieldcase_server::report_api::CaseReviewsBody;
use serde_json::{json, Value};
use std::path::Path;

const AGENCY: &str = "iom_tha";
const OTHER: &str = "ngo_b";

fn fields(value: Value) -> Fields {
    value.as_object().unwrap().clone().into_iter().collect()
}

/// A screened adult: valid against the screening form.
fn screened() -> Value {
    json!({
        "forms.iom_screening": 1,
        "intake_date": "2026-10-02",
        "sex": "male",
        "nationality": "MMR",
        "country_of_assistance": "THA",
        "categories": ["victim_of_trafficking"],
        "answers.screening_consent": true,
        "answers.interview_language": "en",
        "answers.is_minor": false,
        "answers.was_recruited": true,
        "answers.recruitment_means": "job_offer",
        "answers.forced_to_work": true,
        "answers.still_in_situation": false,
        "answers.screening_outcome": "presumed_victim"
    })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

/// A case operation of `device` with sequence number `seq`, as a device would push it.
fn raw_case(device: &Device, seq: u64, values: Value) -> Operation {
    Operation {
        op_id: OpId {
            device: device.device_id,
            seq,
        },
        kind: RecordKind::Case,
        record_id: RecordId::new(),
        hlc: Hlc {
            wall_ms: fieldcase_core::hlc::now_ms(),
            counter: 0,
            device: device.device_id,
        },
        fields: fields(values)
            .into_iter()
            .map(|(k, value)| (k, FieldChange::fresh(value)))
            .collect(),
    }
}

/// Pushes `ops` with `device`'s credential, bypassing its store and validation.
async fn raw_push(base_url: &str, device: &Device, ops: Vec<Operation>) -> SyncResponse {
    let request = SyncRequest {
        protocol: PROTOCOL_VERSION,
        ops,
        cursor: None,
        pull_limit: Some(1),
        commands: vec![],
        store: None,
        handoff: None,
    };
    let response = reqwest::Client::new()
        .post(format!("{base_url}/v1/sync"))
        .bearer_auth(&device.credential)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(encode_body(&request))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    decode_body(&response.bytes().await.unwrap()).unwrap()
}

fn invalid_detail(reason: &RejectReason) -> &str {
    match reason {
        RejectReason::Invalid { detail } => detail,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// An admin client holding a new agency-admin token of `agency`.
async fn agency_admin(base_url: &str, admin: &AdminClient, agency: &str) -> AdminClient {
    let body = NewAdminTokenBody {
        agency: agency.to_owned(),
        label: "supervision".to_owned(),
        expires_days: None,
    };
    let token: AdminTokenBody = admin
        .call(reqwest::Method::POST, "/v1/admin/tokens", Some(&body))
        .await
        .unwrap();
    AdminClient::new(base_url, token.token).unwrap()
}

async fn reviews(client: &AdminClient) -> anyhow::Result<CaseReviewsBody> {
    client
        .call(reqwest::Method::GET, "/v1/case-reviews", None::<&()>)
        .await
}

#[tokio::test]
async fn answers_are_checked_on_the_server_and_merged_breaks_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let agencies = [(AGENCY, "IOM Thailand"), (OTHER, "NGO B")];
    let (server, admin) = server_with_agencies(dir.path(), &agencies).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let screening = read_form_file(&root.join("forms/screening.json")).unwrap();
    let case_management =
        read_form_file(&root.join("core/tests/fixtures/corpus/case_management.xlsx")).unwrap();
    for form in [&screening, &case_management] {
        admin.publish_form(form, Some(AGENCY)).await.unwrap();
    }
    let a = enrolled_device(&server.base_url, &admin, AGENCY, dir.path(), "a").await;
    let b = enrolled_device(&server.base_url, &admin, AGENCY, dir.path(), "b").await;
    let raw = enrolled_device(&server.base_url, &admin, AGENCY, dir.path(), "raw").await;

    // The attack: answers a device's own validation would have refused.
    let managed = json!({
        "forms.case_management": 20100,
        "answers.dob": "2010-04-12",
        "answers.country": "UGA",
        "answers.phone": "call me on 0812"
    });
    let ops = vec![
        raw_case(
            &raw,
            1,
            with(screened(), "answers.interview_language", json!("klingon")),
        ),
        raw_case(&raw, 2, managed),
        raw_case(&raw, 3, with(screened(), "answers.bank_pin", json!("4711"))),
        raw_case(&raw, 4, with(screened(), "forms.iom_screening", json!(9))),
        raw_case(&raw, 5, screened()),
    ];
    let valid_id = ops[4].record_id;
    let reply = raw_push(&server.base_url, &raw, ops).await;
    assert_eq!(reply.acked_through, 5, "every operation is processed");
    let refused: Vec<(u64, &str)> = reply
        .rejections
        .iter()
        .map(|r| (r.op_id.seq, invalid_detail(&r.reason)))
        .collect();
    assert_eq!(refused.len(), 4, "{refused:?}");
    let expect = [
        (
            1,
            "answers.interview_language: not one of the field's choices",
            "klingon",
        ),
        (
            2,
            "answers.phone: does not satisfy the field's constraint",
            "0812",
        ),
        (
            3,
            "answers.bank_pin: not a field of the case's forms",
            "4711",
        ),
        (
            4,
            "forms.iom_screening: this form version is not published",
            "9",
        ),
    ];
    for ((seq, detail), (want_seq, want, value)) in refused.iter().zip(expect) {
        assert_eq!(*seq, want_seq);
        assert!(detail.contains(want), "{detail}");
        assert!(!detail.contains(value), "{detail} quotes the value");
    }
    // The valid one arrived: a device of the agency receives it.
    a.sync().await.unwrap();
    assert!(a.store().get_case(&valid_id).is_ok());

    // The merge: a minor's screening, edited offline on two devices.
    let minor = with(
        with(screened(), "answers.is_minor", json!(true)),
        "answers.accompanied",
        json!(true),
    );
    let case_id = a.store().create_case_fields(fields(minor)).unwrap();
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    b.sync().await.unwrap();
    // a learns the person is an adult: `accompanied` is hidden, so a clears it.
    a.store()
        .update_case(
            &case_id,
            fields(json!({"answers.is_minor": false, "answers.accompanied": null})),
        )
        .unwrap();
    // b, offline, corrects `accompanied` (still a minor as b sees it).
    b.store()
        .update_case(&case_id, fields(json!({"answers.accompanied": false})))
        .unwrap();
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    assert_eq!(
        b.sync().await.unwrap().rejected,
        0,
        "a merged break is never refused"
    );
    a.sync().await.unwrap();
    for device in [&a, &b] {
        let merged = device.store().get_case(&case_id).unwrap().fields;
        assert_eq!(
            merged["answers.is_minor"],
            json!(false),
            "a's write is kept"
        );
        assert_eq!(
            merged["answers.accompanied"],
            json!(false),
            "b's write is kept"
        );
    }

    // The agency's admin sees the case flagged, with the field and the rule.
    let own = agency_admin(&server.base_url, &admin, AGENCY).await;
    let listed = reviews(&own).await.unwrap();
    assert_eq!(listed.cases.len(), 1, "{listed:?}");
    assert_eq!(listed.cases[0].case_id, case_id.to_string());
    let reasons = &listed.cases[0].reasons;
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(reasons[0].field, "answers.accompanied");
    assert!(reasons[0].reason.contains("not shown"), "{reasons:?}");
    // Another agency's admin sees nothing of it; a system admin is refused.
    let other = agency_admin(&server.base_url, &admin, OTHER).await;
    assert!(reviews(&other).await.unwrap().cases.is_empty());
    let system = reviews(&admin).await.unwrap_err();
    assert_eq!(system.downcast_ref::<ServerRefused>().unwrap().status, 403);

    // A supervisor's fix clears the flag.
    a.store()
        .update_case(&case_id, fields(json!({"answers.accompanied": null})))
        .unwrap();
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    assert!(reviews(&own).await.unwrap().cases.is_empty());
    server.shutdown().await.unwrap();
}
