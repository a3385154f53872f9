//! `fieldcase device handoff …`: hand a referral to a phone of the receiving agency with no
//! network (`docs/handoff.md`).
//!
//! `make` writes the bundle to a file (any local link carries it: Bluetooth, Wi-Fi Direct, a
//! USB stick) and/or prints it as QR codes in the terminal, one after another; `read` imports
//! a bundle file made for this profile's agency. Both work offline; the server reconciles the
//! referral at the next `fieldcase device sync` of either profile.

use super::store::Profile;
use crate::cli::output::Output;
use fieldcase_core::handoff::qr::{chunks, render_terminal, QR_VERSION};
use fieldcase_core::handoff::DEFAULT_LIFETIME_MS;
use fieldcase_core::RecordId;
use serde_json::json;
use std::path::PathBuf;

/// `fieldcase device handoff …`
#[derive(Debug, clap::Subcommand)]
pub enum HandoffCli {
    /// Make a bundle of a referral made on this profile, for its receiving agency.
    Make {
        referral_id: String,
        /// Write the bundle to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the bundle as QR codes in the terminal (Unicode half blocks).
        #[arg(long)]
        qr: bool,
        /// How long the bundle may be read, in hours (at most 168).
        #[arg(long, default_value_t = DEFAULT_LIFETIME_MS / 3_600_000)]
        hours: u64,
    },
    /// Read a bundle file made for this profile's agency and import the referral.
    Read { file: PathBuf },
    /// After answering a referral read from a bundle: a signed receipt of the answer (one QR
    /// code and/or a file) for the referring phone.
    Receipt {
        referral_id: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        qr: bool,
    },
    /// On the referring phone: read the receiving phone's receipt file.
    ReadReceipt { file: PathBuf },
}

pub fn run(profile: &Profile, command: HandoffCli, out: Output) -> anyhow::Result<()> {
    let mut store = profile.open()?;
    match command {
        HandoffCli::Make {
            referral_id,
            out: file,
            qr,
            hours,
        } => {
            anyhow::ensure!(
                file.is_some() || qr,
                "say where the bundle goes: --out FILE, --qr, or both"
            );
            let id: RecordId = referral_id
                .parse()
                .map_err(|_| anyhow::anyhow!("not a referral id: {referral_id}"))?;
            let made = store.make_handoff(&id, hours.saturating_mul(3_600_000))?;
            if let Some(path) = &file {
                // Encrypted already; owner-only anyway, like every file fieldcase writes.
                crate::fsutil::write_secret_file(path, &made.bytes)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            }
            let codes = chunks(&made.bytes)?;
            if qr {
                for (index, code) in codes.iter().enumerate() {
                    // On stderr, so `--json` output on stdout stays one JSON document.
                    eprintln!("QR code {} of {}:", index + 1, codes.len());
                    eprintln!("{}", render_terminal(code)?);
                }
            }
            out.print(
                &json!({
                    "bundle_id": made.id.to_string(),
                    "bytes": made.bytes.len(),
                    "qr_codes": codes.len(),
                    "qr_version": QR_VERSION,
                    "file": file,
                }),
                || {
                    format!(
                        "bundle {} ({} bytes, {} QR codes at version {QR_VERSION}){}",
                        made.id,
                        made.bytes.len(),
                        codes.len(),
                        file.as_ref()
                            .map(|f| format!(" written to {}", f.display()))
                            .unwrap_or_default()
                    )
                },
            );
            Ok(())
        }
        HandoffCli::Receipt {
            referral_id,
            out: file,
            qr,
        } => {
            anyhow::ensure!(
                file.is_some() || qr,
                "say where the receipt goes: --out FILE, --qr, or both"
            );
            let id: RecordId = referral_id
                .parse()
                .map_err(|_| anyhow::anyhow!("not a referral id: {referral_id}"))?;
            let receipt = store.make_handoff_receipt(&id)?;
            if let Some(path) = &file {
                crate::fsutil::write_secret_file(path, &receipt)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            }
            if qr {
                eprintln!("{}", render_terminal(&receipt)?);
            }
            out.print(&json!({"bytes": receipt.len(), "file": file}), || {
                format!("receipt of {} bytes (one QR code)", receipt.len())
            });
            Ok(())
        }
        HandoffCli::ReadReceipt { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let transition = store.read_handoff_receipt(&bytes)?;
            out.print(&json!({"reported": transition}), || {
                format!(
                    "the receiving phone reports: {transition} (not yet confirmed by the server)"
                )
            });
            Ok(())
        }
        HandoffCli::Read { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let imported = store.read_handoff(&bytes)?;
            out.print(
                &json!({
                    "bundle_id": imported.bundle_id.to_string(),
                    "referral_id": imported.referral_id,
                    "case_id": imported.case_id,
                    "from_agency": imported.from_agency,
                    "fields": imported.fields,
                    "attachments": imported.attachments,
                }),
                || {
                    format!(
                        "referral {} from {} imported ({} fields, {} attachments); accept or \
                         decline it with `device referral accept|decline`, confirmed at the \
                         next sync",
                        imported.referral_id,
                        imported.from_agency,
                        imported.fields,
                        imported.attachments
                    )
                },
            );
            Ok(())
        }
    }
}
