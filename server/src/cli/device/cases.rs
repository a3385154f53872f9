//! Recording, reading and correcting cases, services and notes from the command line.

use super::store::Profile;
use super::{ConflictCommand, DeviceCommand};
use crate::cli::output::{table, Output};
use anyhow::Context;
use fieldcase_core::model::{nest_fields, Case, Fields, Note, Service};
use fieldcase_core::store::{
    CaseRecord, CaseSummary, MatchKind, Resolution, SearchHit, SearchQuery, Store,
};
use fieldcase_core::{Hlc, RecordId, RecordKind};
use serde_json::{json, Value};
use std::io::Read;

pub fn run(profile: &Profile, command: DeviceCommand, out: Output) -> anyhow::Result<()> {
    let mut store = profile.open()?;
    match command {
        DeviceCommand::Add { file, form } => add(&mut store, file, form.as_deref(), out),
        DeviceCommand::List { status, limit } => list(&store, status.as_deref(), limit, out),
        DeviceCommand::Show { id } => show(&store, &parse_id(&id)?, out),
        DeviceCommand::Update {
            id,
            set,
            clear,
            form,
        } => {
            let form = form
                .map(|spec| super::forms::form_change(&store, &spec))
                .transpose()?;
            update(&mut store, &parse_id(&id)?, &set, &clear, form, out)
        }
        DeviceCommand::Search {
            name,
            phone,
            document,
        } => {
            let query = match (name, phone, document) {
                (Some(n), _, _) => SearchQuery::Name(n),
                (_, Some(p), _) => SearchQuery::Phone(p),
                (_, _, Some(d)) => SearchQuery::Document(d),
                _ => anyhow::bail!("search by --name, --phone or --document"),
            };
            let found = store.search(&query)?;
            print_hits(&found, out);
            Ok(())
        }
        DeviceCommand::Service {
            case_id,
            service_type,
            date,
            notes,
        } => {
            let provider = store.identity().agency.to_string();
            let mut fields = Fields::new();
            fields.insert("case_id".into(), json!(case_id));
            fields.insert("service_type".into(), json!(service_type));
            fields.insert("date".into(), json!(date.unwrap_or_else(today)));
            fields.insert("provider_agency".into(), json!(provider));
            if let Some(notes) = notes {
                fields.insert("notes".into(), json!(notes));
            }
            let id = store.add_service(&Service::from_fields(&fields)?)?;
            out.print(&json!({"id": id}), || format!("recorded service {id}"));
            Ok(())
        }
        DeviceCommand::Note {
            case_id,
            text,
            date,
        } => {
            let mut fields = Fields::new();
            fields.insert("case_id".into(), json!(case_id));
            fields.insert("text".into(), json!(text));
            fields.insert("written_on".into(), json!(date.unwrap_or_else(today)));
            fields.insert("author".into(), json!(store.identity().user));
            let id = store.add_note(&Note::from_fields(&fields)?)?;
            out.print(&json!({"id": id}), || format!("added note {id}"));
            Ok(())
        }
        DeviceCommand::Conflicts { command } => {
            conflicts(&mut store, command.unwrap_or(ConflictCommand::List), out)
        }
        _ => unreachable!("handled by the caller"),
    }
}

fn parse_id(text: &str) -> anyhow::Result<RecordId> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not a record id (a UUID)"))
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    fieldcase_core::model::Date::today().to_string()
}

