//! Fuzz target for the server key sources (`server_key::KeySource`): a key file's bytes, the
//! base64 text of `FIELDCASE_SERVER_KEY`, and a key command's output (raw or base64). Any bytes
//! give a sealer for exactly the key they hold, or a typed error that carries no key bytes
//! (its fields are a source name and a length); never a panic and never a different key.
//!
//! Runs as an ordinary test on stable (bolero's random inputs for its default second) and under
//! libFuzzer with `cargo bolero test` on nightly; see `docs/fuzzing.md`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bolero::check;
use fieldcase_server::seal::{SealError, Sealer, KEY_BYTES};
use fieldcase_server::server_key::{KeySource, MAX_KEY_COMMAND_OUTPUT};
use std::path::Path;
use zeroize::Zeroizing;

/// Key-shaped bytes from fuzzer bytes, so inputs reach the length and encoding checks with
/// near-misses as well as noise: the bytes as they are; 32 of them; or base64 of 30 to 34
/// of them, with whitespace around, padding dropped or one character changed.
fn key_like(bytes: &[u8]) -> Vec<u8> {
    let Some((&mode, rest)) = bytes.split_first() else {
        return Vec::new();
    };
    match mode % 4 {
        0 => rest.to_vec(),
        1 => rest.iter().copied().cycle().take(KEY_BYTES).collect(),
        _ => {
            let len = KEY_BYTES - 2 + usize::from(mode / 4 % 5);
            let key: Vec<u8> = rest.iter().copied().chain(0..).take(len).collect();
            let mut text = STANDARD.encode(&key).into_bytes();
            match mode / 32 {
                0 => text.insert(0, b' '),
                1 => text.extend_from_slice(b"\n"),
                2 => text.retain(|&c| c != b'='),
                3 if !text.is_empty() => {
                    let at = usize::from(mode) % text.len();
                    text[at] = rest.get(at).copied().unwrap_or(b'*');
                }
                _ => {}
            }
            text
        }
    }
}

/// The key raw bytes must give: exactly 32 of them.
fn raw_key(bytes: &[u8]) -> Option<[u8; KEY_BYTES]> {
    bytes.try_into().ok()
}

/// The key base64 text must give: 32 bytes once decoded, whitespace around ignored.
fn base64_key(bytes: &[u8]) -> Option<[u8; KEY_BYTES]> {
    let decoded = STANDARD.decode(bytes.trim_ascii()).ok()?;
    decoded.try_into().ok()
}

/// The loaded sealer opens what the expected key sealed, or the load failed with a key error.
fn check_loaded(
    loaded: Result<(Sealer, Option<std::path::PathBuf>), SealError>,
    key: Option<[u8; KEY_BYTES]>,
) {
    match (loaded, key) {
        (Ok((sealer, created)), Some(key)) => {
            assert_eq!(created, None, "a given key is never created");
            let sealed = Sealer::from_key(&key).seal(b"ad", b"value");
            assert_eq!(sealer.open(b"ad", &sealed).unwrap(), b"value");
        }
        (Ok(_), None) => panic!("bytes that are not a key were taken as one"),
        (Err(e), Some(_)) => panic!("a valid key was refused: {e}"),
        (Err(e), None) => assert!(
            matches!(
                e,
                SealError::KeyLength { .. }
                    | SealError::KeySourceLength { .. }
                    | SealError::KeyEncoding { .. }
            ),
            "{e:?}"
        ),
    }
}

#[test]
fn server_key_file_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    check!().for_each(|bytes: &[u8]| {
        let bytes = key_like(bytes);
        std::fs::write(&path, &bytes).unwrap();
        // A key file holds the raw bytes only.
        let loaded = KeySource::File(path.clone()).load(Path::new("/nonexistent/server.key"));
        check_loaded(loaded, raw_key(&bytes));
    });
}

#[test]
fn server_key_base64_text() {
    check!().for_each(|bytes: &[u8]| {
        let bytes = key_like(bytes);
        let Ok(text) = String::from_utf8(bytes) else {
            return;
        };
        // From the environment only base64 counts, even text 32 bytes long.
        let key = base64_key(text.as_bytes());
        let loaded =
            KeySource::Base64(Zeroizing::new(text)).load(Path::new("/nonexistent/server.key"));
        check_loaded(loaded, key);
    });
}

#[test]
fn server_key_command_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("output");
    // Each input starts a process (`cat`), so this target runs fewer inputs per second.
    check!().for_each(|bytes: &[u8]| {
        let bytes = key_like(bytes);
        // Longer output is refused as not a key (a KeyCommand error), checked by the unit tests.
        let bytes = &bytes[..bytes.len().min(MAX_KEY_COMMAND_OUTPUT)];
        std::fs::write(&path, bytes).unwrap();
        let command = format!("cat '{}'", path.display());
        let loaded = KeySource::Command(command).load(Path::new("/nonexistent/server.key"));
        // Exactly 32 bytes are the key itself; anything else must be base64 of one.
        let key = raw_key(bytes).or_else(|| base64_key(bytes));
        check_loaded(loaded, key);
    });
}
