//! Tests of the merge rules: examples first, then properties over simulated devices.

use super::*;
use crate::hlc::Clock;
use crate::ids::DeviceId;
use proptest::prelude::*;
use serde_json::json;

fn device(n: u8) -> DeviceId {
    DeviceId::from_bytes([n; 16])
}

fn hlc(wall_ms: u64, dev: u8) -> Hlc {
    Hlc {
        wall_ms,
        counter: 0,
        device: device(dev),
    }
}

fn record() -> RecordId {
    RecordId::from_bytes([9; 16])
}

fn op(dev: u8, seq: u64, at: Hlc, fields: &[(&str, Value, &[Hlc])]) -> Operation {
    Operation {
        op_id: OpId {
            device: device(dev),
            seq,
        },
        kind: RecordKind::Case,
        record_id: record(),
        hlc: at,
        fields: fields
            .iter()
            .map(|(k, v, seen)| {
                (
                    k.to_string(),
                    FieldChange {
                        value: v.clone(),
                        seen: seen.to_vec(),
                    },
                )
            })
            .collect(),
    }
}

fn merged(ops: &[Operation]) -> RecordState {
    plan(&BTreeMap::new(), ops)
        .records
        .remove(&record())
        .expect("record planned")
        .after
}

#[test]
fn later_write_wins_and_concurrent_loser_is_kept() {
    let a = op(1, 1, hlc(10, 1), &[("sex", json!("female"), &[])]);
    let b = op(2, 1, hlc(20, 2), &[("sex", json!("unknown"), &[])]);
    let state = merged(&[a, b]);
    assert_eq!(state.fields["sex"].value, json!("unknown"));
    assert_eq!(state.conflicts.len(), 1);
    assert_eq!(state.conflicts[0].value, json!("female"));
}

#[test]
fn an_edit_made_on_top_of_a_value_is_not_a_conflict() {
    let a = op(1, 1, hlc(10, 1), &[("sex", json!("female"), &[])]);
    let b = op(2, 1, hlc(20, 2), &[("sex", json!("male"), &[hlc(10, 1)])]);
    for ops in [vec![a.clone(), b.clone()], vec![b, a]] {
        let state = merged(&ops);
        assert_eq!(state.fields["sex"].value, json!("male"));
        assert!(state.conflicts.is_empty());
    }
}

#[test]
fn a_chain_of_edits_arriving_backwards_leaves_no_conflict() {
    let a = op(1, 1, hlc(10, 1), &[("risk_level", json!("low"), &[])]);
    let b = op(
        2,
        1,
        hlc(20, 2),
        &[("risk_level", json!("medium"), &[hlc(10, 1)])],
    );
    let c = op(
        3,
        1,
        hlc(30, 3),
        &[("risk_level", json!("high"), &[hlc(20, 2)])],
    );
    let state = merged(&[c, b, a]);
    assert_eq!(state.fields["risk_level"].value, json!("high"));
    assert!(state.conflicts.is_empty());
}

#[test]
fn ties_on_wall_time_are_broken_by_device_never_by_value() {
    let a = op(1, 1, hlc(10, 1), &[("sex", json!("zzz"), &[])]);
    let b = op(2, 1, hlc(10, 2), &[("sex", json!("aaa"), &[])]);
    assert_eq!(
        merged(&[a.clone(), b.clone()]).fields["sex"].value,
        json!("aaa")
    );
    assert_eq!(merged(&[b, a]).fields["sex"].value, json!("aaa"));
}

#[test]
fn clearing_a_field_keeps_its_version_so_older_writes_stay_out() {
    let a = op(
        1,
        1,
        hlc(10, 1),
        &[("phone", json!("+256 772 000000"), &[])],
    );
    let clear = op(1, 2, hlc(20, 1), &[("phone", Value::Null, &[hlc(10, 1)])]);
    let state = merged(&[clear, a]);
    assert!(!state.values().contains_key("phone"));
    assert!(state.conflicts.is_empty());
}

#[test]
fn restoring_a_conflict_resolves_it_everywhere() {
    let a = op(1, 1, hlc(10, 1), &[("sex", json!("female"), &[])]);
    let b = op(2, 1, hlc(20, 2), &[("sex", json!("unknown"), &[])]);
    let restore = op(
        3,
        1,
        hlc(30, 3),
        &[("sex", json!("female"), &[hlc(20, 2), hlc(10, 1)])],
    );
    for ops in [
        vec![a.clone(), b.clone(), restore.clone()],
        vec![restore, b, a],
    ] {
        let state = merged(&ops);
        assert_eq!(state.fields["sex"].value, json!("female"));
        assert!(state.conflicts.is_empty(), "{:?}", state.conflicts);
    }
}

#[test]
fn a_batch_already_applied_plans_nothing() {
    let a = op(1, 1, hlc(10, 1), &[("sex", json!("female"), &[])]);
    let first = plan(&BTreeMap::new(), std::slice::from_ref(&a));
    let current: BTreeMap<_, _> = first
        .records
        .into_iter()
        .map(|(id, outcome)| (id, outcome.after))
        .collect();
    assert!(plan(&current, &[a]).records.is_empty());
}