fn add(
    store: &mut Store,
    file: Option<std::path::PathBuf>,
    form: Option<&str>,
    out: Output,
) -> anyhow::Result<()> {
    let mut text = String::new();
    match &file {
        Some(path) => std::fs::File::open(path)
            .with_context(|| format!("opening {}", path.display()))?
            .read_to_string(&mut text)?,
        None => std::io::stdin().read_to_string(&mut text)?,
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the case is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let case = Case::from_json(&value)?;
    let mut fields = case.to_fields();
    if let Some(spec) = form {
        fields.extend(super::forms::form_change(store, spec)?);
    }
    let id = store.create_case_fields(fields)?;
    out.print(&json!({"id": id}), || format!("recorded case {id}"));
    Ok(())
}

fn display_name(record: &CaseRecord) -> String {
    let part = |key: &str| {
        record
            .fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let name = format!("{} {}", part("given_name"), part("family_name"))
        .trim()
        .to_owned();
    if name.is_empty() {
        "(anonymous)".into()
    } else {
        name
    }
}

/// One line of a list or search result, from the case's summary (no case is unsealed).
fn summary_json(summary: &CaseSummary) -> Value {
    json!({
        "id": summary.id,
        "given_name": summary.given_name,
        "family_name": summary.family_name,
        "sex": summary.sex,
        "date_of_birth": summary.date_of_birth,
        "nationality": summary.nationality,
        "intake_date": summary.intake_date,
        "status": summary.status,
        "owner_agency": summary.owner_agency,
    })
}

fn summary_row(summary: &CaseSummary) -> Vec<String> {
    let text = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    vec![
        summary.id.to_string(),
        summary
            .display_name()
            .unwrap_or_else(|| "(anonymous)".into()),
        text(&summary.sex),
        text(&summary.date_of_birth),
        text(&summary.nationality),
        text(&summary.intake_date),
        summary.status.clone(),
    ]
}

const SUMMARY_HEADERS: [&str; 7] = [
    "ID",
    "NAME",
    "SEX",
    "BORN",
    "NATIONALITY",
    "INTAKE",
    "STATUS",
];

fn print_summaries(summaries: &[CaseSummary], out: Output) {
    let rows: Vec<Value> = summaries.iter().map(summary_json).collect();
    out.print(&rows, || {
        let rows: Vec<Vec<String>> = summaries.iter().map(summary_row).collect();
        table(&SUMMARY_HEADERS, &rows)
    });
}

fn print_hits(hits: &[SearchHit], out: Output) {
    let match_name = |hit: &SearchHit| match hit.matched {
        MatchKind::Exact => "exact",
        MatchKind::Phonetic => "alike",
        MatchKind::Prefix => "prefix",
    };
    let rows: Vec<Value> = hits
        .iter()
        .map(|hit| {
            let mut row = summary_json(&hit.summary);
            row["match"] = json!(match_name(hit));
            row
        })
        .collect();
    out.print(&rows, || {
        let rows: Vec<Vec<String>> = hits
            .iter()
            .map(|hit| {
                let mut row = summary_row(&hit.summary);
                row.push(match_name(hit).to_owned());
                row
            })
            .collect();
        let mut headers = SUMMARY_HEADERS.to_vec();
        headers.push("MATCH");
        table(&headers, &rows)
    });
}

fn list(store: &Store, status: Option<&str>, limit: usize, out: Output) -> anyhow::Result<()> {
    let summaries = store.list_case_summaries(status, limit, 0)?;
    print_summaries(&summaries, out);
    Ok(())
}

fn show(store: &Store, id: &RecordId, out: Output) -> anyhow::Result<()> {
    let case = store.get_case(id)?;
    let services = store.children_of(id, RecordKind::Service)?;
    let notes = store.children_of(id, RecordKind::Note)?;
    let value = json!({
        "id": case.id, "owner_agency": case.owner_agency, "case": nest_fields(&case.fields),
        "services": services.iter().map(|s| json!({"id": s.id, "service": s.fields})).collect::<Vec<_>>(),
        "notes": notes.iter().map(|n| json!({"id": n.id, "note": n.fields})).collect::<Vec<_>>(),
        "conflicts": case.conflicts.iter().map(|c| json!({"field": c.field, "losing_value": c.value, "version": c.hlc.to_string()})).collect::<Vec<_>>(),
    });
    out.print(&value, || {
        let mut text = format!(
            "case {} ({}), owned by {}\n",
            case.id,
            display_name(&case),
            case.owner_agency
        );
        for (key, value) in &case.fields {
            text.push_str(&format!("  {key}: {value}\n"));
        }
        text.push_str(&format!("services: {}\n", services.len()));
        for s in &services {
            let get = |k: &str| {
                s.fields
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_owned()
            };
            text.push_str(&format!(
                "  {} {} by {}\n",
                get("date"),
                get("service_type"),
                get("provider_agency")
            ));
        }
        text.push_str(&format!("notes: {}\n", notes.len()));
        for n in &notes {
            let get = |k: &str| {
                n.fields
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_owned()
            };
            text.push_str(&format!("  {}: {}\n", get("written_on"), get("text")));
        }
        if !case.conflicts.is_empty() {
            text.push_str("conflicts (values that lost a concurrent edit):\n");
            for c in &case.conflicts {
                text.push_str(&format!("  {}: {} (version {})\n", c.field, c.value, c.hlc));
            }
        }
        text
    });
    Ok(())
}

/// `key=value`: the value as JSON when it parses as JSON, else as text.
fn parse_assignment(assignment: &str) -> anyhow::Result<(String, Value)> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--set takes KEY=VALUE, e.g. --set risk_level=high"))?;
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((key.trim().to_owned(), value))
}

fn update(
    store: &mut Store,
    id: &RecordId,
    set: &[String],
    clear: &[String],
    form: Option<Fields>,
    out: Output,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !set.is_empty() || !clear.is_empty() || form.is_some(),
        "nothing to change: use --set KEY=VALUE, --clear KEY or --form ID@VERSION"
    );
    let mut changes = form.unwrap_or_default();
    for assignment in set {
        let (key, value) = parse_assignment(assignment)?;
        changes.insert(key, value);
    }
    for key in clear {
        changes.insert(key.clone(), Value::Null);
    }
    let op = store.update_case(id, changes)?;
    let changed: Vec<String> = op
        .map(|op| op.fields.into_keys().collect())
        .unwrap_or_default();
    out.print(&json!({"id": id, "changed": changed}), || {
        if changed.is_empty() {
            "nothing changed".into()
        } else {
            format!("changed {}", changed.join(", "))
        }
    });
    Ok(())
}

