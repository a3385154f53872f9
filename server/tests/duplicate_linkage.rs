//! De-duplication that survives transliteration, end to end: a population with planted double
//! entries of every kind of drift (`fieldcase_core::population`: swapped names, another
//! script or diacritics, transliteration variants, partial or shifted dates of birth, typos)
//! recorded by five agencies on real devices, pushed to a real server on loopback; the
//! server's review list (`GET /v1/duplicates`) is read back and scored per kind of drift.

mod common;

use common::enrolled_device;
use fieldcase_core::model::Case;
use fieldcase_core::population::{score_pairs, Drift, PlantedRecord, Population};
use fieldcase_core::RecordId;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::{Server, ServerConfig};
use serde_json::Value;
use std::collections::BTreeMap;

/// Records pushed: a few thousand, as the trial population.
const RECORDS: usize = 3000;
/// Share of people a second agency records again.
const DUPLICATE_SHARE: f64 = 0.15;
/// The review list's page size (the server's largest).
const PAGE: usize = 1000;

#[tokio::test]
async fn the_review_list_finds_transliterated_double_entries_and_little_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let root = server.admin_token().unwrap();
    let admin = AdminClient::new(&server.base_url, root.clone()).unwrap();

    let records: Vec<PlantedRecord> = Population::new(2026, DUPLICATE_SHARE)
        .take(RECORDS)
        .collect();
    let mut devices = BTreeMap::new();
    for r in &records {
        let code = Population::agency_of(r);
        if !devices.contains_key(code) {
            admin.create_agency(code, code).await.unwrap();
            let device = enrolled_device(&server.base_url, &admin, code, dir.path(), code).await;
            devices.insert(code, device);
        }
    }
    let mut truth: Vec<(RecordId, u64, Option<Drift>)> = Vec::new();
    for r in &records {
        let case = Case::from_json(&r.case).unwrap_or_else(|e| panic!("generated case: {e}"));
        let id = devices[Population::agency_of(r)]
            .store()
            .create_case(&case)
            .unwrap();
        truth.push((id, r.person, r.drift));
    }
    assert!(
        truth.iter().filter(|t| t.2.is_some()).count() > 300,
        "hundreds of planted double entries"
    );
    for device in devices.values() {
        let outcome = device.sync().await.unwrap();
        assert_eq!(outcome.rejected, 0);
    }

    // The review list, page by page, as a reviewer reads it.
    let http = reqwest::Client::new();
    let mut listed: Vec<(RecordId, RecordId)> = Vec::new();
    let mut offset = 0;
    loop {
        let page: Value = http
            .get(format!(
                "{}/v1/duplicates?limit={PAGE}&offset={offset}",
                server.base_url
            ))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let candidates = page["candidates"].as_array().unwrap();
        let text = page.to_string();
        for r in records.iter().skip(offset).take(50) {
            let family = r.case["family_name"].as_str().unwrap_or("-");
            assert!(!text.contains(family), "the review list never shows a name");
        }
        for c in candidates {
            let side =
                |s: &str| -> RecordId { c[s]["record_id"].as_str().unwrap().parse().unwrap() };
            assert!(c["score"].as_f64().unwrap() >= page["min_candidate_score"].as_f64().unwrap());
            listed.push((side("a"), side("b")));
        }
        offset += candidates.len();
        if candidates.len() < PAGE {
            break;
        }
    }

    let card = score_pairs(&truth, &listed);
    eprintln!("{RECORDS} records through a real server:\n{card}");
    // Floors a little under what this population measures (recall 0.997, precision
    // 0.982–0.985 from one run to the next as record ids change the model's sample, every
    // drift's recall 0.98 or more; figures at 10,000 and 100,000 records are in
    // docs/reports.md). The transliteration floor is the target. Precision is under
    // the 0.99 here: of the 393–394 pairs listed, 6–7 are two people — pairs of
    // namesakes (names, nationality and sex alike, dates of birth equal at the precision
    // both have or one part off; a namesake recorded twice is listed twice) and a sibling
    // born a year from a re-recording whose date drifted by one: pairs no field of these
    // records tells from one person. The code before the story and spelling comparisons
    // lists as many such pairs here.
    assert!(card.recall() >= 0.97, "overall recall\n{card}");
    assert!(card.precision() >= 0.975, "overall precision\n{card}");
    assert!(
        card.drift(Drift::Transliteration).recall() >= 0.97,
        "transliteration recall\n{card}"
    );
    for (drift, score) in &card.by_drift {
        assert!(score.true_pairs > 20, "{drift:?} planted");
        assert!(score.recall() >= 0.90, "{drift:?} recall\n{card}");
        // Some 50 pairs a drift: one namesake of a person recorded twice, listed with both
        // records, costs four points (swapped names measure 0.96 so).
        assert!(score.precision() >= 0.92, "{drift:?} precision\n{card}");
    }
}
