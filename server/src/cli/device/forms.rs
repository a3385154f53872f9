//! `fieldcase device form …` and the `--form` option of `add` and `update`: the form
//! versions this profile holds (received by sync, or installed from a file) and naming the
//! version a case's answers are recorded with.

use super::store::Profile;
use crate::cli::output::{table, Output};
use clap::Subcommand;
use fieldcase_core::forms::FormId;
use fieldcase_core::model::Fields;
use fieldcase_core::store::Store;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum FormCli {
    /// List the form versions this profile holds.
    List,
    /// Show a form version's questions in a language.
    Show {
        id: String,
        /// The version (default: the newest held).
        #[arg(long)]
        version: Option<u32>,
        /// Language code of the labels (default: the form's default language).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Install a form version from a file (`.json` or `.xlsx`) on this profile only, e.g. a
    /// form shipped with the app; published forms arrive by sync instead.
    Install { file: PathBuf },
}

pub fn run(profile: &Profile, command: FormCli, out: Output) -> anyhow::Result<()> {
    let mut store = profile.open()?;
    match command {
        FormCli::List => {
            let forms = store.forms()?;
            let rows: Vec<Value> = forms
                .iter()
                .map(|f| json!({"id": f.id, "version": f.version, "title": f.title, "fields": f.fields, "local": f.local}))
                .collect();
            out.print(&rows, || {
                let rows: Vec<Vec<String>> = forms
                    .iter()
                    .map(|f| {
                        vec![
                            f.id.to_string(),
                            f.version.to_string(),
                            f.fields.to_string(),
                            if f.local { "installed" } else { "synced" }.to_owned(),
                            f.title
                                .get(&f.default_language)
                                .cloned()
                                .unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(&["FORM", "VERSION", "FIELDS", "FROM", "TITLE"], &rows)
            });
        }
        FormCli::Show { id, version, lang } => {
            let id = parse_form_id(&id)?;
            let form = match version {
                Some(v) => store.form(&id, v)?,
                None => store.latest_form(&id)?,
            }
            .ok_or_else(|| anyhow::anyhow!("form {id} is not held here; sync to receive it"))?;
            let lang = lang.unwrap_or_else(|| form.default_language.clone());
            let fields: Vec<Value> = form
                .fields()
                .map(|f| {
                    json!({
                        "id": f.id, "type": f.field_type, "required": f.required,
                        "label": form.label(f, &lang), "core": f.core,
                        "relevant": f.relevant.as_ref().map(|c| c.text.clone()),
                    })
                })
                .collect();
            out.print(
                &json!({"id": form.id, "version": form.version, "fields": fields}),
                || {
                    let rows: Vec<Vec<String>> = form
                        .fields()
                        .map(|f| {
                            vec![
                                f.id.to_string(),
                                f.field_type.to_string(),
                                if f.required { "yes" } else { "" }.to_owned(),
                                form.label(f, &lang).unwrap_or_default().to_owned(),
                            ]
                        })
                        .collect();
                    table(&["FIELD", "TYPE", "REQUIRED", "LABEL"], &rows)
                },
            );
        }
        FormCli::Install { file } => {
            let form = crate::cli::admin_forms::read_form_file(&file)?;
            store.install_form(&form)?;
            out.print(&json!({"id": form.id, "version": form.version}), || {
                format!("installed form {} version {}", form.id, form.version)
            });
        }
    }
    Ok(())
}

fn parse_form_id(text: &str) -> anyhow::Result<FormId> {
    FormId::parse(text).map_err(|_| anyhow::anyhow!("'{text}' is not a form id"))
}

/// Resolves `--form ID[@VERSION]` (newest held version when none is given) to the change
/// `forms.<id>` = version.
pub fn form_change(store: &Store, spec: &str) -> anyhow::Result<Fields> {
    let (id, version) = match spec.split_once('@') {
        Some((id, v)) => (
            id,
            Some(v.parse::<u32>().map_err(|_| {
                anyhow::anyhow!("--form takes ID or ID@VERSION, e.g. iom_screening@2")
            })?),
        ),
        None => (spec, None),
    };
    let id = parse_form_id(id)?;
    let version = match version {
        Some(v) => v,
        None => {
            store
                .latest_form(&id)?
                .ok_or_else(|| anyhow::anyhow!("form {id} is not held here; sync to receive it"))?
                .version
        }
    };
    Ok([(
        format!("{}{id}", fieldcase_core::forms::FORM_KEY_PREFIX),
        json!(version),
    )]
    .into())
}
