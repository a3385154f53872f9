//! `fieldcase device referral …`: refer a case, answer a referral, follow its timeline.
//!
//! Everything here works offline on the profile's store: a referral goes out, and a
//! transition is confirmed or refused, at the next `fieldcase device sync`. Until then a
//! transition shows as pending; a refusal shows with the referral's current status and why.

use super::store::Profile;
use crate::cli::output::{table, Output};
use fieldcase_core::model::ServiceType;
use fieldcase_core::referral::{Transition, Urgency};
use fieldcase_core::store::{NewReferral, ReferralView, Store};
use fieldcase_core::{AgencyCode, RecordId};
use serde_json::{json, Value};

/// `fieldcase device referral …`
#[derive(Debug, clap::Subcommand)]
pub enum ReferralCli {
    /// Refer a case this agency owns to another agency.
    Create {
        case_id: String,
        /// The receiving agency's code.
        #[arg(long)]
        to: String,
        /// What the person needs: shelter, medical, psychosocial, legal, return_travel,
        /// family_tracing, … (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        services: Vec<String>,
        /// Why, in a few sentences.
        #[arg(long)]
        reason: String,
        /// low, medium, high or emergency.
        #[arg(long, default_value = "medium")]
        urgency: String,
        /// Case fields the receiving agency may see (comma-separated keys). Identifying
        /// fields only if the case's consent.data_sharing names the agency.
        #[arg(long, value_delimiter = ',')]
        share: Vec<String>,
        /// Move ownership of the case to the receiving agency when it accepts.
        #[arg(long)]
        transfer: bool,
        /// Let this agency see the services and notes the receiving agency adds.
        #[arg(long)]
        share_back: bool,
    },
    /// Referrals this profile holds, sent and received.
    List {
        /// Only the referrals of this case.
        #[arg(long = "case")]
        case_id: Option<String>,
    },
    /// Accept a referral made to this agency.
    Accept {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Decline a referral made to this agency (a reason is required).
    Decline {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Cancel a referral this agency made.
    Cancel {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mark an accepted referral made to this agency as completed.
    Complete {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// One referral in full: reason, services asked for and the fields shared.
    Show { id: String },
    /// Who did what to a referral, when — or to every referral of a case (`--case`).
    Timeline {
        #[arg(required_unless_present = "case_id", conflicts_with = "case_id")]
        id: Option<String>,
        #[arg(long = "case")]
        case_id: Option<String>,
    },
}

pub fn run(profile: &Profile, command: ReferralCli, out: Output) -> anyhow::Result<()> {
    let mut store = profile.open()?;
    match command {
        ReferralCli::Create {
            case_id,
            to,
            services,
            reason,
            urgency,
            share,
            transfer,
            share_back,
        } => {
            let new = NewReferral {
                case_id: parse_id(&case_id)?,
                to_agency: AgencyCode::parse(&to).map_err(|e| anyhow::anyhow!("--to: {e}"))?,
                services: services
                    .iter()
                    .map(|s| {
                        ServiceType::parse(s.trim()).ok_or_else(|| {
                            anyhow::anyhow!(
                                "--services: unknown service; allowed: {}",
                                ServiceType::CODES.join(", ")
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                reason,
                urgency: Urgency::parse(&urgency).ok_or_else(|| {
                    anyhow::anyhow!("--urgency: one of {}", Urgency::CODES.join(", "))
                })?,
                shared_fields: share.iter().map(|s| s.trim().to_owned()).collect(),
                transfer,
                share_back,
            };
            let id = store.create_referral(&new)?;
            out.print(
                &json!({"id": id, "status": "sent", "confirmed": false}),
                || format!("referral {id} recorded; it goes to {to} at the next sync"),
            );
            Ok(())
        }
        ReferralCli::List { case_id } => {
            let views = match case_id {
                Some(case) => store.referrals_of_case(&parse_id(&case)?)?,
                None => store.list_referrals()?,
            };
            print_list(&store, &views, out);
            Ok(())
        }
        ReferralCli::Show { id } => {
            let view = store.get_referral(&parse_id(&id)?)?;
            let shown = view_json(&store, &view);
            out.print(&shown, || show_text(&view, &shown));
            Ok(())
        }
        ReferralCli::Accept { id, reason } => {
            transition(&mut store, &id, Transition::Accept, reason, out)
        }
        ReferralCli::Decline { id, reason } => {
            transition(&mut store, &id, Transition::Decline, reason, out)
        }
        ReferralCli::Cancel { id, reason } => {
            transition(&mut store, &id, Transition::Cancel, reason, out)
        }
        ReferralCli::Complete { id, reason } => {
            transition(&mut store, &id, Transition::Complete, reason, out)
        }
        ReferralCli::Timeline { id, case_id } => {
            let entries = match (id, case_id) {
                (Some(id), _) => {
                    let id = parse_id(&id)?;
                    store
                        .referral_timeline(&id)?
                        .into_iter()
                        .map(|e| (id, e))
                        .collect()
                }
                (None, Some(case)) => store.case_referral_timeline(&parse_id(&case)?)?,
                (None, None) => anyhow::bail!("give a referral id, or --case CASE_ID"),
            };
            let rows: Vec<Value> = entries
                .iter()
                .map(|(referral, e)| {
                    json!({
                        "referral_id": referral, "at_ms": e.at_ms, "agency": e.agency,
                        "user": e.user, "transition": e.transition, "status": e.status,
                        "reason": e.reason, "confirmed": e.confirmed,
                    })
                })
                .collect();
            out.print(&rows, || {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|(referral, e)| {
                        vec![
                            referral.to_string(),
                            crate::time::rfc3339(e.at_ms.max(0) as u64),
                            e.agency.to_string(),
                            e.user.clone().unwrap_or_default(),
                            e.transition.map_or("created".to_owned(), |t| t.to_string()),
                            e.status.to_string(),
                            if e.confirmed { "" } else { "pending" }.to_owned(),
                            e.reason.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "REFERRAL", "AT (UTC)", "AGENCY", "USER", "WHAT", "STATUS", "", "REASON",
                    ],
                    &rows,
                )
            });
            Ok(())
        }
    }
}

fn parse_id(text: &str) -> anyhow::Result<RecordId> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not a record id (a UUID)"))
}

fn transition(
    store: &mut Store,
    id: &str,
    transition: Transition,
    reason: Option<String>,
    out: Output,
) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    store.request_transition(&id, transition, reason.as_deref())?;
    let view = store.get_referral(&id)?;
    out.print(
        &json!({
            "id": id, "transition": transition, "pending": true,
            "status": view.status, "expected_status": view.expected_status(),
        }),
        || {
            format!(
                "{transition} queued: the referral shows as {} (pending) until the server \
                 confirms it at the next sync",
                view.expected_status()
            )
        },
    );
    Ok(())
}

fn view_json(store: &Store, view: &ReferralView) -> Value {
    let r = &view.referral;
    json!({
        "id": view.id, "case_id": r.case_id, "from_agency": r.from_agency,
        "to_agency": r.to_agency, "party": view.party(&store.identity().agency),
        "services": r.services, "urgency": r.urgency, "reason": r.reason,
        "shared_fields": r.shared_fields, "transfer": r.transfer, "share_back": r.share_back,
        "created_by": r.created_by, "created_on": r.created_on.to_string(),
        "status": view.status, "confirmed": view.confirmed,
        "status_reason": view.status_reason,
        "pending": view.pending.iter().map(|p| json!({"transition": p.transition, "reason": p.reason})).collect::<Vec<_>>(),
        "last_rejection": view.last_rejection.as_ref().map(|r| json!({
            "transition": r.transition, "code": r.code, "current_status": r.current_status,
            "at_ms": r.at_ms, "explanation": r.explain(),
        })),
    })
}

fn shown_status(view: &ReferralView) -> String {
    let mut text = view.status.to_string();
    if !view.confirmed {
        text.push_str(" (not yet synced)");
    }
    if let Some(pending) = view.pending.last() {
        text = format!("{text}, {} pending", pending.transition);
    }
    if let Some(rejection) = &view.last_rejection {
        text = format!("{text}; {}", rejection.explain());
    }
    text
}

/// The text of `referral show`: one labelled line per fact.
fn show_text(view: &ReferralView, shown: &Value) -> String {
    let r = &view.referral;
    let list = |key: &str| {
        let items: Vec<&str> = shown[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let mut text = format!(
        "referral {}\ncase: {}\nfrom -> to: {} -> {}{}\nstatus: {}\nurgency: {}\nservices: {}\nreason: {}\nshared fields: {}\ncreated: {}",
        view.id,
        r.case_id,
        r.from_agency,
        r.to_agency,
        if r.transfer { " (transfer)" } else { "" },
        shown_status(view),
        r.urgency,
        list("services"),
        r.reason,
        list("shared_fields"),
        r.created_on,
    );
    if let Some(reason) = &view.status_reason {
        text.push_str(&format!("\nreason given with the last answer: {reason}"));
    }
    text
}

fn print_list(store: &Store, views: &[ReferralView], out: Output) {
    let rows: Vec<Value> = views.iter().map(|v| view_json(store, v)).collect();
    out.print(&rows, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                let r = &v.referral;
                vec![
                    v.id.to_string(),
                    r.case_id.to_string(),
                    format!(
                        "{} -> {}{}",
                        r.from_agency,
                        r.to_agency,
                        if r.transfer { " (transfer)" } else { "" }
                    ),
                    r.urgency.to_string(),
                    shown_status(v),
                    r.services
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    r.shared_fields.len().to_string(),
                    r.reason.clone(),
                ]
            })
            .collect();
        // The receiving caseworker decides from the reason, the services asked for and how
        // much was shared; `referral show ID` lists the shared fields by name.
        table(
            &[
                "ID",
                "CASE",
                "FROM -> TO",
                "URGENCY",
                "STATUS",
                "SERVICES",
                "SHARED",
                "REASON",
            ],
            &rows,
        )
    });
}
