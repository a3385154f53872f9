//! The audit chain: how each audit entry is bound to the one before it, how checkpoints are
//! signed, and how a stored chain is checked. Pure functions, no I/O: the service appends
//! through them ([`super::audit`]), the schema migrations chain old entries through them, and
//! `fieldcase admin audit verify` checks a database with them.
//!
//! - **Link**: entry `n` (sequence numbers 1, 2, … without gaps) stores
//!   `hash_n = SHA-256(hash_{n-1} ‖ canonical(n, entry))`, with 32 zero bytes before the
//!   first. The canonical bytes ([`canonical_bytes`]) are a versioned, length-prefixed
//!   encoding of every field of the entry and of its sequence number, so an edited field, a
//!   moved entry or a renumbered one no longer matches its hash, and a deleted one leaves a
//!   gap in the numbers.
//! - **Checkpoint**: an entry of event `checkpoint` carries an Ed25519 signature by the
//!   server's audit key (derived from the server key) over its sequence number and hash, so
//!   it vouches for every entry up to it. Admins export checkpoints and keep them elsewhere.
//! - **What it cannot show**: whoever holds the server key can rewrite the whole chain and
//!   sign new checkpoints; only a checkpoint exported *before* the rewrite (and compared with
//!   [`verify`]'s `exported` argument) shows that. Entries after the last checkpoint can be
//!   cut off the end without a trace unless an exported checkpoint reaches past them.

use crate::storage::{AuditEntry, AuditEvent, AuditLink, ChainedAuditEntry};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The hash "before" the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Names the encoding; a future change of [`canonical_bytes`] gets a new tag.
const ENTRY_TAG: &[u8] = b"fieldcase/audit-entry/v1";

/// Names what a checkpoint signature covers, so it can never be taken for another signature.
const CHECKPOINT_TAG: &[u8] = b"fieldcase/audit-checkpoint/v1";

/// The label the audit signing key is derived from the server key under. Stable: changing it
/// makes every stored checkpoint fail verification.
pub const SIGNING_KEY_LABEL: &[u8] = b"fieldcase/audit-checkpoint-key/v1";

/// How many breaks [`verify`] lists before it only counts them.
pub const MAX_LISTED_BREAKS: usize = 100;

/// The signing key for checkpoints, from the 32 bytes derived for it.
pub fn signing_key(derived: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(derived)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt<T>(out: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put(out, v);
        }
    }
}

/// The bytes of entry `seq` that its hash covers: every field, in a fixed order, each
/// length-prefixed or tagged present/absent, so no two different entries encode alike.
pub fn canonical_bytes(seq: u64, entry: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(ENTRY_TAG);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&entry.at_ms.to_be_bytes());
    put_str(&mut out, entry.event.as_str());
    put_str(&mut out, entry.agency.as_str());
    put_opt(&mut out, entry.device, |o, d| {
        o.extend_from_slice(d.as_bytes())
    });
    put_opt(&mut out, entry.user_id.as_deref(), put_str);
    put_opt(&mut out, entry.record_id, |o, r| {
        o.extend_from_slice(r.as_bytes())
    });
    put_opt(&mut out, entry.first_position, |o, p| {
        o.extend_from_slice(&p.to_be_bytes())
    });
    put_opt(&mut out, entry.last_position, |o, p| {
        o.extend_from_slice(&p.to_be_bytes())
    });
    put_opt(&mut out, entry.ops, |o, n| {
        o.extend_from_slice(&n.to_be_bytes())
    });
    put_opt(&mut out, entry.detail.as_deref(), put_str);
    out
}

/// The hash of entry `seq` after `previous`.
pub fn entry_hash(previous: &[u8; 32], seq: u64, entry: &AuditEntry) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(canonical_bytes(seq, entry));
    hasher.finalize().into()
}

/// The link of `entry` appended after `head` (`None`: the chain is empty).
pub fn next_link(head: Option<&AuditLink>, entry: &AuditEntry) -> AuditLink {
    let (seq, previous) = match head {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, GENESIS),
    };
    AuditLink {
        seq,
        hash: entry_hash(&previous, seq, entry),
    }
}

/// What a checkpoint signature signs: the tag, the sequence number and the hash.
fn checkpoint_message(link: &AuditLink) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHECKPOINT_TAG.len() + 40);
    out.extend_from_slice(CHECKPOINT_TAG);
    out.extend_from_slice(&link.seq.to_be_bytes());
    out.extend_from_slice(&link.hash);
    out
}

/// Signs a checkpoint at `link`.
pub fn sign_checkpoint(key: &SigningKey, link: &AuditLink) -> Vec<u8> {
    key.sign(&checkpoint_message(link)).to_bytes().to_vec()
}

