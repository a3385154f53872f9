//! The sync body codec: JSON compressed with zstd, decoded as a stream within limits.
//!
//! Decoding never holds the decompressed body: a bounded reader feeds the zstd stream
//! straight into the typed message, and every field value is built by a visitor that charges
//! what it allocates to a budget *before* allocating it. So a body that expands to gigabytes
//! (`[0,0,0,…]` compresses about 200 000 to 1) costs what the budget allows and no more, and
//! is refused with a typed [`CodecError::Limit`] naming which bound it crossed.
//!
//! The bounds (see [`DecodeLimits`]): the decompressed size, a zstd window no larger than our
//! encoder ever uses, the nesting depth, the size of one value, of one operation's values and
//! of all values of a body, the number of fields of one operation and the length of a field
//! key. A pushed body also has its operation and command counts bounded while it is parsed
//! (see `protocol::SyncRequest`).
//!
//! What it does not bound: serde_json keeps one scratch buffer for the string it is reading,
//! so a single huge string costs up to the decompressed limit once per body before its value
//! is refused; that is why the decompressed limit itself is small.
//!
//! The value budget lives in a thread-local for the duration of one [`decode_body_with`]
//! call, because serde's derived impls cannot pass state down to a nested field. Outside such
//! a call (reading the store, tests), values decode without limits, exactly like
//! `serde_json::Value`.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufReader, Read};

/// zstd level for sync bodies: level 3 is zstd's default, fast enough for a phone's CPU and
/// within a few percent of higher levels on JSON.
pub const ZSTD_LEVEL: i32 = 3;

/// Largest zstd window (as a power of two) a decoder accepts: 8 MiB. Our encoder at level 3
/// uses at most 2 MiB (window log 21); without this bound a crafted frame could make the
/// decoder allocate a 128 MiB window (zstd's default maximum) per body before a byte comes out.
pub const MAX_WINDOW_LOG: u32 = 23;

/// What one decoded value costs in the budget, on top of its text: the size of a
/// `serde_json::Value` (32 bytes) doubled, since a growing `Vec` may hold twice what it uses.
/// Counting nodes is what stops `[0,0,0,…]`: each 2 bytes of JSON would otherwise become 32
/// bytes of memory.
pub const NODE_COST: usize = 64;

/// Which bound a body crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Limit {
    #[error("the body decompresses to more than {0} bytes")]
    Decompressed(usize),
    #[error("one field value is larger than {0} bytes")]
    Value(usize),
    #[error("one operation's values are larger than {0} bytes")]
    Operation(usize),
    #[error("the values of the body are larger than {0} bytes in all")]
    Body(usize),
    #[error("a value is nested deeper than {0} levels")]
    Depth(usize),
    #[error("an operation has more than {0} fields")]
    Fields(usize),
    #[error("a field key is longer than {0} bytes")]
    KeyLength(usize),
    #[error("a body carries more than {0} operations")]
    Operations(usize),
    #[error("a body carries more than {0} referral commands")]
    Commands(usize),
}

/// The bounds one decode runs under. Each constant that fills one in says why its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    pub decompressed_bytes: usize,
    pub value_bytes: usize,
    pub operation_bytes: usize,
    pub body_value_bytes: usize,
    pub depth: usize,
    pub fields_per_operation: usize,
    pub key_bytes: usize,
}

/// What can go wrong encoding or decoding a body.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("body of {0} bytes is over the {limit}-byte limit", limit = crate::protocol::MAX_COMPRESSED_BODY_BYTES)]
    TooLarge(usize),
    /// Kept for callers that match on it; decoding now reports [`Limit::Decompressed`].
    #[error("decompressed body is over the {limit}-byte limit", limit = crate::protocol::MAX_DECOMPRESSED_BODY_BYTES)]
    DecompressedTooLarge,
    #[error("body is not valid zstd")]
    Compression,
    /// The body crossed a bound while it was decoded; nothing past the bound was allocated.
    #[error("body refused: {0}")]
    Limit(Limit),
    #[error("body is not a valid message: {0}")]
    Json(String),
}

