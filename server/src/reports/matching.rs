//! Probable duplicates: the same person recorded twice (often by two agencies, in another
//! spelling), found without keeping names in the clear. This module makes what is kept of a
//! case ([`MatchProfile`]) and the keys candidates are found by ([`MatchProfile::blocks`]);
//! [`super::comparison`] compares two profiles and [`super::fellegi_sunter`] weighs the
//! comparison with a model estimated from the data.
//!
//! # What is kept
//!
//! For each case, a [`MatchProfile`]: the folded words (and joined runs of words) of each
//! name field, as [`fieldcase_core::normalize`] makes them (case, diacritics, script and
//! common transliteration spellings folded), the date of birth as precisely as it is known,
//! keyed tokens of document numbers and of the phone key (`Sealer::match_token`, HMAC under a
//! key derived from the server key), nationality and sex. The profile is stored **sealed**
//! under the server key and opened only inside the matching step, in memory, where names are
//! compared by phonetic code and string similarity; nothing of it is stored or logged in the
//! clear, and its `Debug` shows no name. Only the block keys stay in the clear, as keyed
//! tokens.
//!
//! # Finding candidates: blocking passes
//!
//! Comparing every pair is quadratic, so cases are *blocked*: only cases sharing a block key
//! are compared. One pass catches what another misses; each key is an HMAC (under the match
//! key) of a domain-tagged value, cut to [`BLOCK_KEY_BYTES`]:
//! - **name pair and birth years**: the Double Metaphone codes (computed on the folded
//!   words, an `h` of a word written without vowels voiced ([`h_voiced`]), so
//!   `Mohammed`/`Muhammad`/`Mohamad`/`محمد`, `Ivanov`/`Ivanoff`, `Olena`/`Elena` share a
//!   code) of a word of one name field and a word of another, unordered (a swapped given and
//!   family name gives the same pair), with a two-year window of the birth year: each case
//!   is filed under the windows `⌊(y−1)/2⌋` and `⌊(y+1)/2⌋` of its year `y` (one or two
//!   keys), so two years at most one apart always share a window — a year off by one, a
//!   date cut to the year or month, or day and month swapped all meet. No nationality: a
//!   second agency may record another one.
//! - **one name word and the day and month of birth**, day and month unordered: for a full
//!   date of birth with day and month swapped or the year off, with one name word (the other
//!   may be mistyped or written in a script that leaves vowels out).
//! - **a name word's code, another word's initial and the birth year**: the Double Metaphone
//!   code of a word of one name field, the initial ([`initial`]) of a word of another (or of
//!   another word of the only field), and the year of birth. A typo inside a word (a letter
//!   dropped, doubled, moved or struck beside) often changes its code but not its first
//!   letter, so a re-recording with one name mistyped and a birth date known only to the
//!   year, which shares no code pair and no day and month, still meets its twin here. Keys
//!   are ordered (code, initial) but carry no field, so a swapped given and family name meets
//!   too. The year is exact, not a window: an initial says much less than a code, and
//!   windows made this pass's blocks four times as costly to compare (a scan of 100,000
//!   cases 2.3 s → 5.8 s) for the few records with both a typo and a year off.
//! - each **document** number; the **phone** key.
//!
//! A key of [`BLOCK_KEY_BYTES`] bytes collides by chance with probability about 2⁻⁶⁴ per pair
//! of distinct keys; a collision only adds a comparison, which scoring rejects. A block
//! holding more than [`MAX_BLOCK_RECORDS`] cases says little (a common name pair) and would
//! cost quadratically: it is compared in smaller sub-blocks by birth year, sex, nationality
//! and day and month of birth (`super::pairs`), and one of more than
//! [`MAX_SCANNED_BLOCK_RECORDS`] is skipped and counted. Known misses: a re-recording whose
//! names share neither a phonetic code in one field and an initial in another (with the same
//! birth year) nor a code in each of two fields (years at most one apart) nor (with the same
//! day and month of birth) a code, and that shares no document or phone.

