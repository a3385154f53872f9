//! The receipt: the receiving phone's answer, shown back to the referring phone as one QR code
//! (or a file), so both phones record the transition as pending before either syncs.
//!
//! Format: `"FCHR" | version (1) | body length (u16) | body (JSON) | Ed25519 signature (64)`,
//! the signature by the receiving device over a domain label and the body. The body holds ids,
//! the transition and a time — no reason text and nothing about the person, so it is not
//! encrypted. It changes nothing on the server: the receiving phone's own command is what the
//! server applies; the receipt only lets the referring phone show "accepted, not yet
//! confirmed" until its next sync brings the server's answer.

use super::bundle::KnownSigner;
use super::keys::DeviceSigningKey;
use super::{BundleId, HandoffError};
use crate::ids::{DeviceId, RecordId};
use crate::referral::Transition;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 4] = b"FCHR";
const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"fieldcase/v1/handoff/receipt\0";
/// Longest receipt body: a few ids and a code.
const MAX_BODY_BYTES: usize = 512;

/// What the receiving phone reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub bundle_id: BundleId,
    pub referral_id: RecordId,
    pub transition: Transition,
    /// The receiving device, which signs.
    pub device: DeviceId,
    pub at_ms: u64,
}

/// Signs `receipt` with the receiving device's key.
pub fn make_receipt(receipt: &Receipt, signer: &DeviceSigningKey) -> Vec<u8> {
    let body = serde_json::to_vec(receipt).expect("a receipt serializes");
    let signature = signer.sign(&signed(&body));
    let mut bytes = Vec::with_capacity(7 + body.len() + 64);
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(&(body.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&signature);
    bytes
}

/// Reads and verifies a receipt; `signer` looks up the receiving device as this phone knows
/// it. The caller checks the receipt's referral is one it made, to the signer's agency.
pub fn read_receipt(
    bytes: &[u8],
    signer: &dyn Fn(DeviceId) -> Option<KnownSigner>,
) -> Result<(Receipt, KnownSigner), HandoffError> {
    if bytes.len() < 7 || &bytes[..4] != MAGIC {
        return Err(HandoffError::Malformed("not a fieldcase handoff receipt"));
    }
    if bytes[4] != VERSION {
        return Err(HandoffError::UnsupportedVersion(bytes[4]));
    }
    let len = u16::from_le_bytes([bytes[5], bytes[6]]) as usize;
    if len > MAX_BODY_BYTES || bytes.len() != 7 + len + 64 {
        return Err(HandoffError::Malformed("receipt length"));
    }
    let body = &bytes[7..7 + len];
    let signature: [u8; 64] = bytes[7 + len..].try_into().expect("64 bytes");
    let receipt: Receipt =
        serde_json::from_slice(body).map_err(|_| HandoffError::Malformed("receipt"))?;
    let known = signer(receipt.device).ok_or(HandoffError::UnknownDevice)?;
    if !known.key.verifies(&signed(body), &signature) {
        return Err(HandoffError::BadSignature);
    }
    if known.revoked {
        return Err(HandoffError::RevokedDevice);
    }
    Ok((receipt, known))
}

fn signed(body: &[u8]) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(body);
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AgencyCode;

    #[test]
    fn a_receipt_verifies_and_any_change_is_refused() {
        let key = DeviceSigningKey::generate();
        let receipt = Receipt {
            bundle_id: BundleId::new_random(),
            referral_id: RecordId::new(),
            transition: Transition::Accept,
            device: DeviceId::new_random(),
            at_ms: 1,
        };
        let bytes = make_receipt(&receipt, &key);
        let known = KnownSigner {
            agency: AgencyCode::parse("iom_eth").unwrap(),
            key: key.public(),
            revoked: false,
        };
        let lookup = |_| Some(known.clone());
        assert_eq!(read_receipt(&bytes, &lookup).unwrap().0, receipt);
        for at in [8, bytes.len() / 2, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            assert!(read_receipt(&changed, &lookup).is_err(), "{at}");
        }
        assert_eq!(
            read_receipt(&bytes, &|_| None).unwrap_err(),
            HandoffError::UnknownDevice
        );
        let revoked = KnownSigner {
            revoked: true,
            ..known.clone()
        };
        assert_eq!(
            read_receipt(&bytes, &|_| Some(revoked.clone())).unwrap_err(),
            HandoffError::RevokedDevice
        );
        assert!(read_receipt(b"FCHR", &lookup).is_err());
    }
}
