//! STUB — replaced by the crypto work. Argon2id parameters with a floor and a ceiling.
use super::CryptoError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    pub const DEFAULT: KdfParams = KdfParams { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 };

    pub fn check(&self) -> Result<(), CryptoError> {
        todo!()
    }

    #[cfg(any(test, feature = "insecure-test-kdf"))]
    pub fn insecure_fast_for_tests() -> KdfParams {
        KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 }
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}
