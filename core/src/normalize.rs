//! Folding identifying values into search keys for the blind indexes: names into tokens,
//! phone numbers and document numbers into one key each.
//!
//! A blind index can only find exact matches of what was hashed, so everything that should
//! match must fold to the same string first. The results of a blind-index search are
//! decrypted and shown to the caseworker, so folding may let through some false positives
//! (names that sound alike); it must not merge names that are plainly different, and it must
//! not miss the common spellings of one name. All functions here are pure, deterministic, never
//! panic, and bound their work and output by the named constants below.
//!
//! # Names
//!
//! [`name_tokens`] returns the keys to index for one name (and to look up when searching for
//! one). A record is a candidate when it shares a token with the query; callers may rank by how
//! many tokens match.
//!
//! 1. **Script and case.** The name is NFKC-normalized (so compatibility forms such as `ﬁ` or
//!    fullwidth letters become plain letters, while marks that carry sound in other scripts,
//!    such as kana voicing, stay attached), leftover Latin combining diacritics are stripped, and
//!    every other character is transliterated to ASCII with `deunicode` (`Zaïnab` → `zainab`,
//!    `Nguyễn` → `nguyen`, `Ольга` → `olga`, `王小明` → `wang xiao ming`), then lowercased.
//!    Letters that transliterate to no letter (the Cyrillic soft sign, Arabic ʿayn and hamza)
//!    are dropped. A few Arabic letters are mapped before `deunicode` because it drops or
//!    mangles them: alif and alif maqsura → `a`, alif with hamza below → `i`, tāʾ marbūṭa → `a`;
//!    shadda and sukun (`deunicode` turns shadda into `W`) → nothing. Wāw is `u` where it is
//!    written for a long vowel — after a consonant, inside or at the end of a word, and not
//!    beside alif, yāʾ or another wāw (`منصور` → `mnsur`, `ابو` → `abu`) — and `w` elsewhere
//!    (`وليد` → `wlyd`, `مروان` → `mrwan`): as `v`, the way `w` folds, a long `ū` kept every
//!    Arabic-script spelling of Mansour or Mahmoud from the Latin one's phonetic code. (The
//!    diphthong `aw` is written alike: `شوقي` reads `shuqy`, nearer Chouki than Shawqi.)
//! 2. **Words.** Whitespace, hyphens and dashes, apostrophes (including `’`, `ʼ`, `ʻ`, `ʿ`,
//!    `ʾ`) and any other punctuation or symbol end a word. At most [`MAX_NAME_WORDS`] words of at
//!    most [`MAX_WORD_CHARS`] letters are kept; input past [`MAX_NAME_INPUT_CHARS`] is ignored.
//! 3. **Tokens.** Each word of at least [`MIN_WORD_TOKEN_CHARS`] letters (so initials such as
//!    `J.` do not match every J-name), and each run of 2 to [`MAX_JOINED_WORDS`] adjacent words
//!    joined together, so `Al-Hassan`, `Al Hassan` and `Alhassan` share `alhassan`, and
//!    `Abdul Rahman`, `Abdulrahman` and `Abd-al-Rahman` share `abd(u|a)lrahman`.
//! 4. **Transliteration folding**, applied to each token, in this order:
//!    * spelling substitutions, left to right, longest first: `dzh`,`dj`,`zh` → `j`
//!      (Dzhamal/Djamal/Jamal); `ph` → `f` (Mustapha); `ck`,`q` → `k` (Qasim/Kasim);
//!      `kh` → `h` (Russian Khamid = Hamid, Khalil/Halil; merges Khan with Han);
//!      `ch` → `sh` (French Aïcha/Cherif = Aisha/Sherif; merges Chen with Shen);
//!      `th` → `t`, `dh` → `d` (Othman/Otman, Ramadhan/Ramadan); `ou`,`oo` → `u`
//!      (Youssef, Yoosuf); `ee` → `i` (Hameed); `y` → `i` (Aly, Husayn); `w` → `v` (Iwan/Ivan);
//!      `x` → `ks` (Alexandr/Aleksandr); `c` → `s` before `e`,`i`,`y`, else `k`
//!      (Nicolai/Nikolai); and first, the Russian family-name endings `-off` → `-ov` and
//!      `-yev(a)` → `-ev(a)` after a consonant (Ivanoff/Ivanov, Golubyev/Golubev);
//!    * doubled letters collapse (Mohammed/Mohamed, Hassan/Hasan);
//!    * a final `h` after a vowel is dropped (Fatimah/Fatima, Abdullah/Abdulla);
//!    * vowels fold by position, because transliterations of Arabic, Persian and Turkic names
//!      disagree mostly about vowels inside the word, and far less about how it starts and
//!      ends. Everywhere, a run of two or more vowels (a diphthong such as `ai`, `ei`, `ia`)
//!      stays distinct from a single vowel. A leading run becomes the class of its first vowel
//!      (`a`; `e`/`i` → `i`; `o`/`u` → `u`), plus `e` if it is a run: Omar/Umar,
//!      Ibrahim/Ebrahim, but Omar ≠ Amir and Aisha ≠ Asha. A trailing run becomes `e` if it is
//!      a run, plus the class of its last vowel (`a`; `e`; `i`; `o`/`u` → `u`): Maria ≠ Mario,
//!      Alia ≠ Ala ≠ Ali. Inside the word a single vowel becomes `a` and a run becomes `e`:
//!      Muhammad/Mohamed → `mahamad`, Yusuf/Youssef → `iesaf`, Hussein/Husain/Hossein →
//!      `hasen` but Hassan → `hasan`, Nguyen → `ngen` but Ngan → `ngan`.
//!
//! Known false positives, accepted: names that differ only in single inner vowels
//! (Hamid/Hammad, Lina/Luna, and Fatima/Fatuma, which happen to be one name), and the
//! `kh`/`ch` merges above. Known misses: forms that differ in consonants or in a leading or
//! trailing vowel (Jusuf/Yusuf, Isuf/Yusuf, Fatime/Fatima, Andre/Andrei), and Arabic- or
//! Hebrew-script names against Latin spellings when the script leaves short vowels unwritten
//! (`محمد` folds to `mhmd`, which no Latin spelling of Muhammad reaches; `عائشة` does match
//! Aisha). The server's probable-duplicate finder, which sees names in the clear, covers these.
//!
//! # Phones
//!
//! [`phone`] keeps digits only (including Arabic-Indic and other Unicode digits), drops an
//! international `00` prefix, and keys on the last [`PHONE_KEY_DIGITS`] digits, so
//! `+256 772 123456`, `00256772123456` and `0772 123456` share `772123456` without knowing
//! each country's trunk prefix. Fewer than [`MIN_PHONE_DIGITS`] or more than
//! [`MAX_PHONE_DIGITS`] digits (E.164's maximum; more usually means two numbers in one field)
//! is not a plausible phone.
//!
//! # Document numbers
//!
//! [`document_number`] keeps ASCII letters and digits (after transliteration), uppercased,
//! and folds `O` → `0` and `I` → `1`: those pairs are confused constantly when numbers are
//! copied from documents or by hand, and folding them costs almost nothing in false matches.
//! (Cyrillic letters transliterate by sound, so a series typed as Cyrillic `В` becomes `V`,
//! not the `B` it looks like.)

