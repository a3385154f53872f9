//! Counting units into cells: records counted once each, linked individuals once however many
//! of their records fall in a cell, and the key sum of the units counted (the cell key of
//! [`super::cellkey`]). What the engine counts into; nothing here reads storage.

use super::cellkey::{CellKey, CellKeys, UnitKind};
use super::table::Cell;
use fieldcase_core::RecordId;
use std::collections::HashMap;

/// Confirmed duplicate links as individuals: each linked case mapped to its individual and
/// the individual's record key.
///
/// An individual's key is the key of its smallest linked case id: fixed while its links do
/// not change, whichever of its records a request happens to count, so one person gets the
/// same noise in every scope ([`super::cellkey`]).
#[derive(Clone, Debug, Default)]
pub struct Individuals {
    of: HashMap<RecordId, (u32, CellKey)>,
    /// The key sum of every linked case (the units of `linked_cases`).
    linked_key: CellKey,
}

impl Individuals {
    /// Union-find over confirmed pairs; `keys` gives the record keys (none: exact figures,
    /// every key zero).
    pub fn from_links(links: &[(RecordId, RecordId)], keys: Option<&CellKeys>) -> Individuals {
        let mut index: HashMap<RecordId, usize> = HashMap::new();
        let mut parent: Vec<usize> = Vec::new();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let mut id = |r: RecordId, parent: &mut Vec<usize>| {
            *index.entry(r).or_insert_with(|| {
                parent.push(parent.len());
                parent.len() - 1
            })
        };
        for (a, b) in links {
            let (x, y) = (id(*a, &mut parent), id(*b, &mut parent));
            let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
            if rx != ry {
                parent[rx.max(ry)] = rx.min(ry);
            }
        }
        let key_of = |r: RecordId| keys.map(|k| k.of(UnitKind::Case, r)).unwrap_or_default();
        let roots: Vec<(RecordId, u32)> = index
            .into_iter()
            .map(|(r, i)| (r, find(&mut parent, i) as u32))
            .collect();
        let mut smallest: HashMap<u32, RecordId> = HashMap::new();
        let mut linked_key = CellKey::default();
        for (r, root) in &roots {
            let slot = smallest.entry(*root).or_insert(*r);
            *slot = (*slot).min(*r);
            linked_key = linked_key.plus(key_of(*r));
        }
        let of = roots
            .into_iter()
            .map(|(r, root)| (r, (root, key_of(smallest[&root]))))
            .collect();
        Individuals { of, linked_key }
    }

    /// The individual of a case (and its key), when it is linked to another.
    pub(super) fn person(&self, case: &RecordId) -> Option<(u32, CellKey)> {
        self.of.get(case).copied()
    }

    /// The individual of a case, when it is linked to another.
    pub fn of(&self, case: &RecordId) -> Option<u32> {
        self.person(case).map(|(p, _)| p)
    }

    /// Linked cases, with the key of their set.
    pub fn linked(&self) -> Cell {
        Cell::keyed(self.of.len() as u64, self.linked_key)
    }
}

/// A count that counts linked individuals once, with the key sum of its units.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    pub(super) n: u64,
    /// Key sum of the units counted in `n` (each counted once by construction).
    pub(super) key: CellKey,
    /// Linked individuals, each once, with their keys.
    pub(super) people: HashMap<u32, CellKey>,
}

/// One unit counted: a record counted on its own, or a linked individual.
#[derive(Clone, Copy)]
pub(super) enum Unit {
    One(CellKey),
    Person(u32, CellKey),
}

impl Tally {
    pub(super) fn add(&mut self, unit: Unit) {
        match unit {
            Unit::One(key) => {
                self.n += 1;
                self.key = self.key.plus(key);
            }
            Unit::Person(p, key) => {
                self.people.insert(p, key);
            }
        }
    }
    pub(super) fn value(&self) -> u64 {
        self.n + self.people.len() as u64
    }
    pub(super) fn cell(&self) -> Cell {
        let key = self.people.values().fold(self.key, |sum, k| sum.plus(*k));
        Cell::keyed(self.value(), key)
    }
    pub(super) fn merge(&mut self, other: &Tally) {
        self.n += other.n;
        self.key = self.key.plus(other.key);
        self.people
            .extend(other.people.iter().map(|(p, k)| (*p, *k)));
    }
}

/// A one-way table being counted.
#[derive(Default)]
pub(super) struct OneWay {
    pub(super) cells: HashMap<&'static str, Tally>,
    pub(super) total: Tally,
}

impl OneWay {
    pub(super) fn add(&mut self, keys: &[&'static str], unit: Unit) {
        for k in keys {
            self.cells.entry(k).or_default().add(unit);
        }
        self.total.add(unit);
    }
}

#[derive(Default)]
pub(super) struct TwoWay {
    pub(super) cells: HashMap<(&'static str, &'static str), Tally>,
    pub(super) rows: HashMap<&'static str, Tally>,
    pub(super) cols: HashMap<&'static str, Tally>,
    pub(super) total: Tally,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmed_links_make_one_individual_transitively() {
        let (a, b, c, d) = (
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
        );
        let people = Individuals::from_links(&[(a, b), (c, b)], None);
        assert_eq!(people.of(&a), people.of(&c));
        assert!(people.of(&a).is_some());
        assert_eq!(people.of(&d), None);
        assert_eq!(people.linked().count, Some(3));
    }

    #[test]
    fn an_individual_has_one_key_and_a_record_counts_once() {
        let keys = CellKeys::from_sealer(&crate::seal::Sealer::from_key(&[8; 32]));
        let (a, b) = (RecordId::new(), RecordId::new());
        let people = Individuals::from_links(&[(a, b)], Some(&keys));
        let person = people.person(&a).unwrap();
        assert_eq!(people.person(&b), Some(person));
        assert_eq!(person.1, keys.of(UnitKind::Case, a.min(b)));
        let mut tally = Tally::default();
        tally.add(Unit::Person(person.0, person.1));
        tally.add(Unit::Person(person.0, person.1));
        assert_eq!(tally.cell(), Cell::keyed(1, person.1));
        assert_eq!(
            people.linked().key,
            keys.of(UnitKind::Case, a).plus(keys.of(UnitKind::Case, b))
        );
    }
}
