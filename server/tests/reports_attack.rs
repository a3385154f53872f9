//! Attacks on published figures, run against a real server on loopback over a few thousand
//! synthetic cases: every channel issue 12 names, performed the way an analyst without the
//! `exact_counts` grant (or an agency-scoped supervisor) would, with an adversary who knows the
//! published perturbation rules (`docs/reports.md`) but not the record keys.
//!
//! "Recovered" means the adversary is *certain* of a count from 1 to threshold − 1: every
//! exact value consistent with what was published is that one count. Each attack returns
//! what it recovered; the test asserts nothing was. Run on the code before cell-key
//! perturbation (commit 700071e), every attack recovered counts: 70 by day differencing, 6 by
//! nested periods, 2 by assistance minus individuals, `linked_cases` 3, one composition made
//! certain by zeros, 3 referrals under a country never shared (`docs/reports.md`).
//!
//! Population: 3,000 cases of `SampleCases` over three agencies, plus a small country
//! (Lesotho, which the generator never draws) with 1 to 3 people on each of 36 days of 2025
//! and two women in March 2024 (the only people there that month), one person of whom is recorded three times (two confirmed duplicate links) and three of
//! whom were referred to another agency without sharing any field. Loaded with
//! `SqliteStorage::bulk_load_*` (the sync's derivation and sealing of facts) into the data
//! directory the server then opens.

use fieldcase_core::model::{Case, Date};
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::sqlite::bulk::BulkReferral;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{DuplicateDecision, Storage};
use fieldcase_server::{Server, ServerConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const UGA: &str = "iom_uga";
const KEN: &str = "iom_ken";
const ETH: &str = "iom_eth";
const AGENCIES: [&str; 3] = [UGA, KEN, ETH];
/// The small country of the attack.
const SMALL: &str = "LSO";
/// The server's threshold (the default).
const THRESHOLD: u64 = 5;
/// A fixed server key, so the noise (and so this test) is the same on every run.
const KEY: [u8; 32] = [77; 32];
const BACKGROUND_CASES: usize = 3000;
/// Rows of `by_sex`, then the total.
const SEXES: [&str; 4] = ["female", "male", "other", "unknown"];

/// What the adversary knows of the publication rules: `None` for exact (or suppressed)
/// figures, `Some(D)` for the cell-key table with maximum perturbation `D`.
type Rules = Option<u64>;

fn rules(report: &Value) -> Rules {
    report["perturbation"]["max_perturbation"].as_u64()
}

/// Published values an exact count `n` can take under the documented table.
fn support(n: u64, d: u64) -> Vec<u64> {
    if n == 0 {
        vec![0]
    } else if n < THRESHOLD {
        vec![0, THRESHOLD]
    } else {
        (n.saturating_sub(d).max(THRESHOLD)..=n + d).collect()
    }
}

/// Every exact count consistent with a published cell.
fn possible(cell: &Value, rules: Rules) -> BTreeSet<u64> {
    match (cell["count"].as_u64(), rules) {
        // Old rules: hidden means 1..T−1; shown means exact.
        (None, None) => (1..THRESHOLD).collect(),
        (Some(v), None) => [v].into(),
        // Perturbed and hidden (a raised threshold): anything up to a bound.
        (None, Some(d)) => (0..THRESHOLD * 4 + d).collect(),
        (Some(v), Some(d)) => (0..=v + d)
            .filter(|n| support(*n, d).contains(&v))
            .collect(),
    }
}

/// `{a − b}` over the sets, kept to non-negative values (counts).
fn minus(a: &BTreeSet<u64>, b: &BTreeSet<u64>) -> BTreeSet<u64> {
    a.iter()
        .flat_map(|x| b.iter().filter(move |y| *y <= x).map(move |y| x - y))
        .collect()
}

fn plus(a: &BTreeSet<u64>, b: &BTreeSet<u64>) -> BTreeSet<u64> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| x + y))
        .collect()
}

/// A count the adversary is certain of, when it is a small one.
fn certain_small(set: &BTreeSet<u64>) -> Option<u64> {
    match set.iter().collect::<Vec<_>>().as_slice() {
        [only] if (1..THRESHOLD).contains(*only) => Some(**only),
        _ => None,
    }
}