use std::borrow::Cow;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Characters of a name looked at. Real names are far shorter; the cap bounds the work a
/// hostile or corrupt field can cause.
pub const MAX_NAME_INPUT_CHARS: usize = 256;
/// Words of a name kept. Long enough for the longest customary full names (given names,
/// patronymic, `bin`/`ibn` chains, family names); later words are ignored.
pub const MAX_NAME_WORDS: usize = 8;
/// Letters kept per word. Longer words are truncated, consistently on both sides of a search.
pub const MAX_WORD_CHARS: usize = 32;
/// Shortest word indexed on its own (it still takes part in joined tokens). Two keeps
/// particles such as `al` and drops initials, which would match every name with that letter.
pub const MIN_WORD_TOKEN_CHARS: usize = 2;
/// Most adjacent words joined into one token. Three covers `Abd al Rahman` = `Abdulrahman`.
pub const MAX_JOINED_WORDS: usize = 3;
/// Most tokens one name yields: every word alone and every run of 2 to
/// [`MAX_JOINED_WORDS`] adjacent words.
pub const MAX_NAME_TOKENS: usize = MAX_NAME_WORDS * MAX_JOINED_WORDS;

/// Digits a phone key keeps: the subscriber number and the end of the area or mobile-network
/// code in every numbering plan we meet, without the country code or trunk prefix, whose
/// presence varies with who wrote the number down.
pub const PHONE_KEY_DIGITS: usize = 9;
/// Fewer digits than this is not a phone number (a typo, an extension, a partial entry).
pub const MIN_PHONE_DIGITS: usize = 6;
/// E.164's maximum length of an international number, without prefix.
pub const MAX_PHONE_DIGITS: usize = 15;
/// Characters of a phone field looked at; a longer field is not a phone number.
pub const MAX_PHONE_INPUT_CHARS: usize = 64;

