//! Making and reading bundles, and every way reading refuses one.

use super::bundle::{check_times, ReadContext};
use super::contents::CandidateAttachment;
use super::qr::{chunks, Assembler, ChunkError, CHUNK_DATA_BYTES, QR_CAPACITY_BYTES};
use super::*;
use crate::attachments::ContentType;
use crate::hlc::Hlc;
use crate::ids::{AgencyCode, DeviceId, RecordId};
use crate::merge::op::{FieldChange, OpId, Operation, RecordKind};
use crate::merge::{FieldState, RecordState};
use crate::model::date::Date;
use crate::referral::{Referral, Urgency};
use serde_json::{json, Value};

const NOW: u64 = 1_780_000_000_000;

fn agency(code: &str) -> AgencyCode {
    AgencyCode::parse(code).unwrap()
}

struct World {
    device: DeviceId,
    signer: DeviceSigningKey,
    receiver: AgencySecretKey,
    referral_op: Operation,
    case: RecordState,
    photo: CandidateAttachment,
}

fn world(consent: Value, shared: &[&str]) -> World {
    let device = DeviceId::new_random();
    let at = |ms: u64| Hlc {
        wall_ms: ms,
        counter: 0,
        device,
    };
    let case_id = RecordId::new();
    let referral = Referral {
        case_id,
        from_agency: agency("iom_uga"),
        to_agency: agency("iom_eth"),
        services: [crate::model::codes::ServiceType::Shelter].into(),
        reason: "needs a safe bed tonight".into(),
        urgency: Urgency::High,
        shared_fields: shared.iter().map(|s| (*s).to_owned()).collect(),
        transfer: false,
        share_back: true,
        created_by: "caseworker1".into(),
        created_on: Date::parse("2026-05-28").unwrap(),
    };
    let referral_op = Operation {
        op_id: OpId { device, seq: 7 },
        kind: RecordKind::Referral,
        record_id: RecordId::new(),
        hlc: at(NOW - 10),
        fields: referral
            .to_fields()
            .into_iter()
            .map(|(k, value)| (k, FieldChange::fresh(value)))
            .collect(),
    };
    let mut case = RecordState::new(RecordKind::Case);
    for (key, value, ms) in [
        ("given_name", json!("Amina"), NOW - 100),
        ("sex", json!("female"), NOW - 100),
        ("nationality", json!("ETH"), NOW - 50),
        ("consent.data_sharing", consent, NOW - 100),
    ] {
        case.fields
            .insert(key.into(), FieldState { value, hlc: at(ms) });
    }
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend(std::iter::repeat_n(0x5A, 2000));
    World {
        device,
        signer: DeviceSigningKey::generate(),
        receiver: AgencySecretKey::generate(),
        referral_op,
        case,
        photo: CandidateAttachment {
            id: RecordId::new(),
            field: "photo".into(),
            content_type: ContentType::Jpeg,
            label: None,
            declared_by: agency("iom_uga"),
            created_at_ms: NOW - 90,
            bytes: jpeg,
        },
    }
}

fn make_in(w: &World, now_ms: u64) -> MadeBundle {
    make(
        &MakeInput {
            referral_op: &w.referral_op,
            case: &w.case,
            attachments: std::slice::from_ref(&w.photo),
            device: w.device,
            now_ms,
            lifetime_ms: DEFAULT_LIFETIME_MS,
        },
        &w.signer,
        &w.receiver.public(),
    )
    .unwrap()
}

/// Reads as a phone of `reader` holding `key`, knowing the signer as `known`.
fn read_as(
    bytes: &[u8],
    reader: &str,
    key: &AgencySecretKey,
    known: Option<KnownSigner>,
    seen: bool,
    now_ms: u64,
) -> Result<OpenedBundle, HandoffError> {
    let reader = agency(reader);
    let signer = move |_: DeviceId| known.clone();
    let seen = move |_: BundleId| seen;
    open(
        bytes,
        &ReadContext {
            agency: &reader,
            agency_key: key,
            now_ms,
            signer: &signer,
            seen: &seen,
        },
    )
}

