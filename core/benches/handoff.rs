//! The figures of the offline referral handoff (docs/handoff.md): bundle size for a typical
//! referral with and without one photo, the number of QR codes at the chosen version, and the
//! time to make and to read a bundle.
//!
//! Run: `cargo bench -p fieldcase-core --bench handoff`. Prints one JSON line per bundle with
//! its size and QR count, then criterion's timings.

use criterion::{criterion_group, criterion_main, Criterion};
use fieldcase_core::attachments::ContentType;
use fieldcase_core::handoff::qr::{chunks, QR_VERSION};
use fieldcase_core::handoff::{
    make, open, AgencySecretKey, BundleId, CandidateAttachment, DeviceSigningKey, KnownSigner,
    MakeInput, ReadContext, DEFAULT_LIFETIME_MS,
};
use fieldcase_core::merge::{FieldState, RecordState};
use fieldcase_core::model::date::Date;
use fieldcase_core::model::Case;
use fieldcase_core::referral::{allowed_shared_fields, Referral, Urgency};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::{
    AgencyCode, DeviceId, FieldChange, Hlc, OpId, Operation, RecordId, RecordKind,
};
use rand::RngCore;
use serde_json::json;

const NOW: u64 = 1_780_000_000_000;
/// A phone camera's JPEG of a face or a document page, compressed for upload.
const PHOTO_BYTES: usize = 100 * 1024;

struct Fixture {
    device: DeviceId,
    signer: DeviceSigningKey,
    receiver: AgencySecretKey,
    referral_op: Operation,
    case: RecordState,
    photo: CandidateAttachment,
}

fn fixture() -> Fixture {
    let device = DeviceId::from_bytes([7; 16]);
    let hlc = Hlc {
        wall_ms: NOW - 1000,
        counter: 0,
        device,
    };
    let mut value = SampleCases::new(15).next_case();
    value["consent"]["data_sharing"] = json!(["iom_eth"]);
    let fields = Case::from_json(&value)
        .expect("a sample case is valid")
        .to_fields();
    let mut case = RecordState::new(RecordKind::Case);
    for (key, value) in fields {
        case.fields.insert(key, FieldState { value, hlc });
    }
    let to = AgencyCode::parse("iom_eth").unwrap();
    let referral = Referral {
        case_id: RecordId::new(),
        from_agency: AgencyCode::parse("iom_uga").unwrap(),
        to_agency: to.clone(),
        services: [fieldcase_core::model::codes::ServiceType::Shelter].into(),
        reason: "Needs temporary shelter until travel documents are issued; \
                 no bed free in our district."
            .into(),
        urgency: Urgency::High,
        shared_fields: allowed_shared_fields(&case.values(), &to),
        transfer: false,
        share_back: true,
        created_by: "caseworker1".into(),
        created_on: Date::parse("2026-05-28").unwrap(),
    };
    let referral_op = Operation {
        op_id: OpId { device, seq: 42 },
        kind: RecordKind::Referral,
        record_id: RecordId::new(),
        hlc,
        fields: referral
            .to_fields()
            .into_iter()
            .map(|(k, value)| (k, FieldChange::fresh(value)))
            .collect(),
    };
    let mut bytes = vec![0u8; PHOTO_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    Fixture {
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
            declared_by: AgencyCode::parse("iom_uga").unwrap(),
            created_at_ms: NOW - 500,
            bytes,
        },
    }
}

fn make_bundle(f: &Fixture, with_photo: bool) -> Vec<u8> {
    let attachments = if with_photo {
        std::slice::from_ref(&f.photo)
    } else {
        &[]
    };
    make(
        &MakeInput {
            referral_op: &f.referral_op,
            case: &f.case,
            attachments,
            device: f.device,
            now_ms: NOW,
            lifetime_ms: DEFAULT_LIFETIME_MS,
        },
        &f.signer,
        &f.receiver.public(),
    )
    .expect("makes")
    .bytes
}

fn read_bundle(f: &Fixture, bytes: &[u8]) -> usize {
    let me = AgencyCode::parse("iom_eth").unwrap();
    let signer = |_: DeviceId| {
        Some(KnownSigner {
            agency: AgencyCode::parse("iom_uga").unwrap(),
            key: f.signer.public(),
            revoked: false,
        })
    };
    let seen = |_: BundleId| false;
    let opened = open(
        bytes,
        &ReadContext {
            agency: &me,
            agency_key: &f.receiver,
            now_ms: NOW + 1000,
            signer: &signer,
            seen: &seen,
        },
    )
    .expect("opens");
    opened.payload.case_copies.len()
}

fn handoff(c: &mut Criterion) {
    let f = fixture();
    for with_photo in [false, true] {
        let bytes = make_bundle(&f, with_photo);
        let codes = chunks(&bytes).expect("chunks").len();
        println!(
            "{}",
            json!({
                "figure": "handoff_bundle",
                "photo_bytes": if with_photo { PHOTO_BYTES } else { 0 },
                "shared_fields": f.case.values().len(),
                "bundle_bytes": bytes.len(),
                "qr_version": QR_VERSION,
                "qr_level": "M",
                "qr_codes": codes,
            })
        );
        let name = if with_photo { "with_photo" } else { "no_photo" };
        c.bench_function(&format!("handoff/make/{name}"), |b| {
            b.iter(|| make_bundle(&f, with_photo))
        });
        c.bench_function(&format!("handoff/read/{name}"), |b| {
            b.iter(|| read_bundle(&f, &bytes))
        });
        c.bench_function(&format!("handoff/qr_chunks/{name}"), |b| {
            b.iter(|| chunks(&bytes).expect("chunks").len())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = handoff
}
criterion_main!(benches);