/// Longest document number kept. Passports have 9 characters, national ids and UNHCR case
/// numbers up to about 20; anything longer is a description, not a number.
pub const MAX_DOCUMENT_CHARS: usize = 32;
/// Characters of a document field looked at; a longer field is not a document number.
pub const MAX_DOCUMENT_INPUT_CHARS: usize = 64;

/// The keys to index for one name, and to look up when searching for it. See the module docs
/// for the rules. Empty when the name has no letters or digits.
pub fn name_tokens(name: &str) -> Vec<String> {
    name_tokens_of_words(&name_words(name))
}

/// [`name_tokens`] of a name already split by [`name_words`], for callers that need both
/// (the search index) and would otherwise normalize the name twice.
pub fn name_tokens_of_words(words: &[String]) -> Vec<String> {
    let mut tokens = folded_words_of(words);
    for run in folded_runs_of(words) {
        if !tokens.contains(&run) {
            tokens.push(run);
        }
    }
    tokens
}

/// The folded words of a name alone (step 4 applied to each word of at least
/// [`MIN_WORD_TOKEN_CHARS`] letters), in order, distinct: the first tokens of
/// [`name_tokens`], without the joined runs. For comparisons that look at one word at a time
/// (phonetic codes, string similarity).
pub fn folded_words(name: &str) -> Vec<String> {
    folded_words_of(&name_words(name))
}

/// Each folded word of [`folded_words`] with its spelling (the word of [`name_words`] it was
/// folded from; of words folding alike, the first): the folding puts every spelling of a name
/// under one key, and so can move a typo's key further from the name's than the typo is
/// (`irina`/`iria` fold to `irana`/`irea`); a comparison of likeness looks at both.
pub fn folded_and_spelled_words(name: &str) -> Vec<(String, String)> {
    let words = name_words(name);
    folded_with_spelling(&words)
        .into_iter()
        .map(|(token, word)| (token, word.clone()))
        .collect()
}

/// The folded runs of 2 to [`MAX_JOINED_WORDS`] adjacent words of a name, distinct: the
/// tokens of [`name_tokens`] that [`folded_words`] does not give (unless a run folds to a
/// word).
pub fn folded_runs(name: &str) -> Vec<String> {
    folded_runs_of(&name_words(name))
}

fn folded_words_of(words: &[String]) -> Vec<String> {
    folded_with_spelling(words)
        .into_iter()
        .map(|(token, _)| token)
        .collect()
}

/// Step 4 applied to each word of at least [`MIN_WORD_TOKEN_CHARS`] letters: the distinct
/// folded words in order, each with the first word that folds to it.
fn folded_with_spelling(words: &[String]) -> Vec<(String, &String)> {
    let mut out: Vec<(String, &String)> = Vec::with_capacity(words.len());
    for word in words.iter().filter(|w| w.len() >= MIN_WORD_TOKEN_CHARS) {
        let token = fold_word(word);
        if !out.iter().any(|(t, _)| *t == token) {
            out.push((token, word));
        }
    }
    out
}

fn folded_runs_of(words: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for len in 2..=MAX_JOINED_WORDS {
        for run in words.windows(len) {
            let token = fold_word(&run.concat());
            if !out.contains(&token) {
                out.push(token);
            }
        }
    }
    out
}

/// The key for a phone number, or `None` when it is not a plausible one.
pub fn phone(raw: &str) -> Option<String> {
    if raw.chars().nth(MAX_PHONE_INPUT_CHARS).is_some() {
        return None;
    }
    let mut digits = String::with_capacity(MAX_PHONE_INPUT_CHARS);
    for c in raw.chars() {
        push_ascii_digits(c, &mut digits);
    }
    let digits = digits.strip_prefix("00").unwrap_or(&digits);
    if !(MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS).contains(&digits.len()) {
        return None;
    }
    Some(digits[digits.len().saturating_sub(PHONE_KEY_DIGITS)..].to_owned())
}

