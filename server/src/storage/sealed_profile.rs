//! How a case's match profile is kept at rest: one sealed value per `match_profiles` row
//! (XChaCha20-Poly1305 under the server key, bound to the table, the record and the encoding
//! version by [`crate::seal::match_profile_ad`]).
//!
//! The plaintext holds the folded name words of the case (see
//! [`crate::reports::matching`]), so it is opened only inside the matching step and the
//! buffers it passes through are zeroized. A row that does not open or decode is an integrity
//! error, never a silently empty profile. The block keys are not part of it: they live in
//! `match_blocks`, keyed, so SQL can find shared ones, and are recomputed from the profile.

use super::sealed_facts::integrity;
use crate::reports::matching::{MatchProfile, NameField, Token, MAX_DOCUMENTS, MAX_FIELD_TOKENS};
use crate::seal::{match_profile_ad, Sealer, MATCH_TOKEN_BYTES};
use crate::storage::StorageError;
use fieldcase_core::model::codes::{ExploitationType, Sex};
use fieldcase_core::model::{Country, PartialDate};
use fieldcase_core::RecordId;
use zeroize::Zeroizing;

/// Longest text the encoding holds in one length byte; folded words are at most 32 letters
/// and joined runs of three at most 96, so only a damaged row reaches it.
const MAX_TEXT_BYTES: usize = u8::MAX as usize;

fn put_text(out: &mut Vec<u8>, text: &str) {
    let bytes = &text.as_bytes()[..text.len().min(MAX_TEXT_BYTES)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn put_list(out: &mut Vec<u8>, list: &[String]) {
    let n = list.len().min(MAX_FIELD_TOKENS);
    out.push(n as u8);
    for t in &list[..n] {
        put_text(out, t);
    }
}

/// A profile's plaintext: per name field (given, family, other) its words, its runs and its
/// words as spelled, each a count byte and length-prefixed texts; the date of birth
/// (precision byte 0–3, year big-endian u16, month, day); a count byte and the document
/// tokens; a phone flag and token; nationality and sex as length-prefixed text; the
/// destination as length-prefixed text and the exploitation types as a byte of bits in
/// `ExploitationType::ALL` order.
fn encode_profile(p: &MatchProfile) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(128));
    for field in [&p.given, &p.family, &p.other] {
        put_list(&mut out, &field.words);
        put_list(&mut out, &field.runs);
        put_list(&mut out, &field.spelled);
    }
    match p.date_of_birth {
        None => out.extend_from_slice(&[0, 0, 0, 0, 0]),
        Some(d) => {
            let precision = match d {
                PartialDate::Year(_) => 1,
                PartialDate::Month(..) => 2,
                PartialDate::Day(_) => 3,
            };
            out.push(precision);
            out.extend_from_slice(&d.year().to_be_bytes());
            out.push(d.month().unwrap_or(0));
            out.push(d.day().unwrap_or(0));
        }
    }
    let documents = &p.documents[..p.documents.len().min(MAX_DOCUMENTS)];
    out.push(documents.len() as u8);
    for t in documents {
        out.extend_from_slice(t);
    }
    out.push(u8::from(p.phone.is_some()));
    if let Some(phone) = &p.phone {
        out.extend_from_slice(phone);
    }
    put_text(&mut out, p.nationality.map(|c| c.as_str()).unwrap_or(""));
    put_text(&mut out, p.sex.map(|s| s.as_str()).unwrap_or(""));
    put_text(&mut out, p.destination.map(|c| c.as_str()).unwrap_or(""));
    out.push(exploitation_bits(&p.exploitation));
    out
}

fn exploitation_bits(types: &[ExploitationType]) -> u8 {
    ExploitationType::ALL
        .iter()
        .enumerate()
        .filter(|(_, t)| types.contains(t))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

// The exploitation types are encoded as one byte of bits.
const _: () = assert!(ExploitationType::ALL.len() <= 8);

/// The types of [`exploitation_bits`]; `None` for a bit no type has (a damaged row; with
/// eight types every bit is one's).
fn exploitation_of(bits: u8) -> Option<Vec<ExploitationType>> {
    let all = ExploitationType::ALL;
    if u32::from(bits) >> all.len() != 0 {
        return None;
    }
    Some(
        all.iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, t)| *t)
            .collect(),
    )
}

