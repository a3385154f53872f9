//! `fieldcase demo`: the whole system in one command.
//!
//! Starts a server with its embedded SQLite, enrolls simulated field devices of two agencies,
//! records cases on them while "offline" (including two caseworkers editing the same field of
//! the same case), syncs, and shows what each device holds: one agency's devices agree with
//! each other, the concurrent edit is kept as a conflict entry, the other agency sees none of
//! it, and a revoked device wipes itself. It publishes the IOM screening form to every
//! agency, refers a case from one agency's phone to the other's (consent deciding what goes)
//! where it is accepted, and shows the central office's figures exact and protected. Then it
//! leaves the server running, with the dashboard's address and an analyst's token printed,
//! until Ctrl-C (`--exit` stops at once, for scripts and tests). Everything runs on loopback
//! in a throwaway directory (kept with `--data-dir`).

mod figures;
mod referral;

use super::output::Output;
use crate::admin_client::AdminClient;
use crate::roles::Role;
use crate::{RunningServer, Server, ServerConfig};
use clap::Args;
use fieldcase_core::model::{Case, Fields, Service};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Identity, OpenOptions, SearchQuery, Store};
use fieldcase_core::sync::{enroll, sync_once, SyncClient, SyncError, SyncOutcome};
use fieldcase_core::RecordId;
use serde::Serialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the server's and devices' files here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Cases each device records before its first sync.
    #[arg(long, default_value_t = 25)]
    pub cases_per_device: usize,
    /// Address for the demo server.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Stop the server when the demo is done instead of leaving it running for the dashboard.
    #[arg(long)]
    pub exit: bool,
}

/// The IOM screening form as shipped in `forms/`, published by the demo to every agency.
const SCREENING_FORM: &str = include_str!("../../../../forms/screening.json");

/// The passphrase of every demo device; a real one is the caseworker's own.
const DEMO_PASSPHRASE: &str = "demo passphrase, never use in the field";

struct DemoDevice {
    label: String,
    agency: String,
    store: Mutex<Store>,
    client: SyncClient,
}

impl DemoDevice {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn sync(&self) -> Result<SyncOutcome, SyncError> {
        sync_once(&self.store, &self.client, &|_| {}).await
    }
}

#[derive(Serialize)]
struct DeviceSummary {
    label: String,
    agency: String,
    cases: u64,
    pending_changes: u64,
    conflicts: u64,
    synced: bool,
}

async fn enroll_device(
    server: &RunningServer,
    admin: &AdminClient,
    dir: &Path,
    agency: &str,
    label: &str,
) -> anyhow::Result<DemoDevice> {
    let user = admin.create_user(agency, Role::Caseworker, label).await?;
    let code = admin.enrollment_code(&user.id, None).await?;
    let enrolled = enroll(&server.base_url, &code.code, label).await?;
    let identity = Identity {
        device: enrolled.device_id,
        agency: enrolled.agency,
        user: enrolled.user_id,
    };
    let path = dir.join(format!("{}.fieldcase", label.replace(' ', "-")));
    // Real key derivation (Argon2id, 64 MiB): the demo shows the engine as it ships.
    let mut store = Store::create(
        &path,
        DEMO_PASSPHRASE,
        None,
        identity,
        &OpenOptions::default(),
    )?;
    store.set_server(&server.base_url, &enrolled.credential)?;
    let client = SyncClient::for_store(&store)?;
    Ok(DemoDevice {
        label: label.to_owned(),
        agency: agency.to_owned(),
        store: Mutex::new(store),
        client,
    })
}

fn record_offline(
    device: &DemoDevice,
    generator: &mut SampleCases,
    count: usize,
) -> anyhow::Result<Vec<RecordId>> {
    let mut store = device.store();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let case = Case::from_json(&generator.next_case())?;
        let id = store.create_case(&case)?;
        if i % 3 == 0 {
            let fields: Fields = [
                ("case_id".to_owned(), json!(id.to_string())),
                (
                    "service_type".to_owned(),
                    json!(["shelter", "medical", "psychosocial", "legal"][i % 4]),
                ),
                ("date".to_owned(), json!("2026-11-02")),
                ("provider_agency".to_owned(), json!(device.agency)),
            ]
            .into();
            store.add_service(&Service::from_fields(&fields)?)?;
        }
        ids.push(id);
    }
    Ok(ids)
}