use crate::seal::{Sealer, MATCH_TOKEN_BYTES};
use fieldcase_core::model::codes::{ExploitationType, Sex};
use fieldcase_core::model::{Case, Country, PartialDate};
use fieldcase_core::normalize;
use rphonetic::{DoubleMetaphone, Encoder};
use std::collections::BTreeSet;

/// A keyed token of a document number or phone key.
pub type Token = [u8; MATCH_TOKEN_BYTES];

/// Length of a stored block key. Eight bytes halve the size of `match_blocks` rows against a
/// full token; a chance collision between two keys only adds a comparison (see the module
/// docs), so the 64 bits need to be unique only enough to keep blocks small.
pub const BLOCK_KEY_BYTES: usize = 8;

/// A block key: a keyed token cut to [`BLOCK_KEY_BYTES`].
pub type BlockKey = [u8; BLOCK_KEY_BYTES];

/// The blocks a scan reads: all of them, or those whose keys sort below a bound. Block keys
/// are keyed hashes, so the blocks below a bound are a random share of every blocking pass's
/// blocks: what a first look at a large caseload compares (`super::duplicates`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockSlice {
    below: Option<BlockKey>,
}

impl BlockSlice {
    /// Every block.
    pub const ALL: BlockSlice = BlockSlice { below: None };

    /// About `share` of the blocks (in steps of 1/65,536 of the key space); every block for a
    /// share of one or more, none for zero or less.
    pub fn share(share: f64) -> BlockSlice {
        if share >= 1.0 || share.is_nan() {
            return BlockSlice::ALL;
        }
        let steps = (share.max(0.0) * 65_536.0).ceil() as u16;
        let mut below = [0u8; BLOCK_KEY_BYTES];
        below[..2].copy_from_slice(&steps.to_be_bytes());
        BlockSlice { below: Some(below) }
    }

    /// The bound keys sort below (bytewise), or `None` for every block.
    pub fn below(&self) -> Option<&BlockKey> {
        self.below.as_ref()
    }

    pub fn contains(&self, key: &BlockKey) -> bool {
        self.below.is_none_or(|below| key < &below)
    }

    pub fn is_all(&self) -> bool {
        self.below.is_none()
    }

    /// The share of the key space the slice covers.
    pub fn share_of_keys(&self) -> f64 {
        self.below.map_or(1.0, |b| {
            f64::from(u16::from_be_bytes([b[0], b[1]])) / 65_536.0
        })
    }
}

/// Largest block compared. A block of `n` cases costs `n·(n−1)/2` comparisons; 50 keeps a
/// block under 1,225 and real name pairs with a birth year or a nationality far below it.
pub const MAX_BLOCK_RECORDS: usize = 50;

/// Largest block the storage scan hands over whole. A block of more than
/// [`MAX_BLOCK_RECORDS`] cases is compared in sub-blocks (see `super::pairs`), which needs
/// its members; beyond this many it is skipped unread, bounding the scan's memory.
pub const MAX_SCANNED_BLOCK_RECORDS: usize = 2000;

/// Most words (and, separately, most joined runs) kept per name field. `normalize` keeps at
/// most eight words per name; this bounds the profile of a hostile or corrupt record.
pub const MAX_FIELD_TOKENS: usize = 16;

/// Most document tokens kept per case: people carry a handful of documents.
pub const MAX_DOCUMENTS: usize = 8;

/// Length of a Double Metaphone code: the algorithm's customary four, long enough to tell
/// names apart within a birth year or a nationality, short enough that endings
/// (`-ov`/`-off`, `-a`/`-ah`) and inserted vowels do not change it.
const PHONETIC_CODE_CHARS: usize = 4;

/// Domains of the block keys (`Sealer::match_token`): each pass has its own, so a key of one
/// pass never equals a key of another.
const NAME_YEARS_DOMAIN: &str = "block/name-pair+two-years";
const WORD_DAY_MONTH_DOMAIN: &str = "block/name-word+day-month";
const CODE_INITIAL_YEAR_DOMAIN: &str = "block/code+initial+year";
const DOCUMENT_DOMAIN: &str = "block/document";
const PHONE_DOMAIN: &str = "block/phone";