/// The key for a document number, or `None` when nothing of it is left.
pub fn document_number(raw: &str) -> Option<String> {
    if raw.chars().nth(MAX_DOCUMENT_INPUT_CHARS).is_some() {
        return None;
    }
    let mut key = String::new();
    let mut push = |c: char| {
        if c.is_ascii_alphanumeric() {
            key.push(match c.to_ascii_uppercase() {
                'O' => '0',
                'I' => '1',
                other => other,
            });
        }
    };
    for c in raw.chars() {
        if c.is_ascii() {
            push(c);
        } else if c.is_alphanumeric() {
            deunicode::deunicode_char(c)
                .unwrap_or("")
                .chars()
                .for_each(&mut push);
        }
    }
    (!key.is_empty() && key.len() <= MAX_DOCUMENT_CHARS).then_some(key)
}

/// Appends `c` to `out` if it is a decimal digit in any script, as an ASCII digit.
fn push_ascii_digits(c: char, out: &mut String) {
    if c.is_ascii_digit() {
        out.push(c);
    } else if !c.is_ascii() && c.is_numeric() {
        // Arabic-Indic, Persian, Devanagari and fullwidth digits transliterate to one ASCII
        // digit; other numerics (fractions, Roman numerals) are not phone digits.
        if let Some(&[d]) = deunicode::deunicode_char(c).map(str::as_bytes) {
            if d.is_ascii_digit() {
                out.push(char::from(d));
            }
        }
    }
}

/// Splits a name into lowercase ASCII words (steps 1 and 2 of the module docs), before any
/// phonetic folding: the spelling search ranks first, and the words search-as-you-type
/// prefixes are taken from.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = Words::default();
    let chars: Vec<char> = name.chars().take(MAX_NAME_INPUT_CHARS).nfkc().collect();
    for (i, &c) in chars.iter().enumerate() {
        if words.full() {
            break;
        }
        if c == WAW {
            words.push(if waw_is_long_vowel(&chars, i) {
                'u'
            } else {
                'w'
            });
        } else if c.is_ascii_alphanumeric() {
            words.push(c);
        } else if c.is_ascii() || c.is_whitespace() || is_apostrophe(c) {
            words.end_word();
        } else if is_latin_diacritic(c) {
            // Stripped: `e` + U+0301 is `e`.
        } else if let Some(ascii) = arabic_override(c) {
            ascii.chars().for_each(|a| words.push(a));
        } else if c.is_alphanumeric() || is_combining_mark(c) {
            for t in deunicode::deunicode_char(c).unwrap_or("").chars() {
                if t.is_ascii_alphanumeric() {
                    words.push(t);
                } else if t == ' ' {
                    // deunicode separates CJK syllables with spaces.
                    words.end_word();
                }
                // Anything else (the `'` of a soft sign, the `` ` `` of ʿayn) is dropped.
            }
        } else {
            // Other punctuation, dashes, symbols, emoji.
            words.end_word();
        }
    }
    words.finish()
}

/// Collects words, enforcing the word count and length caps.
#[derive(Default)]
struct Words {
    done: Vec<String>,
    current: String,
}

impl Words {
    fn full(&self) -> bool {
        self.done.len() >= MAX_NAME_WORDS
    }

    fn push(&mut self, c: char) {
        if self.current.len() < MAX_WORD_CHARS {
            self.current.push(c.to_ascii_lowercase());
        }
    }

    fn end_word(&mut self) {
        if !self.current.is_empty() && !self.full() {
            self.done.push(std::mem::take(&mut self.current));
        }
        self.current.clear();
    }

    fn finish(mut self) -> Vec<String> {
        self.end_word();
        self.done
    }
}

/// Apostrophe-like letters: Unicode classes these as letters (modifier letters), but in names
/// they play the part of `'`: `Saʿid` = `Sa'id`.
fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\u{02B9}' | '\u{02BB}' | '\u{02BC}' | '\u{02BE}' | '\u{02BF}'
    )
}