/// Whether `signature` is the server's signature of a checkpoint at `link`.
pub fn checkpoint_signature_holds(key: &VerifyingKey, link: &AuditLink, signature: &[u8]) -> bool {
    Signature::from_slice(signature)
        .map(|sig| key.verify_strict(&checkpoint_message(link), &sig).is_ok())
        .unwrap_or(false)
}

/// A checkpoint as admins export it and hand back to [`verify`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportedCheckpoint {
    pub seq: u64,
    /// Hex of the chain hash at `seq`.
    pub hash: String,
    /// RFC 3339 time of the checkpoint.
    pub at: String,
    /// Hex of the Ed25519 signature.
    pub signature: String,
    /// Hex of the server's audit verifying key.
    pub public_key: String,
}

/// How an entry broke the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The entry at this position was deleted (the next one has a higher number).
    Missing,
    /// The entry does not match its hash: edited, or moved here from elsewhere.
    Altered,
    /// The row was written outside the chain (no number or no hash).
    Unchained,
    /// A checkpoint whose signature is not the server's.
    BadSignature,
    /// The chain differs here from a checkpoint exported earlier (rewritten, or cut short).
    DiffersFromExport,
}

impl BreakKind {
    pub fn describe(self) -> &'static str {
        match self {
            BreakKind::Missing => "entry missing (deleted)",
            BreakKind::Altered => "entry does not match its hash (edited or moved)",
            BreakKind::Unchained => "entry written outside the chain",
            BreakKind::BadSignature => "checkpoint signature does not verify",
            BreakKind::DiffersFromExport => "chain differs from an exported checkpoint",
        }
    }
}

/// One break: the sequence number (position in the chain) where it shows, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChainBreak {
    pub position: u64,
    pub kind: BreakKind,
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    /// The last sequence number read.
    pub last_position: u64,
    /// Checkpoints whose signature verified.
    pub checkpoints: u64,
    /// Exported checkpoints compared.
    pub exported_checked: u64,
    /// The first [`MAX_LISTED_BREAKS`] breaks, in chain order.
    pub breaks: Vec<ChainBreak>,
    /// All breaks, listed or not.
    pub break_count: u64,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.break_count == 0
    }

    fn broke(&mut self, position: u64, kind: BreakKind) {
        self.break_count += 1;
        if self.breaks.len() < MAX_LISTED_BREAKS {
            self.breaks.push(ChainBreak { position, kind });
        }
    }
}

/// Checks a chain fed in chain order (by sequence number, unchained rows last), entry by
/// entry, in constant memory apart from `exported`. Each entry is checked against the hash
/// *stored* before it, so one edit shows at its own position only and the rest still checks.
pub struct ChainVerifier<'a> {
    key: &'a VerifyingKey,
    exported: &'a [ExportedCheckpoint],
    previous: [u8; 32],
    next_seq: u64,
    report: VerifyReport,
}

impl<'a> ChainVerifier<'a> {
    pub fn new(key: &'a VerifyingKey, exported: &'a [ExportedCheckpoint]) -> Self {
        ChainVerifier {
            key,
            exported,
            previous: GENESIS,
            next_seq: 1,
            report: VerifyReport::default(),
        }
    }

    pub fn visit(&mut self, chained: &ChainedAuditEntry) {
        self.report.entries += 1;
        let (Some(seq), Some(hash)) = (chained.seq, chained.hash) else {
            self.report.broke(self.next_seq, BreakKind::Unchained);
            return;
        };
        self.report.last_position = seq;
        if seq > self.next_seq {
            self.report.broke(self.next_seq, BreakKind::Missing);
        }
        if entry_hash(&self.previous, seq, &chained.entry) != hash {
            self.report.broke(seq, BreakKind::Altered);
        }
        if chained.entry.event == AuditEvent::Checkpoint {
            let holds = chained.signature.as_deref().is_some_and(|sig| {
                checkpoint_signature_holds(self.key, &AuditLink { seq, hash }, sig)
            });
            if holds {
                self.report.checkpoints += 1;
            } else {
                self.report.broke(seq, BreakKind::BadSignature);
            }
        }
        for export in self.exported.iter().filter(|e| e.seq == seq) {
            self.report.exported_checked += 1;
            if export.hash != hex(&hash) {
                self.report.broke(seq, BreakKind::DiffersFromExport);
            }
        }
        self.previous = hash;
        self.next_seq = seq + 1;
    }

