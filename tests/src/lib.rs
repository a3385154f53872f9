//! fieldcase-e2e: end-to-end tests of devices and the server together — real processes on
//! loopback, real files, faults and crashes.
//!
//! The harness has three parts, each in its own module:
//! - [`ServerProcess`] ([`server`]): the real `fieldcase serve` command line as a child
//!   process (this crate's `fieldcase-e2e-server` binary), started on a port the OS chooses,
//!   SIGKILLed, and restarted on the same data directory and port.
//! - [`FaultProxy`] ([`proxy`]): a TCP proxy in front of the server that drops, truncates,
//!   resets and delays connections (chosen per connection from a seeded RNG), shapes them like
//!   a 2G link, or plays a captive portal.
//! - [`TestDevice`] ([`device`]): core's encrypted store and sync client, enrolled through the
//!   admin API like a phone, with helpers to edit cases, sync, and snapshot everything a
//!   device holds for comparison.
//!
//! The integration tests in `tests/` each tell one story (days of offline work across three
//! agencies, a faulty network and a 2G link, a server killed mid-push, a device killed
//! mid-pull, a server restored from a backup, the access rules seen from a device) and assert
//! outcomes — what every device holds, what the server
//! logged — never timings. A second binary, `fieldcase-e2e-device`, runs one device sync in
//! its own process so a test can kill it mid-pull.
//!
//! Test devices use the cheapest key derivation a production build accepts
//! ([`device::TEST_DEVICE_KDF`]) rather than core's `insecure-test-kdf` feature: a feature on
//! a normal dependency of this crate would be unified into every workspace build, shipped
//! binaries included.

pub mod device;
pub mod proxy;
pub mod server;

pub use device::{fast_retry, CaseState, DeviceOptions, Snapshot, TestDevice, PASSPHRASE};
pub use proxy::{Fault, FaultKind, FaultProxy, LinkProfile, ProxyConfig, ProxyStats};
pub use server::ServerProcess;

use fieldcase_server::admin_client::AdminClient;

/// An admin client of a server process, with its system-admin token.
pub fn admin(server: &ServerProcess) -> AdminClient {
    AdminClient::new(&server.base_url(), server.admin_token().to_owned()).expect("an admin client")
}
