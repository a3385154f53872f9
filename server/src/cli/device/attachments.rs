//! `fieldcase device attach | attachments | attachment-get`: photos and scans of a case.
//!
//! The file is streamed into the store a chunk at a time and sealed there; this command never
//! writes a copy of it anywhere else. `attachment-get` writes the content only to the file
//! the user names, and fetches it from the server first when it is not on this device.

use super::store::Profile;
use crate::cli::output::Output;
use anyhow::Context;
use fieldcase_core::attachments::ContentType;
use fieldcase_core::store::{AttachmentMeta, NewAttachment};
use fieldcase_core::sync::fetch_attachment;
use fieldcase_core::RecordId;
use serde_json::json;
use std::path::Path;
use std::sync::Mutex;

fn describe(meta: &AttachmentMeta) -> serde_json::Value {
    json!({
        "id": meta.id,
        "case_id": meta.case_id,
        "field": meta.field,
        "content_type": meta.content_type.as_str(),
        "size": meta.size,
        "sha256": meta.sha256.to_hex(),
        "label": meta.label,
        "uploaded": meta.uploaded,
    })
}

pub fn attach(
    profile: &Profile,
    case_id: &str,
    file: &Path,
    label: Option<&str>,
    content_type: Option<&str>,
    field: &str,
    out: Output,
) -> anyhow::Result<()> {
    let case_id: RecordId = case_id.parse().context("the case id is not a valid id")?;
    let content_type = match content_type {
        Some(declared) => declared.to_owned(),
        None => ContentType::from_extension(&file.to_string_lossy())
            .map(|t| t.as_str().to_owned())
            .context("cannot tell the type from the file name; pass --type image/jpeg, image/png, image/webp or application/pdf")?,
    };
    let reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut store = profile.open()?;
    let new = NewAttachment {
        case_id,
        content_type: &content_type,
        field,
        label,
    };
    let id = store.add_attachment_with(
        &new,
        std::io::BufReader::new(reader),
        fieldcase_core::attachments::CHUNK_BYTES,
    )?;
    let meta = store.attachment(&id)?;
    store.close()?;
    out.print(&describe(&meta), || {
        format!(
            "attachment {id} added to case {case_id} ({} bytes, {}); it uploads with the next sync",
            meta.size, meta.content_type
        )
    });
    Ok(())
}

pub fn list(profile: &Profile, case_id: &str, out: Output) -> anyhow::Result<()> {
    let case_id: RecordId = case_id.parse().context("the case id is not a valid id")?;
    let store = profile.open()?;
    let attachments = store.attachments_of_case(&case_id)?;
    out.print(
        &json!({"attachments": attachments.iter().map(describe).collect::<Vec<_>>()}),
        || {
            if attachments.is_empty() {
                return "no attachments on this device for that case".into();
            }
            attachments
                .iter()
                .map(|m| {
                    format!(
                        "{}  {:<16} {:>9} bytes  {:<20} {}{}",
                        m.id,
                        m.content_type.as_str(),
                        m.size,
                        m.field,
                        if m.uploaded { "uploaded" } else { "pending" },
                        m.label
                            .as_deref()
                            .map(|l| format!("  {l}"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

pub async fn get(profile: &Profile, id: &str, out_file: &Path, out: Output) -> anyhow::Result<()> {
    let id: RecordId = id.parse().context("the attachment id is not a valid id")?;
    anyhow::ensure!(
        !out_file.exists(),
        "{} exists already; choose a new file name",
        out_file.display()
    );
    let store = profile.open()?;
    let meta = match store.attachment(&id) {
        Ok(meta) => meta,
        Err(fieldcase_core::store::StoreError::NoSuchAttachment { .. }) => {
            let client = profile.sync_client(&store)?;
            let store = Mutex::new(store);
            let meta = fetch_attachment(&store, &client, &id).await?;
            let store = store.into_inner().unwrap_or_else(|p| p.into_inner());
            write_out(&store, &meta, out_file)?;
            store.close()?;
            return done(&meta, out_file, out);
        }
        Err(e) => return Err(e.into()),
    };
    write_out(&store, &meta, out_file)?;
    store.close()?;
    done(&meta, out_file, out)
}

fn write_out(
    store: &fieldcase_core::store::Store,
    meta: &AttachmentMeta,
    out_file: &Path,
) -> anyhow::Result<()> {
    // Checked against its SHA-256 before a byte is written.
    let content = store.read_attachment(&meta.id)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options
        .open(out_file)
        .with_context(|| format!("creating {}", out_file.display()))?;
    file.write_all(&content)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", out_file.display()))?;
    Ok(())
}

fn done(meta: &AttachmentMeta, out_file: &Path, out: Output) -> anyhow::Result<()> {
    let mut shown = describe(meta);
    shown["out"] = json!(out_file.display().to_string());
    out.print(&shown, || {
        format!(
            "wrote {} bytes to {} (SHA-256 checked)",
            meta.size,
            out_file.display()
        )
    });
    Ok(())
}
