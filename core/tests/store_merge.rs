//! Two devices editing offline, exchanging operations as sync would: convergence, conflict
//! entries, and resolution that travels.

mod common;
use common::*;
use fieldcase_core::model::Fields;
use fieldcase_core::store::{Resolution, Store};
use serde_json::json;

fn exchange(from: &mut Store, to: &mut Store) {
    let ops = from.pending_ops(10_000).unwrap();
    to.apply_remote(&ops, "test-cursor").unwrap();
}

fn set(field: &str, value: serde_json::Value) -> Fields {
    [(field.to_string(), value)].into()
}

#[test]
fn concurrent_edits_converge_and_the_loser_is_kept_until_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store(dir.path(), "b", 2);
    let id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    exchange(&mut a, &mut b);
    a.acknowledge(1, &[]).unwrap();
    assert_eq!(
        b.get_case(&id).unwrap().fields,
        a.get_case(&id).unwrap().fields
    );

    // Offline, both change the risk level; only A changes the phone.
    a.update_case(&id, set("risk_level", json!("high")))
        .unwrap();
    a.update_case(&id, set("phone", json!("+256 772 999999")))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    b.update_case(&id, set("risk_level", json!("low"))).unwrap();
    exchange(&mut a, &mut b);
    exchange(&mut b, &mut a);

    let (ca, cb) = (a.get_case(&id).unwrap(), b.get_case(&id).unwrap());
    assert_eq!(ca.fields, cb.fields);
    assert_eq!(ca.fields["risk_level"], "low", "the later edit wins");
    assert_eq!(
        ca.fields["phone"], "+256 772 999999",
        "unrelated edits both survive"
    );
    let conflicts = a.list_conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, "risk_level");
    assert_eq!(conflicts[0].value, json!("high"));
    assert_eq!(conflicts[0].current, Some(json!("low")));
    assert_eq!(b.list_conflicts().unwrap().len(), 1);
    assert_eq!(a.status().unwrap().conflicts, 1);

    // A supervisor on A restores the losing value; B learns it on the next exchange.
    a.acknowledge(u64::MAX, &[]).unwrap();
    a.resolve_conflict(&id, "risk_level", conflicts[0].version, Resolution::Restore)
        .unwrap();
    exchange(&mut a, &mut b);
    for store in [&a, &b] {
        assert_eq!(store.get_case(&id).unwrap().fields["risk_level"], "high");
        assert!(store.list_conflicts().unwrap().is_empty());
    }
}

#[test]
fn dismissing_a_conflict_keeps_the_current_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store(dir.path(), "b", 2);
    let id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    exchange(&mut a, &mut b);
    a.update_case(&id, set("risk_level", json!("high")))
        .unwrap();
    b.update_case(&id, set("risk_level", json!("low"))).unwrap();
    exchange(&mut a, &mut b);
    let conflict = b.list_conflicts().unwrap().remove(0);
    let winner = b.get_case(&id).unwrap().fields["risk_level"].clone();
    b.resolve_conflict(&id, "risk_level", conflict.version, Resolution::Dismiss)
        .unwrap();
    assert!(b.list_conflicts().unwrap().is_empty());
    assert_eq!(b.get_case(&id).unwrap().fields["risk_level"], winner);
}

#[test]
fn applying_the_same_page_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store(dir.path(), "b", 2);
    for i in 0..5 {
        a.create_case(&case(
            &format!("P{i}"),
            "F",
            &format!("+256 772 00000{i}"),
            &format!("D{i}"),
        ))
        .unwrap();
    }
    let ops = a.pending_ops(100).unwrap();
    let first = b.apply_remote(&ops, "c1").unwrap();
    let second = b.apply_remote(&ops, "c2").unwrap();
    assert_eq!(first.records_changed, 5);
    assert_eq!(second.records_changed, 0);
    assert_eq!(b.cursor().unwrap().as_deref(), Some("c2"));
    assert_eq!(b.count_cases(None).unwrap(), 5);
    assert_eq!(
        b.status().unwrap().pending_ops,
        0,
        "remote operations are not re-queued"
    );
}

#[test]
fn acknowledged_operations_leave_the_outbox_and_rejected_ones_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    for i in 0..3 {
        a.create_case(&case(
            &format!("P{i}"),
            "F",
            &format!("+256 772 00000{i}"),
            &format!("D{i}"),
        ))
        .unwrap();
    }
    let ops = a.pending_ops(10).unwrap();
    assert_eq!(
        ops.iter().map(|o| o.op_id.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    a.acknowledge(2, &[(ops[1].op_id, "forbidden".into())])
        .unwrap();
    assert_eq!(a.pending_ops(10).unwrap().len(), 1);
    let rejected = a.rejected_ops().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, ops[1]);
    let status = a.status().unwrap();
    assert_eq!(
        (status.pending_ops, status.rejected_ops, status.synced),
        (1, 1, false)
    );
}

#[test]
fn sequence_numbers_continue_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    a.create_case(&case("P", "F", "+256 772 000001", "D1"))
        .unwrap();
    a.close().unwrap();
    let mut a = Store::open(&store_path(dir.path(), "a"), PASSPHRASE, None, &options()).unwrap();
    a.create_case(&case("Q", "F", "+256 772 000002", "D2"))
        .unwrap();
    let ops = a.pending_ops(10).unwrap();
    assert_eq!(
        ops.iter().map(|o| o.op_id.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(ops[0].hlc < ops[1].hlc);
}

#[test]
fn an_edit_is_not_blocked_by_a_rule_broken_by_merging_but_may_not_break_one_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store(dir.path(), "b", 2);
    let id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    exchange(&mut a, &mut b);
    // A closes the case; B, concurrently and later, reopens it as active.
    let mut close = set("status", json!("closed"));
    close.insert("closure_reason".into(), json!("lost_contact"));
    a.update_case(&id, close).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    b.update_case(&id, set("status", json!("active"))).unwrap();
    exchange(&mut a, &mut b);
    // Merged: active, with A's closure reason: a rule between fields is broken.
    let merged = b.get_case(&id).unwrap();
    assert_eq!(merged.fields["status"], "active");
    assert!(
        merged.case().is_err(),
        "the merged case breaks the closure rule"
    );
    // A caseworker can still record a new phone number...
    b.update_case(&id, set("phone", json!("+256 772 000111")))
        .unwrap();
    // ...but not introduce a new problem.
    let error = b
        .update_case(&id, set("nationality", json!("XXX")))
        .unwrap_err();
    assert!(error.to_string().contains("nationality"), "{error}");
    // Fixing the broken rule is an ordinary edit.
    b.update_case(&id, set("closure_reason", serde_json::Value::Null))
        .unwrap();
    assert!(b.get_case(&id).unwrap().case().is_ok());
}
