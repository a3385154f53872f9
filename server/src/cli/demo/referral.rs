//! The demo's referral: a case handed from one agency's phone to another's, with consent
//! deciding what the receiving agency sees, accepted on the receiving phone.

use super::{say, sync_all, DemoDevice};
use crate::cli::output::Output;
use fieldcase_core::model::ServiceType;
use fieldcase_core::referral::{allowed_shared_fields, Transition, Urgency};
use fieldcase_core::store::NewReferral;
use fieldcase_core::{AgencyCode, RecordId};
use serde::Serialize;
use std::collections::BTreeSet;

/// What the demo asks to share: a profile, and the name when consent allows it.
const REQUESTED: [&str; 7] = [
    "given_name",
    "family_name",
    "sex",
    "date_of_birth",
    "nationality",
    "categories",
    "country_of_assistance",
];

/// What the referral did, for the demo's summary.
#[derive(Debug, Serialize)]
pub struct ReferralStory {
    pub referral: String,
    pub shared_fields: Vec<String>,
    pub fields_the_receiver_sees: usize,
    pub status_on_the_referring_phone: String,
}

/// Refers one of `cases` (recorded on `from`) to `to`'s agency, syncs both, accepts it on
/// `to`, and syncs again so the referring phone learns the answer.
pub async fn refer_and_accept(
    from: &DemoDevice,
    to: &DemoDevice,
    cases: &[RecordId],
    out: Output,
) -> anyhow::Result<ReferralStory> {
    let receiver = AgencyCode::parse(&to.agency)?;
    // The first case whose consent names the shelter, so its name can go too; any case
    // otherwise, with only what needs no consent.
    let mut chosen = None;
    for id in cases {
        let case = from.store().get_case(id)?;
        let allowed = allowed_shared_fields(&case.fields, &receiver);
        let names_allowed = allowed.contains("given_name");
        if chosen.is_none() || names_allowed {
            chosen = Some((*id, allowed));
        }
        if names_allowed {
            break;
        }
    }
    let (case_id, allowed) = chosen.ok_or_else(|| anyhow::anyhow!("no case to refer"))?;
    let shared: BTreeSet<String> = REQUESTED
        .iter()
        .map(|k| (*k).to_owned())
        .filter(|k| allowed.contains(k))
        .collect();
    let new = NewReferral {
        case_id,
        to_agency: receiver,
        services: [ServiceType::Shelter, ServiceType::Psychosocial].into(),
        reason: "Needs safe accommodation this week".into(),
        urgency: Urgency::High,
        shared_fields: shared.clone(),
        transfer: false,
        share_back: true,
    };
    let referral = from.store().create_referral(&new)?;
    say(
        out,
        format!(
            "\nDay 3: '{}' refers a case to the Kampala shelter (shelter, psychosocial support), \
             sharing {} — what the case's consent allows for the shelter.",
            from.label,
            shared.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    );
    sync_all(std::slice::from_ref(from), out).await?;
    sync_all(std::slice::from_ref(to), out).await?;
    let seen = to.store().get_case(&case_id)?.fields.len();
    say(
        out,
        format!(
            "'{}' received the referral and sees {seen} field(s) of the case; it accepts on the spot:",
            to.label
        ),
    );
    to.store()
        .request_transition(&referral, Transition::Accept, None)?;
    sync_all(std::slice::from_ref(to), out).await?;
    sync_all(std::slice::from_ref(from), out).await?;
    let status = from.store().get_referral(&referral)?.status;
    say(
        out,
        format!(
            "On '{}' the referral now reads: {}.",
            from.label,
            status.as_str()
        ),
    );
    Ok(ReferralStory {
        referral: referral.to_string(),
        shared_fields: shared.into_iter().collect(),
        fields_the_receiver_sees: seen,
        status_on_the_referring_phone: status.as_str().to_owned(),
    })
}
