//! Turns fuzzer bytes into structured input: a [`Tape`] hands out small choices from the
//! bytes, so a coverage-guided engine that mutates the bytes mutates the structure, and random
//! bytes under `cargo test` give varied but mostly well-formed input. An empty tape answers 0.

use serde_json::{Map, Value};

pub struct Tape<'a> {
    bytes: &'a [u8],
}

impl<'a> Tape<'a> {
    pub fn new(bytes: &'a [u8]) -> Tape<'a> {
        Tape { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    /// A choice in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// Up to `max` raw bytes.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1).min(self.bytes.len());
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        taken
    }

    pub fn text(&mut self, words: &[&str]) -> String {
        match self.below(4) {
            0 => String::from_utf8_lossy(self.bytes(24)).into_owned(),
            _ => (*self.pick(words)).to_owned(),
        }
    }

    /// A JSON value nested at most `depth` deep, its strings drawn from `words` or the tape.
    pub fn json(&mut self, words: &[&str], depth: usize) -> Value {
        let kinds = if depth == 0 { 5 } else { 7 };
        match self.below(kinds) {
            0 => Value::Null,
            1 => Value::Bool(self.byte() & 1 == 1),
            2 => Value::from(i64::from(self.byte() as i8) * i64::from(self.byte())),
            3 => serde_json::Number::from_f64(f64::from(self.byte()) / 7.0)
                .map_or(Value::Null, Value::Number),
            4 => Value::String(self.text(words)),
            5 => (0..self.below(4))
                .map(|_| self.json(words, depth - 1))
                .collect(),
            _ => {
                let mut map = Map::new();
                for _ in 0..self.below(5) {
                    let key = self.text(words);
                    let value = self.json(words, depth - 1);
                    map.insert(key, value);
                }
                Value::Object(map)
            }
        }
    }
}

impl Tape<'_> {
    /// Applies a few random edits to `value`: each walks down a random path and replaces,
    /// removes or adds something there. Starting from a valid message, this reaches the checks
    /// behind the syntax that random JSON never gets to.
    pub fn mutate(&mut self, value: &mut Value, words: &[&str]) {
        for _ in 0..self.below(4) + 1 {
            self.edit(value, words, 0);
        }
    }

    fn edit(&mut self, value: &mut Value, words: &[&str], depth: usize) {
        let descend = depth < 6 && self.below(3) != 0;
        match value {
            Value::Object(map) if !map.is_empty() => {
                let key = map
                    .keys()
                    .nth(self.below(map.len()))
                    .cloned()
                    .expect("in range");
                if descend {
                    let child = map.get_mut(&key).expect("present");
                    return self.edit(child, words, depth + 1);
                }
                match self.below(3) {
                    0 => {
                        map.remove(&key);
                    }
                    1 => {
                        let new_key = self.text(words);
                        let new_value = self.json(words, 2);
                        map.insert(new_key, new_value);
                    }
                    _ => *map.get_mut(&key).expect("present") = self.json(words, 2),
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let at = self.below(items.len());
                if descend {
                    return self.edit(&mut items[at], words, depth + 1);
                }
                match self.below(3) {
                    0 => {
                        items.remove(at);
                    }
                    1 => {
                        let copy = items[at].clone();
                        items.push(copy);
                    }
                    _ => items[at] = self.json(words, 2),
                }
            }
            other => *other = self.json(words, 2),
        }
    }
}
