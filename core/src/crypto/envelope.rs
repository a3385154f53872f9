//! STUB — replaced by the crypto work. The versioned envelope wrapping the data key.
use super::{CryptoError, DataKey, KdfParams};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEnvelope {
    pub kdf: KdfParams,
    pub needs_extra_secret: bool,
}

impl KeyEnvelope {
    pub fn wrap(
        _dek: &DataKey,
        _passphrase: &[u8],
        _extra_secret: Option<&[u8]>,
        _params: KdfParams,
        _context: &[u8],
    ) -> Result<KeyEnvelope, CryptoError> {
        todo!()
    }
    pub fn unwrap_key(
        &self,
        _passphrase: &[u8],
        _extra_secret: Option<&[u8]>,
        _context: &[u8],
    ) -> Result<DataKey, CryptoError> {
        todo!()
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        todo!()
    }
    pub fn from_bytes(_bytes: &[u8]) -> Result<KeyEnvelope, CryptoError> {
        todo!()
    }
}