    /// The report; an exported checkpoint beyond the end means entries were cut off.
    pub fn finish(mut self) -> VerifyReport {
        for export in self.exported {
            if export.seq >= self.next_seq {
                self.report.exported_checked += 1;
                self.report.broke(export.seq, BreakKind::DiffersFromExport);
            }
        }
        self.report.breaks.sort_by_key(|b| b.position);
        self.report
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lower- or upper-case hex; `None` when it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some((nibble(*high)? << 4) | nibble(*low)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::{AgencyCode, RecordId};

    fn entry(at_ms: u64, detail: Option<&str>) -> AuditEntry {
        AuditEntry {
            at_ms,
            event: AuditEvent::TimelineRead,
            agency: AgencyCode::parse("agency_a").unwrap(),
            device: None,
            user_id: Some("u".into()),
            record_id: Some(RecordId::new()),
            first_position: None,
            last_position: Some(4),
            ops: None,
            detail: detail.map(str::to_owned),
        }
    }

    fn chain(entries: &[AuditEntry], key: &SigningKey) -> Vec<ChainedAuditEntry> {
        let mut head = None;
        entries
            .iter()
            .map(|e| {
                let link = next_link(head.as_ref(), e);
                head = Some(link);
                ChainedAuditEntry {
                    entry: e.clone(),
                    seq: Some(link.seq),
                    hash: Some(link.hash),
                    signature: (e.event == AuditEvent::Checkpoint)
                        .then(|| sign_checkpoint(key, &link)),
                }
            })
            .collect()
    }

    fn check(rows: &[ChainedAuditEntry], key: &SigningKey) -> VerifyReport {
        let public = key.verifying_key();
        let mut v = ChainVerifier::new(&public, &[]);
        rows.iter().for_each(|r| v.visit(r));
        v.finish()
    }

    #[test]
    fn absent_and_empty_fields_encode_differently() {
        let a = entry(1, None);
        let mut b = a.clone();
        b.detail = Some(String::new());
        assert_ne!(canonical_bytes(1, &a), canonical_bytes(1, &b));
        assert_ne!(canonical_bytes(1, &a), canonical_bytes(2, &a));
    }

    #[test]
    fn edits_deletions_and_swaps_show_at_their_position() {
        let key = signing_key(&[7; 32]);
        let mut entries: Vec<_> = (0..6).map(|i| entry(i, Some("x"))).collect();
        entries[3].event = AuditEvent::Checkpoint;
        let rows = chain(&entries, &key);
        assert!(check(&rows, &key).intact());

        let mut edited = rows.clone();
        edited[1].entry.detail = Some("y".into());
        let report = check(&edited, &key);
        assert_eq!(
            report.breaks,
            vec![ChainBreak {
                position: 2,
                kind: BreakKind::Altered
            }]
        );

        let mut deleted = rows.clone();
        deleted.remove(4);
        assert_eq!(
            check(&deleted, &key).breaks,
            vec![
                ChainBreak {
                    position: 5,
                    kind: BreakKind::Missing
                },
                ChainBreak {
                    position: 6,
                    kind: BreakKind::Altered
                }
            ]
        );

        let mut swapped = rows.clone();
        let (first, second) = (swapped[0].entry.clone(), swapped[1].entry.clone());
        swapped[0].entry = second;
        swapped[1].entry = first;
        assert_eq!(check(&swapped, &key).breaks[0].position, 1);

        let forged = signing_key(&[8; 32]);
        assert_eq!(
            check(&chain(&entries, &forged), &key).breaks,
            vec![ChainBreak {
                position: 4,
                kind: BreakKind::BadSignature
            }]
        );
    }

    #[test]
    fn an_exported_checkpoint_catches_a_rewrite_and_a_cut() {
        let key = signing_key(&[7; 32]);
        let entries: Vec<_> = (0..4).map(|i| entry(i, None)).collect();
        let rows = chain(&entries, &key);
        let export = |row: &ChainedAuditEntry| ExportedCheckpoint {
            seq: row.seq.unwrap(),
            hash: hex(&row.hash.unwrap()),
            at: String::new(),
            signature: String::new(),
            public_key: String::new(),
        };
        let exported = vec![export(&rows[3])];
        let public = key.verifying_key();

        // The host rewrote entry 2 and re-chained everything after it.
        let mut rewritten = entries.clone();
        rewritten[1].detail = Some("rewritten".into());
        let mut v = ChainVerifier::new(&public, &exported);
        chain(&rewritten, &key).iter().for_each(|r| v.visit(r));
        assert_eq!(
            v.finish().breaks,
            vec![ChainBreak {
                position: 4,
                kind: BreakKind::DiffersFromExport
            }]
        );

        let mut v = ChainVerifier::new(&public, &exported);
        rows[..3].iter().for_each(|r| v.visit(r));
        assert!(!v.finish().intact(), "cut before the exported checkpoint");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(unhex(&hex(&[0, 15, 255])), Some(vec![0, 15, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
