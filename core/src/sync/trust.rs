//! Which TLS servers a device trusts: the public roots, or a key pinned at enrollment.
//!
//! Every HTTPS connection a device makes goes through [`tls_config`]: TLS 1.3 or 1.2 only
//! (rustls implements nothing older; naming the versions keeps it so if that ever changes),
//! and the server's certificate verified by [`PinnedVerifier`]:
//!
//! - **No pins**: the certificate must chain to a public root (Mozilla's, from `webpki-roots`)
//!   and name the server, as any browser checks.
//! - **Pins** ([`Pin`]: the SHA-256 of a certificate's public key, `sha256/<base64>`, the form
//!   HPKP used): at least one certificate of the chain the server presents must carry a pinned
//!   key, and the chain must verify — to a public root, or to the pinned certificate itself.
//!   So a central office inside a closed network can run on a self-signed or private-CA
//!   certificate, and a device enrolled with the pin (the enrollment QR code carries it,
//!   [`EnrollmentPayload`]) trusts that key and no other: a network attacker holding a
//!   certificate from a public CA, or a root a phone's owner was tricked into installing, is
//!   refused. The certificate must still be valid for the server's name and not expired.
//!
//! A server that renews its certificate keeps its key (or the admin publishes the next key's
//! pin beside the current one before switching); `docs/security.md` says how.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// The prefix of a pin's text form.
const PIN_PREFIX: &str = "sha256/";

/// The SHA-256 of a certificate's SubjectPublicKeyInfo: what a device pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin([u8; 32]);

/// Why a pin or an enrollment payload could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("a certificate pin must read sha256/ followed by 44 base64 characters")]
    BadPin,
    #[error("the certificate could not be read")]
    BadCertificate,
    #[error(
        "this is not a fieldcase enrollment payload (expected fieldcase-enroll:v1?server=…&code=…)"
    )]
    BadPayload,
    #[error("the enrollment payload has no {0}")]
    MissingInPayload(&'static str),
}

impl Pin {
    /// The pin of a certificate (DER): the hash of its public key, not of the whole
    /// certificate, so a renewal with the same key keeps it.
    pub fn of_certificate(der: &[u8]) -> Result<Pin, TrustError> {
        let der = CertificateDer::from(der);
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| TrustError::BadCertificate)?;
        Ok(Pin(
            Sha256::digest(cert.subject_public_key_info().as_ref()).into()
        ))
    }

    /// Reads `sha256/<base64>` (standard or URL-safe alphabet, padding optional).
    pub fn parse(text: &str) -> Result<Pin, TrustError> {
        let encoded = text
            .trim()
            .strip_prefix(PIN_PREFIX)
            .ok_or(TrustError::BadPin)?
            .trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded.replace('+', "-").replace('/', "_"))
            .map_err(|_| TrustError::BadPin)?;
        Ok(Pin(bytes.try_into().map_err(|_| TrustError::BadPin)?))
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PIN_PREFIX}{}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A pin is public (it hashes a public key): showing it helps whoever debugs a refusal.
        write!(f, "Pin({self})")
    }
}

impl serde::Serialize for Pin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Pin {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pin, D::Error> {
        let text = String::deserialize(deserializer)?;
        Pin::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What an enrollment QR code (or a pasted line) carries:
/// `fieldcase-enroll:v1?server=<url>&code=<code>&pin=sha256/…[&pin=…]`.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentPayload {
    pub server: String,
    pub code: String,
    pub pins: Vec<Pin>,
}

impl fmt::Debug for EnrollmentPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The code is a one-time secret.
        f.debug_struct("EnrollmentPayload")
            .field("server", &self.server)
            .field("pins", &self.pins)
            .finish_non_exhaustive()
    }
}

/// The scheme of an enrollment payload.
pub const ENROLLMENT_PAYLOAD_SCHEME: &str = "fieldcase-enroll:v1";

impl EnrollmentPayload {
    /// The text a QR code carries.
    pub fn to_text(&self) -> String {
        let mut query = reqwest::Url::parse("fieldcase-enroll:v1").expect("a valid URL");
        {
            let mut pairs = query.query_pairs_mut();
            pairs.append_pair("server", &self.server);
            pairs.append_pair("code", &self.code);
            for pin in &self.pins {
                pairs.append_pair("pin", &pin.to_string());
            }
        }
        query.to_string()
    }

