//! Where the server's at-rest key comes from, so it need not sit beside the database.
//!
//! A copy of the data directory with `server.key` in it opens everything the server sealed.
//! An operator keeps the key elsewhere with one of:
//! - a key file outside the data directory (`--key-file`, 32 raw bytes);
//! - the environment (`FIELDCASE_SERVER_KEY`, base64 of the 32 bytes), as container
//!   platforms and systemd credentials hand secrets over;
//! - a command run once at start (`--key-command`, through `sh -c`) whose standard output is
//!   the key, 32 raw bytes or their base64: a KMS or secret-manager client that unwraps it.
//!
//! Without any, the key is `<data-dir>/server.key`, made on first start (the old behaviour).
//! Every source must give exactly [`KEY_BYTES`]; anything else is refused with an error that
//! names the source and the length, never the key. The key is held in zeroizing buffers and
//! never logged or shown by `Debug`.

use crate::seal::{SealError, Sealer, KEY_BYTES};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The environment variable that may hold the key, base64.
pub const KEY_ENV_VAR: &str = "FIELDCASE_SERVER_KEY";

/// How long the key command may run. A KMS call over a slow link takes seconds; a minute
/// bounds a hung command so the server fails to start with a clear error instead of hanging.
pub const KEY_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Most bytes read from the key command's output: a key in base64 with a newline is 45; a
/// command printing more is not printing a key, and its output is not kept.
pub const MAX_KEY_COMMAND_OUTPUT: usize = 1024;

/// How often a running key command is checked for having finished.
const KEY_COMMAND_POLL: Duration = Duration::from_millis(20);

/// Where the key comes from. `Debug` never shows a key.
#[derive(Clone)]
pub enum KeySource {
    /// `<data-dir>/server.key`, created (owner-only) on first start.
    DataDir,
    /// A key file that must exist (32 raw bytes), typically outside the data directory.
    File(PathBuf),
    /// The key itself, base64, as read from [`KEY_ENV_VAR`].
    Base64(Zeroizing<String>),
    /// A shell command whose standard output is the key.
    Command(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::DataDir => f.write_str("KeySource::DataDir"),
            KeySource::File(path) => f.debug_tuple("KeySource::File").field(path).finish(),
            KeySource::Base64(_) => f.write_str("KeySource::Base64(..)"),
            KeySource::Command(_) => f.write_str("KeySource::Command(..)"),
        }
    }
}

/// Why the sources given on the command line do not name one key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeySourceError {
    #[error(
        "give the server key one way: --key-file, {KEY_ENV_VAR} or --key-command \
         (got {0})"
    )]
    SeveralSources(String),
    #[error("{KEY_ENV_VAR} is set but is not text")]
    EnvNotText,
}

impl KeySource {
    /// The one source among those given (none: [`KeySource::DataDir`]).
    pub fn choose(
        file: Option<PathBuf>,
        env_base64: Option<Zeroizing<String>>,
        command: Option<String>,
    ) -> Result<KeySource, KeySourceError> {
        let mut given = Vec::new();
        if file.is_some() {
            given.push("--key-file");
        }
        if env_base64.is_some() {
            given.push(KEY_ENV_VAR);
        }
        if command.is_some() {
            given.push("--key-command");
        }
        if given.len() > 1 {
            return Err(KeySourceError::SeveralSources(given.join(", ")));
        }
        Ok(match (file, env_base64, command) {
            (Some(path), _, _) => KeySource::File(path),
            (_, Some(text), _) => KeySource::Base64(text),
            (_, _, Some(command)) => KeySource::Command(command),
            _ => KeySource::DataDir,
        })
    }

    /// Reads [`KEY_ENV_VAR`] from this process's environment: `None` when unset.
    pub fn env_base64() -> Result<Option<Zeroizing<String>>, KeySourceError> {
        match std::env::var_os(KEY_ENV_VAR) {
            None => Ok(None),
            Some(value) => value
                .into_string()
                .map(|s| Some(Zeroizing::new(s)))
                .map_err(|_| KeySourceError::EnvNotText),
        }
    }

    /// Whether the key lives in the data directory (the default), beside the database.
    pub fn is_in_data_dir(&self) -> bool {
        matches!(self, KeySource::DataDir)
    }

    /// Loads the key; `default_path` is `<data-dir>/server.key`. Returns the sealer and, when
    /// this start created the default key file, its path. May block (a file read, a command).
    pub fn load(&self, default_path: &Path) -> Result<(Sealer, Option<PathBuf>), SealError> {
        match self {
            KeySource::DataDir => {
                let (sealer, created) = Sealer::load_or_create(default_path, true)?;
                Ok((sealer, created.then(|| default_path.to_owned())))
            }
            KeySource::File(path) => Ok((Sealer::load_or_create(path, false)?.0, None)),
            KeySource::Base64(text) => {
                let key = decode_base64(KEY_ENV_VAR, text.as_bytes())?;
                Ok((Sealer::from_key(&key), None))
            }
            KeySource::Command(command) => {
                let output = run_key_command(command, KEY_COMMAND_TIMEOUT)?;
                let key = key_from_output(&output)?;
                Ok((Sealer::from_key(&key), None))
            }
        }
    }
}

