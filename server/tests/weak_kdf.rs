//! The `fieldcase` binary cargo builds for these tests has core's `insecure-test-kdf` feature
//! switched on (this crate's dev-dependency enables it, and cargo unifies features into every
//! target built for `cargo test`). Such a binary must still refuse a store whose key
//! derivation is cheap to brute-force: weak parameters are accepted only by a process that
//! asked for them through the test constructor, which the command line never calls.

mod common;

use common::{device_cli, PASSPHRASE};
use fieldcase_core::crypto::kdf::{KdfParams, MIN_ITERATIONS, MIN_MEMORY_KIB};
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::{AgencyCode, DeviceId};
use std::path::Path;

/// Creates the store of profile `profile` in `dir` (where `fieldcase device` looks for it)
/// with key derivation `kdf`, holding no case.
fn store_for_profile(dir: &Path, profile: &str, kdf: KdfParams) {
    let identity = Identity {
        device: DeviceId::new_random(),
        agency: AgencyCode::parse("iom_uga").unwrap(),
        user: "cw_1".into(),
    };
    let options = OpenOptions {
        kdf,
        durability: Durability::Normal,
    };
    let path = dir.join(format!("{profile}.fieldcase"));
    Store::create(&path, PASSPHRASE, None, identity, &options).unwrap();
}

#[test]
fn the_binary_built_for_tests_refuses_a_store_with_weak_key_derivation() {
    let dir = tempfile::tempdir().unwrap();
    // This test process opts in (the test constructor), so it can make the weak store…
    store_for_profile(dir.path(), "weak", KdfParams::insecure_fast_for_tests());
    // …and a store at the production floor, the cheapest a shipped build accepts.
    let floor = KdfParams {
        memory_kib: MIN_MEMORY_KIB,
        iterations: MIN_ITERATIONS,
        parallelism: 1,
    };
    store_for_profile(dir.path(), "floor", floor);

    let weak = device_cli(dir.path(), "weak", PASSPHRASE, &["list"]);
    assert!(
        !weak.status.success(),
        "the binary opened a store with weak key derivation: {}",
        String::from_utf8_lossy(&weak.stdout)
    );
    let error = String::from_utf8_lossy(&weak.stderr);
    assert!(
        error.contains("key derivation parameters out of bounds"),
        "{error}"
    );

    let at_floor = device_cli(dir.path(), "floor", PASSPHRASE, &["list"]);
    assert!(
        at_floor.status.success(),
        "{}",
        String::from_utf8_lossy(&at_floor.stderr)
    );
}
