//! Carrying a bundle as a sequence of QR codes: cutting it into chunks that each fit one code
//! a low-end phone camera reads reliably, and putting them back together in any order.
//!
//! Every chunk is self-describing, so a reading phone can take them in any order, skip a
//! duplicate, and say how many are still missing:
//!
//! ```text
//! "FQ" | version (1) | bundle id (first 8 bytes) | index (u16) | count (u16) | data | check (4)
//! ```
//!
//! `check` is the first 4 bytes of the SHA-256 of everything before it: a misread code is
//! refused on its own instead of spoiling the whole bundle (the bundle's own authentication
//! would catch it too, but only at the end, with no clue which code was bad).
//!
//! The code: [`QR_VERSION`] at error-correction level M (see `docs/handoff.md` for why).

use super::bundle::peek_header;
use super::HandoffError;
use sha2::{Digest, Sha256};

/// The QR version every chunk is rendered at: 65×65 modules.
pub const QR_VERSION: i16 = 12;
/// What a version 12 code at level M holds in byte mode.
pub const QR_CAPACITY_BYTES: usize = 287;
const MAGIC: &[u8; 2] = b"FQ";
const CHUNK_VERSION: u8 = 1;
const ID_LEN: usize = 8;
const HEAD_LEN: usize = 2 + 1 + ID_LEN + 2 + 2;
const CHECK_LEN: usize = 4;
/// Bundle bytes per chunk.
pub const CHUNK_DATA_BYTES: usize = QR_CAPACITY_BYTES - HEAD_LEN - CHECK_LEN;

/// Why a scanned code is not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("this QR code is not part of a fieldcase handoff")]
    NotAChunk,
    #[error("this QR code was misread; scan it again")]
    Damaged,
    #[error("this QR code belongs to another handoff; finish this one or start again")]
    OtherBundle,
}

/// Cuts a bundle into chunks of at most [`QR_CAPACITY_BYTES`].
pub fn chunks(bundle: &[u8]) -> Result<Vec<Vec<u8>>, HandoffError> {
    let header = peek_header(bundle)?;
    let id: [u8; ID_LEN] = header.id.0.as_bytes()[..ID_LEN]
        .try_into()
        .expect("8 bytes of 16");
    let count = bundle.len().div_ceil(CHUNK_DATA_BYTES);
    let count = u16::try_from(count).map_err(|_| HandoffError::TooLarge)?;
    Ok(bundle
        .chunks(CHUNK_DATA_BYTES)
        .enumerate()
        .map(|(index, data)| {
            let mut chunk = Vec::with_capacity(HEAD_LEN + data.len() + CHECK_LEN);
            chunk.extend_from_slice(MAGIC);
            chunk.push(CHUNK_VERSION);
            chunk.extend_from_slice(&id);
            chunk.extend_from_slice(&(index as u16).to_le_bytes());
            chunk.extend_from_slice(&count.to_le_bytes());
            chunk.extend_from_slice(data);
            let check = Sha256::digest(&chunk);
            chunk.extend_from_slice(&check[..CHECK_LEN]);
            chunk
        })
        .collect())
}

/// Renders one chunk as a QR code in a terminal: Unicode half blocks, two rows of modules per
/// line, with the quiet zone.
pub fn render_terminal(chunk: &[u8]) -> Result<String, HandoffError> {
    // One byte-mode segment: the crate's "optimal" segmentation may split binary data into
    // several segments whose headers then overflow the version.
    let version = qrcode::Version::Normal(QR_VERSION);
    let mut bits = qrcode::bits::Bits::new(version);
    bits.push_byte_data(chunk)
        .and_then(|()| bits.push_terminator(qrcode::EcLevel::M))
        .map_err(|_| HandoffError::TooLarge)?;
    let code =
        qrcode::QrCode::with_bits(bits, qrcode::EcLevel::M).map_err(|_| HandoffError::TooLarge)?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .build())
}

/// Where an assembly stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub received: usize,
    pub count: usize,
}

impl Progress {
    pub fn is_complete(&self) -> bool {
        self.received == self.count
    }
}

/// Puts scanned chunks back together, in any order; duplicates are ignored.
#[derive(Default)]
pub struct Assembler {
    id: Option<[u8; ID_LEN]>,
    parts: Vec<Option<Vec<u8>>>,
}

impl Assembler {
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// Takes one scanned chunk. A damaged chunk, or one of another bundle, changes nothing.
    pub fn add(&mut self, chunk: &[u8]) -> Result<Progress, ChunkError> {
        if chunk.len() < HEAD_LEN + CHECK_LEN || &chunk[..2] != MAGIC || chunk[2] != CHUNK_VERSION {
            return Err(ChunkError::NotAChunk);
        }
        let (body, check) = chunk.split_at(chunk.len() - CHECK_LEN);
        if Sha256::digest(body)[..CHECK_LEN] != *check {
            return Err(ChunkError::Damaged);
        }
        let id: [u8; ID_LEN] = body[3..3 + ID_LEN].try_into().expect("8 bytes");
        let index = u16::from_le_bytes([body[11], body[12]]) as usize;
        let count = u16::from_le_bytes([body[13], body[14]]) as usize;
        if count == 0 || index >= count {
            return Err(ChunkError::Damaged);
        }
        match self.id {
            None => {
                self.id = Some(id);
                self.parts = vec![None; count];
            }
            Some(known) if known != id || self.parts.len() != count => {
                return Err(ChunkError::OtherBundle)
            }
            Some(_) => {}
        }
        if self.parts[index].is_none() {
            self.parts[index] = Some(body[HEAD_LEN..].to_vec());
        }
        Ok(self.progress())
    }

    pub fn progress(&self) -> Progress {
        Progress {
            received: self.parts.iter().filter(|p| p.is_some()).count(),
            count: self.parts.len(),
        }
    }

    /// The indexes still missing, for a "show code 7 again" prompt.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.parts.len())
            .filter(|i| self.parts[*i].is_none())
            .collect()
    }

    /// The whole bundle, once every chunk is in.
    pub fn bundle(&self) -> Option<Vec<u8>> {
        if self.parts.is_empty() || !self.progress().is_complete() {
            return None;
        }
        Some(self.parts.iter().flatten().flatten().copied().collect())
    }
}
