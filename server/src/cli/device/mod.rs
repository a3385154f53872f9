//! `fieldcase device …`: a field device on a desktop, over the same core engine a phone runs.
//!
//! Each user has their own encrypted store (a *profile*), so several people can share one
//! machine the way caseworkers share a phone; switching profile never touches another
//! profile's unsynced work. The passphrase comes from `FIELDCASE_PASSPHRASE` or a prompt —
//! never from the command line, where the process list would show it.

mod attachments;
mod cases;
mod forms;
mod handoff;
mod import;
mod referrals;
mod store;
mod sync;

use super::output::Output;
use clap::{Args, Subcommand};
use fieldcase_core::sync::ConnectOptions;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// Directory holding the profiles' stores.
    #[arg(
        long,
        env = "FIELDCASE_DEVICE_DIR",
        default_value = "./fieldcase-device"
    )]
    pub dir: PathBuf,
    /// The user profile (one encrypted store each).
    #[arg(long, env = "FIELDCASE_PROFILE", default_value = "default")]
    pub profile: String,
    /// INSECURE, for tests and development only: talk plain http:// to a server on another
    /// machine. Without it the server must be https://, or http:// to this machine
    /// (127.0.0.1, ::1, localhost), because the enrollment code, the device credential and
    /// case data would otherwise cross the network unencrypted. Deliberately not settable
    /// from the environment, so it is always visible on the command line.
    #[arg(long)]
    pub allow_insecure_http: bool,
    #[command(subcommand)]
    pub command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Enroll this profile with a server using a one-time code, creating its store.
    /// The server comes from `--server URL` (before or after `enroll`) or `FIELDCASE_SERVER`.
    ///
    /// `--code` also takes the whole enrollment payload an administrator's QR code carries
    /// (`fieldcase-enroll:v1?server=…&code=…&pin=…`): the server and its TLS key pins come from
    /// it, and the device will trust no other key.
    Enroll {
        /// The code an administrator issued (e.g. K7QM-4TXP-9WDR), or the enrollment payload.
        #[arg(long)]
        code: String,
        /// A label for administrators, e.g. "Kampala laptop 2".
        #[arg(long, default_value = "desktop device")]
        label: String,
    },
    /// Record a case from a JSON file (or standard input).
    ///
    /// The file holds one case: a JSON object whose keys are the case's fields, e.g.
    /// {"sex": "female", "nationality": "ETH", "intake_date": "2026-10-02"}. Every key, its
    /// type, codes and when it is required: docs/case-format.md; a complete case for each
    /// shipped form: docs/examples/. A key that is not a field is refused with the fields it
    /// is close to.
    Add {
        /// The case file (JSON); standard input when left out.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Record the answers with this form: ID or ID@VERSION (default: the newest held).
        #[arg(long, value_name = "ID[@VERSION]")]
        form: Option<String>,
    },
    /// Import cases from a spreadsheet (CSV, XLSX) or a JSON Lines file.
    ///
    /// Spreadsheets: common English and French headers are recognised; a mapping file names
    /// the rest (docs/spreadsheet-import.md). Rows are checked like any case; strict by
    /// default, `--review` also imports rows that break only a rule between fields (flagged,
    /// see `device review list`). A re-run of the same file adds nothing twice.
    Import {
        file: PathBuf,
        /// Check every row and report what each column became and every problem; write
        /// nothing. Exits with a failure status when any row would be refused.
        #[arg(long, visible_alias = "dry-run")]
        validate_only: bool,
        /// Cases per transaction.
        #[arg(long)]
        batch: Option<usize>,
        /// A mapping file (.toml or .json) for a spreadsheet's columns and labels.
        #[arg(long, value_name = "FILE")]
        mapping: Option<PathBuf>,
        /// Import rows that break only a rule between fields (a minor's guardian missing from
        /// consent…) and flag them "needs review" instead of refusing them.
        #[arg(long)]
        review: bool,
        /// The text encoding of a CSV file: utf8 (default) or latin1 (older Excel's "CSV").
        #[arg(long, default_value = "utf8")]
        encoding: String,
    },
    /// Cases imported for review, with what each still breaks.
    Review {
        #[command(subcommand)]
        command: Option<ReviewCommand>,
    },
    /// List cases, most recently changed first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one case with its services, notes and conflicts.
    Show { id: String },
    /// Change fields of a case: `--set key=value` (value as JSON, or text), `--clear key`.
    Update {
        id: String,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[arg(long = "clear", value_name = "KEY")]
        clear: Vec<String>,
        /// Move the case's answers to this form version (ID@VERSION; the newest held when
        /// only ID): the answers must satisfy it, so clear what it dropped in the same update.
        #[arg(long, value_name = "ID[@VERSION]")]
        form: Option<String>,
    },
    /// Search by name, phone or document number.
    Search {
        #[arg(long, group = "by")]
        name: Option<String>,
        #[arg(long, group = "by")]
        phone: Option<String>,
        #[arg(long, group = "by")]
        document: Option<String>,
    },
    /// Record a service given to a case, by this device's agency (the server refuses a service
    /// attributed to another agency).
    Service {
        case_id: String,
        /// shelter, medical, psychosocial, legal, return_travel, family_tracing, education, …
        #[arg(long = "type")]
        service_type: String,
        /// YYYY-MM-DD (default: today)
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Add a narrative note to a case.
    Note {
        case_id: String,
        #[arg(long)]
        text: String,
        #[arg(long)]
        date: Option<String>,
    },
    /// Add a photo or scan (JPEG, PNG, WebP, PDF; at most 10 MiB) to a case, sealed in the
    /// store; it uploads with the next sync.
    Attach {
        case_id: String,
        file: PathBuf,
        #[arg(long)]
        label: Option<String>,
        /// The content type (default: from the file name); must match the content.
        #[arg(long = "type")]
        content_type: Option<String>,
        /// The case field it hangs on: photo, document_numbers or consent.data_sharing.
        #[arg(long, default_value = fieldcase_core::attachments::DEFAULT_FIELD)]
        field: String,
    },
    /// List the attachments of a case on this device.
    Attachments { case_id: String },
    /// Write an attachment to a file, downloading it first if it is not on this device.
    AttachmentGet {
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Refer a case to a partner agency, answer referrals, follow their timeline.
    Referral {
        #[command(subcommand)]
        command: referrals::ReferralCli,
    },
    /// Hand a referral to a phone of the receiving agency with no network: a bundle as a
    /// file and/or QR codes in the terminal, and reading one (docs/handoff.md).
    Handoff {
        #[command(subcommand)]
        command: handoff::HandoffCli,
    },
    /// Push pending changes and pull what is new, retrying on network failures.
    Sync {
        /// Attempts before giving up on a failing network.
        #[arg(long, default_value_t = 5)]
        attempts: u32,
    },
    /// Form versions held by this profile.
    Form {
        #[command(subcommand)]
        command: forms::FormCli,
    },
    /// Pending changes, last sync, conflicts.
    Status,
    /// Values that lost a concurrent edit.
    Conflicts {
        #[command(subcommand)]
        command: Option<ConflictCommand>,
    },
    /// Change this profile's passphrase (new one from FIELDCASE_NEW_PASSPHRASE or a prompt).
    Passwd,
    /// Destroy this profile's store and everything in it.
    Wipe {
        /// Confirms the wipe; unsynced changes are lost.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List the cases that need review (the default). A case leaves the list once it passes
    /// every rule: edit it with `device update`.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ConflictCommand {
    /// List open conflicts (the default).
    List,
    /// Restore the losing value, or dismiss the entry keeping the current one.
    Resolve {
        record: String,
        field: String,
        /// The conflict's version, as listed.
        version: String,
        #[arg(long, conflicts_with = "dismiss")]
        restore: bool,
        #[arg(long)]
        dismiss: bool,
    },
}

pub async fn run(args: DeviceArgs, server: &super::ServerUrl, out: Output) -> anyhow::Result<()> {
    let connect = ConnectOptions {
        allow_insecure_http: args.allow_insecure_http,
    };
    let profile = store::Profile::new(&args.dir, &args.profile, connect)?;
    match args.command {
        DeviceCommand::Enroll { code, label } => {
            let (url, code, pins) = enrollment_target(server, &code)?;
            sync::enroll(&profile, &url, &code, &pins, &label, out).await
        }
        DeviceCommand::Sync { attempts } => sync::sync(&profile, attempts, out).await,
        DeviceCommand::Status => sync::status(&profile, out),
        DeviceCommand::Passwd => store::change_passphrase(&profile, out),
        DeviceCommand::Wipe { yes } => store::wipe(&profile, yes, out),
        DeviceCommand::Referral { command } => referrals::run(&profile, command, out),
        DeviceCommand::Handoff { command } => handoff::run(&profile, command, out),
        DeviceCommand::Attach {
            case_id,
            file,
            label,
            content_type,
            field,
        } => attachments::attach(
            &profile,
            &case_id,
            &file,
            label.as_deref(),
            content_type.as_deref(),
            &field,
            out,
        ),
        DeviceCommand::Attachments { case_id } => attachments::list(&profile, &case_id, out),
        DeviceCommand::AttachmentGet { id, out: file } => {
            attachments::get(&profile, &id, &file, out).await
        }
        DeviceCommand::Form { command } => forms::run(&profile, command, out),
        DeviceCommand::Import {
            file,
            validate_only,
            batch,
            mapping,
            review,
            encoding,
        } => {
            let options = import::ImportArgs {
                validate_only,
                batch,
                mapping,
                review,
                encoding,
            };
            import::import(&mut profile.open()?, &file, &options, out)
        }
        DeviceCommand::Review { command } => match command.unwrap_or(ReviewCommand::List) {
            ReviewCommand::List => import::review_list(&profile.open()?, out),
        },
        other => cases::run(&profile, other, out),
    }
}

/// The server, code and pins of an enrollment: from a payload when `--code` is one (a
/// `--server` given too must be the same), else from `--server` and `--server-pin`.
fn enrollment_target(
    server: &super::ServerUrl,
    code: &str,
) -> anyhow::Result<(String, String, Vec<fieldcase_core::sync::Pin>)> {
    if !code
        .trim()
        .starts_with(fieldcase_core::sync::trust::ENROLLMENT_PAYLOAD_SCHEME)
    {
        return Ok((
            server.required()?.to_owned(),
            code.to_owned(),
            server.pins().to_vec(),
        ));
    }
    let payload = fieldcase_core::sync::EnrollmentPayload::parse(code)?;
    if let Some(given) = server.given() {
        anyhow::ensure!(
            given.trim_end_matches('/') == payload.server.trim_end_matches('/'),
            "the enrollment payload names another server than --server / FIELDCASE_SERVER; \
             drop one of them"
        );
    }
    let mut pins = payload.pins;
    pins.extend(
        server
            .pins()
            .iter()
            .filter(|p| !pins.contains(p))
            .copied()
            .collect::<Vec<_>>(),
    );
    Ok((payload.server, payload.code, pins))
}