fn conflicts(store: &mut Store, command: ConflictCommand, out: Output) -> anyhow::Result<()> {
    match command {
        ConflictCommand::List => {
            let entries = store.list_conflicts()?;
            let rows: Vec<Value> = entries
                .iter()
                .map(|c| json!({"record": c.record_id, "field": c.field, "losing_value": c.value, "current_value": c.current, "version": c.version.to_string()}))
                .collect();
            out.print(&rows, || {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|c| {
                        let current = c
                            .current
                            .as_ref()
                            .map_or("(cleared)".to_owned(), ToString::to_string);
                        vec![
                            c.record_id.to_string(),
                            c.field.clone(),
                            c.value.to_string(),
                            current,
                            c.version.to_string(),
                        ]
                    })
                    .collect();
                table(&["RECORD", "FIELD", "LOST", "CURRENT", "VERSION"], &rows)
            });
        }
        ConflictCommand::Resolve {
            record,
            field,
            version,
            restore,
            dismiss,
        } => {
            anyhow::ensure!(
                restore != dismiss,
                "choose --restore (put the losing value back) or --dismiss (keep the current one)"
            );
            let version: Hlc = version.parse()?;
            let resolution = if restore {
                Resolution::Restore
            } else {
                Resolution::Dismiss
            };
            store.resolve_conflict(&parse_id(&record)?, &field, version, resolution)?;
            out.print(&json!({"record": record, "field": field, "resolution": if restore { "restored" } else { "dismissed" }}), || {
                format!("conflict on {field} {}", if restore { "restored" } else { "dismissed" })
            });
        }
    }
    Ok(())
}
