//! STUB — replaced by the crypto work. XChaCha20-Poly1305 sealing with bound associated data.
use super::CryptoError;

pub struct SealKey(zeroize::Zeroizing<[u8; 32]>);

#[derive(Clone, Copy, Debug)]
pub struct Aad<'a> {
    pub table: &'a str,
    pub record: &'a [u8],
    pub part: &'a str,
}

impl SealKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SealKey {
        SealKey(zeroize::Zeroizing::new(bytes))
    }
    pub fn seal(&self, _aad: Aad<'_>, _plaintext: &[u8]) -> Vec<u8> {
        todo!()
    }
    pub fn open(&self, _aad: Aad<'_>, _sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        todo!()
    }
}
