//! STUB — replaced by the crypto work. The data key and the subkeys derived from it.
use super::{IndexKey, SealKey};

pub struct DataKey(zeroize::Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> DataKey {
        todo!()
    }
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(zeroize::Zeroizing::new(bytes))
    }
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn derive_store_keys(&self) -> StoreKeys {
        todo!()
    }
}

pub struct StoreKeys {
    pub seal: SealKey,
    pub index: IndexKey,
}
