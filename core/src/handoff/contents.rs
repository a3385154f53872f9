//! What a handoff bundle carries: the referral, and exactly the case fields and attachments the
//! receiving agency may see — chosen by the rules the server applies when it delivers a
//! referral ([`crate::referral::shared_copies`] for fields,
//! [`crate::referral::attachment_visible`] for attachments), so a referral handed over phone
//! to phone gives the receiving agency no more and no less than the same referral synced.
//!
//! The receiving phone checks the same rules again on what it reads ([`check_contents`]): a
//! bundle from a modified phone that carries a field or photo the consent does not allow is
//! refused whole.

use super::HandoffError;
use crate::attachments::{ContentType, Sha256Digest};
use crate::hlc::Hlc;
use crate::ids::{AgencyCode, RecordId};
use crate::merge::op::{Operation, RecordKind};
use crate::merge::RecordState;
use crate::model::keys::CONSENT_DATA_SHARING;
use crate::model::Fields;
use crate::referral::{attachment_visible, shareable, shared_copies, Referral};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// One version's worth of shared case fields, as the server would deliver it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseCopy {
    pub hlc: Hlc,
    #[serde(deserialize_with = "crate::codec::bounded_fields")]
    pub fields: BTreeMap<String, Value>,
}

impl fmt::Debug for CaseCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseCopy")
            .field("hlc", &self.hlc)
            .field("keys", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// An attachment of the case, as the sending phone holds it.
#[derive(Clone, PartialEq)]
pub struct CandidateAttachment {
    pub id: RecordId,
    pub field: String,
    pub content_type: ContentType,
    pub label: Option<String>,
    /// The agency whose device declared it.
    pub declared_by: AgencyCode,
    pub created_at_ms: u64,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for CandidateAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CandidateAttachment")
            .field("id", &self.id)
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("size", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// What the signed part of a bundle says about one attachment; its bytes travel after the
/// signed part and must match `sha256`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentEntry {
    pub id: RecordId,
    pub field: String,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub declared_by: AgencyCode,
    pub created_at_ms: u64,
    pub size: u64,
    pub sha256: Sha256Digest,
}

impl fmt::Debug for AttachmentEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentEntry")
            .field("id", &self.id)
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The signed payload of a bundle (serialized as JSON, compressed).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// The operation that created the referral record, exactly as the referring device wrote
    /// it (its op id, clock and fields): the receiving phone merges it like a pulled
    /// operation, and the server recognizes it when the referring device pushes it too.
    pub referral: Operation,
    /// The shared case fields, grouped by version.
    pub case_copies: Vec<CaseCopy>,
    /// The case's `consent.data_sharing` as the sending phone held it: the evidence the
    /// receiving phone checks identifying fields and attachments against. Not imported unless
    /// the referral shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Value>,
    pub attachments: Vec<AttachmentEntry>,
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("referral_id", &self.referral.record_id)
            .field("case_copies", &self.case_copies)
            .field("attachments", &self.attachments)
            .finish_non_exhaustive()
    }
}

impl Payload {
    /// The consent evidence as case values, for the sharing rules.
    pub fn consent_values(&self) -> Fields {
        self.consent
            .iter()
            .map(|v| (CONSENT_DATA_SHARING.to_owned(), v.clone()))
            .collect()
    }

    /// The shared case fields as operations to merge, each keeping the version it copies.
    /// Their op ids are the signing device's with sequence 0: merging does not use them, and
    /// they are never pushed.
    pub fn case_operations(&self, referral: &Referral) -> Vec<Operation> {
        self.case_copies
            .iter()
            .map(|copy| Operation {
                op_id: crate::merge::op::OpId {
                    device: self.referral.op_id.device,
                    seq: 0,
                },
                kind: RecordKind::Case,
                record_id: referral.case_id,
                hlc: copy.hlc,
                fields: copy
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), crate::merge::op::FieldChange::fresh(v.clone())))
                    .collect(),
            })
            .collect()
    }
}