/// The folded words and joined runs of one name field.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NameField {
    /// Folded words, in order, distinct (at most [`MAX_FIELD_TOKENS`]).
    pub words: Vec<String>,
    /// Folded runs of adjacent words joined (`al hasan` → `alhasan`), distinct.
    pub runs: Vec<String>,
    /// Each word as spelled before folding, aligned with `words`
    /// (`normalize::folded_and_spelled_words`): likeness is measured on both, as the folding
    /// can move a typo further from its name than the typo is.
    pub spelled: Vec<String>,
    /// The phonetic code of each word ([`phonetic_code`]), computed when the field is made
    /// or read back, never stored: comparisons use them pair after pair.
    pub codes: Vec<String>,
    /// The [`skeleton_key`] of each word ([`NO_SKELETON`] for a word without one); computed
    /// like `codes`, never stored.
    pub skeletons: Vec<u64>,
}

impl NameField {
    /// A field of these folded words, runs and spellings (one per word), with their phonetic
    /// codes.
    pub fn new(words: Vec<String>, runs: Vec<String>, spelled: Vec<String>) -> NameField {
        debug_assert_eq!(words.len(), spelled.len(), "one spelling per word");
        let encoder = phonetic_encoder();
        let codes = words.iter().map(|w| phonetic_code(&encoder, w)).collect();
        let skeletons = words
            .iter()
            .map(|w| skeleton_key(w).unwrap_or(NO_SKELETON))
            .collect();
        NameField {
            words,
            runs,
            spelled,
            codes,
            skeletons,
        }
    }

    fn of(names: &[&str]) -> NameField {
        let mut field = NameField::default();
        for name in names {
            for (w, spelled) in normalize::folded_and_spelled_words(name) {
                if !field.words.contains(&w) && field.words.len() < MAX_FIELD_TOKENS {
                    field.words.push(w);
                    field.spelled.push(spelled);
                }
            }
            for r in normalize::folded_runs(name) {
                if !field.runs.contains(&r) && field.runs.len() < MAX_FIELD_TOKENS {
                    field.runs.push(r);
                }
            }
        }
        NameField::new(field.words, field.runs, field.spelled)
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.runs.is_empty()
    }

    /// Words and runs: every token an exact comparison may meet.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.words.iter().chain(&self.runs).map(String::as_str)
    }
}

impl std::fmt::Debug for NameField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NameField({} words, {} runs)",
            self.words.len(),
            self.runs.len()
        )
    }
}

/// What duplicate matching keeps of one case (stored sealed).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MatchProfile {
    pub given: NameField,
    pub family: NameField,
    pub other: NameField,
    pub date_of_birth: Option<PartialDate>,
    /// Keyed tokens of the normalized document numbers; sorted, distinct.
    pub documents: Vec<Token>,
    /// Keyed token of the phone key.
    pub phone: Option<Token>,
    pub nationality: Option<Country>,
    pub sex: Option<Sex>,
    /// A victim's story: where the person was exploited ...
    pub destination: Option<Country>,
    /// ... and how (sorted, distinct). Empty when not recorded.
    pub exploitation: Vec<ExploitationType>,
}

impl std::fmt::Debug for MatchProfile {
    /// No name, date or token: profiles travel through error paths and test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchProfile")
            .field("given", &self.given)
            .field("family", &self.family)
            .field("other", &self.other)
            .field("date_of_birth", &self.date_of_birth.map(|_| ".."))
            .field("documents", &self.documents.len())
            .field("phone", &self.phone.is_some())
            .finish_non_exhaustive()
    }
}