fn known(w: &World) -> Option<KnownSigner> {
    Some(KnownSigner {
        agency: agency("iom_uga"),
        key: w.signer.public(),
        revoked: false,
    })
}

fn read(w: &World, bytes: &[u8]) -> Result<OpenedBundle, HandoffError> {
    read_as(bytes, "iom_eth", &w.receiver, known(w), false, NOW + 1000)
}

#[test]
fn a_bundle_carries_exactly_what_consent_allows() {
    let w = world(json!(["iom_eth"]), &["given_name", "sex", "photo"]);
    let made = make_in(&w, NOW);
    let opened = read(&w, &made.bytes).unwrap();
    assert_eq!(opened.header.id, made.id);
    assert_eq!(opened.payload.referral, w.referral_op);
    let keys: Vec<&String> = opened
        .payload
        .case_copies
        .iter()
        .flat_map(|c| c.fields.keys())
        .collect();
    assert_eq!(
        keys,
        ["given_name", "sex"],
        "listed and consented; nationality is not listed"
    );
    assert_eq!(opened.attachments, vec![w.photo.bytes.clone()]);
    let ops = opened.payload.case_operations(&opened.referral);
    assert!(ops.iter().all(|op| op.record_id == opened.referral.case_id));

    // Consent that does not name the receiving agency: no name, no photo.
    let w = world(json!("none"), &["given_name", "sex", "photo"]);
    let opened = read(&w, &make_in(&w, NOW).bytes).unwrap();
    let keys: Vec<&String> = opened
        .payload
        .case_copies
        .iter()
        .flat_map(|c| c.fields.keys())
        .collect();
    assert_eq!(keys, ["sex"]);
    assert!(opened.payload.attachments.is_empty() && opened.attachments.is_empty());
}

#[test]
fn the_server_sees_the_same_signature() {
    let w = world(json!(["iom_eth"]), &["sex"]);
    let made = make_in(&w, NOW);
    let opened = read(&w, &made.bytes).unwrap();
    assert_eq!(opened.signed, made.signed);
    let (header, payload, _) = made.signed.verify(&w.signer.public()).unwrap();
    assert_eq!(header.id, made.id);
    assert_eq!(payload.referral.record_id, w.referral_op.record_id);
    assert_eq!(
        made.signed
            .verify(&DeviceSigningKey::generate().public())
            .unwrap_err(),
        HandoffError::BadSignature
    );
    let mut forged = made.signed.clone();
    forged.header = String::from_utf8(forged.header)
        .unwrap()
        .replace("iom_eth", "iom_ken")
        .into_bytes();
    assert_eq!(
        forged.verify(&w.signer.public()).unwrap_err(),
        HandoffError::BadSignature,
        "re-addressing a signed referral breaks the signature"
    );
}

#[test]
fn another_agency_cannot_read_it() {
    let w = world(json!(["iom_eth"]), &["sex"]);
    let made = make_in(&w, NOW);
    let other = AgencySecretKey::generate();
    assert_eq!(
        read_as(&made.bytes, "ngo_x", &other, known(&w), false, NOW).unwrap_err(),
        HandoffError::WrongAgency
    );
    // A phone that lies about its agency still lacks the key.
    assert_eq!(
        read_as(&made.bytes, "iom_eth", &other, known(&w), false, NOW).unwrap_err(),
        HandoffError::Tampered
    );
}

