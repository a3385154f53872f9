//! A synthetic caseload with **planted double entries**, for measuring duplicate finding:
//! people from the regions the field works in (Arabic-speaking, Cyrillic-origin, East and
//! West African, South Asian, Latin American names, written in Latin script as caseworkers
//! type them) with the long-tailed name frequencies of a real caseload (hundreds of given and
//! family names per region, a few very common and many rare: see [`pools`] for why), a share
//! of whom a second agency records again with the drift such
//! re-recordings show. Every record says which person it is and, for a re-recording, which
//! kind of drift it carries, so a test can score the duplicates a server finds.
//!
//! Kinds of drift ([`Drift`]): given and family name swapped; another script or diacritics
//! (Cyrillic or Arabic script, accents added or dropped, capitals); a transliteration
//! variant (Mohammed/Muhammad, Youssef/Yusuf, Aleksandr/Alexander, Ivanov/Ivanoff,
//! Olena/Elena, an inserted letter, another ending or vowel); a date of birth cut to the year
//! or the month; a date of birth shifted (day and month swapped, year off by one); a typo in
//! a name; and a mix of a transliteration variant with a cut date of birth. The second
//! record usually lacks the phone and document the first had, so names and the date of birth
//! must carry the match. Relatives (a sibling: same family name and nationality, another
//! given name and birth year, half the time the same trafficking story) are planted too, as
//! the hard non-duplicates they are.
//!
//! A victim's case tells a story: where the person was exploited (a few destinations per
//! region, some far more frequent) and how (labour and sexual exploitation most). A
//! re-recording mostly tells the same story, but one time in eight the destination is not
//! recorded and one time in twenty it is another place of the journey; the exploitation is
//! left out one time in twelve and classified with a type more or less one time in six.
//!
//! Deterministic for a seed. The rest of each case (programme, narrative, consent) comes from
//! [`crate::sample::SampleCases`]. Nothing here is real.

use crate::sample::SampleCases;
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The kind of drift between a person's first record and its re-recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Drift {
    Swapped,
    ScriptOrDiacritics,
    Transliteration,
    PartialDateOfBirth,
    ShiftedDateOfBirth,
    Typo,
    TransliterationAndPartialDate,
}

impl Drift {
    pub const ALL: [Drift; 7] = [
        Drift::Swapped,
        Drift::ScriptOrDiacritics,
        Drift::Transliteration,
        Drift::PartialDateOfBirth,
        Drift::ShiftedDateOfBirth,
        Drift::Typo,
        Drift::TransliterationAndPartialDate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Drift::Swapped => "swapped_names",
            Drift::ScriptOrDiacritics => "script_or_diacritics",
            Drift::Transliteration => "transliteration",
            Drift::PartialDateOfBirth => "partial_date_of_birth",
            Drift::ShiftedDateOfBirth => "shifted_date_of_birth",
            Drift::Typo => "typo",
            Drift::TransliterationAndPartialDate => "transliteration_and_partial_date",
        }
    }
}

/// One record of the population.
#[derive(Clone, Debug)]
pub struct PlantedRecord {
    /// The person recorded: equal for a person's records, different otherwise.
    pub person: u64,
    /// The case, in the nested JSON form of [`crate::model::Case::from_json`].
    pub case: Value,
    /// `Some` for a re-recording by a second agency, with its drift.
    pub drift: Option<Drift>,
}

mod ceiling;
mod extra_names;
mod names;
mod pools;
mod scorecard;
mod scripts;

pub use ceiling::{ceiling, Ceiling, Indistinct, TARGET};
pub use scorecard::{score_pairs, DriftScore, Scorecard};
use scripts::{accents, to_arabic, to_cyrillic};

use names::{Region, Script, REGIONS, VARIANTS};
use pools::{pools, Pool, RegionPools};

const AGENCIES: &[&str] = &["iom_uga", "iom_ken", "shelter_kla", "clinic_nbo", "iom_eth"];

