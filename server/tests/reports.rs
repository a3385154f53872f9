//! Reports end to end: a generated population with known duplicates across three agencies,
//! pushed through real devices and a real server on loopback; figures compared with counts
//! this test computes itself from the generated data; duplicate review; suppression of public
//! output; who may ask what.

mod common;

use common::enrolled_device;
use fieldcase_core::model::date::days_in_month;
use fieldcase_core::model::{Case, Date, Service, ServiceType};
use fieldcase_core::referral::{Transition, Urgency};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::NewReferral;
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::reports::duplicates::pair_id;
use fieldcase_server::roles::Role;
use fieldcase_server::{Server, ServerConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const UGA: &str = "iom_uga";
const KEN: &str = "iom_ken";
const ETH: &str = "iom_eth";
const AGENCIES: [&str; 3] = [UGA, KEN, ETH];

/// Countries of the generator's lists that `iom-regions.csv` puts in East Africa and the Horn
/// or Southern Africa, reported together as East & Southern Africa.
const EAST_SOUTHERN_AFRICA: [&str; 5] = ["UGA", "KEN", "ETH", "SOM", "ZAF"];

/// One generated case: which agency records it, which person it is, its JSON.
struct Generated {
    agency: usize,
    person: usize,
    json: Value,
    id: Option<RecordId>,
}

/// Spellings of one name as another agency writes it: another transliteration, or another
/// script. Base cases of the known duplicates take the first spelling.
const SPELLINGS: [(&str, &str); 6] = [
    ("Mohammed", "Muhammad"),
    ("Yusuf", "Youssef"),
    ("Fatima", "Fatimah"),
    ("Olga", "Ольга"),
    ("Hassan", "Hasan"),
    ("Aisha", "Aïcha"),
];

/// The population: 90 people from the sample generator, each recorded once, plus known
/// duplicates — six people re-recorded by another agency with given and family names swapped,
/// another spelling of the given name and the date of birth cut to the year (or month), a new
/// passport and phone; and one of them recorded a third time by the third agency.
fn population() -> (Vec<Generated>, Vec<(usize, usize)>) {
    let mut generator = SampleCases::new(2026);
    let mut cases: Vec<Generated> = Vec::new();
    for person in 0..90 {
        let mut json = generator.next_case();
        json["consent"]["data_sharing"] = json!([KEN]);
        cases.push(Generated {
            agency: person % 3,
            person,
            json,
            id: None,
        });
    }
    let mut duplicates = Vec::new();
    for (k, (spelling, other)) in SPELLINGS.iter().enumerate() {
        let base = k * 3; // agency 0 (UGA)
        cases[base].json["given_name"] = json!(spelling);
        let mut dup = cases[base].json.clone();
        dup["given_name"] = dup["family_name"].clone();
        dup["family_name"] = json!(other);
        let dob = dup["date_of_birth"].as_str().unwrap().to_owned();
        dup["date_of_birth"] = json!(if k % 2 == 0 {
            &dob[..4]
        } else {
            &dob[..dob.len().min(7)]
        });
        dup["document_numbers"] =
            json!([{"type": "national_id", "number": format!("NID{k}99{k}")}]);
        dup["phone"] = json!(format!("+254 700 00{k:04}"));
        dup["intake_date"] = json!("2026-10-20");
        dup["consent"]["assistance"]["date"] = json!("2026-10-20");
        // A later intake, so no return before it.
        for key in ["return_date", "host_country", "reintegration_assistance"] {
            dup.as_object_mut().unwrap().remove(key);
        }
        let index = cases.len();
        cases.push(Generated {
            agency: 1,
            person: base,
            json: dup.clone(),
            id: None,
        });
        duplicates.push((base, index));
        if k == 0 {
            // A third record of the same person: another spelling, names in the first order.
            let mut third = dup.clone();
            third["given_name"] = json!("Mohamed");
            third["family_name"] = cases[base].json["family_name"].clone();
            third["document_numbers"] = json!([]);
            third["phone"] = json!("+251 911 000001");
            cases.push(Generated {
                agency: 2,
                person: base,
                json: third,
                id: None,
            });
            duplicates.push((index, cases.len() - 1));
            duplicates.push((base, cases.len() - 1));
        }
    }
    (cases, duplicates)
}

/// Age (min, max) at intake from a possibly partial date of birth, by hand.
fn age_range(dob: &str, intake: &str) -> (i32, i32) {
    let parts: Vec<i32> = dob.split('-').map(|p| p.parse().unwrap()).collect();
    let on: Vec<i32> = intake.split('-').map(|p| p.parse().unwrap()).collect();
    let age = |y: i32, m: i32, d: i32| on[0] - y - i32::from((on[1], on[2]) < (m, d));
    let earliest = (
        parts[0],
        *parts.get(1).unwrap_or(&1),
        *parts.get(2).unwrap_or(&1),
    );
    let month = *parts.get(1).unwrap_or(&12);
    let last_day = i32::from(days_in_month(parts[0] as u16, month as u8));
    let latest = (parts[0], month, *parts.get(2).unwrap_or(&last_day));
    (
        age(latest.0, latest.1, latest.2),
        age(earliest.0, earliest.1, earliest.2),
    )
}

fn age_group(c: &Value) -> &'static str {
    let (min, max) = age_range(
        c["date_of_birth"].as_str().unwrap(),
        c["intake_date"].as_str().unwrap(),
    );
    if max < 18 {
        "0-17"
    } else if min >= 18 {
        "18+"
    } else {
        "unknown"
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn exploitation_rows(c: &Value) -> Vec<String> {
    let types = strings(&c["exploitation_types"]);
    let both = types.iter().any(|t| t == "sexual") && types.iter().any(|t| t == "labour");
    let mut rows: Vec<String> = types
        .into_iter()
        .filter(|t| !(both && (t == "sexual" || t == "labour")))
        .collect();
    if both {
        rows.push("sexual_and_labour".into());
    }
    if rows.is_empty() {
        rows.push("unknown".into());
    }
    rows
}

/// A table to check: its id, which cases it counts, and each case's row keys.
type Check = (
    &'static str,
    Box<dyn Fn(&Generated) -> bool>,
    Box<dyn Fn(&Value) -> Vec<String>>,
);

/// Expected counts of one table: per row key, distinct units (cases, or persons).
fn expect(
    cases: &[Generated],
    individuals: bool,
    filter: impl Fn(&Generated) -> bool,
    keys: impl Fn(&Value) -> Vec<String>,
) -> (BTreeMap<String, u64>, u64) {
    let mut cells: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut total = BTreeSet::new();
    for (i, c) in cases.iter().enumerate() {
        if !filter(c) {
            continue;
        }
        let unit = if individuals { c.person } else { i };
        for k in keys(&c.json) {
            cells.entry(k).or_default().insert(unit);
        }
        total.insert(unit);
    }
    (
        cells
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect(),
        total.len() as u64,
    )
}

/// A table's rows as key → count (exact reports), and its total.
fn figures(report: &Value, table: &str) -> (BTreeMap<String, u64>, u64) {
    let t = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == table)
        .unwrap_or_else(|| panic!("no table {table}"));
    let rows = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"][0].as_str().unwrap().to_owned(),
                r["cells"][0]["count"].as_u64().unwrap(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    (rows, t["total"]["count"].as_u64().unwrap_or(0))
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn get(&self, token: &str, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn json(&self, token: &str, path: &str) -> Value {
        let (status, text) = self.get(token, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn post(&self, token: &str, path: &str, body: Option<Value>) -> (StatusCode, String) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

async fn api_token(api: &Api, admin: &str, user: &str, grants: &[&str]) -> String {
    let (status, text) = api
        .post(
            admin,
            &format!("/v1/admin/users/{user}/api-tokens"),
            Some(json!({"label": "reports", "grants": grants})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Checks the promise of public output on every table: no count from 1 to threshold − 1, and
/// no line (row with its total, column with its total, margins with the grand total) with
/// exactly one hidden member.
fn assert_protected(report: &Value, threshold: u64) {
    let hidden = |c: &Value| c["count"].is_null();
    for t in report["tables"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let rows = t["rows"].as_array().unwrap();
        let mut all: Vec<&Value> = Vec::new();
        for r in rows {
            all.extend(r["cells"].as_array().unwrap());
            if !r["total"].is_null() {
                all.push(&r["total"]);
                let mut line: Vec<&Value> = r["cells"].as_array().unwrap().iter().collect();
                line.push(&r["total"]);
                assert_ne!(line.iter().filter(|c| hidden(c)).count(), 1, "{id} row {r}");
            }
        }
        let columns = t["columns"].as_array().unwrap().len();
        for j in 0..columns {
            let total = if !t["column_totals"].is_null() {
                &t["column_totals"][j]
            } else {
                &t["total"]
            };
            if total.is_null() {
                continue;
            }
            let mut line: Vec<&Value> = rows.iter().map(|r| &r["cells"][j]).collect();
            line.push(total);
            assert_ne!(
                line.iter().filter(|c| hidden(c)).count(),
                1,
                "{id} column {j}"
            );
        }
        if !t["total"].is_null() {
            all.push(&t["total"]);
        }
        for c in all {
            if let Some(n) = c["count"].as_u64() {
                assert!(n == 0 || n >= threshold, "{id} publishes {n}");
            } else {
                assert!(c["suppressed"].is_string(), "{id}: a null count says why");
            }
        }
    }
}

#[tokio::test]
async fn reports_match_the_generated_population_and_respect_roles() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let root = server.admin_token().unwrap();
    let admin = AdminClient::new(&server.base_url, root.clone()).unwrap();
    for code in AGENCIES {
        admin.create_agency(code, code).await.unwrap();
    }
    let mut devices = Vec::new();
    for code in AGENCIES {
        devices.push(enrolled_device(&server.base_url, &admin, code, dir.path(), code).await);
    }
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base_url.clone(),
    };

    // --- the population, through real devices --------------------------------------------
    let (mut cases, duplicates) = population();
    for c in cases.iter_mut() {
        let case = Case::from_json(&c.json).unwrap_or_else(|e| panic!("generated case: {e}"));
        c.id = Some(
            devices[c.agency]
                .store
                .lock()
                .unwrap()
                .create_case(&case)
                .unwrap(),
        );
    }
    // Services: two for every fifth case of Uganda (shelter and medical), one more shelter
    // for the first.
    let mut services: Vec<(usize, ServiceType)> = Vec::new();
    for (i, c) in cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.agency == 0)
        .step_by(5)
    {
        for t in [ServiceType::Shelter, ServiceType::Medical] {
            services.push((i, t));
        }
        let _ = c;
    }
    services.push((services[0].0, ServiceType::Shelter));
    for (i, t) in &services {
        let s = Service::new(
            cases[*i].id.unwrap(),
            *t,
            Date::parse("2026-10-01").unwrap(),
            AgencyCode::parse(UGA).unwrap(),
            None,
        )
        .unwrap();
        devices[0].store.lock().unwrap().add_service(&s).unwrap();
    }
    // Referrals Uganda → Kenya of six Uganda cases that are no one's duplicate.
    let referred: Vec<usize> = (0..90)
        .filter(|i| i % 3 == 0 && !duplicates.iter().any(|d| d.0 == *i))
        .take(6)
        .collect();
    let mut referral_ids = Vec::new();
    for i in &referred {
        let id = devices[0]
            .store
            .lock()
            .unwrap()
            .create_referral(&NewReferral {
                case_id: cases[*i].id.unwrap(),
                to_agency: AgencyCode::parse(KEN).unwrap(),
                services: [ServiceType::Shelter].into(),
                reason: "shelter on arrival".into(),
                urgency: Urgency::Medium,
                shared_fields: ["sex".to_owned(), "nationality".to_owned()].into(),
                transfer: false,
                share_back: false,
            })
            .unwrap();
        referral_ids.push(id);
    }
    for d in &devices {
        d.sync().await.unwrap();
    }
    devices[1].sync().await.unwrap();
    {
        let mut ken = devices[1].store.lock().unwrap();
        for (n, id) in referral_ids.iter().enumerate() {
            let transition = match n {
                0..=2 => Some(Transition::Accept),
                3 | 4 => Some(Transition::Decline),
                _ => None,
            };
            if let Some(t) = transition {
                let reason = (t == Transition::Decline).then_some("no capacity");
                ken.request_transition(id, t, reason).unwrap();
            }
        }
    }
    devices[1].sync().await.unwrap();
    devices[1]
        .store
        .lock()
        .unwrap()
        .request_transition(&referral_ids[0], Transition::Complete, None)
        .unwrap();
    devices[1].sync().await.unwrap();

    // --- tokens ---------------------------------------------------------------------------
    let user = |role: Role, agency: &'static str| {
        let admin = &admin;
        async move { admin.create_user(agency, role, "staff").await.unwrap().id }
    };
    let analyst_id = user(Role::Analyst, UGA).await;
    let analyst = api_token(&api, &root, &analyst_id, &[]).await;
    let central = api_token(
        &api,
        &root,
        &user(Role::Analyst, UGA).await,
        &["exact_counts", "review_duplicates"],
    )
    .await;
    let caseworker = api_token(&api, &root, &user(Role::Caseworker, KEN).await, &[]).await;
    let supervisor = api_token(&api, &root, &user(Role::Supervisor, KEN).await, &[]).await;

    // --- figures in counts of assistance --------------------------------------------------
    let all = |_: &Generated| true;
    let report = api
        .json(&central, "/v1/reports?count=assistance&disclosure=internal")
        .await;
    assert_eq!(report["disclosure"], "internal");
    let single =
        |k: &'static str| move |c: &Value| vec![c[k].as_str().unwrap_or("unknown").to_owned()];
    let checks: Vec<Check> = vec![
        ("by_sex", Box::new(all), Box::new(single("sex"))),
        (
            "by_nationality",
            Box::new(all),
            Box::new(single("nationality")),
        ),
        (
            "by_country_of_assistance",
            Box::new(all),
            Box::new(single("country_of_assistance")),
        ),
        ("by_programme", Box::new(all), Box::new(single("programme"))),
        (
            "by_age_group",
            Box::new(all),
            Box::new(|c: &Value| vec![age_group(c).to_owned()]),
        ),
        (
            "by_category",
            Box::new(all),
            Box::new(|c: &Value| strings(&c["categories"])),
        ),
        (
            "by_region",
            Box::new(all),
            Box::new(|c: &Value| {
                let country = c["country_of_assistance"].as_str().unwrap();
                if EAST_SOUTHERN_AFRICA.contains(&country) {
                    vec!["east_southern_africa".to_owned()]
                } else {
                    vec![]
                }
            }),
        ),
        (
            "victims_by_exploitation",
            Box::new(|c: &Generated| {
                strings(&c.json["categories"]).contains(&"victim_of_trafficking".to_owned())
            }),
            Box::new(exploitation_rows),
        ),
        (
            "victims_by_trafficking_type",
            Box::new(|c: &Generated| {
                strings(&c.json["categories"]).contains(&"victim_of_trafficking".to_owned())
            }),
            Box::new(single("trafficking_type")),
        ),
        (
            "reintegration_by_type",
            Box::new(|c: &Generated| !strings(&c.json["reintegration_assistance"]).is_empty()),
            Box::new(|c: &Value| strings(&c["reintegration_assistance"])),
        ),
    ];
    for (table, filter, keys) in &checks {
        let (expected, total) = expect(&cases, false, filter, keys);
        let (rows, got_total) = figures(&report, table);
        if *table == "by_region" {
            assert_eq!(
                rows.get("east_southern_africa"),
                expected.get("east_southern_africa"),
                "{table}"
            );
        } else {
            assert_eq!(rows, expected, "{table} (assistance)");
        }
        assert_eq!(got_total, total, "{table} total (assistance)");
    }
    let victims: Vec<&Generated> = cases
        .iter()
        .filter(|c| strings(&c.json["categories"]).contains(&"victim_of_trafficking".to_owned()))
        .collect();
    assert!(
        victims
            .iter()
            .any(|c| exploitation_rows(&c.json).contains(&"sexual_and_labour".to_owned())),
        "the population exercises the sexual-and-labour row"
    );
    let (services_rows, services_total) = figures(&report, "services_by_type");
    assert_eq!(services_total, services.len() as u64);
    assert_eq!(
        services_rows["shelter"],
        services
            .iter()
            .filter(|s| s.1 == ServiceType::Shelter)
            .count() as u64
    );
    let referrals = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "referrals_by_agency_pair")
        .unwrap();
    let row = &referrals["rows"][0];
    assert_eq!(row["key"], json!([UGA, KEN]));
    let counts: Vec<u64> = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert_eq!(
        counts,
        vec![6, 3, 2, 1, 0, 1],
        "sent, accepted, declined, completed, cancelled, pending"
    );
    assert!(row["median_hours_to_answer"].as_f64().is_some());
    assert_eq!(row["answered"]["count"], 5);

    // A period: intake in 2025 only.
    let in_2025 = |c: &Generated| c.json["intake_date"].as_str().unwrap().starts_with("2025");
    let (expected, total) = expect(&cases, false, in_2025, single("sex"));
    let (rows, got) = figures(
        &api.json(&central, "/v1/reports/by_sex?year=2025&count=assistance")
            .await,
        "by_sex",
    );
    assert_eq!((rows, got), (expected, total));
    // A scope: one agency.
    let ken_only = |c: &Generated| c.agency == 1;
    let (_, total) = expect(&cases, false, ken_only, single("sex"));
    let (_, got) = figures(
        &api.json(
            &central,
            "/v1/reports/by_sex?agency=iom_ken&count=assistance",
        )
        .await,
        "by_sex",
    );
    assert_eq!(got, total);

    // --- duplicates: found, reviewed, and then counted once -------------------------------
    let before = api
        .json(&central, "/v1/reports/by_sex?count=individuals")
        .await;
    assert_eq!(
        figures(&before, "by_sex").1,
        cases.len() as u64,
        "nothing confirmed yet"
    );
    let list = api.json(&central, "/v1/duplicates?limit=1000").await;
    let listed: BTreeMap<String, Value> = list["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c.clone()))
        .collect();
    let text = list.to_string();
    for c in &cases {
        for key in ["given_name", "family_name"] {
            let name = c.json[key].as_str().unwrap();
            assert!(!text.contains(name), "the review list never shows a name");
        }
    }
    let known: BTreeSet<String> = duplicates
        .iter()
        .map(|(a, b)| pair_id(cases[*a].id.unwrap(), cases[*b].id.unwrap()))
        .collect();
    for id in &known {
        let c = listed
            .get(id)
            .unwrap_or_else(|| panic!("known duplicate {id} not listed: {list}"));
        assert!(c["score"].as_f64().unwrap() >= list["min_candidate_score"].as_f64().unwrap());
        assert_ne!(c["a"]["agency"], c["b"]["agency"]);
        let agrees = |f: &str| c["features"][f].as_str().is_some_and(|l| l != "different");
        assert!(agrees("given_name") || agrees("family_name"), "{c}");
    }
    for id in listed.keys() {
        let verb = if known.contains(id) {
            "confirm"
        } else {
            "reject"
        };
        let (status, text) = api
            .post(&central, &format!("/v1/duplicates/{id}/{verb}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let pending = api.json(&central, "/v1/duplicates").await;
    assert_eq!(pending["total"], 0, "every pair decided");
    let confirmed = api.json(&central, "/v1/duplicates?status=confirmed").await;
    assert_eq!(confirmed["total"].as_u64().unwrap(), known.len() as u64);

    let report = api
        .json(
            &central,
            "/v1/reports?count=individuals&disclosure=internal",
        )
        .await;
    let people: BTreeSet<usize> = cases.iter().map(|c| c.person).collect();
    assert_eq!(figures(&report, "by_sex").1, people.len() as u64);
    assert_eq!(
        report["linked_cases"], 13,
        "six people twice, one of them three times"
    );
    for (table, filter, keys) in &checks {
        let (expected, total) = expect(&cases, true, filter, keys);
        let (rows, got_total) = figures(&report, table);
        if *table != "by_region" {
            assert_eq!(rows, expected, "{table} (individuals)");
        }
        assert_eq!(got_total, total, "{table} total (individuals)");
    }

    // --- public output ---------------------------------------------------------------------
    let public = api.json(&analyst, "/v1/reports").await;
    assert_eq!(public["disclosure"], "public");
    assert_eq!(public["threshold"], 5);
    assert_protected(&public, 5);
    let raised = api.json(&analyst, "/v1/reports?threshold=12").await;
    assert_protected(&raised, 12);
    let hidden = |r: &Value| {
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| {
                t["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r["cells"].as_array().unwrap().clone())
            })
            .filter(|c| c["count"].is_null())
            .count()
    };
    // Public counts are perturbed, not hidden: each within the published maximum of the exact
    // count (same scope: all time, individuals), small ones shown as 0 or the threshold.
    assert_eq!(public["perturbation"]["method"], "cell_key");
    let max = public["perturbation"]["max_perturbation"].as_u64().unwrap();
    assert_eq!(
        hidden(&public),
        0,
        "at the server's threshold nothing is left to hide"
    );
    assert!(
        hidden(&raised) > 0,
        "a raised threshold hides published counts below it"
    );
    // Counts by (table, row key, column); ranked tables list rows by published count.
    let counts = |r: &Value| -> BTreeMap<(String, String, usize), u64> {
        let mut out = BTreeMap::new();
        for t in r["tables"].as_array().unwrap() {
            let id = t["id"].as_str().unwrap().to_owned();
            for row in t["rows"].as_array().unwrap() {
                for (j, c) in row["cells"].as_array().unwrap().iter().enumerate() {
                    let n = c["count"].as_u64().unwrap_or(0);
                    out.insert((id.clone(), row["key"].to_string(), j), n);
                }
            }
            let n = t["total"]["count"].as_u64().unwrap_or(0);
            out.insert((id, "total".to_owned(), 0), n);
        }
        out
    };
    let (exact, published) = (counts(&report), counts(&public));
    assert_eq!(
        exact.keys().collect::<Vec<_>>(),
        published.keys().collect::<Vec<_>>()
    );
    let mut moved = 0;
    for (e, p) in exact.values().zip(published.values()) {
        assert!(e.abs_diff(*p) <= max, "{e} published as {p}");
        if (1..5).contains(e) {
            assert!(*p == 0 || *p == 5, "small count {e} published as {p}");
        }
        if *e == 0 {
            assert_eq!(*p, 0, "zero stays zero");
        }
        moved += usize::from(e != p);
    }
    assert!(moved > 0, "a population this small has perturbed cells");
    let again = api.json(&analyst, "/v1/reports").await;
    assert_eq!(again, public, "the same request publishes the same figures");
    let (status, csv) = api
        .get(&central, "/v1/reports/by_nationality?format=hxl")
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "nationality,count");
    assert_eq!(lines[1], "#country+code+origin,#affected+num");
    assert!(lines.last().unwrap().starts_with("total,"));
    for line in &lines[2..] {
        let n = line.rsplit(',').next().unwrap();
        assert!(
            n == "x" || n.parse::<u64>().unwrap() == 0 || n.parse::<u64>().unwrap() >= 5,
            "{line}"
        );
    }
    let (status, csv) = api
        .get(&central, "/v1/reports/by_sex_and_age_group?format=csv")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("sex,0-17,18+,unknown,total\n"), "{csv}");

    // --- bad input: 400 with the allowed values --------------------------------------------
    for (path, allowed) in [
        ("/v1/reports?grouping=sex", "disclosure"),
        ("/v1/reports?count=people", "assistance, individuals"),
        ("/v1/reports?region=mars", "east_southern_africa"),
        ("/v1/reports/by_planet", "victims_by_exploitation"),
        ("/v1/reports?format=xml", "json, csv, hxl"),
        ("/v1/reports?disclosure=secret", "internal, public"),
        ("/v1/reports?agency=nobody", "iom_uga"),
        ("/v1/reports?year=last", "year"),
        ("/v1/reports?from=2025-13-01", "YYYY-MM-DD"),
        ("/v1/reports?disclosure=public&threshold=2", "at least 5"),
        (
            "/v1/duplicates?status=maybe",
            "pending, confirmed, rejected, all",
        ),
    ] {
        let (status, text) = api.get(&central, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        assert!(text.contains(allowed), "{path}: {text}");
    }

    // --- roles ------------------------------------------------------------------------------
    // An analyst without grants: aggregates, suppressed only.
    let (status, _) = api.get(&analyst, "/v1/reports?disclosure=internal").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A caseworker's token reads no report.
    let (status, _) = api.get(&caseworker, "/v1/reports").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A supervisor sees their own agency, exact, and nothing else.
    let own = api
        .json(&supervisor, "/v1/reports/by_sex?count=assistance")
        .await;
    assert_eq!(own["scope"]["agency"], KEN);
    assert_eq!(
        figures(&own, "by_sex").1,
        expect(&cases, false, ken_only, single("sex")).1
    );
    let (status, _) = api.get(&supervisor, "/v1/reports?agency=iom_uga").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every route that is not public and not a report answers an analyst's token with 403.
    // (The dashboard's page, scripts, style, map and code names are static and hold no data.)
    let public_routes = [
        "/healthz",
        "/openapi.json",
        "/v1/enroll",
        "/dashboard",
        "/dashboard/app.js",
        "/dashboard/app.css",
        "/dashboard/vendor.js",
        "/dashboard/parts/{name}",
        "/dashboard/world.json",
        "/dashboard/labels.json",
    ];
    let case_id = cases[0].id.unwrap().to_string();
    let mut checked = 0;
    for (method, template) in fieldcase_server::http::route_table() {
        if public_routes.contains(&template)
            || template == "/v1/reports"
            || template.starts_with("/v1/reports/")
        {
            continue;
        }
        let path = template
            .replace("{referral_id}", &referral_ids[0].to_string())
            .replace("{user_id}", "x")
            .replace("{device_id}", "x")
            .replace(
                "{pair_id}",
                &pair_id(cases[0].id.unwrap(), cases[1].id.unwrap()),
            )
            .replace("{case_id}", &case_id)
            .replace("{id}", &RecordId::new().to_string())
            .replace("{index}", "0");
        let request = api
            .http
            .request(method.clone(), format!("{}{path}", api.base))
            .bearer_auth(&analyst)
            .header("content-type", "application/json")
            .body("{}");
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{method} {template}"
        );
        checked += 1;
    }
    assert!(
        checked >= 12,
        "sync, timeline, admin and duplicate routes all checked"
    );

    // Revoking the analyst's tokens stops them at once; nobody else's.
    let (status, text) = api
        .post(
            &root,
            &format!("/v1/admin/users/{analyst_id}/api-tokens/revoke"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["revoked"], 1);
    assert_eq!(
        api.get(&analyst, "/v1/reports/by_sex").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get(&central, "/v1/reports/by_sex").await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .post(&root, "/v1/admin/users/nobody/api-tokens/revoke", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    server.shutdown().await.unwrap();
}

#[test]
fn age_ranges_by_hand() {
    assert_eq!(age_range("2000-03-01", "2024-02-01"), (23, 23));
    assert_eq!(age_range("2000", "2025-06-01"), (24, 25));
}