/// Combining marks that only decorate Latin (and Greek, Cyrillic) letters: the generic
/// diacritic blocks. Marks specific to a script (Arabic vowel signs, Devanagari matras) carry
/// sound and are transliterated instead.
fn is_latin_diacritic(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// The Arabic letter wāw: a consonant `w` or the long vowel `ū`/`ō`, by position.
const WAW: char = '\u{0648}';

/// Whether the wāw at `chars[i]` is written for a long vowel (`منصور` Manṣūr, `محمود` Maḥmūd,
/// `ابو` Abū) rather than the consonant `w` (`وليد` Walīd, `مروان` Marwān): inside or at the
/// end of a word, after a consonant and not beside a letter that is itself a long vowel
/// (alif, yāʾ, another wāw). Vowel signs, shadda and tatweel between letters are looked past.
fn waw_is_long_vowel(chars: &[char], i: usize) -> bool {
    let is_mark = |c: &char| matches!(c, '\u{064B}'..='\u{0652}' | '\u{0670}' | '\u{0640}');
    let is_letter = |c: char| matches!(c, '\u{0621}'..='\u{064A}' | '\u{0671}'..='\u{06D3}');
    let is_alif = |c: char| {
        matches!(
            c,
            '\u{0627}' | '\u{0622}' | '\u{0623}' | '\u{0625}' | '\u{0671}' | '\u{0649}'
        )
    };
    let is_ya_or_waw = |c: char| matches!(c, '\u{064A}' | '\u{06CC}' | WAW);
    let previous = |j: usize| chars[..j].iter().rposition(|c| !is_mark(c));
    let Some(before) = previous(i).filter(|&b| is_letter(chars[b])) else {
        return false; // word-initial: a consonant
    };
    // Yāʾ or wāw starting a word is a consonant (`يوسف` Yūsuf); elsewhere, a long vowel.
    let starts_word = previous(before).is_none_or(|k| !is_letter(chars[k]));
    let before_is_vowel = is_alif(chars[before]) || (is_ya_or_waw(chars[before]) && !starts_word);
    let after = chars[i + 1..].iter().find(|c| !is_mark(c)).copied();
    !before_is_vowel && !after.is_some_and(|c| is_alif(c) || is_ya_or_waw(c))
}

/// Arabic letters `deunicode` drops or mangles (see the module docs).
fn arabic_override(c: char) -> Option<&'static str> {
    Some(match c {
        // alif, alif with madda, alif with hamza above, alif wasla, alif maqsura
        '\u{0627}' | '\u{0622}' | '\u{0623}' | '\u{0671}' | '\u{0649}' => "a",
        // alif with hamza below
        '\u{0625}' => "i",
        // tāʾ marbūṭa
        '\u{0629}' => "a",
        // shadda (doubling, which folding collapses anyway), sukun (no vowel), tatweel
        '\u{0651}' | '\u{0652}' | '\u{0640}' => "",
        _ => return None,
    })
}

/// Spelling substitutions of step 4, tried longest first at each position. `c` is handled
/// separately because it depends on the next letter.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    ("dzh", "j"),
    ("ph", "f"),
    ("ck", "k"),
    ("kh", "h"),
    ("ch", "sh"),
    ("dj", "j"),
    ("zh", "j"),
    ("th", "t"),
    ("dh", "d"),
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("q", "k"),
    ("y", "i"),
    ("w", "v"),
    ("x", "ks"),
];

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// The endings `-ов` and `-ев` of Russian family names as every transliteration writes them:
/// a final `off` is `ov` (French and German Ivanoff, Petroff for Ivanov, Petrov; `w`, as in
/// Ivanow, already folds to `v`), and `yev`, `yeva` after a consonant are `ev`, `eva`
/// (Golubyev, Golubyeva for Golubev, Golubeva). Only `off`: a doubled `f` after another
/// vowel is an Arabic name's (Youseff, Sheriff) and folds as a single one. Other words are
/// returned unchanged.
fn with_russian_ending_folded(raw: &[u8]) -> Cow<'_, [u8]> {
    if raw.len() >= 5 {
        if let Some(stem) = raw.strip_suffix(b"off") {
            return [stem, b"ov"].concat().into();
        }
    }
    for (ending, folded) in [(&b"yev"[..], &b"ev"[..]), (b"yeva", b"eva")] {
        if let Some(stem) = raw.strip_suffix(ending) {
            if stem.last().is_some_and(|&c| !is_vowel(c)) {
                return [stem, folded].concat().into();
            }
        }
    }
    raw.into()
}