#[test]
fn any_changed_byte_is_tampering() {
    let w = world(json!(["iom_eth"]), &["sex", "photo", "given_name"]);
    let made = make_in(&w, NOW);
    let header_len = 7 + u16::from_le_bytes([made.bytes[5], made.bytes[6]]) as usize;
    for at in [
        header_len + 3,
        header_len + 40,
        made.bytes.len() / 2,
        made.bytes.len() - 1,
    ] {
        let mut bytes = made.bytes.clone();
        bytes[at] ^= 0x01;
        assert_eq!(
            read(&w, &bytes).unwrap_err(),
            HandoffError::Tampered,
            "{at}"
        );
    }
    // The clear header is authenticated too: a later expiry does not open.
    let text = String::from_utf8_lossy(&made.bytes[7..header_len]).into_owned();
    let later = text.replace(
        &format!("\"expires_ms\":{}", NOW + DEFAULT_LIFETIME_MS),
        &format!("\"expires_ms\":{}", NOW + DEFAULT_LIFETIME_MS + 9),
    );
    assert_ne!(text, later);
    let mut bytes = made.bytes[..7].to_vec();
    bytes.extend_from_slice(later.as_bytes());
    bytes.extend_from_slice(&made.bytes[header_len..]);
    assert_eq!(read(&w, &bytes).unwrap_err(), HandoffError::Tampered);
    // Cut short.
    assert!(read(&w, &made.bytes[..made.bytes.len() - 20]).is_err());
    assert!(matches!(
        read(&w, b"FCHB").unwrap_err(),
        HandoffError::Malformed(_)
    ));
    let mut newer = made.bytes.clone();
    newer[4] = 9;
    assert_eq!(
        read(&w, &newer).unwrap_err(),
        HandoffError::UnsupportedVersion(9)
    );
}

#[test]
fn an_unknown_revoked_or_impostor_signer_is_refused() {
    let w = world(json!(["iom_eth"]), &["sex"]);
    let made = make_in(&w, NOW);
    let r = |signer| read_as(&made.bytes, "iom_eth", &w.receiver, signer, false, NOW + 1);
    assert_eq!(r(None).unwrap_err(), HandoffError::UnknownDevice);
    let mut revoked = known(&w).unwrap();
    revoked.revoked = true;
    assert_eq!(r(Some(revoked)).unwrap_err(), HandoffError::RevokedDevice);
    let mut other_key = known(&w).unwrap();
    other_key.key = DeviceSigningKey::generate().public();
    assert_eq!(r(Some(other_key)).unwrap_err(), HandoffError::BadSignature);
    let mut other_agency = known(&w).unwrap();
    other_agency.agency = agency("ngo_x");
    assert_eq!(
        r(Some(other_agency)).unwrap_err(),
        HandoffError::BadSignature,
        "a device of another agency cannot speak for the referring agency"
    );
}

#[test]
fn expired_early_and_replayed_bundles_are_refused() {
    let w = world(json!(["iom_eth"]), &["sex"]);
    let made = make_in(&w, NOW);
    let at = |now, seen| read_as(&made.bytes, "iom_eth", &w.receiver, known(&w), seen, now);
    assert!(at(NOW + DEFAULT_LIFETIME_MS - 1, false).is_ok());
    assert_eq!(
        at(NOW + DEFAULT_LIFETIME_MS, false).unwrap_err(),
        HandoffError::Expired
    );
    assert_eq!(
        at(NOW - bundle::MAX_CREATED_AHEAD_MS - 1, false).unwrap_err(),
        HandoffError::NotYetValid
    );
    assert_eq!(at(NOW + 1, true).unwrap_err(), HandoffError::Replayed);
    let header = peek_header(&made.bytes).unwrap();
    let forever = Header {
        expires_ms: header.created_ms + MAX_LIFETIME_MS + 1,
        ..header
    };
    assert_eq!(
        check_times(&forever, NOW).unwrap_err(),
        HandoffError::Lifetime
    );
    let too_long = make(
        &MakeInput {
            referral_op: &w.referral_op,
            case: &w.case,
            attachments: &[],
            device: w.device,
            now_ms: NOW,
            lifetime_ms: MAX_LIFETIME_MS + 1,
        },
        &w.signer,
        &w.receiver.public(),
    );
    assert_eq!(too_long.unwrap_err(), HandoffError::Lifetime);
}

