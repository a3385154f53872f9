//! STUB — replaced by the crypto work. Keyed blind-index tokens over normalized values.

pub type Token = [u8; 16];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    Name,
    Phone,
    Document,
}

pub struct IndexKey(zeroize::Zeroizing<[u8; 32]>);

impl IndexKey {
    pub fn from_bytes(bytes: [u8; 32]) -> IndexKey {
        IndexKey(zeroize::Zeroizing::new(bytes))
    }
    pub fn token(&self, _kind: IndexKind, _normalized: &str) -> Token {
        todo!()
    }
}
