//! `fieldcase admin form …`: publishing form versions and listing them.
//!
//! `publish FILE` takes a form definition as JSON (`docs/forms.md`) or an XLSForm workbook
//! (`.xlsx`), converted and checked here before anything is sent, so a workbook's problems
//! are listed with their rows without a round trip to the server.

use super::output::{table, Output};
use crate::admin_client::AdminClient;
use anyhow::Context;
use clap::Subcommand;
use fieldcase_core::forms::xlsform::{self, MAX_XLSFORM_BYTES};
use fieldcase_core::forms::FormDefinition;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum FormCommand {
    /// Publish a form version for an agency; its devices receive it on their next sync.
    Publish {
        /// A form definition: `.json`, or an XLSForm workbook `.xlsx`.
        file: PathBuf,
        /// The agency (a system admin must name it; an agency admin publishes for its own).
        #[arg(long, conflicts_with = "network")]
        agency: Option<String>,
        /// Publish for every agency of the network, including agencies created later
        /// (system admin).
        #[arg(long)]
        network: bool,
    },
    /// List published form versions.
    List {
        #[arg(long)]
        agency: Option<String>,
    },
    /// Convert a form between JSON and XLSForm without publishing it (checks it too).
    Convert {
        /// `.json` or `.xlsx`.
        input: PathBuf,
        /// `.json` or `.xlsx`: the other format.
        output: PathBuf,
    },
}

fn is_xlsx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// Reads and checks a form definition from a `.json` or `.xlsx` file.
pub fn read_form_file(path: &Path) -> anyhow::Result<FormDefinition> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_XLSFORM_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let form = if is_xlsx(path) {
        // Without a settings sheet, pyxform takes the form id from the file name; so do we.
        let name = path.file_name().and_then(|n| n.to_str());
        xlsform::import_named(&bytes, name)?
    } else {
        FormDefinition::from_json(&bytes)?
    };
    Ok(form)
}

pub async fn run(client: &AdminClient, command: FormCommand, out: Output) -> anyhow::Result<()> {
    match command {
        FormCommand::Publish {
            file,
            agency,
            network,
        } => {
            let form = read_form_file(&file)?;
            let published = if network {
                client.publish_network_form(&form).await?
            } else {
                client.publish_form(&form, agency.as_deref()).await?
            };
            out.print(&published, || {
                let what = if published.created {
                    "published"
                } else {
                    "already published (unchanged)"
                };
                let whom = if published.agency == crate::http::forms::ALL_AGENCIES {
                    "every agency".to_owned()
                } else {
                    published.agency.clone()
                };
                format!(
                    "{what}: form {} version {} for {whom} ({} fields)",
                    published.id, published.version, published.fields
                )
            });
        }
        FormCommand::List { agency } => {
            let forms = client.list_forms(agency.as_deref()).await?;
            out.print(&forms, || {
                let rows: Vec<_> = forms
                    .iter()
                    .map(|f| {
                        vec![
                            f.agency.clone(),
                            f.id.clone(),
                            f.version.to_string(),
                            f.fields.to_string(),
                            f.title.values().next().cloned().unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(&["AGENCY", "FORM", "VERSION", "FIELDS", "TITLE"], &rows)
            });
        }
        FormCommand::Convert { input, output } => convert(&input, &output)?,
    }
    Ok(())
}

/// `form convert`: needs no server or token.
pub fn convert(input: &Path, output: &Path) -> anyhow::Result<()> {
    let form = read_form_file(input)?;
    let bytes = if is_xlsx(output) {
        xlsform::export(&form)?
    } else {
        let mut text = serde_json::to_vec_pretty(&form.to_json())?;
        text.push(b'\n');
        text
    };
    std::fs::write(output, bytes).with_context(|| format!("writing {}", output.display()))
}
