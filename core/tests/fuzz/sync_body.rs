//! The sync body decoder (`protocol::decode_body` for pushes the server reads,
//! `protocol::decode_reply` for replies a device reads) on arbitrary bytes, and on valid zstd
//! frames around mutated messages, so the fuzzer gets past decompression into the JSON and the
//! bounds.

use crate::tape::Tape;
use bolero::check;
use fieldcase_core::protocol::{
    decode_body, decode_reply, encode_body, CodecError, SyncRequest, SyncResponse,
};
use serde_json::{json, Value};

/// Names and values of the sync messages, for the mutator to reuse.
const WORDS: &[&str] = &[
    "protocol",
    "ops",
    "cursor",
    "pull_limit",
    "commands",
    "store",
    "op_id",
    "kind",
    "record_id",
    "hlc",
    "fields",
    "d",
    "s",
    "w",
    "c",
    "v",
    "case",
    "note",
    "service",
    "referral",
    "acked_through",
    "rejections",
    "next_cursor",
    "more",
    "reset",
    "server_time_ms",
    "command_results",
    "next_credential",
    "device_policy",
    "sex",
    "given_name",
    "answers.x",
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-7000-8000-000000000002",
    "",
    "\u{0}",
    "é",
];

fn push_template() -> Value {
    json!({
        "protocol": 1,
        "cursor": null,
        "ops": [{
            "op_id": {"d": "00000000-0000-4000-8000-000000000001", "s": 1},
            "kind": "case",
            "record_id": "00000000-0000-7000-8000-000000000002",
            "hlc": {"w": 1_790_000_000_000u64, "c": 0, "d": "00000000-0000-4000-8000-000000000001"},
            "fields": {"sex": {"v": "female"}, "answers.x": {"v": [1, {"a": "b"}]}}
        }]
    })
}

fn reply_template() -> Value {
    json!({
        "acked_through": 1,
        "ops": push_template()["ops"].clone(),
        "next_cursor": "c1",
        "more": false,
        "server_time_ms": 1_790_000_000_000u64
    })
}

/// A decoded message re-encodes to a body that decodes equal.
fn round_trips<T>(message: &T, decode: fn(&[u8]) -> Result<T, CodecError>)
where
    T: serde::Serialize + PartialEq + std::fmt::Debug,
{
    let again = decode(&encode_body(message)).expect("a decoded message decodes again");
    assert_eq!(&again, message);
}

#[test]
fn templates_are_valid_messages() {
    // Without this, a template gone stale would leave the mutating target testing only errors.
    decode_body::<SyncRequest>(&encode_body(&push_template())).unwrap();
    decode_reply::<SyncResponse>(&encode_body(&reply_template())).unwrap();
}

#[test]
fn sync_body_arbitrary_bytes() {
    check!().for_each(|bytes: &[u8]| {
        if let Ok(request) = decode_body::<SyncRequest>(bytes) {
            round_trips(&request, decode_body);
        }
        if let Ok(reply) = decode_reply::<SyncResponse>(bytes) {
            round_trips(&reply, decode_reply);
        }
    });
}

#[test]
fn sync_body_compressed_json() {
    check!().for_each(|bytes: &[u8]| {
        let mut tape = Tape::new(bytes);
        let reply = tape.byte() & 1 == 1;
        let mut message = if reply {
            reply_template()
        } else {
            push_template()
        };
        tape.mutate(&mut message, WORDS);
        let body = encode_body(&message);
        let result = if reply {
            decode_reply::<SyncResponse>(&body).map(|m| round_trips(&m, decode_reply))
        } else {
            decode_body::<SyncRequest>(&body).map(|m| round_trips(&m, decode_body))
        };
        // A well-formed zstd frame of JSON is a message, or is refused for what it says.
        if let Err(e) = result {
            assert!(
                matches!(e, CodecError::Json(_) | CodecError::Limit(_)),
                "{e:?}"
            );
        }
    });
}