/// Serializes and compresses a message.
pub fn encode_body<T: Serialize>(message: &T) -> Vec<u8> {
    let json = serde_json::to_vec(message).expect("protocol messages always serialize");
    zstd::bulk::compress(&json, ZSTD_LEVEL).expect("zstd compression of an in-memory buffer")
}

/// Decompresses and parses `body` as one stream under `limits`. The compressed size is
/// checked first.
pub fn decode_body_with<T: serde::de::DeserializeOwned>(
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<T, CodecError> {
    if body.len() > crate::protocol::MAX_COMPRESSED_BODY_BYTES {
        return Err(CodecError::TooLarge(body.len()));
    }
    let mut decoder =
        zstd::stream::read::Decoder::new(body).map_err(|_| CodecError::Compression)?;
    decoder
        .window_log_max(MAX_WINDOW_LOG)
        .map_err(|_| CodecError::Compression)?;
    let mut reader = BufReader::new(Capped {
        inner: decoder,
        left: limits.decompressed_bytes,
        exceeded: false,
    });
    let _scope = BudgetScope::enter(limits);
    let parsed = serde_json::from_reader::<_, T>(&mut reader);
    let hit = BUDGET.with(|b| b.borrow().as_ref().and_then(|b| b.hit));
    match parsed {
        Ok(message) => Ok(message),
        Err(_) if reader.get_ref().exceeded => Err(CodecError::Limit(Limit::Decompressed(
            limits.decompressed_bytes,
        ))),
        Err(_) if hit.is_some() => Err(CodecError::Limit(hit.expect("checked"))),
        Err(e) if e.classify() == serde_json::error::Category::Io => Err(CodecError::Compression),
        // serde_json's messages can quote the input ("invalid type: string \"Maria\""), so
        // only the kind of error and its position are kept.
        Err(e) => Err(CodecError::Json(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))),
    }
}

/// A reader that fails once more than `left` bytes have come through it.
struct Capped<R> {
    inner: R,
    left: usize,
    exceeded: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Ask for one byte past the limit, so a body of exactly the limit still ends cleanly.
        let want = buf.len().min(self.left + 1);
        let n = self.inner.read(&mut buf[..want])?;
        if n > self.left {
            self.exceeded = true;
            return Err(io::Error::other("decompressed body over the limit"));
        }
        self.left -= n;
        Ok(n)
    }
}

/// What is left of the budget during one decode, and the first bound crossed.
struct Budget {
    limits: DecodeLimits,
    body_left: usize,
    operation_left: usize,
    hit: Option<Limit>,
}

thread_local! {
    static BUDGET: RefCell<Option<Budget>> = const { RefCell::new(None) };
}

/// Installs a budget for this thread until dropped (also on a panic).
struct BudgetScope(Option<Budget>);

impl BudgetScope {
    fn enter(limits: &DecodeLimits) -> BudgetScope {
        let budget = Budget {
            limits: *limits,
            body_left: limits.body_value_bytes,
            operation_left: limits.operation_bytes,
            hit: None,
        };
        BudgetScope(BUDGET.with(|b| b.borrow_mut().replace(budget)))
    }
}

impl Drop for BudgetScope {
    fn drop(&mut self) {
        let previous = self.0.take();
        BUDGET.with(|b| *b.borrow_mut() = previous);
    }
}

/// Runs `f` on the active budget; `None` when no bounded decode is running.
fn with_budget<R>(f: impl FnOnce(&mut Budget) -> R) -> Option<R> {
    BUDGET.with(|b| b.borrow_mut().as_mut().map(f))
}

/// Records `limit` as crossed and makes the serde error that stops the parse.
fn refuse<E: de::Error>(limit: Limit) -> E {
    with_budget(|b| b.hit.get_or_insert(limit).to_owned());
    E::custom(limit)
}