#[test]
fn a_signed_bundle_that_overshares_is_refused() {
    // A modified sending phone signs a payload with a name the consent does not allow.
    let w = world(json!("none"), &["given_name", "sex"]);
    let made = make_in(&w, NOW);
    let (header, mut payload, _) = made.signed.verify(&w.signer.public()).unwrap();
    payload.case_copies[0]
        .fields
        .insert("given_name".into(), json!("Amina"));
    let err =
        contents::check_contents(&payload, &header.from, &header.to, header.device).unwrap_err();
    assert_eq!(
        err,
        HandoffError::NotConsented {
            field: "given_name".into()
        }
    );
    assert!(!err.to_string().contains("Amina"));
    // A photo the consent does not allow.
    payload.case_copies[0].fields.remove("given_name");
    payload.attachments.push(contents::AttachmentEntry {
        id: RecordId::new(),
        field: "photo".into(),
        content_type: "image/jpeg".into(),
        label: None,
        declared_by: agency("iom_uga"),
        created_at_ms: NOW,
        size: 3,
        sha256: crate::attachments::Sha256Digest::of(b"abc"),
    });
    assert!(matches!(
        contents::check_contents(&payload, &header.from, &header.to, header.device),
        Err(HandoffError::NotConsented { .. })
    ));
    // A referral written by another device than the signer.
    let mut payload = made.signed.verify(&w.signer.public()).unwrap().1;
    payload.referral.op_id.device = DeviceId::new_random();
    assert!(matches!(
        contents::check_contents(&payload, &header.from, &header.to, header.device),
        Err(HandoffError::Invalid(_))
    ));
}

#[test]
fn debug_output_shows_no_case_data() {
    let w = world(json!(["iom_eth"]), &["given_name", "sex", "photo"]);
    let made = make_in(&w, NOW);
    let opened = read(&w, &made.bytes).unwrap();
    let shown = format!("{opened:?} {made:?} {:?}", opened.signed);
    for secret in ["Amina", "safe bed", "female"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn qr_chunks_reassemble_in_any_order_and_refuse_misreads() {
    let w = world(json!(["iom_eth"]), &["given_name", "sex", "photo"]);
    let made = make_in(&w, NOW);
    let parts = chunks(&made.bytes).unwrap();
    assert_eq!(parts.len(), made.bytes.len().div_ceil(CHUNK_DATA_BYTES));
    assert!(parts.len() > 2);
    assert!(parts.iter().all(|p| p.len() <= QR_CAPACITY_BYTES));

    let mut assembler = Assembler::new();
    for part in parts.iter().rev() {
        assembler.add(part).unwrap();
        assembler.add(part).unwrap(); // a duplicate changes nothing
        assert!(assembler.bundle().is_none() || assembler.missing().is_empty());
    }
    assert_eq!(assembler.bundle().unwrap(), made.bytes);
    assert!(read(&w, &assembler.bundle().unwrap()).is_ok());

    let mut assembler = Assembler::new();
    assembler.add(&parts[1]).unwrap();
    let mut misread = parts[0].clone();
    misread[20] ^= 0x40;
    assert_eq!(assembler.add(&misread).unwrap_err(), ChunkError::Damaged);
    assert_eq!(assembler.add(b"hello").unwrap_err(), ChunkError::NotAChunk);
    let other = chunks(&make_in(&w, NOW).bytes).unwrap();
    assert_eq!(
        assembler.add(&other[0]).unwrap_err(),
        ChunkError::OtherBundle
    );
    assert_eq!(assembler.progress().received, 1);
    assert_eq!(assembler.missing().len(), parts.len() - 1);

    // Every chunk renders at the chosen version.
    let drawn = qr::render_terminal(&parts[0]).unwrap();
    assert!(drawn.lines().count() > 30, "{}", drawn.lines().count());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any bytes at all: a typed error, never a panic; the assembler takes no garbage.
        #[test]
        fn arbitrary_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let w = world(json!(["iom_eth"]), &["sex"]);
            prop_assert!(read(&w, &bytes).is_err());
            let mut assembler = Assembler::new();
            prop_assert!(assembler.add(&bytes).is_err());
            prop_assert!(assembler.bundle().is_none());
        }

        /// Any single changed byte of a real bundle is refused.
        #[test]
        fn every_changed_byte_is_refused(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let w = world(json!(["iom_eth"]), &["sex", "given_name"]);
            let mut bytes = make_in(&w, NOW).bytes;
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert!(read(&w, &bytes).is_err());
        }
    }
}