/// Generates a population: people one by one, each with one record and, for a share of
/// them, a re-recording by a second agency.
pub struct Population {
    rng: StdRng,
    base: SampleCases,
    next_person: u64,
    duplicate_share: f64,
    /// A planted sibling waiting to be returned.
    pending: Vec<PlantedRecord>,
}

/// Share of people with a sibling in the caseload (the same family name and nationality,
/// another given name and birth year): the non-duplicates most like duplicates.
const SIBLING_SHARE: f64 = 0.03;

impl Population {
    /// A population in which `duplicate_share` of people are recorded twice.
    pub fn new(seed: u64, duplicate_share: f64) -> Population {
        Population {
            rng: StdRng::seed_from_u64(seed),
            base: SampleCases::new(seed ^ 0x5eed),
            next_person: 0,
            duplicate_share,
            pending: Vec::new(),
        }
    }

    /// The records of the next person (one, or two for a duplicate); a sibling planted with
    /// them waits in `pending`.
    fn next_person(&mut self) -> Vec<PlantedRecord> {
        let person = self.next_person;
        self.next_person += 1;
        let r = self.rng.gen_range(0..REGIONS.len());
        let (region, names) = (&REGIONS[r], &pools()[r]);
        let female = self.rng.gen_bool(0.5);
        let given = self.given_of(names, female).to_owned();
        let family = self.family_name(region, names, female);
        let mut case = self.base.next_case();
        let nationality = *region.countries.choose(&mut self.rng).unwrap_or(&"SDN");
        case["given_name"] = json!(given);
        case["family_name"] = json!(family);
        case["sex"] = json!(if female { "female" } else { "male" });
        case["nationality"] = json!(nationality);
        case["document_numbers"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .for_each(|d| d["issuing_country"] = json!(nationality));
        self.tell_story(&mut case, region);
        // Many survivors carry no document, and many have no phone of their own.
        if self.rng.gen_bool(0.5) {
            remove(&mut case, "document_numbers");
        }
        if self.rng.gen_bool(0.6) {
            remove(&mut case, "phone");
        }
        let mut out = vec![PlantedRecord {
            person,
            case: case.clone(),
            drift: None,
        }];
        if self.rng.gen_bool(SIBLING_SHARE) {
            let sibling = self.sibling(&case, region, names);
            self.pending.push(sibling);
        }
        if self.rng.gen_bool(self.duplicate_share) {
            let drift = *Drift::ALL.choose(&mut self.rng).unwrap_or(&Drift::Swapped);
            out.push(PlantedRecord {
                person,
                case: self.rerecord(&case, region, drift),
                drift: Some(drift),
            });
        }
        out
    }

    /// A given name of the region, drawn by its frequency ([`pools`]).
    fn given_of(&mut self, names: &'static RegionPools, female: bool) -> &'static str {
        let pool: &'static Pool = if female { &names.female } else { &names.male };
        pool.draw(&mut self.rng)
    }

    fn family_name(
        &mut self,
        region: &Region,
        names: &'static RegionPools,
        female: bool,
    ) -> String {
        let mut words = vec![names.family.draw(&mut self.rng).to_owned()];
        if self.rng.gen_bool(region.two_family) {
            // A father's name before the family name where that is the custom.
            let second = if region.script == Script::Arabic {
                names.male.draw(&mut self.rng)
            } else {
                names.family.draw(&mut self.rng)
            };
            if second != words[0] {
                words.push(second.to_owned());
            }
        }
        if female && region.feminine_family {
            for n in &mut words {
                *n = feminine(n);
            }
        }
        words.join(" ")
    }

    fn sibling(
        &mut self,
        case: &Value,
        region: &Region,
        names: &'static RegionPools,
    ) -> PlantedRecord {
        let mut sib = self.base.next_case();
        let female = self.rng.gen_bool(0.5);
        // Another name than the sibling's, also once folded: parents do not give two
        // children one name in two spellings (`Fatima` / `Fatma`).
        let theirs = crate::normalize::folded_words(case["given_name"].as_str().unwrap_or(""));
        let mut given = self.given_of(names, female);
        for _ in 0..20 {
            if crate::normalize::folded_words(given) != theirs {
                break;
            }
            given = self.given_of(names, female);
        }
        let mut family = case["family_name"].as_str().unwrap_or_default().to_owned();
        if region.feminine_family {
            family = family
                .split(' ')
                .map(|n| {
                    if female {
                        feminine(&masculine(n))
                    } else {
                        masculine(n)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
        }
        sib["given_name"] = json!(given);
        sib["family_name"] = json!(family);
        sib["sex"] = json!(if female { "female" } else { "male" });
        sib["nationality"] = case["nationality"].clone();
        self.tell_story(&mut sib, region);
        // Siblings are often trafficked together: half the time a sibling's story is the
        // other's, which makes them harder to tell from one person recorded twice.
        if has(&sib, "exploitation_types")
            && has(case, "exploitation_types")
            && self.rng.gen_bool(0.5)
        {
            for field in STORY {
                match case.get(field) {
                    Some(value) => sib[field] = value.clone(),
                    None => remove(&mut sib, field),
                }
            }
        }
        if let Some(dob) = case["date_of_birth"].as_str() {
            let year: i32 = dob[..4].parse().unwrap_or(1990);
            let gap = *[-5, -4, -3, -2, 2, 3, 4, 5]
                .choose(&mut self.rng)
                .unwrap_or(&2);
            // Born at least two years apart: a gap past the youngest birth year the caseload
            // has goes the other way (clamping it made twins).
            let year = if (1950..=2017).contains(&(year + gap)) {
                year + gap
            } else {
                year - gap
            };
            let shifted = format!("{year}{}", &dob[4..]);
            sib["date_of_birth"] = json!(valid_or_year(&shifted));
        }
        remove(&mut sib, "document_numbers");
        remove(&mut sib, "phone");
        with_guardian_if_minor(&mut sib);
        let person = self.next_person;
        self.next_person += 1;
        PlantedRecord {
            person,
            case: sib,
            drift: None,
        }
    }

    /// The person recorded again by another agency, with `drift`.
    fn rerecord(&mut self, case: &Value, region: &Region, drift: Drift) -> Value {
        let mut again = case.clone();
        // A second intake, later, by another agency: phone and document are usually not
        // taken again, and nationality or sex are sometimes left blank.
        if self.rng.gen_bool(0.8) {
            remove(&mut again, "document_numbers");
        }
        if self.rng.gen_bool(0.8) {
            remove(&mut again, "phone");
        }
        if self.rng.gen_bool(0.1) {
            remove(&mut again, "nationality");
        }
        if self.rng.gen_bool(0.05) {
            remove(&mut again, "sex");
        }
        self.retell_story(&mut again, region);
        let given = case["given_name"].as_str().unwrap_or_default().to_owned();
        let family = case["family_name"].as_str().unwrap_or_default().to_owned();
        let dob = case["date_of_birth"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match drift {
            Drift::Swapped => {
                again["given_name"] = json!(family);
                again["family_name"] = json!(given);
            }
            Drift::ScriptOrDiacritics => {
                let write = |s: &str, rng: &mut StdRng| match region.script {
                    Script::Cyrillic => to_cyrillic(s),
                    Script::Arabic => to_arabic(s),
                    Script::Latin => accents(s, rng),
                };
                again["given_name"] = json!(write(&given, &mut self.rng));
                again["family_name"] = json!(write(&family, &mut self.rng));
            }
            Drift::Transliteration => self.transliterate(&mut again, &given, &family),
            Drift::PartialDateOfBirth => {
                again["date_of_birth"] = json!(self.partial(&dob));
            }
            Drift::ShiftedDateOfBirth => {
                again["date_of_birth"] = json!(self.shifted(&dob));
            }
            Drift::Typo => {
                if self.rng.gen_bool(0.5) {
                    again["given_name"] = json!(self.typo(&given));
                } else {
                    again["family_name"] = json!(self.typo(&family));
                }
            }
            Drift::TransliterationAndPartialDate => {
                self.transliterate(&mut again, &given, &family);
                again["date_of_birth"] = json!(self.partial(&dob));
            }
        }
        with_guardian_if_minor(&mut again);
        again
    }

    /// A victim's trafficking story as the region's cases tell it: where they were exploited
    /// ([`Region::destinations`]) and how ([`EXPLOITATION_WEIGHTS`], a second type one time
    /// in four). Cases of people who are not victims carry no story.
    fn tell_story(&mut self, case: &mut Value, region: &Region) {
        if !has(case, "exploitation_types") {
            return;
        }
        case["country_of_destination"] = json!(self.destination(region));
        let types =
            WeightedIndex::new(EXPLOITATION_WEIGHTS.iter().map(|w| w.1)).expect("positive weights");
        let mut chosen = vec![EXPLOITATION_WEIGHTS[types.sample(&mut self.rng)].0];
        if self.rng.gen_bool(0.25) {
            let second = EXPLOITATION_WEIGHTS[types.sample(&mut self.rng)].0;
            if !chosen.contains(&second) {
                chosen.push(second);
            }
        }
        self.set_exploitation(case, chosen);
    }

    fn destination(&mut self, region: &Region) -> &'static str {
        let weights = (1..=region.destinations.len()).map(|k| 1.0 / k as f64);
        let index = WeightedIndex::new(weights).expect("every region has destinations");
        region.destinations[index.sample(&mut self.rng)]
    }

    /// Sets the exploitation types, with a labour sector exactly when labour is one.
    fn set_exploitation(&mut self, case: &mut Value, mut types: Vec<&'static str>) {
        types.sort_unstable();
        if types.contains(&"labour") {
            if !has(case, "labour_sectors") {
                case["labour_sectors"] =
                    json!([*SECTORS.choose(&mut self.rng).unwrap_or(&"other")]);
            }
        } else {
            remove(case, "labour_sectors");
        }
        case["exploitation_types"] = json!(types);
    }

    /// The story as a second agency records it: the same person's, heard by someone else.
    /// The destination is sometimes not asked, or recorded as another place of the journey;
    /// the exploitation is sometimes not recorded, or classified with a type more or less.
    fn retell_story(&mut self, again: &mut Value, region: &Region) {
        if has(again, "country_of_destination") {
            let roll: f64 = self.rng.gen();
            if roll < 0.12 {
                remove(again, "country_of_destination");
            } else if roll < 0.17 {
                let before = again["country_of_destination"].clone();
                let other = region
                    .destinations
                    .iter()
                    .filter(|d| json!(d) != before)
                    .copied()
                    .collect::<Vec<_>>();
                if let Some(place) = other.choose(&mut self.rng) {
                    again["country_of_destination"] = json!(place);
                }
            }
        }
        if let Some(types) = again["exploitation_types"].as_array() {
            let mut types: Vec<&'static str> = types
                .iter()
                .filter_map(|t| {
                    EXPLOITATION_WEIGHTS
                        .iter()
                        .find(|w| Some(w.0) == t.as_str())
                })
                .map(|w| w.0)
                .collect();
            let roll: f64 = self.rng.gen();
            if roll < 0.08 {
                remove(again, "exploitation_types");
                remove(again, "labour_sectors");
            } else if roll < 0.25 {
                if types.len() > 1 {
                    types.remove(self.rng.gen_range(0..types.len()));
                } else {
                    let extra = EXPLOITATION_WEIGHTS
                        .iter()
                        .map(|w| w.0)
                        .filter(|t| !types.contains(t))
                        .collect::<Vec<_>>();
                    if let Some(t) = extra.choose(&mut self.rng) {
                        types.push(t);
                    }
                }
                self.set_exploitation(again, types);
            }
        }
    }

    fn transliterate(&mut self, again: &mut Value, given: &str, family: &str) {
        let changed_given = self.variant(given);
        let changed_family = family
            .split(' ')
            .map(|w| self.variant(w))
            .collect::<Vec<_>>()
            .join(" ");
        // At least one name changes; often both.
        match self.rng.gen_range(0..3) {
            0 => again["given_name"] = json!(changed_given),
            1 => again["family_name"] = json!(changed_family),
            _ => {
                again["given_name"] = json!(changed_given);
                again["family_name"] = json!(changed_family);
            }
        }
    }

    /// Another spelling of a name word: a known variant when there is one, else a rule
    /// (inserted letter, another ending, another inner vowel).
    fn variant(&mut self, word: &str) -> String {
        if let Some(list) = VARIANTS.iter().find(|l| l[0] == word) {
            return (*list[1..].choose(&mut self.rng).unwrap_or(&word)).to_owned();
        }
        let lower = word.to_lowercase();
        for (from, to) in [
            ("ov", "off"),
            ("ev", "yev"),
            ("eva", "yeva"),
            ("iy", "y"),
            ("ko", "co"),
            ("yk", "ik"),
        ] {
            if lower.ends_with(from) && to.is_ascii() {
                return format!("{}{}", &word[..word.len() - from.len()], to);
            }
        }
        let chars: Vec<char> = word.chars().collect();
        let inner: Vec<usize> = (1..chars.len().saturating_sub(1))
            .filter(|&i| "aeiou".contains(chars[i]))
            .collect();
        match self.rng.gen_range(0..3) {
            0 if !inner.is_empty() => {
                let i = *inner.choose(&mut self.rng).unwrap_or(&1);
                let mut c = chars.clone();
                c[i] = match c[i] {
                    'a' => 'e',
                    'e' => 'i',
                    'i' => 'e',
                    'o' => 'u',
                    _ => 'o',
                };
                c.into_iter().collect()
            }
            1 if chars.len() > 3 => {
                // Double a consonant inside the word (Hasan → Hassan).
                let i = (1..chars.len() - 1)
                    .find(|&i| !"aeiouy".contains(chars[i]) && chars[i].is_ascii_lowercase())
                    .unwrap_or(1);
                let mut c = chars.clone();
                c.insert(i, chars[i]);
                c.into_iter().collect()
            }
            _ => {
                if word.ends_with('a') {
                    format!("{word}h")
                } else if let Some(stem) = word.strip_suffix('i') {
                    format!("{stem}y")
                } else if let Some(stem) = word.strip_suffix('e') {
                    format!("{stem}a")
                } else {
                    format!("{word}e")
                }
            }
        }
    }

    fn partial(&mut self, dob: &str) -> String {
        if dob.len() >= 7 && self.rng.gen_bool(0.3) {
            dob[..7].to_owned()
        } else {
            dob[..4.min(dob.len())].to_owned()
        }
    }

    fn shifted(&mut self, dob: &str) -> String {
        if dob.len() == 10 {
            let (m, d) = (&dob[5..7], &dob[8..10]);
            if m != d && d <= "12" && self.rng.gen_bool(0.5) {
                return format!("{}-{d}-{m}", &dob[..4]);
            }
        }
        let year: i32 = dob.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1990);
        let off = if self.rng.gen_bool(0.5) { 1 } else { -1 };
        valid_or_year(&format!("{}{}", year + off, dob.get(4..).unwrap_or("")))
    }

    fn typo(&mut self, name: &str) -> String {
        let mut chars: Vec<char> = name.chars().collect();
        if chars.len() < 4 {
            chars.push('a');
            return chars.into_iter().collect();
        }
        let i = self.rng.gen_range(1..chars.len() - 1);
        match self.rng.gen_range(0..3) {
            0 => chars.swap(i, i + 1),
            1 => {
                chars.remove(i);
            }
            _ => {
                let keys = "qwertyuiopasdfghjklzxcvbnm";
                let pos = keys.find(chars[i].to_ascii_lowercase()).unwrap_or(0);
                let near = keys.as_bytes()[(pos + 1) % keys.len()] as char;
                chars[i] = near;
            }
        }
        chars.into_iter().collect()
    }

    /// The agency that records a record: a person's re-recording is another agency's.
    pub fn agency_of(record: &PlantedRecord) -> &'static str {
        let person = record.person;
        let first = (person as usize) % AGENCIES.len();
        if record.drift.is_some() {
            AGENCIES[(first + 1 + (person as usize / 7) % (AGENCIES.len() - 1)) % AGENCIES.len()]
        } else {
            AGENCIES[first]
        }
    }
}

impl Iterator for Population {
    type Item = PlantedRecord;
    /// Records one by one (a person's two records follow each other).
    fn next(&mut self) -> Option<PlantedRecord> {
        if self.pending.is_empty() {
            let mut records = self.next_person();
            records.reverse();
            self.pending.extend(records);
        }
        self.pending.pop()
    }
}

/// A date of birth moved by a year may make a person a minor at intake, who needs a guardian
/// to consent: the generator keeps every case valid.
fn with_guardian_if_minor(case: &mut Value) {
    if crate::model::Case::from_json(case).is_err() {
        case["consent"]["guardian"] = json!("Legal guardian appointed by the court");
    }
}

/// Exploitation types by how often the field meets them: labour and sexual exploitation far
/// the most (as in the source document's figures), so two victims often share a type by
/// chance.
const EXPLOITATION_WEIGHTS: &[(&str, f64)] = &[
    ("labour", 0.42),
    ("sexual", 0.30),
    ("domestic_servitude", 0.10),
    ("forced_begging", 0.06),
    ("forced_marriage", 0.05),
    ("forced_criminality", 0.04),
    ("other", 0.02),
    ("organ_removal", 0.01),
];

const SECTORS: &[&str] = &[
    "agriculture",
    "construction",
    "domestic_work",
    "fishing",
    "manufacturing",
    "hospitality",
];

/// The fields of a victim's story.
const STORY: [&str; 3] = [
    "country_of_destination",
    "exploitation_types",
    "labour_sectors",
];

fn has(case: &Value, field: &str) -> bool {
    case.get(field).is_some_and(|v| !v.is_null())
}

fn remove(case: &mut Value, field: &str) {
    if let Some(o) = case.as_object_mut() {
        o.remove(field);
    }
}

/// A date of birth, or its year when the shifted day does not exist (29 February).
fn valid_or_year(text: &str) -> String {
    if crate::model::PartialDate::parse(text).is_ok() {
        text.to_owned()
    } else {
        text[..4.min(text.len())].to_owned()
    }
}

fn feminine(name: &str) -> String {
    for (m, f) in [("ov", "ova"), ("ev", "eva"), ("in", "ina"), ("yov", "yova")] {
        if name.ends_with(m) {
            return format!("{name}{}", &f[m.len()..]);
        }
    }
    name.to_owned()
}

fn masculine(name: &str) -> String {
    for f in ["ova", "eva", "ina"] {
        if name.ends_with(f) {
            return name[..name.len() - 1].to_owned();
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Case;
    use std::collections::BTreeMap;

    #[test]
    fn every_record_is_valid_and_every_drift_is_planted() {
        let records: Vec<PlantedRecord> = Population::new(3, 0.2).take(4000).collect();
        let mut drifts: BTreeMap<Drift, usize> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            if let Err(errors) = Case::from_json(&r.case) {
                panic!("record {i} ({:?}) is invalid: {errors}", r.drift);
            }
            if let Some(d) = r.drift {
                *drifts.entry(d).or_default() += 1;
                let first = records[..i].iter().rev().find(|p| p.person == r.person);
                assert!(first.is_some(), "a re-recording follows its person");
            }
        }
        assert_eq!(drifts.len(), Drift::ALL.len(), "{drifts:?}");
        assert!(drifts.values().all(|&n| n > 50), "{drifts:?}");
        let again: Vec<PlantedRecord> = Population::new(3, 0.2).take(50).collect();
        assert_eq!(again[49].case, records[49].case, "deterministic for a seed");
    }

    #[test]
    fn a_rerecording_mostly_tells_the_same_story_and_namesakes_often_share_one() {
        let records: Vec<PlantedRecord> = Population::new(5, 0.3).take(6000).collect();
        fn destination(r: &PlantedRecord) -> Option<&str> {
            r.case["country_of_destination"].as_str()
        }
        let (mut both, mut same) = (0, 0);
        for (i, r) in records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.drift.is_some())
        {
            let first = records[..i].iter().rev().find(|p| p.person == r.person);
            if let (Some(a), Some(b)) = (first.and_then(destination), destination(r)) {
                both += 1;
                same += usize::from(a == b);
            }
        }
        let kept = same as f64 / both as f64;
        assert!(
            (0.9..1.0).contains(&kept),
            "{same} of {both} re-recordings keep the destination"
        );
        // Two victims of one region share a destination by chance far more often than one
        // in six (the regions' destinations are few and skewed).
        let victims: Vec<(&str, &str)> = records
            .iter()
            .filter(|r| r.drift.is_none())
            .filter_map(|r| Some((r.case["nationality"].as_str()?, destination(r)?)))
            .filter(|(n, _)| ["SDN", "EGY", "SYR", "IRQ", "YEM"].contains(n))
            .collect();
        let pairs = victims.len() * (victims.len() - 1) / 2;
        let shared = (0..victims.len())
            .flat_map(|i| (i + 1..victims.len()).map(move |j| (i, j)))
            .filter(|&(i, j)| victims[i].1 == victims[j].1)
            .count();
        let chance = shared as f64 / pairs as f64;
        assert!(
            (0.2..0.4).contains(&chance),
            "namesakes' regions share a destination {chance}"
        );
    }

    #[test]
    fn a_sibling_has_another_name_and_another_birth_year() {
        let mut p = Population::new(9, 0.1);
        let case = json!({
            "given_name": "Fatima", "family_name": "Haddad", "date_of_birth": "2016-05-01",
            "nationality": "SDN", "sex": "female",
        });
        for _ in 0..500 {
            let sibling = p.sibling(&case, &REGIONS[0], &pools()[0]).case;
            let given = sibling["given_name"].as_str().unwrap();
            assert_ne!(crate::normalize::folded_words(given), ["fatama"], "{given}");
            let year: i32 = sibling["date_of_birth"].as_str().unwrap()[..4]
                .parse()
                .unwrap();
            assert!((year - 2016).abs() >= 2 && year <= 2017, "born {year}");
        }
    }

    #[test]
    fn scorecards_count_found_missed_and_wrong_pairs() {
        let records = [
            (1, 10, None),
            (2, 10, Some(Drift::Typo)),
            (3, 11, None),
            (4, 11, Some(Drift::Swapped)),
            (5, 12, None),
        ];
        let card = score_pairs(&records, &[(2, 1), (3, 5)]);
        assert_eq!((card.true_pairs, card.listed, card.listed_true), (2, 2, 1));
        assert_eq!(card.drift(Drift::Typo).recall(), 1.0);
        assert_eq!(card.drift(Drift::Swapped).recall(), 0.0);
        assert_eq!(
            card.drift(Drift::Swapped).listed,
            1,
            "3–5 involves a swapped person"
        );
        assert_eq!(card.precision(), 0.5);
    }

    #[test]
    fn scripts_and_variants_read_as_caseworkers_write_them() {
        assert_eq!(to_cyrillic("Olena Shevchenko"), "Олена Шевченко");
        assert_eq!(to_arabic("Mohammed"), "محمد");
        let mut p = Population::new(1, 0.5);
        let v = p.variant("Mohammed");
        assert_ne!(v, "Mohammed");
        assert_eq!(feminine("Ivanov"), "Ivanova");
    }
}