/// The limits of the active decode, if any.
fn active_limits() -> Option<DecodeLimits> {
    with_budget(|b| b.limits)
}

/// Starts a new operation's share of the budget (called when an operation's fields begin).
fn start_operation() {
    with_budget(|b| b.operation_left = b.limits.operation_bytes);
}

/// Charges `cost` bytes against the operation and body budgets; `value_left` is the rest
/// of the current value's own budget.
fn charge<E: de::Error>(cost: usize, value_left: &mut usize) -> Result<(), E> {
    let Some(limits) = active_limits() else {
        return Ok(());
    };
    if cost > *value_left {
        return Err(refuse(Limit::Value(limits.value_bytes)));
    }
    *value_left -= cost;
    let crossed = with_budget(|b| {
        if cost > b.operation_left {
            Some(Limit::Operation(b.limits.operation_bytes))
        } else if cost > b.body_left {
            Some(Limit::Body(b.limits.body_value_bytes))
        } else {
            b.operation_left -= cost;
            b.body_left -= cost;
            None
        }
    })
    .flatten();
    match crossed {
        Some(limit) => Err(refuse(limit)),
        None => Ok(()),
    }
}

/// Deserializes a field value as a `serde_json::Value`, within the active budget.
pub fn bounded_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    let mut value_left = active_limits().map_or(usize::MAX, |l| l.value_bytes);
    ValueSeed {
        depth: 0,
        value_left: &mut value_left,
    }
    .deserialize(deserializer)
}

/// Deserializes an operation's field map, bounding its size and key lengths and starting the
/// operation's share of the budget.
pub fn bounded_fields<'de, D, V>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: serde::Deserialize<'de>,
{
    struct FieldsVisitor<V>(std::marker::PhantomData<V>);
    impl<'de, V: serde::Deserialize<'de>> Visitor<'de> for FieldsVisitor<V> {
        type Value = std::collections::BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of field key to change")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            start_operation();
            let limits = active_limits();
            let mut fields = std::collections::BTreeMap::new();
            while let Some(key) = map.next_key_seed(KeySeed)? {
                if let Some(limits) = limits {
                    if fields.len() >= limits.fields_per_operation {
                        return Err(refuse(Limit::Fields(limits.fields_per_operation)));
                    }
                }
                let value = map.next_value()?;
                fields.insert(key, value);
            }
            Ok(fields)
        }
    }
    deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
}

/// Deserializes a sequence of at most `max` items, refusing the next one before parsing it.
pub fn bounded_seq<'de, D, T>(deserializer: D, max: usize, limit: Limit) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct SeqVisitor<T> {
        max: usize,
        limit: Limit,
        item: std::marker::PhantomData<T>,
    }
    impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list of at most {} items", self.max)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let bounded = active_limits().is_some();
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                if bounded && items.len() >= self.max {
                    return Err(refuse(self.limit));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(SeqVisitor {
        max,
        limit,
        item: std::marker::PhantomData,
    })
}

/// A field key: a string of at most the key limit.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if let Some(limits) = active_limits() {
            if key.len() > limits.key_bytes {
                return Err(refuse(Limit::KeyLength(limits.key_bytes)));
            }
        }
        Ok(key.to_owned())
    }
}