/// The cells of `by_sex`: each sex's row, then the total.
fn by_sex_cells(report: &Value) -> Vec<Value> {
    let table = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "by_sex")
        .unwrap();
    let mut cells: Vec<Value> = SEXES
        .iter()
        .map(|s| {
            table["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["key"][0] == *s)
                .map(|r| r["cells"][0].clone())
                .unwrap_or(json!({"count": 0}))
        })
        .collect();
    cells.push(table["total"].clone());
    cells
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

    /// The report, or `None` when the server refuses the request.
    async fn report(&self, token: &str, path: &str) -> Option<Value> {
        let (status, text) = self.get(token, path).await;
        match status {
            StatusCode::OK => Some(serde_json::from_str(&text).unwrap()),
            StatusCode::BAD_REQUEST => None,
            other => panic!("{path}: {other} {text}"),
        }
    }

    async fn token(&self, admin: &str, user: &str, grants: &[&str]) -> String {
        let r = self
            .http
            .post(format!("{}/v1/admin/users/{user}/api-tokens", self.base))
            .bearer_auth(admin)
            .json(&json!({"label": "attack", "grants": grants}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// What the test planted, to check figures against.
struct Planted {
    /// People assisted in the small country in 2025, per day.
    days: BTreeMap<Date, usize>,
}

fn day(text: &str) -> Date {
    Date::parse(text).unwrap()
}

/// A generated case moved to the small country on `on`.
fn small_country_case(generator: &mut SampleCases, on: Date) -> Case {
    let mut json = generator.next_case();
    json["country_of_assistance"] = json!(SMALL);
    json["intake_date"] = json!(on.to_string());
    json["consent"]["assistance"]["date"] = json!(on.to_string());
    for key in ["return_date", "host_country", "reintegration_assistance"] {
        json.as_object_mut().unwrap().remove(key);
    }
    Case::from_json(&json).expect("a sample case moved to another country is valid")
}

/// Fills the server's database before it starts.
fn populate(data_dir: &Path) -> Planted {
    std::fs::create_dir_all(data_dir).unwrap();
    let key_path = data_dir.join("server.key");
    std::fs::write(&key_path, KEY).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let storage =
        SqliteStorage::open(&data_dir.join("fieldcase.db"), Sealer::from_key(&KEY)).unwrap();
    let agencies: Vec<AgencyCode> = AGENCIES
        .iter()
        .map(|a| AgencyCode::parse(a).unwrap())
        .collect();
    for a in &agencies {
        fieldcase_server::service::forms::create_agency(&storage, a, a.as_str(), 0).unwrap();
    }
    let mut generator = SampleCases::new(12);
    let mut batches: Vec<Vec<(RecordId, Case)>> = vec![Vec::new(); AGENCIES.len()];
    for i in 0..BACKGROUND_CASES {
        let case = Case::from_json(&generator.next_case()).expect("sample cases are valid");
        batches[i % AGENCIES.len()].push((RecordId::new(), case));
    }
    // The small country: 1, 2 or 3 people on each of 36 days of 2025, all recorded by UGA.
    let mut days = BTreeMap::new();
    let mut small: Vec<(RecordId, Case)> = Vec::new();
    let first = day("2025-01-04");
    for k in 0..36i64 {
        let on = first.add_days(k * 10).unwrap();
        let people = [1, 2, 1, 3, 1, 2][k as usize % 6];
        days.insert(on, people);
        for _ in 0..people {
            small.push((RecordId::new(), small_country_case(&mut generator, on)));
        }
    }
    // Two women, the only people assisted there in March 2024.
    for _ in 0..2 {
        let mut case = small_country_case(&mut generator, day("2024-03-10"));
        case.sex = Some(fieldcase_core::model::codes::Sex::Female);
        small.push((RecordId::new(), case));
    }
    // One of them recorded twice more (by UGA again, on the same day), both links confirmed:
    // two extra records in counts of assistance.
    let (person, case) = small[0].clone();
    let second = RecordId::new();
    let third = RecordId::new();
    small.push((second, case.clone()));
    small.push((third, case));
    batches[0].extend(small.iter().cloned());
    for (i, batch) in batches.iter().enumerate() {
        storage.bulk_load_cases(&agencies[i], batch).unwrap();
    }
    storage
        .bulk_load_decisions(
            &[(person, second), (second, third)].map(|(a, b)| DuplicateDecision {
                record_a: a,
                record_b: b,
                confirmed: true,
                decided_at_ms: 0,
                decided_by: "attack test".into(),
            }),
        )
        .unwrap();
    // Three of them referred to KEN, sharing no field: KEN was never told where they are.
    let referrals: Vec<BulkReferral> = small[3..6]
        .iter()
        .map(|(id, case)| {
            let sent = case.intake_date.unwrap().days_since_epoch() as u64 * 86_400_000;
            BulkReferral {
                referral: RecordId::new(),
                case_id: *id,
                from: agencies[0].clone(),
                to: agencies[1].clone(),
                status: ReferralStatus::Accepted,
                sent_at_ms: sent,
                answer: Some((ReferralStatus::Accepted, sent + 3_600_000)),
            }
        })
        .collect();
    storage.bulk_load_referrals(&referrals).unwrap();
    storage.close();
    Planted { days }
}

/// The attack of the issue: `by_sex` for the small country from day D to the year's end,
/// minus from D+1, for every planted day.
async fn day_differencing(api: &Api, analyst: &str, planted: &Planted) -> (Vec<u64>, usize) {
    let mut recovered = Vec::new();
    let mut refused = 0;
    for on in planted.days.keys() {
        let next = on.add_days(1).unwrap();
        let path =
            |from: Date| format!("/v1/reports/by_sex?country={SMALL}&from={from}&to=2025-12-31");
        let (Some(a), Some(b)) = (
            api.report(analyst, &path(*on)).await,
            api.report(analyst, &path(next)).await,
        ) else {
            refused += 1;
            continue;
        };
        let (ra, rb) = (rules(&a), rules(&b));
        let mut got = Vec::new();
        for (x, y) in by_sex_cells(&a).iter().zip(by_sex_cells(&b)) {
            got.extend(certain_small(&minus(&possible(x, ra), &possible(&y, rb))));
        }
        recovered.extend(got);
    }
    (recovered, refused)
}

/// Months of 2025 worked out from every published period that holds them: the month itself,
/// its quarter minus its other two months, the year minus the other eleven.
async fn nested_periods(api: &Api, analyst: &str) -> Vec<u64> {
    let month_path = |m: u8| {
        let last = fieldcase_core::model::date::days_in_month(2025, m);
        format!("/v1/reports/by_sex?country={SMALL}&from=2025-{m:02}-01&to=2025-{m:02}-{last}")
    };
    let mut months = Vec::new();
    for m in 1..=12u8 {
        months.push(api.report(analyst, &month_path(m)).await.unwrap());
    }
    let mut quarters = Vec::new();
    for q in 0..4u8 {
        let (a, b) = (q * 3 + 1, q * 3 + 3);
        let last = fieldcase_core::model::date::days_in_month(2025, b);
        let path =
            format!("/v1/reports/by_sex?country={SMALL}&from=2025-{a:02}-01&to=2025-{b:02}-{last}");
        quarters.push(api.report(analyst, &path).await.unwrap());
    }
    let year = api
        .report(
            analyst,
            &format!("/v1/reports/by_sex?country={SMALL}&year=2025"),
        )
        .await
        .unwrap();
    let sets = |r: &Value| -> Vec<BTreeSet<u64>> {
        by_sex_cells(r)
            .iter()
            .map(|c| possible(c, rules(r)))
            .collect()
    };
    let month_sets: Vec<Vec<BTreeSet<u64>>> = months.iter().map(sets).collect();
    let quarter_sets: Vec<Vec<BTreeSet<u64>>> = quarters.iter().map(sets).collect();
    let year_sets = sets(&year);
    let mut recovered = Vec::new();
    for m in 0..12usize {
        for cell in 0..SEXES.len() + 1 {
            let mut known = month_sets[m][cell].clone();
            let q = m / 3;
            let others_q = (q * 3..q * 3 + 3)
                .filter(|o| *o != m)
                .fold(BTreeSet::from([0]), |acc, o| {
                    plus(&acc, &month_sets[o][cell])
                });
            let via_quarter = minus(&quarter_sets[q][cell], &others_q);
            let others_y = (0..12)
                .filter(|o| *o != m)
                .fold(BTreeSet::from([0]), |acc, o| {
                    plus(&acc, &month_sets[o][cell])
                });
            let via_year = minus(&year_sets[cell], &others_y);
            known.retain(|n| via_quarter.contains(n) && via_year.contains(n));
            recovered.extend(certain_small(&known));
        }
    }
    recovered
}

/// Counts of assistance minus counts of individuals: the extra records of linked people.
async fn assistance_minus_individuals(api: &Api, analyst: &str) -> Vec<u64> {
    let path = |count: &str| format!("/v1/reports/by_sex?country={SMALL}&year=2025&count={count}");
    let a = api.report(analyst, &path("assistance")).await.unwrap();
    let i = api.report(analyst, &path("individuals")).await.unwrap();
    by_sex_cells(&a)
        .iter()
        .zip(by_sex_cells(&i))
        .filter_map(|(x, y)| {
            certain_small(&minus(&possible(x, rules(&a)), &possible(&y, rules(&i))))
        })
        .collect()
}

/// `linked_cases` of public output.
async fn linked_cases(api: &Api, analyst: &str) -> Vec<u64> {
    let r = api.report(analyst, "/v1/reports/by_sex").await.unwrap();
    let cell = json!({"count": r["linked_cases"]});
    certain_small(&possible(&cell, rules(&r)))
        .into_iter()
        .collect()
}

/// Published zeros: a month whose people are all of one sex, with a total that may be small,
/// is a disclosure when every other row is certainly zero. Returns the sizes the adversary
/// knows to be in 1..T−1 (the total's smallest possible value).
async fn certain_compositions(api: &Api, analyst: &str) -> Vec<u64> {
    let mut found = Vec::new();
    for (y, m) in (2024..=2025u16).flat_map(|y| (1..=12u8).map(move |m| (y, m))) {
        let last = fieldcase_core::model::date::days_in_month(y, m);
        let r = api
            .report(
                analyst,
                &format!(
                    "/v1/reports/by_sex?country={SMALL}&from={y}-{m:02}-01&to={y}-{m:02}-{last}"
                ),
            )
            .await
            .unwrap();
        let sets: Vec<BTreeSet<u64>> = by_sex_cells(&r)
            .iter()
            .map(|c| possible(c, rules(&r)))
            .collect();
        let (rows, total) = sets.split_at(SEXES.len());
        let certainly_empty = rows.iter().filter(|s| **s == BTreeSet::from([0])).count();
        let total_small = total[0].iter().all(|n| (1..THRESHOLD).contains(n));
        if certainly_empty == SEXES.len() - 1 && total_small {
            found.push(*total[0].first().unwrap());
        }
    }
    found
}

/// An agency-scoped supervisor (exact figures of their own agency) asks for referrals by
/// country: rows of referrals their agency *received* of another agency's cases would say
/// where those people are assisted, which no referral shared.
async fn unshared_countries(api: &Api, supervisor: &str) -> Vec<u64> {
    let r = api
        .report(
            supervisor,
            &format!("/v1/reports/referrals_by_agency_pair?country={SMALL}&count=assistance"),
        )
        .await
        .unwrap();
    let table = &r["tables"][0];
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["key"][1] == KEN && row["key"][0] != KEN)
        .filter_map(|row| row["cells"][0]["count"].as_u64())
        .filter(|n| *n > 0)
        .collect()
}

/// Mean absolute error of published counts against exact ones over every table, all time and
/// 2025, both counts: the utility cost of the scheme on this population. Returns the error
/// over all cells and over cells whose exact count is not zero (zeros are never moved), with
/// the number of each.
async fn mean_absolute_error(api: &Api, central: &str) -> [(f64, usize); 2] {
    let mut total = [0.0; 2];
    let mut cells = [0usize; 2];
    for period in ["", "year=2025&"] {
        for count in ["individuals", "assistance"] {
            let exact = api
                .report(
                    central,
                    &format!("/v1/reports?{period}count={count}&disclosure=internal"),
                )
                .await
                .unwrap();
            let public = api
                .report(
                    central,
                    &format!("/v1/reports?{period}count={count}&disclosure=public"),
                )
                .await
                .unwrap();
            // Cells by (table, row, column): ranked tables order rows by published count.
            let flat = |r: &Value| -> BTreeMap<(String, String, String), Option<u64>> {
                let mut out = BTreeMap::new();
                for t in r["tables"].as_array().unwrap() {
                    let id = t["id"].as_str().unwrap().to_owned();
                    let mut put = |row: String, column: String, c: &Value| {
                        out.insert((id.clone(), row, column), c["count"].as_u64());
                    };
                    for row in t["rows"].as_array().unwrap() {
                        let key = row["key"].to_string();
                        for (j, c) in row["cells"].as_array().unwrap().iter().enumerate() {
                            put(key.clone(), j.to_string(), c);
                        }
                        put(key.clone(), "total".into(), &row["total"]);
                        put(key, "answered".into(), &row["answered"]);
                    }
                    for (j, c) in t["column_totals"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        put("total".into(), j.to_string(), c);
                    }
                    put("total".into(), "total".into(), &t["total"]);
                }
                out
            };
            let published = flat(&public);
            for (at, e) in flat(&exact) {
                if let (Some(e), Some(Some(p))) = (e, published.get(&at)) {
                    for i in 0..1 + usize::from(e > 0) {
                        total[i] += e.abs_diff(*p) as f64;
                        cells[i] += 1;
                    }
                }
            }
        }
    }
    [0, 1].map(|i| (total[i] / cells[i].max(1) as f64, cells[i]))
}

#[tokio::test]
async fn no_sequence_of_requests_recovers_a_small_count() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    let planted = populate(&data_dir);
    let server = Server::spawn(ServerConfig::new(data_dir)).await.unwrap();
    let root = server.admin_token().unwrap();
    let admin = AdminClient::new(&server.base_url, root.clone()).unwrap();
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base_url.clone(),
    };
    let user = |role, agency| {
        let admin = &admin;
        async move { admin.create_user(agency, role, "staff").await.unwrap().id }
    };
    let analyst = api.token(&root, &user(Role::Analyst, UGA).await, &[]).await;
    let central = api
        .token(&root, &user(Role::Analyst, UGA).await, &["exact_counts"])
        .await;
    let supervisor = api
        .token(&root, &user(Role::Supervisor, KEN).await, &[])
        .await;

    // The population is what the attack needs: exact figures show the planted days.
    let exact = api
        .report(
            &central,
            &format!("/v1/reports/by_sex?country={SMALL}&year=2025&disclosure=internal"),
        )
        .await
        .unwrap();
    let planted_people: usize = planted.days.values().sum();
    assert_eq!(
        by_sex_cells(&exact)[SEXES.len()]["count"].as_u64(),
        Some(planted_people as u64),
        "individuals: the person recorded three times counts once"
    );

    let (by_day, refused) = day_differencing(&api, &analyst, &planted).await;
    let by_period = nested_periods(&api, &analyst).await;
    let by_count = assistance_minus_individuals(&api, &analyst).await;
    let by_links = linked_cases(&api, &analyst).await;
    let by_zeros = certain_compositions(&api, &analyst).await;
    let by_scope = unshared_countries(&api, &supervisor).await;
    eprintln!(
        "recovered: day differencing {by_day:?} ({refused} of {} day pairs refused); \
         nested periods {by_period:?}; assistance − individuals {by_count:?}; \
         linked_cases {by_links:?}; certain compositions {by_zeros:?}; \
         unshared countries {by_scope:?}",
        planted.days.len()
    );
    let [(mae, cells), (mae_nonzero, nonzero)] = mean_absolute_error(&api, &central).await;
    eprintln!(
        "mean absolute error of published counts: {mae:.3} over {cells} cells, \
         {mae_nonzero:.3} over the {nonzero} whose exact count is not zero"
    );

    assert!(by_day.is_empty(), "day differencing recovered {by_day:?}");
    assert!(
        by_period.is_empty(),
        "nested periods recovered {by_period:?}"
    );
    assert!(
        by_count.is_empty(),
        "assistance − individuals recovered {by_count:?}"
    );
    assert!(by_links.is_empty(), "linked_cases recovered {by_links:?}");
    assert!(
        by_zeros.is_empty(),
        "published zeros made {by_zeros:?} certain"
    );
    assert!(
        by_scope.is_empty(),
        "a country never shared shows in {by_scope:?}"
    );

    // Exact figures stay exact for the grant, day by day.
    let day_exact = api
        .report(
            &central,
            &format!(
                "/v1/reports/by_sex?country={SMALL}&from=2025-01-04&to=2025-01-04&disclosure=internal"
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        by_sex_cells(&day_exact)[SEXES.len()]["count"].as_u64(),
        Some(1)
    );
    // The same request twice, and the same units through another table, publish the same.
    let once = api.report(&analyst, "/v1/reports?year=2025").await.unwrap();
    let twice = api.report(&analyst, "/v1/reports?year=2025").await.unwrap();
    assert_eq!(once, twice);
    let total_of = |r: &Value, id: &str| {
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()["total"]["count"]
            .clone()
    };
    assert_eq!(total_of(&once, "by_sex"), total_of(&once, "by_age_group"));
    assert!(mae > 0.0, "public figures are perturbed");
}