/// Chooses what a bundle for `referral` carries: the referral operation, the shared case
/// fields consent allows now, the consent evidence, and the attachments the receiving agency
/// may see. Returns the payload and the chosen attachments' bytes, in the payload's order.
pub fn select(
    referral_op: &Operation,
    referral: &Referral,
    case: &RecordState,
    candidates: &[CandidateAttachment],
) -> (Payload, Vec<Vec<u8>>) {
    let to = &referral.to_agency;
    let (allowed, copies) = shared_copies(&referral.shared_fields, case, to);
    let values = case.values();
    let consent = values.get(CONSENT_DATA_SHARING).cloned();
    let mut attachments = Vec::new();
    let mut bytes = Vec::new();
    for candidate in candidates {
        if attachment_visible(
            to,
            &candidate.declared_by,
            &candidate.field,
            Some(&allowed),
            &values,
        ) {
            attachments.push(AttachmentEntry {
                id: candidate.id,
                field: candidate.field.clone(),
                content_type: candidate.content_type.as_str().to_owned(),
                label: candidate.label.clone(),
                declared_by: candidate.declared_by.clone(),
                created_at_ms: candidate.created_at_ms,
                size: candidate.bytes.len() as u64,
                sha256: Sha256Digest::of(&candidate.bytes),
            });
            bytes.push(candidate.bytes.clone());
        }
    }
    let payload = Payload {
        referral: referral_op.clone(),
        case_copies: copies
            .into_iter()
            .map(|(hlc, fields)| CaseCopy {
                hlc,
                fields: fields.into_iter().map(|(k, c)| (k, c.value)).collect(),
            })
            .collect(),
        consent,
        attachments,
    };
    (payload, bytes)
}

/// Checks a read payload against the rules: the referral is well formed and goes between the
/// header's agencies, was written by the signing device, every case field it carries is one
/// the referral shares and the consent evidence allows, and every attachment is one the
/// receiving agency may see. Returns the referral.
pub fn check_contents(
    payload: &Payload,
    from: &AgencyCode,
    to: &AgencyCode,
    signer: crate::ids::DeviceId,
) -> Result<Referral, HandoffError> {
    let op = &payload.referral;
    if op.kind != RecordKind::Referral || op.op_id.device != signer || op.hlc.device != signer {
        return Err(HandoffError::Invalid(
            "the referral was not written by the signing device",
        ));
    }
    let fields: Fields = op
        .fields
        .iter()
        .map(|(k, c)| (k.clone(), c.value.clone()))
        .collect();
    let referral = Referral::from_stored(&fields)
        .map_err(|_| HandoffError::Invalid("the referral is not a valid referral"))?;
    if &referral.from_agency != from || &referral.to_agency != to {
        return Err(HandoffError::Invalid(
            "the referral's agencies are not the bundle's",
        ));
    }
    let consent = payload.consent_values();
    let allowed = shareable(&referral.shared_fields, &consent, to);
    let mut versions = std::collections::BTreeSet::new();
    for copy in &payload.case_copies {
        if !versions.insert(copy.hlc) {
            return Err(HandoffError::Invalid("a case version appears twice"));
        }
        if let Some(key) = copy.fields.keys().find(|k| !allowed.contains(*k)) {
            return Err(HandoffError::NotConsented {
                field: crate::model::validate::shown_key(key),
            });
        }
        if copy
            .fields
            .get(CONSENT_DATA_SHARING)
            .is_some_and(|v| Some(v) != payload.consent.as_ref())
        {
            return Err(HandoffError::Invalid(
                "the consent evidence disagrees with the case",
            ));
        }
    }
    for entry in &payload.attachments {
        if !attachment_visible(
            to,
            &entry.declared_by,
            &entry.field,
            Some(&allowed),
            &consent,
        ) {
            return Err(HandoffError::NotConsented {
                field: crate::model::validate::shown_key(&entry.field),
            });
        }
        crate::attachments::check_field(&entry.field)
            .map_err(|_| HandoffError::Invalid("an attachment's field is not valid"))?;
        if ContentType::parse(&entry.content_type).is_none() {
            return Err(HandoffError::Invalid(
                "an attachment's type is not supported",
            ));
        }
        if entry.size > crate::attachments::MAX_ATTACHMENT_BYTES {
            return Err(HandoffError::TooLarge);
        }
    }
    Ok(referral)
}