/// One JSON value at `depth`, charging its parts to `value_left` and the budget.
struct ValueSeed<'a> {
    depth: usize,
    value_left: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        charge(NODE_COST, self.value_left)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        charge(NODE_COST, self.value_left)?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        charge(NODE_COST, self.value_left)?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        charge(NODE_COST, self.value_left)?;
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        // Charged before the copy: a refused string is never allocated as a value.
        charge(NODE_COST.saturating_add(v.len()), self.value_left)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        charge(NODE_COST.saturating_add(v.len()), self.value_left)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        charge(NODE_COST, self.value_left)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        check_depth(depth)?;
        charge(NODE_COST, self.value_left)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed {
            depth,
            value_left: self.value_left,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        check_depth(depth)?;
        charge(NODE_COST, self.value_left)?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            charge(NODE_COST.saturating_add(key.len()), self.value_left)?;
            let value = map.next_value_seed(ValueSeed {
                depth,
                value_left: self.value_left,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

fn check_depth<E: de::Error>(depth: usize) -> Result<(), E> {
    match active_limits() {
        Some(limits) if depth > limits.depth => Err(refuse(Limit::Depth(limits.depth))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{SyncRequest, PUSH_LIMITS};

    fn request_with_value(value: &str) -> Vec<u8> {
        let json = format!(
            r#"{{"protocol":1,"cursor":null,"ops":[{{"op_id":{{"d":"00000000-0000-4000-8000-000000000001","s":1}},
            "kind":"case","record_id":"00000000-0000-7000-8000-000000000001",
            "hlc":{{"w":1,"c":0,"d":"00000000-0000-4000-8000-000000000001"}},
            "fields":{{"sex":{{"v":{value}}}}}}}]}}"#
        );
        zstd::bulk::compress(json.as_bytes(), 3).unwrap()
    }

    fn refused(body: &[u8]) -> Limit {
        match decode_body_with::<SyncRequest>(body, &PUSH_LIMITS) {
            Err(CodecError::Limit(limit)) => limit,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_small_request_decodes() {
        let request: SyncRequest = decode_body_with(
            &request_with_value(r#"["a",{"b":[1,2.5,null,true]}]"#),
            &PUSH_LIMITS,
        )
        .unwrap();
        assert_eq!(
            request.ops[0].fields["sex"].value,
            serde_json::json!(["a", {"b": [1, 2.5, null, true]}])
        );
    }

    #[test]
    fn a_long_array_of_zeros_is_refused_as_one_value() {
        let zeros = format!("[{}0]", "0,".repeat(200_000));
        assert_eq!(
            refused(&request_with_value(&zeros)),
            Limit::Value(PUSH_LIMITS.value_bytes)
        );
    }

    #[test]
    fn deep_nesting_and_long_strings_and_keys_are_refused() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            refused(&request_with_value(&deep)),
            Limit::Depth(PUSH_LIMITS.depth)
        );
        let long = format!("\"{}\"", "a".repeat(PUSH_LIMITS.value_bytes + 1));
        assert_eq!(
            refused(&request_with_value(&long)),
            Limit::Value(PUSH_LIMITS.value_bytes)
        );
        let key = "k".repeat(PUSH_LIMITS.key_bytes + 1);
        let json = format!(
            r#"{{"protocol":1,"cursor":null,"ops":[{{"op_id":{{"d":"00000000-0000-4000-8000-000000000001","s":1}},
            "kind":"case","record_id":"00000000-0000-7000-8000-000000000001",
            "hlc":{{"w":1,"c":0,"d":"00000000-0000-4000-8000-000000000001"}},
            "fields":{{"{key}":{{"v":1}}}}}}]}}"#
        );
        assert_eq!(
            refused(&zstd::bulk::compress(json.as_bytes(), 3).unwrap()),
            Limit::KeyLength(PUSH_LIMITS.key_bytes)
        );
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let bomb =
            zstd::bulk::compress(&vec![b' '; PUSH_LIMITS.decompressed_bytes + 10], 3).unwrap();
        assert_eq!(
            refused(&bomb),
            Limit::Decompressed(PUSH_LIMITS.decompressed_bytes)
        );
    }

    #[test]
    fn without_a_decode_scope_values_are_unbounded() {
        let zeros = format!("[{}0]", "0,".repeat(200_000));
        let change: crate::FieldChange =
            serde_json::from_str(&format!(r#"{{"v":{zeros}}}"#)).unwrap();
        assert_eq!(change.value.as_array().unwrap().len(), 200_001);
    }
}