impl MatchProfile {
    /// The profile of a case. `None` when it carries nothing to match on (no name, document
    /// or phone): an anonymous intake is never a candidate.
    pub fn of_case(case: &Case, sealer: &Sealer) -> Option<MatchProfile> {
        let given = NameField::of(
            &case
                .given_name
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let family = NameField::of(
            &case
                .family_name
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let other = NameField::of(
            &case
                .other_names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let mut documents: Vec<Token> = case
            .document_numbers
            .iter()
            .filter_map(|d| normalize::document_number(&d.number))
            .map(|n| sealer.match_token("document", &n))
            .collect();
        documents.sort();
        documents.dedup();
        documents.truncate(MAX_DOCUMENTS);
        let phone = case
            .phone
            .as_deref()
            .and_then(normalize::phone)
            .map(|p| sealer.match_token("phone", &p));
        let nothing = given.is_empty() && family.is_empty() && other.is_empty();
        if nothing && documents.is_empty() && phone.is_none() {
            return None;
        }
        Some(MatchProfile {
            given,
            family,
            other,
            date_of_birth: case.date_of_birth,
            documents,
            phone,
            nationality: case.nationality,
            sex: case.sex,
            destination: case.country_of_destination,
            exploitation: case.exploitation_types.iter().copied().collect(),
        })
    }

    /// The name fields that hold something.
    fn name_groups(&self) -> Vec<&NameField> {
        [&self.given, &self.family, &self.other]
            .into_iter()
            .filter(|g| !g.words.is_empty())
            .collect()
    }

    /// The (code, initial) pairs of the code-and-initial pass: the code of a word of one name
    /// field with the initial of a word of another, both ways; with one field only, the code
    /// of one of its words with the initial of another of its words. Distinct.
    fn code_initial_pairs(&self) -> BTreeSet<(&str, char)> {
        fn add<'p>(
            pairs: &mut BTreeSet<(&'p str, char)>,
            from: &'p NameField,
            to: &NameField,
            same_field: bool,
        ) {
            for (i, code) in from.codes.iter().enumerate() {
                if code.is_empty() {
                    continue;
                }
                for (j, word) in to.words.iter().enumerate() {
                    if same_field && i == j {
                        continue;
                    }
                    if let Some(first) = initial(word) {
                        pairs.insert((code.as_str(), first));
                    }
                }
            }
        }
        let fields = self.name_groups();
        let mut pairs = BTreeSet::new();
        match fields.as_slice() {
            [only] => add(&mut pairs, only, only, true),
            _ => {
                for (i, a) in fields.iter().enumerate() {
                    for (j, b) in fields.iter().enumerate() {
                        if i != j {
                            add(&mut pairs, a, b, false);
                        }
                    }
                }
            }
        }
        pairs
    }

    /// The block keys of this profile (see the module docs), sorted, distinct. Derived from
    /// the profile alone, so the keys a stored profile was filed under can be recomputed.
    pub fn blocks(&self, sealer: &Sealer) -> Vec<BlockKey> {
        let groups: Vec<BTreeSet<String>> = self
            .name_groups()
            .into_iter()
            .map(|g| g.codes.iter().filter(|c| !c.is_empty()).cloned().collect())
            .collect();
        // Unordered pairs of codes: across fields, or within the only field there is.
        let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
        let mut add = |x: &String, y: &String| {
            let pair = if x <= y { (x, y) } else { (y, x) };
            pairs.insert((pair.0.clone(), pair.1.clone()));
        };
        if groups.len() >= 2 {
            for (i, a) in groups.iter().enumerate() {
                for b in &groups[i + 1..] {
                    for x in a {
                        for y in b {
                            add(x, y);
                        }
                    }
                }
            }
        } else if let Some(only) = groups.first() {
            let codes: Vec<&String> = only.iter().collect();
            for (i, x) in codes.iter().enumerate() {
                for y in &codes[i + 1..] {
                    add(x, y);
                }
            }
        }
        let key = |domain: &str, value: &str| -> BlockKey {
            let token = sealer.match_token(domain, value);
            let mut out = [0u8; BLOCK_KEY_BYTES];
            out.copy_from_slice(&token[..BLOCK_KEY_BYTES]);
            out
        };
        let mut blocks: Vec<BlockKey> = Vec::new();
        if let Some(dob) = self.date_of_birth {
            let year = u32::from(dob.year());
            // ⌊(y−1)/2⌋ and ⌊(y+1)/2⌋ = ⌈y/2⌉.
            let windows: BTreeSet<u32> = [year.saturating_sub(1) / 2, year.div_ceil(2)].into();
            for (x, y) in &pairs {
                for w in &windows {
                    blocks.push(key(NAME_YEARS_DOMAIN, &format!("{x}|{y}|{w}")));
                }
            }
            for (code, initial) in self.code_initial_pairs() {
                blocks.push(key(
                    CODE_INITIAL_YEAR_DOMAIN,
                    &format!("{code}|{initial}|{year}"),
                ));
            }
        }
        if let Some(full) = self.date_of_birth.and_then(PartialDate::full) {
            let (lo, hi) = if full.day() <= full.month() {
                (full.day(), full.month())
            } else {
                (full.month(), full.day())
            };
            let words: BTreeSet<&String> = groups.iter().flatten().collect();
            for code in words {
                blocks.push(key(
                    WORD_DAY_MONTH_DOMAIN,
                    &format!("{code}|{lo:02}|{hi:02}"),
                ));
            }
        }
        let token_key = |domain: &str, token: &Token| -> BlockKey {
            key(
                domain,
                &token.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            )
        };
        blocks.extend(self.documents.iter().map(|d| token_key(DOCUMENT_DOMAIN, d)));
        blocks.extend(self.phone.iter().map(|p| token_key(PHONE_DOMAIN, p)));
        blocks.sort();
        blocks.dedup();
        blocks
    }
}

/// The first letter of a folded word as the code-and-initial pass keys it: vowels (and `y`)
/// are one letter, since transliterations trade them at the start of a name (`Olena`/`Elena`,
/// `Yusuf`/`Iusuf`) as the phonetic code does.
pub fn initial(folded_word: &str) -> Option<char> {
    let first = folded_word.chars().next()?;
    Some(if "aeiouy".contains(first) { 'a' } else { first })
}

/// The consonants of a folded word that every spelling of it writes, in order, a letter
/// doubled written once: no vowels (Arabic script writes no short vowels: `محمد` folds to
/// `mhmd` where the Latin spelling folds to `mahamad`), and none of `h`, `w`, `v`, `y`,
/// which script and transliteration write, drop or turn into vowels (`ح`, `و`, `ي`, the
/// `h` of `th`/`kh`). A short name left with one consonant that way keeps its `h`s
/// (`Hana`/`هنا`, `Maha`/`مها`, `Ihab`/`ايهاب`: one letter would say nothing, and an `h` of
/// such a name is its own letter, not half of a digraph). `None` under two consonants
/// still: a skeleton of one letter says nothing.
pub fn consonant_skeleton(folded_word: &str) -> Option<String> {
    let skeleton_without = |dropped: &str| {
        let mut skeleton = String::new();
        for c in folded_word.chars() {
            if dropped.contains(c) || skeleton.ends_with(c) {
                continue;
            }
            skeleton.push(c);
        }
        (skeleton.chars().count() >= 2).then_some(skeleton)
    };
    skeleton_without("aeiouhwvy").or_else(|| skeleton_without("aeiouwvy"))
}

/// Whether a folded word was written without its vowels: at most one, as a name in Arabic
/// script folds (`mhmd`, `mnsvr`, `hmza`).
fn written_without_vowels(folded_word: &str) -> bool {
    folded_word.chars().filter(|&c| is_vowel(c)).count() <= 1
}

fn is_vowel(c: char) -> bool {
    "aeiou".contains(c)
}

/// A word's consonant skeleton as comparisons meet it: a hash of [`consonant_skeleton`] (in
/// memory only, within one process, so any fixed hash does) whose lowest bit says whether the
/// word was [`written_without_vowels`], and whose second bit is set, so no key is
/// [`NO_SKELETON`]. `None` without a skeleton.
pub fn skeleton_key(folded_word: &str) -> Option<u64> {
    let skeleton = consonant_skeleton(folded_word)?;
    let hash = std::hash::BuildHasher::hash_one(
        &std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default(),
        skeleton,
    );
    Some((hash & !1) | 2 | u64::from(written_without_vowels(folded_word)))
}

/// The skeleton key of a word without a skeleton: meets none.
pub const NO_SKELETON: u64 = 0;

/// Whether two words' [`skeleton_key`]s meet: the same consonants, and one of the words written
/// without its vowels. Two words both spelled out with their vowels and sharing only their
/// consonants are two names (`Mohammed` and `Mahmoud` both fold to `m…h…m…d`).
pub fn skeletons_meet(a: u64, b: u64) -> bool {
    a != NO_SKELETON && (a | 1) == (b | 1) && (a | b) & 1 == 1
}

/// The phonetic code [`MatchProfile::blocks`] and comparisons use for one folded word: its
/// Double Metaphone code, of the word with its `h`s voiced ([`h_voiced`]) when it was written
/// without its vowels.
pub fn phonetic_code(encoder: &DoubleMetaphone, folded_word: &str) -> String {
    encoder.encode(&h_voiced(folded_word))
}

/// A word with a vowel put after an `h` that starts it before a consonant (`hdija` →
/// `hadija`), and, when the word was [`written_without_vowels`], beside each `h` standing between consonants too (`hmza` → `hamza`,
/// `mhmd` → `mahamd`, `hsn` → `hasn`); unchanged otherwise. Double Metaphone keeps an `h`
/// only before a vowel or between two, so `حمزة` (`hmza`) coded `MS` where its Latin
/// spelling `Hamza` codes `HMS`, and `محمد` met no `Mohammed`; an `h` in Arabic script is a
/// letter of its own (`ح`, `ه`), never silent. No Latin spelling starts with an `h` before a
/// consonant, but one may hold an `h` after a vowel (`ahmad`): inside a word spelled out
/// with its vowels, `h` is left as it is. An `h` after `s`, `c`, `z`, `t`, `d`, `g`, `k` or
/// `p` is half of a digraph (`sh`, `gh`) and is left too.
pub fn h_voiced(folded_word: &str) -> std::borrow::Cow<'_, str> {
    // Most words hold no `h`: they cost one scan, as every word's code is taken per scan.
    if !folded_word.contains('h') {
        return folded_word.into();
    }
    let chars: Vec<char> = folded_word.chars().collect();
    let written_without_vowels = written_without_vowels(folded_word);
    let starts_before_consonant =
        chars.first() == Some(&'h') && chars.get(1).is_some_and(|&c| !is_vowel(c));
    if !(written_without_vowels || starts_before_consonant) {
        return folded_word.into();
    }
    let mut out = String::with_capacity(folded_word.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        let digraph = before.is_some_and(|b| "sczdtgkp".contains(b));
        if c == 'h' && !digraph && (written_without_vowels || i == 0) {
            if before.is_some_and(|b| !is_vowel(b)) {
                out.push('a');
            }
            out.push('h');
            if after.is_some_and(|a| !is_vowel(a)) {
                out.push('a');
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// The encoder [`phonetic_code`] takes.
pub fn phonetic_encoder() -> DoubleMetaphone {
    DoubleMetaphone::new(Some(PHONETIC_CODE_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Values read one by one: these tests need no consent or other rule between fields.
    pub(crate) fn case_of(v: serde_json::Value) -> Case {
        let fields = fieldcase_core::model::flatten_json(&v).unwrap();
        Case::parse_fields(&fields).unwrap()
    }

    fn sealer() -> Sealer {
        Sealer::from_key(&[5; 32])
    }

    fn blocks(v: serde_json::Value) -> Vec<BlockKey> {
        MatchProfile::of_case(&case_of(v), &sealer())
            .unwrap()
            .blocks(&sealer())
    }

    fn share(a: &[BlockKey], b: &[BlockKey]) -> bool {
        a.iter().any(|k| b.contains(k))
    }

    #[test]
    fn transliterated_swapped_and_shifted_records_share_a_block() {
        let base = blocks(json!({"given_name": "Mohammed", "family_name": "Ivanov",
            "date_of_birth": "1990-05-12", "nationality": "UZB"}));
        for twin in [
            json!({"given_name": "Muhammad", "family_name": "Ivanoff", "date_of_birth": "1990"}),
            json!({"given_name": "Ivanov", "family_name": "Mohamad", "date_of_birth": "1990-05"}),
            json!({"given_name": "Mohammed", "family_name": "Ivanov",
                   "date_of_birth": "1991-05-12", "nationality": "UZB"}),
            json!({"given_name": "Mohammed", "family_name": "Ivanov",
                   "date_of_birth": "1990-12-05", "nationality": "KAZ"}),
            json!({"given_name": "Mohmamed", "family_name": "Ivanov",
                   "date_of_birth": "1989-05-12"}),
            json!({"given_name": "Мухаммед", "family_name": "Иванов", "date_of_birth": "1990"}),
        ] {
            assert!(share(&base, &blocks(twin.clone())), "{twin}");
        }
        let stranger = blocks(json!({"given_name": "Grace", "family_name": "Achieng",
            "date_of_birth": "1990-05-12", "nationality": "UZB"}));
        assert!(!share(&base, &stranger));
    }

    /// A Latin-script record shares a block with `script` (its name in Arabic script) and
    /// none with `other` (another name in that script); all known born in 1988 only.
    fn meets_its_script_spelling_only(latin: [&str; 2], script: [&str; 2], other: [&str; 2]) {
        let of = |[given, family]: [&str; 2]| {
            blocks(json!({"given_name": given, "family_name": family, "date_of_birth": "1988"}))
        };
        let latin_blocks = of(latin);
        assert!(share(&latin_blocks, &of(script)), "{script:?}");
        assert!(!share(&latin_blocks, &of(other)), "{other:?}");
    }

    #[test]
    fn a_name_in_arabic_script_with_long_vowels_meets_its_latin_spelling() {
        // `محمود منصور` writes no short vowel; its wāws are the long `ū`s of Mahmoud Mansour.
        meets_its_script_spelling_only(["Mahmoud", "Mansour"], ["محمود", "منصور"], ["محمد", "نصر"]);
    }

    #[test]
    fn an_h_of_a_name_written_without_vowels_is_voiced_for_its_code() {
        assert_eq!(h_voiced("hmza"), "hamza");
        assert_eq!(h_voiced("mhmd"), "mahamd");
        assert_eq!(h_voiced("lhm"), "laham");
        assert_eq!(h_voiced("hna"), "hana");
        assert_eq!(h_voiced("shrf"), "shrf", "a digraph's h is left");
        assert_eq!(
            h_voiced("hamza"),
            "hamza",
            "written with its vowels: unchanged"
        );
        assert_eq!(h_voiced("ahmad"), "ahmad");
        assert_eq!(
            h_voiced("hdija"),
            "hadija",
            "an h starting a word before a consonant"
        );
        assert_eq!(h_voiced("ahdija"), "ahdija");
        let encoder = phonetic_encoder();
        let code = |w: &str| phonetic_code(&encoder, w);
        assert_eq!(code("hmza"), code("hamza"));
        assert_eq!(code("mhmd"), code("mahamad"), "محمد meets Mohammed");
        assert_eq!(code("hsn"), code("hasan"));
        assert_ne!(code("hsn"), code("sn"));
    }

    #[test]
    fn a_name_in_arabic_script_with_an_h_shares_a_block_with_its_latin_spelling() {
        // حمزة حلال folds to `hmza hlal`: without the h voiced, neither word's code met the
        // Latin spelling's, and no block was shared.
        meets_its_script_spelling_only(["Hamza", "Halal"], ["حمزة", "حلال"], ["مزة", "لال"]);
    }

    #[test]
    fn a_mistyped_name_with_a_birth_year_only_meets_its_twin_by_code_and_initial() {
        let encoder = phonetic_encoder();
        assert_ne!(
            phonetic_code(&encoder, "mohammed"),
            phonetic_code(&encoder, "mohamemd"),
            "the typo changes the code, so no name pair is shared"
        );
        let base = blocks(json!({"given_name": "Mohammed", "family_name": "Haddad",
            "date_of_birth": "1990"}));
        for twin in [
            json!({"given_name": "Mohamemd", "family_name": "Haddad", "date_of_birth": "1990"}),
            json!({"given_name": "Haddad", "family_name": "Mohamemd", "date_of_birth": "1990-07"}),
            json!({"given_name": "Mohammed", "family_name": "Hadadd", "date_of_birth": "1990-03"}),
        ] {
            assert!(share(&base, &blocks(twin.clone())), "{twin}");
        }
        // One field only: a code and the initial of another word of it.
        let single = blocks(json!({"family_name": "Haddad Mohammed", "date_of_birth": "1990"}));
        let twin = blocks(json!({"family_name": "Haddad Mohamemd", "date_of_birth": "1990"}));
        assert!(share(&single, &twin));
        // Another initial, or another birth year, share nothing.
        for stranger in [
            json!({"given_name": "Kareem", "family_name": "Haddad", "date_of_birth": "1990"}),
            json!({"given_name": "Mohamemd", "family_name": "Haddad", "date_of_birth": "1991"}),
        ] {
            assert!(!share(&base, &blocks(stranger.clone())), "{stranger}");
        }
    }

    #[test]
    fn keys_depend_on_the_server_key_and_are_cut_short() {
        let case = case_of(json!({"given_name": "Amina", "family_name": "Nakato",
            "date_of_birth": "1990"}));
        let one = MatchProfile::of_case(&case, &Sealer::from_key(&[1; 32])).unwrap();
        let two = MatchProfile::of_case(&case, &Sealer::from_key(&[2; 32])).unwrap();
        assert_eq!(one, two, "names are kept folded; only tokens are keyed");
        assert_ne!(
            one.blocks(&Sealer::from_key(&[1; 32])),
            two.blocks(&Sealer::from_key(&[2; 32]))
        );
        assert!(MatchProfile::of_case(&Case::default(), &sealer()).is_none());
    }

    #[test]
    fn a_slice_holds_the_keys_below_its_share_of_the_key_space() {
        let key = |first: u8, second: u8| -> BlockKey { [first, second, 9, 9, 9, 9, 9, 9] };
        let quarter = BlockSlice::share(0.25);
        assert_eq!(quarter.share_of_keys(), 0.25);
        assert!(quarter.contains(&key(0, 0)));
        assert!(quarter.contains(&key(0x3f, 0xff)));
        assert!(!quarter.contains(&key(0x40, 0)));
        assert!(!quarter.contains(&key(0xff, 0xff)));
        for all in [
            BlockSlice::share(1.0),
            BlockSlice::share(7.0),
            BlockSlice::ALL,
        ] {
            assert!(all.is_all() && all.contains(&key(0xff, 0xff)));
        }
        let none = BlockSlice::share(0.0);
        assert!(!none.contains(&key(0, 0)) && none.share_of_keys() == 0.0);
        // A share too small for a step still holds some keys.
        assert!(BlockSlice::share(1e-9).contains(&key(0, 0)));
    }

    #[test]
    fn a_consonant_skeleton_keeps_what_every_script_writes() {
        let skeleton = |w: &str| consonant_skeleton(w);
        assert_eq!(skeleton("mahamad"), Some("md".into()));
        assert_eq!(skeleton("mhmd"), skeleton("mahamad"));
        assert_eq!(skeleton("mnsvr"), skeleton("mansar"));
        assert_eq!(skeleton("tar"), skeleton("tahar"));
        assert_eq!(
            skeleton("hana"),
            Some("hn".into()),
            "a short name keeps its h"
        );
        assert_eq!(skeleton("hna"), skeleton("hanan"));
        assert_eq!(skeleton("hadad"), skeleton("hd"));
        assert_eq!(skeleton("ana"), None, "one consonant");
        let key = |w: &str| skeleton_key(w).unwrap();
        assert!(
            skeletons_meet(key("mhmd"), key("mahamad")),
            "script against Latin"
        );
        assert!(
            !skeletons_meet(key("mahmad"), key("mahamad")),
            "Mahmoud and Mohammed, both written out, are two names"
        );
        assert!(!skeletons_meet(key("mnsvr"), key("mhmd")));
        assert!(
            skeletons_meet(key("mha"), key("maha")),
            "Maha in both scripts"
        );
        assert!(
            !skeletons_meet(key("hana"), key("hani")),
            "two short names written out"
        );
    }

    #[test]
    fn debug_shows_no_name() {
        let p = MatchProfile::of_case(
            &case_of(json!({"given_name": "Zainab", "date_of_birth": "1990-05-12"})),
            &sealer(),
        )
        .unwrap();
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("zainab") && !shown.contains("1990"),
            "{shown}"
        );
    }
}