/// Folds one lowercase ASCII word or joined word (step 4 of the module docs): a word of
/// [`name_words`] of at least [`MIN_WORD_TOKEN_CHARS`] letters gives its [`folded_words`] key.
pub fn fold_word(raw: &str) -> String {
    let ending = with_russian_ending_folded(raw.as_bytes());
    let raw = &ending[..];

    // Substitutions.
    let mut spelled = Vec::with_capacity(raw.len() * 2);
    let mut at = 0;
    'scan: while at < raw.len() {
        for (from, to) in SUBSTITUTIONS {
            if raw[at..].starts_with(from.as_bytes()) {
                spelled.extend_from_slice(to.as_bytes());
                at += from.len();
                continue 'scan;
            }
        }
        spelled.push(match raw[at] {
            b'c' if matches!(raw.get(at + 1), Some(b'e' | b'i' | b'y')) => b's',
            b'c' => b'k',
            other => other,
        });
        at += 1;
    }

    // Doubled letters.
    spelled.dedup();

    // Final h after a vowel.
    if let [.., v, b'h'] = spelled[..] {
        if is_vowel(v) {
            spelled.pop();
        }
    }

    // Vowels by position.
    let mut folded = String::with_capacity(spelled.len());
    let mut at = 0;
    while at < spelled.len() {
        if !is_vowel(spelled[at]) {
            folded.push(char::from(spelled[at]));
            at += 1;
            continue;
        }
        let start = at;
        while at < spelled.len() && is_vowel(spelled[at]) {
            at += 1;
        }
        let multi = at - start > 1;
        if start == 0 {
            folded.push(match spelled[0] {
                b'a' => 'a',
                b'e' | b'i' => 'i',
                _ => 'u',
            });
            if multi {
                folded.push('e');
            }
        } else if at == spelled.len() {
            if multi {
                folded.push('e');
            }
            folded.push(match spelled[at - 1] {
                b'a' => 'a',
                b'e' => 'e',
                b'i' => 'i',
                _ => 'u',
            });
        } else {
            folded.push(if multi { 'e' } else { 'a' });
        }
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shares_token(a: &str, b: &str) -> bool {
        let (ta, tb) = (name_tokens(a), name_tokens(b));
        ta.iter().any(|t| tb.contains(t))
    }

    #[test]
    fn each_folded_word_keeps_its_first_spelling() {
        let pairs = folded_and_spelled_words("Irina Iryna al-Hassan Irina");
        let folded: Vec<&str> = pairs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(folded, folded_words("Irina Iryna al-Hassan Irina"));
        let spelled: Vec<&str> = pairs.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            spelled,
            ["irina", "al", "hassan"],
            "Iryna folds as Irina does"
        );
    }

    #[test]
    fn spellings_of_one_name_match() {
        let groups: &[&[&str]] = &[
            &[
                "Mohammed", "Muhammad", "Mohamed", "Muhamad", "Mohamad", "Mouhamed", "MOHAMMED",
            ],
            &["Yusuf", "Youssef", "Yousef", "Yousif", "Yoosuf", "Юсуф"],
            &["Olga", "Ольга"],
            &["Aisha", "Aïcha", "Ayesha", "Aicha", "عائشة"],
            &["Nguyễn", "Nguyen", "NGUYEN", "Nguye\u{0302}\u{0303}n"],
            &[
                "Abdul Rahman",
                "Abdulrahman",
                "Abd-al-Rahman",
                "Abd al-Rahman",
                "Abdel Rahman",
            ],
            &["Fatima", "Fatimah", "Fatiima", "Fatuma"],
            &["Ivan", "Iwan", "Иван"],
            &["Zaïnab", "Zainab", "Zaynab", "Zeinab"],
            &["José", "Jose", "Jose\u{0301}"],
            &[
                "Al-Hassan",
                "Al Hassan",
                "Alhassan",
                "al‐Hassan",
                "AL-HASAN",
            ],
            &["Hussein", "Husain", "Hossein", "Husayn", "Hussain"],
            &["Ibrahim", "Ebrahim", "Ibraheem"],
            &["Omar", "Umar", "Oumar"],
            &["Osama", "Usama", "Oussama"],
            &["Mustafa", "Moustafa", "Mostafa", "Mustapha"],
            &["Khalid", "Khaled", "Halid"],
            &["Hamid", "Hameed", "Хамид"],
            &["Abdullah", "Abdallah", "Abdulla"],
            &["Sergei", "Sergey", "Сергей"],
            &["Ivanov", "Ivanoff", "Ivanow", "Иванов"],
            &["Petrova", "Петрова"],
            &["Golubev", "Golubyev", "Голубев"],
            &["Golubeva", "Golubyeva"],
            &["Dmitry", "Dmitri", "Dmitriy", "Дмитрий"],
            &["Nikolai", "Nicolai", "Николай"],
            &["Natalia", "Natalya", "Наталья"],
            &["Mariam", "Maryam", "Miriam", "Meryem"],
            &["Alexandr", "Aleksandr", "Александр"],
            &["Jamal", "Djamal", "Dzhamal", "Джамал"],
            &["Sa'id", "Saʿid", "Said", "Saeed", "Sayed"],
            &["O'Brien", "O’Brien", "OBrien"],
            &["Wang Xiaoming", "王小明"],
        ];
        for group in groups {
            for a in group.iter() {
                for b in group.iter() {
                    assert!(
                        shares_token(a, b),
                        "{a} {:?} should match {b} {:?}",
                        name_tokens(a),
                        name_tokens(b)
                    );
                }
            }
        }
    }

    #[test]
    fn different_names_do_not_match() {
        let pairs = [
            ("Chukwu", "Chukwuemeka"),
            ("Ali", "Alice"),
            ("Omar", "Amir"),
            ("Mohammed", "Mahmoud"),
            ("Hassan", "Hussein"),
            ("Maria", "Mario"),
            ("Amina", "Amani"),
            ("Amina", "Amna"),
            ("Said", "Saad"),
            ("Nguyen", "Ngan"),
            ("Ivan", "Ivana"),
            ("Ali", "Alia"),
            ("Alia", "Ala"),
            ("Yara", "Ira"),
            ("Yusuf", "Yasin"),
            ("Olga", "Oleg"),
            ("Aisha", "Asha"),
            ("Ahmed", "Hamid"),
            ("Mohammed Ali", "Ahmed Hassan"),
        ];
        for (a, b) in pairs {
            assert!(
                !shares_token(a, b),
                "{a} {:?} should not match {b} {:?}",
                name_tokens(a),
                name_tokens(b)
            );
        }
    }

    #[test]
    fn waw_is_a_long_vowel_after_a_consonant_and_a_consonant_elsewhere() {
        let cases = [
            ("منصور", "mnsur"),   // Manṣūr
            ("محمود", "mhmud"),   // Maḥmūd
            ("نور", "nur"),       // Nūr
            ("ابو", "abu"),       // Abū, at the end of a word
            ("يوسف", "yusf"),     // Yūsuf: the yāʾ starting the word is a consonant
            ("مَحْمُود", "mahmuud"), // with its vowel signs, which are read
            ("وليد", "wlyd"),     // Walīd: starting the word
            ("مروان", "mrwan"),   // Marwān: before alif
            ("داود", "dawd"),     // Dāwūd: after alif
            ("حسين", "hsyn"),     // no wāw: unchanged
            ("شوقي", "shuqy"),    // Shawqi: the diphthong is written as the long vowel is
        ];
        for (raw, words) in cases {
            assert_eq!(name_words(raw), vec![words.to_owned()], "{raw}");
        }
        // The long vowel folds as the Latin spelling's does: one phonetic code for both.
        assert_eq!(fold_word("mnsur"), "mnsar");
        assert_eq!(fold_word("mansour"), "mansar");
        assert_eq!(fold_word("shuqy"), fold_word("chouki"));
    }

    #[test]
    fn worked_examples_of_the_folding() {
        let cases = [
            ("mohammed", "mahamad"),
            ("yusuf", "iesaf"),
            ("youssef", "iesaf"),
            ("aisha", "aesha"),
            ("asha", "asha"),
            ("natalia", "natalea"),
            ("hussein", "hasen"),
            ("hassan", "hasan"),
            ("fatimah", "fatama"),
            ("olga", "ulga"),
            ("ali", "ali"),
            ("alice", "alase"),
            ("nguyen", "ngen"),
            ("chukwu", "shakvu"),
            ("ramadhan", "ramadan"),
            ("ivanoff", "ivanav"),
            ("golubyev", "galabav"),
            ("sheriff", "sharaf"),
            ("youseff", "iesaf"),
        ];
        for (raw, folded) in cases {
            assert_eq!(fold_word(raw), folded, "{raw}");
        }
    }

    #[test]
    fn hyphenated_names_give_parts_and_the_joined_form() {
        let tokens = name_tokens("Al-Hassan");
        assert_eq!(
            tokens,
            [fold_word("al"), fold_word("hassan"), fold_word("alhassan")]
        );
    }

    #[test]
    fn joined_tokens_cover_runs_of_up_to_three_words() {
        let tokens = name_tokens("Abd al Rahman Ali");
        for joined in [
            "abdal",
            "alrahman",
            "rahmanali",
            "abdalrahman",
            "alrahmanali",
        ] {
            assert!(
                tokens.contains(&fold_word(joined)),
                "{joined} in {tokens:?}"
            );
        }
        assert!(!tokens.contains(&fold_word("abdalrahmanali")));
    }

    #[test]
    fn initials_are_not_tokens_on_their_own() {
        let tokens = name_tokens("J. Smith");
        assert!(!tokens.contains(&"j".to_string()));
        assert!(tokens.contains(&fold_word("smith")));
        assert!(tokens.contains(&fold_word("jsmith")));
    }

    #[test]
    fn names_without_letters_give_no_tokens() {
        for empty in ["", "   ", "-", "'", "...", "—", "😀", "\u{0301}", "ь"] {
            assert!(
                name_tokens(empty).is_empty(),
                "{empty:?}: {:?}",
                name_tokens(empty)
            );
        }
    }

    #[test]
    fn long_names_are_capped() {
        let long = "Abcdefghijklmnopqrstuvwxyzabcdefghijklmnop ".repeat(50);
        let tokens = name_tokens(&long);
        assert!(!tokens.is_empty() && tokens.len() <= MAX_NAME_TOKENS);
        let many_words: String = (0..100).map(|i| format!("name{i} ")).collect();
        let tokens = name_tokens(&many_words);
        assert_eq!(
            tokens.len(),
            MAX_NAME_WORDS + (MAX_NAME_WORDS - 1) + (MAX_NAME_WORDS - 2)
        );
        assert!(tokens.contains(&fold_word("name7")));
        assert!(
            !tokens.contains(&fold_word("name8")),
            "ninth word ignored: {tokens:?}"
        );
    }

    #[test]
    fn phones_key_on_the_last_nine_digits() {
        let same = [
            "+256 772 123456",
            "0772 123456",
            "00256772123456",
            "(0772) 123-456",
            "+256-772-123-456",
            "٠٧٧٢١٢٣٤٥٦",
        ];
        for raw in same {
            assert_eq!(phone(raw).as_deref(), Some("772123456"), "{raw}");
        }
        assert_eq!(phone("123456").as_deref(), Some("123456"));
        assert_eq!(phone("0012345678").as_deref(), Some("12345678"));
        for implausible in [
            "",
            "12345",
            "+1 234",
            "abc",
            "0000",
            "1234567890123456",
            &"1".repeat(MAX_PHONE_INPUT_CHARS + 1),
        ] {
            assert_eq!(phone(implausible), None, "{implausible}");
        }
    }

    #[test]
    fn document_numbers_fold_case_separators_and_lookalikes() {
        assert_eq!(document_number("ab-123 456").as_deref(), Some("AB123456"));
        assert_eq!(document_number("P O1234I").as_deref(), Some("P012341"));
        assert_eq!(document_number("po1234i"), document_number("P01234-1"));
        assert_eq!(document_number("Ａ１２３").as_deref(), Some("A123"));
        assert_eq!(document_number("АВ 123").as_deref(), Some("AV123"));
        for nothing in [
            "",
            " - / ",
            "—",
            &"A".repeat(MAX_DOCUMENT_CHARS + 1),
            &"1 ".repeat(40),
        ] {
            assert_eq!(document_number(nothing), None, "{nothing}");
        }
    }

    proptest! {
        #[test]
        fn name_tokens_are_bounded_ascii_and_deterministic(name in any::<String>()) {
            let tokens = name_tokens(&name);
            prop_assert!(tokens.len() <= MAX_NAME_TOKENS);
            for t in &tokens {
                prop_assert!(!t.is_empty());
                prop_assert!(t.len() <= 2 * MAX_JOINED_WORDS * MAX_WORD_CHARS);
                prop_assert!(t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            }
            prop_assert_eq!(name_tokens(&name), tokens);
        }

        #[test]
        fn phone_keys_are_short_digit_strings(raw in any::<String>()) {
            if let Some(key) = phone(&raw) {
                prop_assert!((MIN_PHONE_DIGITS..=PHONE_KEY_DIGITS).contains(&key.len()));
                prop_assert!(key.bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn phone_formatting_does_not_change_the_key(digits in "[1-9][0-9]{8,11}") {
            let spaced: String = digits.chars().flat_map(|c| [c, ' ']).collect();
            prop_assert_eq!(phone(&format!("+{spaced}")), phone(&digits));
            prop_assert_eq!(phone(&format!("00{digits}")), phone(&digits));
        }

        #[test]
        fn document_keys_are_uppercase_alphanumerics_without_o_or_i(raw in any::<String>()) {
            if let Some(key) = document_number(&raw) {
                prop_assert!(!key.is_empty() && key.len() <= MAX_DOCUMENT_CHARS);
                prop_assert!(key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
                prop_assert!(!key.contains('O') && !key.contains('I'));
            }
        }
    }
}
