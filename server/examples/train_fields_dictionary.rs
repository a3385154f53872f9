//! Trains the zstd dictionary the server compresses field maps with before sealing them
//! (`server/src/storage/packed.rs`), and writes it where the build includes it:
//!
//! ```sh
//! cargo run -p fieldcase-server --example train_fields_dictionary -- server/src/storage/dictionaries/fields-1.zdict
//! ```
//!
//! A dictionary, once shipped, is never changed: every value compressed with it names it by
//! its id and needs exactly it to open. A better one is trained into a new file with a new
//! id, and both are kept.
//!
//! **What it learns from.** Operation payloads of the generator's cases
//! (`fieldcase_core::sample`), in the shape the server stores them (field key → value and
//! the versions it saw), with every value a person typed replaced by random text of a
//! similar length: names, phone and document numbers, the guardian, who recorded consent, the
//! narrative. What stays is what every case shares — the field keys, the code lists (countries,
//! categories, programmes, services) and the JSON around them — so the dictionary holds the
//! schema, not anyone's data, and a measurement on generated cases is not flattered by having
//! seen their names.

use fieldcase_core::model::Case;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::FieldChange;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Samples to train on: zstd's trainer wants a few thousand for a dictionary of this size.
const SAMPLES: usize = 5_000;
/// The dictionary's size: small values gain almost nothing past 8 KiB (measured: 4 KiB
/// 130 B, 8 KiB 126 B, 32 KiB 125 B per intake-sized case), and every process keeps it
/// digested in memory.
const DICTIONARY_BYTES: usize = 8 * 1024;

fn random_text(rng: &mut StdRng, len: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| LETTERS[rng.gen_range(0..LETTERS.len())] as char)
        .collect()
}

/// One payload as the server would store it, with what a person typed replaced.
fn scrubbed_payload(rng: &mut StdRng, mut case: Value) -> Vec<u8> {
    for key in ["given_name", "family_name"] {
        let len = rng.gen_range(3..12);
        case[key] = json!(random_text(rng, len));
    }
    case["phone"] = json!(format!(
        "+{} {}",
        rng.gen_range(200..300),
        rng.gen_range(1_000_000..9_999_999)
    ));
    if let Some(documents) = case["document_numbers"].as_array_mut() {
        for document in documents {
            document["number"] = json!(format!("X{}", rng.gen_range(1_000_000..9_999_999)));
        }
    }
    if case["consent"]["guardian"].is_string() {
        let len = rng.gen_range(10..40);
        case["consent"]["guardian"] = json!(random_text(rng, len));
    }
    let recorder = random_text(rng, 8);
    case["consent"]["assistance"]["recorded_by"] = json!(recorder);
    if let Some(answers) = case["answers"].as_object_mut() {
        answers.remove("narrative");
    }
    let case = Case::from_json(&case).expect("a scrubbed sample case stays valid");
    let fields: BTreeMap<String, FieldChange> = case
        .to_fields()
        .into_iter()
        .map(|(key, value)| (key, FieldChange::fresh(value)))
        .collect();
    serde_json::to_vec(&fields).expect("field maps serialize")
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "server/src/storage/dictionaries/fields-1.zdict".into());
    let mut rng = StdRng::seed_from_u64(2026);
    let samples: Vec<Vec<u8>> = SampleCases::new(424_242)
        .take(SAMPLES)
        .map(|case| scrubbed_payload(&mut rng, case))
        .collect();
    let dictionary =
        zstd::dict::from_samples(&samples, DICTIONARY_BYTES).expect("train the dictionary");
    let id = zstd::zstd_safe::get_dict_id_from_dict(&dictionary).map_or(0, |id| id.get());
    std::fs::write(&out, &dictionary).expect("write the dictionary");
    println!("{out}: {} bytes, dictionary id {id}", dictionary.len());
}