#[test]
fn an_operation_of_the_wrong_kind_is_skipped() {
    let a = op(1, 1, hlc(10, 1), &[("sex", json!("female"), &[])]);
    let mut wrong = op(2, 1, hlc(20, 2), &[("text", json!("x"), &[])]);
    wrong.kind = RecordKind::Note;
    let result = plan(&BTreeMap::new(), &[a, wrong]);
    assert_eq!(result.skipped.len(), 1);
    let state = &result.records[&record()].after;
    assert!(!state.fields.contains_key("text"));
}

/// One simulated device: its clock, its local view of every record, the ops it made.
struct SimDevice {
    clock: Clock,
    view: BTreeMap<RecordId, RecordState>,
    seq: u64,
}

impl SimDevice {
    fn apply(&mut self, ops: &[Operation]) {
        for op in ops {
            self.clock.observe(op.hlc);
        }
        let result = plan(&self.view, ops);
        for (id, outcome) in result.records {
            self.view.insert(id, outcome.after);
        }
    }

    /// An edit as the store makes it: the new value, having seen the value shown.
    fn edit(&mut self, record: RecordId, field: &str, value: Value, now: u64) -> Operation {
        self.seq += 1;
        let seen = self
            .view
            .get(&record)
            .and_then(|r| r.version_of(field))
            .into_iter()
            .collect();
        let op = Operation {
            op_id: OpId {
                device: self.clock.device(),
                seq: self.seq,
            },
            kind: RecordKind::Case,
            record_id: record,
            hlc: self.clock.tick(now),
            fields: [(field.to_owned(), FieldChange { value, seen })].into(),
        };
        self.apply(std::slice::from_ref(&op));
        op
    }
}

#[derive(Clone, Debug)]
enum Step {
    Edit {
        device: usize,
        record: u8,
        field: u8,
        value: u16,
        clock_skew: u64,
    },
    Sync {
        from: usize,
        to: usize,
    },
}

fn step(devices: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..devices, 0..3u8, 0..3u8, any::<u16>(), 0..50u64).prop_map(
            |(device, record, field, value, clock_skew)| Step::Edit { device, record, field, value, clock_skew }
        ),
        1 => (0..devices, 0..devices).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

/// Runs a scenario of edits and partial syncs; returns every operation made.
fn simulate(devices: usize, steps: &[Step]) -> Vec<Operation> {
    let mut sims: Vec<SimDevice> = (0..devices)
        .map(|i| SimDevice {
            clock: Clock::new(device(i as u8 + 1)),
            view: BTreeMap::new(),
            seq: 0,
        })
        .collect();
    let mut made: Vec<Vec<Operation>> = vec![Vec::new(); devices];
    let mut now = 1_000u64;
    for step in steps {
        now += 1;
        match *step {
            Step::Edit {
                device,
                record,
                field,
                value,
                clock_skew,
            } => {
                let id = RecordId::from_bytes([record; 16]);
                // Skewed wall clocks: some devices run behind.
                let op = sims[device].edit(
                    id,
                    &format!("f{field}"),
                    json!(value),
                    now.saturating_sub(clock_skew),
                );
                made[device].push(op);
            }
            Step::Sync { from, to } => {
                let ops = made[from].clone();
                sims[to].apply(&ops);
            }
        }
    }
    made.into_iter().flatten().collect()
}

fn merge_all(ops: &[Operation]) -> BTreeMap<RecordId, RecordState> {
    plan(&BTreeMap::new(), ops)
        .records
        .into_iter()
        .map(|(id, o)| (id, o.after))
        .collect()
}

/// Applies ops one batch at a time, as a replica syncing in pages would.
fn merge_in_batches(ops: &[Operation], batch: usize) -> BTreeMap<RecordId, RecordState> {
    let mut state = BTreeMap::new();
    for chunk in ops.chunks(batch.max(1)) {
        for (id, outcome) in plan(&state, chunk).records {
            state.insert(id, outcome.after);
        }
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_order_and_duplication_converges(
        steps in prop::collection::vec(step(4), 1..60),
        shuffle_seed in any::<u64>(),
        duplicate_every in 1..5usize,
        batch in 1..8usize,
    ) {
        let ops = simulate(4, &steps);
        let reference = merge_all(&ops);

        let mut replica_ops = ops.clone();
        replica_ops.extend(ops.iter().step_by(duplicate_every).cloned());
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(shuffle_seed);
        rand::seq::SliceRandom::shuffle(replica_ops.as_mut_slice(), &mut rng);

        prop_assert_eq!(&merge_in_batches(&replica_ops, batch), &reference);
        prop_assert_eq!(&merge_all(&replica_ops), &reference);
    }

    #[test]
    fn no_written_value_disappears_without_a_conflict_entry(steps in prop::collection::vec(step(3), 1..60)) {
        let ops = simulate(3, &steps);
        let state = merge_all(&ops);
        for op in &ops {
            let record = &state[&op.record_id];
            for (field, change) in &op.fields {
                let current = record.fields[field].hlc == op.hlc;
                let conflict = record.conflicts.iter().any(|c| &c.field == field && c.hlc == op.hlc && c.value == change.value);
                // Knowingly replaced: some device showed this value and edited on top of it.
                let replaced = record.seen.get(field).is_some_and(|s| s.contains(&op.hlc));
                prop_assert!(current || conflict || replaced, "write {} to {} vanished", op.hlc, field);
            }
        }
    }
}
