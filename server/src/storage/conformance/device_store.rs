//! Conformance of what the server keeps about device stores: the rollback counter per device
//! (port), settings that can be replaced (port), and the rule that refuses a store copied
//! back from an older file, for good (service, through the port).

use super::enrolled;
use crate::service::device_store;
use crate::storage::port::StoreCounter;
use crate::storage::*;
use fieldcase_core::device_policy::{DevicePolicy, StoreReport};

pub fn the_port_keeps_store_counters_and_replaces_settings(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_a");
    let read = |device| write(store, |tx| tx.store_counter(device)).unwrap();
    assert_eq!(read(a.id), None);
    let first = StoreCounter {
        counter: 7,
        untrusted: false,
    };
    write(store, |tx| tx.set_store_counter(a.id, &first)).unwrap();
    assert_eq!(read(a.id), Some(first));
    assert_eq!(read(b.id), None, "one device's counter is its own");
    let flagged = StoreCounter {
        counter: u64::from(u32::MAX) + 9,
        untrusted: true,
    };
    write(store, |tx| tx.set_store_counter(a.id, &flagged)).unwrap();
    assert_eq!(read(a.id), Some(flagged));

    write(store, |tx| tx.put_setting("k", b"one")).unwrap();
    write(store, |tx| tx.put_setting("k", b"two")).unwrap();
    assert_eq!(
        read_setting(store, "k"),
        Some(b"two".to_vec()),
        "put replaces"
    );
    assert!(matches!(
        write(store, |tx| tx.insert_setting("k", b"three")),
        Err(StorageError::AlreadyExists(_))
    ));
}

fn read_setting(store: &dyn Storage, key: &str) -> Option<Vec<u8>> {
    read(store, |tx| tx.setting(key)).unwrap()
}

pub fn a_rolled_back_store_is_refused_for_good(store: &dyn Storage) {
    let device = enrolled(store, "agency_a");
    let report = |counter| StoreReport {
        counter,
        guard_tampered: false,
    };
    let check = |counter| device_store::check_report(store, &device, Some(&report(counter)));
    assert_eq!(check(1).unwrap(), DevicePolicy::default());
    assert!(check(2).is_ok());
    // The copy taken at 1 sends 2 again: refused, and flagged in the same transaction.
    assert!(matches!(check(2), Err(StorageError::StoreUntrusted)));
    assert!(matches!(check(3), Err(StorageError::StoreUntrusted)));
    assert!(matches!(check(1000), Err(StorageError::StoreUntrusted)));
    let stored = write(store, |tx| tx.store_counter(device.id)).unwrap();
    assert!(stored.is_some_and(|s| s.untrusted));

    // Another device of the agency is untouched, and takes the agency's policy once set.
    let other = enrolled(store, "agency_a");
    let policy = DevicePolicy {
        erase_after_failures: 6,
        lease_days: 14,
    };
    device_store::set_agency_policy(store, &other.agency, &policy).unwrap();
    let given = device_store::check_report(store, &other, Some(&report(1))).unwrap();
    assert_eq!(given, policy);
    // A device that reported a counter may not stop reporting it.
    assert!(matches!(
        device_store::check_report(store, &other, None),
        Err(StorageError::StoreUntrusted)
    ));
    // A policy out of bounds is refused and changes nothing.
    let bad = DevicePolicy {
        erase_after_failures: 1,
        lease_days: 0,
    };
    assert!(matches!(
        device_store::set_agency_policy(store, &other.agency, &bad),
        Err(StorageError::Rejected(_))
    ));
    let fresh = enrolled(store, "agency_a");
    assert_eq!(
        device_store::check_report(store, &fresh, Some(&report(1))).unwrap(),
        policy
    );
}