/// The key from base64 text (surrounding whitespace ignored).
fn decode_base64(
    origin: &'static str,
    text: &[u8],
) -> Result<Zeroizing<[u8; KEY_BYTES]>, SealError> {
    let decoded = Zeroizing::new(
        STANDARD
            .decode(text.trim_ascii())
            .map_err(|_| SealError::KeyEncoding { origin })?,
    );
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    if decoded.len() != KEY_BYTES {
        return Err(SealError::KeySourceLength {
            origin,
            len: decoded.len(),
        });
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

/// The key from a command's output: exactly 32 raw bytes, or base64 text (a 32-byte output
/// is never base64 of 32 bytes, which takes 43 or more characters).
fn key_from_output(output: &[u8]) -> Result<Zeroizing<[u8; KEY_BYTES]>, SealError> {
    const SOURCE: &str = "the key command";
    if output.len() == KEY_BYTES {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        key.copy_from_slice(output);
        return Ok(key);
    }
    decode_base64(SOURCE, output)
}

/// Runs `command` through `sh -c` with no input, its standard error passed through to ours
/// (a KMS client's diagnostics are the operator's to read) and its output captured, bounded
/// in size and time. The key variable is not passed on.
fn run_key_command(command: &str, timeout: Duration) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let failed = |reason: String| SealError::KeyCommand { reason };
    let mut child = shell(command)
        .env_remove(KEY_ENV_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("could not start: {e}")))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = Zeroizing::new(Vec::new());
        let read = (&mut stdout)
            .take(MAX_KEY_COMMAND_OUTPUT as u64 + 1)
            .read_to_end(&mut out);
        read.map(|_| out)
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "still running after {} s; stopped",
                    timeout.as_secs_f64()
                )));
            }
            Ok(None) => std::thread::sleep(KEY_COMMAND_POLL),
            Err(e) => return Err(failed(format!("could not wait for it: {e}"))),
        }
    };
    let output = reader
        .join()
        .map_err(|_| failed("reading its output failed".into()))?
        .map_err(|e| failed(format!("reading its output: {e}")))?;
    if !status.success() {
        return Err(failed(status.to_string()));
    }
    if output.len() > MAX_KEY_COMMAND_OUTPUT {
        return Err(failed(format!(
            "it printed more than {MAX_KEY_COMMAND_OUTPUT} bytes"
        )));
    }
    Ok(output)
}

#[cfg(unix)]
fn shell(command: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    cmd
}

#[cfg(not(unix))]
fn shell(command: &str) -> Command {
    let mut cmd = Command::new("cmd");
    cmd.arg("/C").arg(command);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(bytes))
    }

    #[test]
    fn one_source_at_most() {
        assert!(matches!(
            KeySource::choose(None, None, None),
            Ok(KeySource::DataDir)
        ));
        assert!(matches!(
            KeySource::choose(None, Some(b64(&[1; 32])), None),
            Ok(KeySource::Base64(_))
        ));
        assert_eq!(
            KeySource::choose(Some("k".into()), None, Some("cat k".into())).unwrap_err(),
            KeySourceError::SeveralSources("--key-file, --key-command".into())
        );
    }

    #[test]
    fn base64_keys_of_the_wrong_length_are_refused_without_showing_them() {
        let sealer = Sealer::from_key(&[7; 32]);
        let sealed = sealer.seal(b"ad", b"x");
        let (loaded, created) = KeySource::Base64(b64(&[7; 32]))
            .load(Path::new("/nonexistent"))
            .unwrap();
        assert_eq!(created, None);
        assert_eq!(loaded.open(b"ad", &sealed).unwrap(), b"x");

        let short = b64(&[7; 31]);
        let err = KeySource::Base64(short.clone())
            .load(Path::new("/nonexistent"))
            .err()
            .unwrap();
        assert!(matches!(err, SealError::KeySourceLength { len: 31, .. }));
        assert!(!err.to_string().contains(short.as_str()), "{err}");
        let err = KeySource::Base64(Zeroizing::new("not base64!".into()))
            .load(Path::new("/nonexistent"))
            .err()
            .unwrap();
        assert!(matches!(err, SealError::KeyEncoding { .. }), "{err}");
        assert!(!err.to_string().contains("not base64!"), "{err}");
    }

    #[test]
    fn a_command_gives_raw_or_base64_keys_and_its_failures_are_errors() {
        let sealed = Sealer::from_key(&[7; 32]).seal(b"ad", b"x");
        let encoded = b64(&[7; 32]);
        for command in [
            format!("echo {}", encoded.as_str()),
            "head -c 32 /dev/zero | tr '\\0' '\\7'".to_owned(),
        ] {
            let (sealer, _) = KeySource::Command(command.clone())
                .load(Path::new("/nonexistent"))
                .unwrap_or_else(|e| panic!("{command}: {e}"));
            assert_eq!(sealer.open(b"ad", &sealed).unwrap(), b"x", "{command}");
        }
        let refused = |command: &str| {
            KeySource::Command(command.into())
                .load(Path::new("/nonexistent"))
                .err()
                .unwrap_or_else(|| panic!("{command} accepted"))
        };
        assert!(matches!(
            refused("head -c 16 /dev/zero"),
            SealError::KeyEncoding { .. } | SealError::KeySourceLength { .. }
        ));
        assert!(matches!(
            refused(&format!("echo {}; exit 3", encoded.as_str())),
            SealError::KeyCommand { .. }
        ));
        assert!(matches!(
            refused("head -c 5000 /dev/zero"),
            SealError::KeyCommand { .. }
        ));
    }

    #[test]
    fn a_hung_command_is_stopped() {
        let err = run_key_command("sleep 30", Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(matches!(err, SealError::KeyCommand { .. }), "{err}");
    }

    #[test]
    fn debug_never_shows_a_key() {
        let text = format!("{:?}", KeySource::Base64(b64(&[7; 32])));
        assert!(!text.contains(b64(&[7; 32]).as_str()), "{text}");
        let text = format!("{:?}", KeySource::Command("echo secret".into()));
        assert!(!text.contains("secret"), "{text}");
    }
}