/// Reads [`encode_profile`]'s bytes back; `None` when they are cut short, too long or out of
/// range.
fn decode_profile(bytes: &[u8]) -> Option<MatchProfile> {
    let mut reader = Reader { rest: bytes };
    let mut fields: [NameField; 3] = Default::default();
    for field in &mut fields {
        let words = reader.list()?;
        let runs = reader.list()?;
        let spelled = reader.list()?;
        if spelled.len() != words.len() {
            return None;
        }
        *field = NameField::new(words, runs, spelled);
    }
    let dob = reader.take(5)?;
    let year = u16::from_be_bytes([dob[1], dob[2]]);
    let date_of_birth = match dob[0] {
        0 => None,
        1 => Some(PartialDate::parse(&format!("{year:04}")).ok()?),
        2 => Some(PartialDate::parse(&format!("{year:04}-{:02}", dob[3])).ok()?),
        3 => Some(PartialDate::parse(&format!("{year:04}-{:02}-{:02}", dob[3], dob[4])).ok()?),
        _ => return None,
    };
    let n = reader.take(1)?[0] as usize;
    if n > MAX_DOCUMENTS {
        return None;
    }
    let mut documents: Vec<Token> = Vec::with_capacity(n);
    for _ in 0..n {
        documents.push(reader.take(MATCH_TOKEN_BYTES)?.try_into().ok()?);
    }
    let phone = match reader.take(1)?[0] {
        0 => None,
        1 => Some(reader.take(MATCH_TOKEN_BYTES)?.try_into().ok()?),
        _ => return None,
    };
    let nationality = reader.text()?;
    let sex = reader.text()?;
    let destination = reader.text()?;
    let exploitation = exploitation_of(reader.take(1)?[0])?;
    if !reader.rest.is_empty() {
        return None;
    }
    let [given, family, other] = fields;
    Some(MatchProfile {
        given,
        family,
        other,
        date_of_birth,
        documents,
        phone,
        nationality: Country::parse(&nationality).ok(),
        sex: Sex::parse(&sex),
        destination: Country::parse(&destination).ok(),
        exploitation,
    })
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn text(&mut self) -> Option<String> {
        let n = self.take(1)?[0] as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn list(&mut self) -> Option<Vec<String>> {
        let n = self.take(1)?[0] as usize;
        if n > MAX_FIELD_TOKENS {
            return None;
        }
        (0..n).map(|_| self.text()).collect()
    }
}

/// Seals a case's match profile for `match_profiles.profile`.
pub(crate) fn seal_profile(sealer: &Sealer, record: RecordId, profile: &MatchProfile) -> Vec<u8> {
    sealer.seal(&match_profile_ad(record), &encode_profile(profile))
}

/// Opens a case's sealed match profile.
pub(crate) fn open_profile(
    sealer: &Sealer,
    record: RecordId,
    sealed: &[u8],
) -> Result<MatchProfile, StorageError> {
    let plain = Zeroizing::new(
        sealer
            .open(&match_profile_ad(record), sealed)
            .map_err(|_| integrity("match profile"))?,
    );
    decode_profile(&plain).ok_or_else(|| integrity("match profile"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::model::Case;
    use serde_json::json;

    fn sealer() -> Sealer {
        Sealer::from_key(&[9; 32])
    }

    fn profile() -> MatchProfile {
        let fields = fieldcase_core::model::flatten_json(&json!({
            "given_name": "Amina Zahra", "family_name": "Al-Hassan", "other_names": ["Mimi"],
            "date_of_birth": "1990-05-12", "sex": "female", "nationality": "UGA",
            "phone": "+256 772 123456",
            "document_numbers": [{"type": "passport", "number": "B1234567"}],
            "categories": ["victim_of_trafficking"], "country_of_destination": "LBY",
            "exploitation_types": ["labour", "sexual"], "labour_sectors": ["construction"]
        }))
        .unwrap();
        MatchProfile::of_case(&Case::parse_fields(&fields).unwrap(), &sealer()).unwrap()
    }

    #[test]
    fn profiles_round_trip_and_stay_bound_to_their_record() {
        let profile = profile();
        assert!(profile.phone.is_some() && !profile.documents.is_empty());
        assert!(!profile.family.runs.is_empty() && !profile.other.words.is_empty());
        assert_eq!(profile.family.spelled.len(), profile.family.words.len());
        assert!(profile.destination.is_some() && profile.exploitation.len() == 2);
        let record = RecordId::new();
        let sealed = seal_profile(&sealer(), record, &profile);
        assert_eq!(open_profile(&sealer(), record, &sealed).unwrap(), profile);
        assert!(open_profile(&sealer(), RecordId::new(), &sealed).is_err());
        for date in ["1990", "1990-05"] {
            let mut partial = profile.clone();
            partial.date_of_birth = Some(PartialDate::parse(date).unwrap());
            let sealed = seal_profile(&sealer(), record, &partial);
            assert_eq!(open_profile(&sealer(), record, &sealed).unwrap(), partial);
        }
        let bare = MatchProfile::default();
        let sealed = seal_profile(&sealer(), record, &bare);
        assert_eq!(open_profile(&sealer(), record, &sealed).unwrap(), bare);
    }

    #[test]
    fn damaged_plaintexts_are_refused_not_misread() {
        let bytes = encode_profile(&profile());
        assert!(decode_profile(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode_profile(&longer).is_none());
        let mut bad_precision = bytes.to_vec();
        // The date's precision byte follows the nine name lists.
        let mut reader = Reader { rest: &bytes };
        for _ in 0..9 {
            reader.list().unwrap();
        }
        let at = bytes.len() - reader.rest.len();
        bad_precision[at] = 9;
        assert!(decode_profile(&bad_precision).is_none());
        // The exploitation types' byte is the last; every one of its bits is a type.
        assert_eq!(exploitation_of(0xff).unwrap(), ExploitationType::ALL);
        assert_eq!(
            exploitation_of(exploitation_bits(&profile().exploitation)).unwrap(),
            profile().exploitation
        );
        // A field with a spelling fewer than its words.
        let mut short = profile();
        short.given.spelled.pop();
        assert!(decode_profile(&encode_profile(&short)).is_none());
    }
}