fn say(out: Output, text: impl AsRef<str>) {
    if !out.json {
        println!("{}", text.as_ref());
    }
}

async fn sync_all(devices: &[DemoDevice], out: Output) -> anyhow::Result<()> {
    for device in devices {
        match device.sync().await {
            Ok(o) => say(
                out,
                format!(
                    "  {:<22} pushed {:>3}  pulled {:>3}  {} request(s), {:>6} bytes up, {:>6} down",
                    device.label, o.pushed, o.pulled, o.requests, o.bytes_sent, o.bytes_received
                ),
            ),
            Err(SyncError::Revoked) => say(out, format!("  {:<22} REVOKED: the server refused it and the device wiped its store", device.label)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn summaries(devices: &[DemoDevice]) -> anyhow::Result<Vec<DeviceSummary>> {
    devices
        .iter()
        .filter(|d| !d.store().is_wiped())
        .map(|d| {
            let status = d.store().status()?;
            Ok(DeviceSummary {
                label: d.label.clone(),
                agency: d.agency.clone(),
                cases: status.cases,
                pending_changes: status.pending_ops,
                conflicts: status.conflicts,
                synced: status.synced,
            })
        })
        .collect()
}

pub async fn run(args: DemoArgs, out: Output) -> anyhow::Result<()> {
    let temp;
    let root = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    let devices_dir = root.join("devices");
    std::fs::create_dir_all(&devices_dir)?;
    let mut config = ServerConfig::new(root.join("server"));
    config.listen = args.listen;
    let server = Server::spawn(config).await?;
    say(
        out,
        format!(
            "fieldcase demo: server with embedded SQLite listening on {}",
            server.base_url
        ),
    );
    let admin = AdminClient::new(
        &server.base_url,
        server
            .admin_token()
            .ok_or_else(|| anyhow::anyhow!("no admin token written"))?,
    )?;
    admin.create_agency("iom_uga", "IOM Uganda").await?;
    admin
        .create_agency("shelter_kla", "Kampala shelter (partner NGO)")
        .await?;
    let screening = fieldcase_core::forms::FormDefinition::from_json(SCREENING_FORM.as_bytes())
        .map_err(|e| anyhow::anyhow!("the shipped screening form: {e}"))?;
    admin.publish_network_form(&screening).await?;
    say(
        out,
        format!(
            "Published the IOM screening form (version {}) to every agency: devices receive it with their first sync.",
            screening.version
        ),
    );

    say(out, "\nEnrolling four field devices with one-time codes (stores are encrypted, Argon2id 64 MiB):");
    let mut devices = Vec::new();
    for (agency, label) in [
        ("iom_uga", "IOM Kampala phone 1"),
        ("iom_uga", "IOM Kampala phone 2"),
        ("shelter_kla", "Shelter phone 1"),
        ("shelter_kla", "Shelter phone 2"),
    ] {
        let device = enroll_device(&server, &admin, &devices_dir, agency, label).await?;
        say(
            out,
            format!(
                "  {label:<22} enrolled as {} ({agency})",
                device.store().identity().device
            ),
        );
        devices.push(device);
    }

    say(
        out,
        format!(
            "\nDay 1, no network: every device records {} cases (a service for every third).",
            args.cases_per_device
        ),
    );
    let mut first_ids = Vec::new();
    for (i, device) in devices.iter().enumerate() {
        let ids = record_offline(
            device,
            &mut SampleCases::new(1000 + i as u64),
            args.cases_per_device,
        )?;
        first_ids.push(ids);
    }
    say(out, "The network comes back; each device syncs:");
    sync_all(&devices, out).await?;
    sync_all(&devices, out).await?;

    say(out, "\nDay 2, offline again: both IOM phones write a different follow-up plan into the same case.");
    let shared_case = first_ids[0][0];
    let edit = |device: &DemoDevice, plan: &str| -> anyhow::Result<()> {
        let change: Fields = [("answers.follow_up_plan".to_owned(), json!(plan))].into();
        device.store().update_case(&shared_case, change)?;
        Ok(())
    };
    edit(&devices[0], "Home visit on Monday with an interpreter")?;
    std::thread::sleep(std::time::Duration::from_millis(5));
    edit(&devices[1], "Call the family first, then visit")?;
    say(out, "Sync:");
    sync_all(&devices, out).await?;
    sync_all(&devices, out).await?;

    let conflicts = devices[0].store().list_conflicts()?;
    for c in &conflicts {
        say(
            out,
            format!(
                "\nConflict kept for a supervisor: case {}, field {}: '{}' lost to '{}' (nothing typed is thrown away).",
                c.record_id,
                c.field,
                c.value.as_str().unwrap_or_default(),
                c.current.as_ref().and_then(Value::as_str).unwrap_or_default()
            ),
        );
    }

    let referral =
        referral::refer_and_accept(&devices[0], &devices[2], &first_ids[0][1..], out).await?;
    let forms_on_phone = devices[2].store().forms()?.len();

    // Search on phone 2 for a person recorded on phone 1, through the blind index.
    let recorded_on_phone_1 = devices[0].store().get_case(&first_ids[0][1])?;
    let name = recorded_on_phone_1
        .fields
        .get("family_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let found = devices[1]
        .store()
        .search(&SearchQuery::Name(name.to_lowercase()))?;
    say(out, format!("Phone 2 searches a family name recorded on phone 1 (lowercase, keyed blind index): {} match(es).", found.len()));
    let leaked = devices[2].store().get_case(&shared_case).is_ok()
        || devices[3].store().get_case(&shared_case).is_ok();
    say(
        out,
        format!(
            "The shelter's phones can read IOM's case: {}.",
            if leaked { "YES (a bug)" } else { "no" }
        ),
    );

    let revoked = &devices[3];
    let revoked_id = revoked.store().identity().device.to_string();
    admin.revoke_device(&revoked_id).await?;
    say(
        out,
        "\nAn administrator revokes 'Shelter phone 2' (reported lost); at its next sync:",
    );
    sync_all(std::slice::from_ref(revoked), out).await?;

    let analyst = figures::analyst_view(&server.base_url, &admin, "iom_uga", out).await?;

    let summary = summaries(&devices)?;
    let converged = summary
        .iter()
        .filter(|d| d.agency == "iom_uga")
        .map(|d| d.cases)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        == 1;
    out.print(
        &json!({"server": server.base_url, "devices": summary, "converged": converged, "conflicts": conflicts.len(),
                "isolation_held": !leaked, "revoked_device_wiped": revoked.store().is_wiped(),
                "forms_on_a_shelter_phone": forms_on_phone, "referral": referral,
                "report": {"exact": analyst.exact, "public": analyst.public}}),
        || {
            let rows: Vec<Vec<String>> = summary
                .iter()
                .map(|d| {
                    vec![d.label.clone(), d.agency.clone(), d.cases.to_string(), d.pending_changes.to_string(), d.conflicts.to_string(), if d.synced { "yes".into() } else { "no".into() }]
                })
                .collect();
            format!(
                "\nWhat each device holds now:\n{}\n\nEach agency's devices agree; of IOM's cases the shelter holds only the one referred to it, and only what consent allowed; the revoked phone holds nothing.",
                super::output::table(&["DEVICE", "AGENCY", "CASES", "PENDING", "CONFLICTS", "SYNCED"], &rows)
            )
        },
    );
    if !args.exit {
        say(
            out,
            format!(
                "\nThe server keeps running. The central office's dashboard: {}/dashboard\n                 Sign in there with this analyst's API token (exact counts allowed; valid one day):\n  {}\n\n                 Press Ctrl-C to stop.",
                server.base_url, analyst.token
            ),
        );
        tokio::signal::ctrl_c().await?;
    }
    server.shutdown().await?;
    Ok(())
}