    /// Reads a payload made by [`to_text`](Self::to_text).
    pub fn parse(text: &str) -> Result<EnrollmentPayload, TrustError> {
        let text = text.trim();
        let rest = text
            .strip_prefix(ENROLLMENT_PAYLOAD_SCHEME)
            .ok_or(TrustError::BadPayload)?;
        if !rest.starts_with('?') {
            return Err(TrustError::BadPayload);
        }
        let url = reqwest::Url::parse(text).map_err(|_| TrustError::BadPayload)?;
        let (mut server, mut code, mut pins) = (None, None, Vec::new());
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "server" => server = Some(value.into_owned()),
                "code" => code = Some(value.into_owned()),
                "pin" => pins.push(Pin::parse(&value)?),
                // Later versions may add fields; an older app ignores them.
                _ => {}
            }
        }
        Ok(EnrollmentPayload {
            server: server.ok_or(TrustError::MissingInPayload("server address"))?,
            code: code.ok_or(TrustError::MissingInPayload("enrollment code"))?,
            pins,
        })
    }
}

/// The rustls configuration of every HTTPS connection a device makes.
pub fn tls_config(pins: &[Pin]) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedVerifier::new(pins.to_vec(), provider.clone());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth()
}

/// Checks a server's certificate chain against the public roots and, when the device holds
/// pins, against them (see the module docs).
#[derive(Debug)]
pub struct PinnedVerifier {
    pins: Vec<Pin>,
    provider: Arc<CryptoProvider>,
    public: Arc<WebPkiServerVerifier>,
}

fn public_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

impl PinnedVerifier {
    pub fn new(pins: Vec<Pin>, provider: Arc<CryptoProvider>) -> PinnedVerifier {
        let public =
            WebPkiServerVerifier::builder_with_provider(Arc::new(public_roots()), provider.clone())
                .build()
                .expect("the public root store is not empty");
        PinnedVerifier {
            pins,
            provider,
            public,
        }
    }

    /// The chain's certificates whose key is pinned.
    fn pinned<'a>(
        &self,
        end_entity: &'a CertificateDer<'a>,
        intermediates: &'a [CertificateDer<'a>],
    ) -> Vec<&'a CertificateDer<'a>> {
        std::iter::once(end_entity)
            .chain(intermediates)
            .filter(|cert| {
                Pin::of_certificate(cert.as_ref()).is_ok_and(|pin| self.pins.contains(&pin))
            })
            .collect()
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.is_empty() {
            return self.public.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let pinned = self.pinned(end_entity, intermediates);
        if pinned.is_empty() {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        // A pinned certificate is a trust anchor of its own (a self-signed or private-CA
        // server), beside the public roots (a pinned key under a public CA).
        let mut roots = public_roots();
        for cert in pinned {
            let anchor = webpki::anchor_from_trusted_cert(cert)
                .map_err(|_| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
                })?
                .to_owned();
            roots.roots.push(anchor);
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_reads_back_in_either_base64_alphabet() {
        let pin = Pin([0xfb; 32]);
        let text = pin.to_string();
        assert!(text.starts_with("sha256/+"), "{text}");
        assert_eq!(Pin::parse(&text).unwrap(), pin);
        let url_safe = text
            .replace('+', "-")
            .replace('/', "_")
            .replacen("sha256_", "sha256/", 1);
        assert_eq!(Pin::parse(&url_safe).unwrap(), pin);
    }

    #[test]
    fn malformed_pins_are_refused() {
        for bad in ["", "sha256/", "sha1/AAAA", "sha256/AAAA", "sha256/!!!"] {
            assert_eq!(Pin::parse(bad), Err(TrustError::BadPin), "{bad:?}");
        }
    }

    #[test]
    fn an_enrollment_payload_round_trips_with_its_pins() {
        let payload = EnrollmentPayload {
            server: "https://cases.example.org:8443/".into(),
            code: "K7QM-4TXP-9WDR".into(),
            pins: vec![Pin([1; 32]), Pin([2; 32])],
        };
        let text = payload.to_text();
        assert!(text.starts_with("fieldcase-enroll:v1?server="), "{text}");
        assert_eq!(EnrollmentPayload::parse(&text).unwrap(), payload);
        assert!(!format!("{payload:?}").contains("K7QM"));
    }

    #[test]
    fn a_payload_without_its_parts_says_what_is_missing() {
        assert_eq!(
            EnrollmentPayload::parse("https://example.org/?code=A"),
            Err(TrustError::BadPayload)
        );
        assert_eq!(
            EnrollmentPayload::parse("fieldcase-enroll:v1?code=A"),
            Err(TrustError::MissingInPayload("server address"))
        );
        assert_eq!(
            EnrollmentPayload::parse("fieldcase-enroll:v1?server=https://a&pin=sha256/x"),
            Err(TrustError::BadPin)
        );
    }
}
