//! Serving TLS from a certificate and key the operator gives, reloaded without a restart.
//!
//! `fieldcase serve --tls-cert FILE --tls-key FILE` (PEM: the certificate chain, leaf first,
//! and its private key) makes every connection TLS 1.3 or 1.2 — rustls implements nothing
//! older, and the versions are named so it stays that way. The files are read at start (a
//! missing or unreadable file stops the start with a message naming it), then watched:
//! [`watch`] rereads them when their modification time or size changes (a renewal by certbot or
//! an ACME client, a copy by an operator) and on SIGHUP. A renewal that cannot be read — a key
//! not matching its certificate, a half-written file — is logged and the certificate already
//! served stays, so a botched renewal never takes the server down.
//!
//! Devices may pin the server's key ([`fieldcase_core::sync::Pin`]); the pin of the served
//! certificate is logged at start and on every reload and given with each enrollment code, so
//! an admin sees at once when a renewal changed the key (pinned devices would then refuse the
//! server: `docs/security.md` says how to roll a key).

use fieldcase_core::sync::Pin;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// How often [`watch`] looks at the files' modification times.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// The certificate chain and key files of `--tls-cert` / `--tls-key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// Why a certificate or key could not be used. Names the file, never key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("TLS key {path}: {reason}")]
    Key { path: String, reason: String },
}

fn certificate_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Certificate {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn key_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Key {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads the chain and key and checks they belong together.
fn load(files: &TlsFiles) -> Result<(Arc<CertifiedKey>, Pin), TlsError> {
    let chain = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| certificate_error(&files.certificate, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(&files.certificate, e))?;
    let leaf = chain
        .first()
        .ok_or_else(|| certificate_error(&files.certificate, "no PEM certificate in the file"))?;
    let pin =
        Pin::of_certificate(leaf.as_ref()).map_err(|e| certificate_error(&files.certificate, e))?;
    // rustls's own messages about a key say what is wrong with its format, never its bytes.
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_error(&files.key, e))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        key_error(
            &files.key,
            format!("{e} (does it belong to the certificate?)"),
        )
    })?;
    Ok((Arc::new(certified), pin))
}

/// The certificate being served, swapped whole on reload.
#[derive(Debug)]
pub struct ReloadingCertificate {
    files: TlsFiles,
    current: RwLock<(Arc<CertifiedKey>, Pin)>,
}

impl ReloadingCertificate {
    /// Loads the files; fails with a message naming the file that is wrong.
    pub fn load(files: TlsFiles) -> Result<ReloadingCertificate, TlsError> {
        let current = load(&files)?;
        Ok(ReloadingCertificate {
            files,
            current: RwLock::new(current),
        })
    }

    /// The pin of the certificate served now.
    pub fn pin(&self) -> Pin {
        self.current.read().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Rereads the files; on failure keeps serving what it served.
    pub fn reload(&self) -> Result<Pin, TlsError> {
        let loaded = load(&self.files)?;
        let pin = loaded.1;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(pin)
    }

    /// The rustls configuration serving this certificate: TLS 1.3 and 1.2, HTTP/1.1.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    fn files_stamp(&self) -> Option<[(SystemTime, u64); 2]> {
        let stamp = |path: &Path| {
            let metadata = std::fs::metadata(path).ok()?;
            Some((metadata.modified().ok()?, metadata.len()))
        };
        Some([stamp(&self.files.certificate)?, stamp(&self.files.key)?])
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .clone(),
        )
    }
}

/// Reloads `certificate` when its files change (checked every `interval`) or on SIGHUP, until
/// the task is dropped.
pub async fn watch(certificate: Arc<ReloadingCertificate>, interval: Duration) {
    let mut stamp = certificate.files_stamp();
    let mut hangup = hangup_signals();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = next_hangup(&mut hangup) => true,
        };
        let now = certificate.files_stamp();
        if !forced && (now == stamp || now.is_none()) {
            continue;
        }
        // A renewal writes two files: wait for the second before reading the pair.
        if !forced {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        stamp = certificate.files_stamp();
        let reloaded = {
            let certificate = certificate.clone();
            tokio::task::spawn_blocking(move || certificate.reload()).await
        };
        match reloaded {
            Ok(Ok(pin)) => tracing::info!(%pin, "reloaded the TLS certificate"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the new TLS certificate cannot be used; still serving the previous one")
            }
            Err(e) => tracing::error!(error = %e, "reloading the TLS certificate failed"),
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signals() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_signals() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangup) -> Option<()> {
    match hangup {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}
