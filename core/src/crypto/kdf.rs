//! Argon2id key derivation: turns the caseworker's passphrase (and, optionally, a secret the
//! platform keystore holds) into the key-encryption key (KEK) that wraps the data key.
//!
//! It guarantees that Argon2 only ever runs with parameters between a floor (so a store cannot
//! be created, or downgraded, to cheap-to-guess parameters) and a ceiling (so a tampered
//! envelope cannot make unlock run for minutes or exhaust the phone's memory), and that the KEK
//! and the raw Argon2 output live in zeroizing buffers. It does not choose salts, store anything
//! or decide whether a derived key is the right one: that is the envelope's job.
//!
//! Weak parameters for fast tests exist only in test and `insecure-test-kdf` builds, and even
//! there are accepted only by a process that asked for them at run time by calling
//! [`KdfParams::insecure_fast_for_tests`]: a binary that merely has the feature compiled in
//! (as `cargo test` builds `fieldcase`) still holds every store to the production floor.

use super::{CryptoError, KEY_LEN};
use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// HKDF `info` for mixing the platform keystore's secret into the Argon2 output. Versioned so a
/// future derivation can never produce the same KEK from the same inputs.
const KEK_EXTRA_SECRET_INFO: &[u8] = b"fieldcase/v1/kek/argon2id+extra-secret";

/// Production floor on memory: 19 MiB is OWASP's minimum recommendation for Argon2id
/// (m = 19 MiB, t = 2, p = 1). Below it, a stolen phone's store is cheap to brute-force on GPUs.
pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// Production floor on passes over memory: OWASP pairs 19 MiB with at least two passes.
pub const MIN_ITERATIONS: u32 = 2;
/// Ceiling on memory: 1 GiB. Parameters come from a file on disk; without a ceiling a tampered
/// envelope could make unlock allocate more than any phone has and be killed, every time.
pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// Ceiling on passes: ten passes over 1 GiB is already far beyond a tolerable unlock; more would
/// only let a tampered envelope make unlock hang.
pub const MAX_ITERATIONS: u32 = 10;
/// Ceiling on lanes: no phone has more than eight cores to run them on. Bounding lanes also
/// keeps Argon2's minimum of 8 KiB per lane under every floor (asserted below).
pub const MAX_PARALLELISM: u32 = 8;

/// Argon2id cost parameters, stored in the key envelope so a store can be opened by a build
/// whose defaults have since changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory (Argon2's `t`).
    pub iterations: u32,
    /// Lanes (Argon2's `p`).
    pub parallelism: u32,
}

impl KdfParams {
    /// What new stores use: Argon2id m = 64 MiB, t = 3, p = 1. Well above OWASP's floor, within
    /// what a low-end Android device can allocate, and about 0.25 s per derivation on a
    /// desktop CPU (one unlock derives once).
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Deliberately weak parameters so tests and benchmarks can create many stores quickly.
    ///
    /// Calling this is also the runtime opt-in that lets *this process* accept them: until a
    /// process has called it, [`check`](Self::check) holds every build to the production
    /// floor. The function exists only in test and `insecure-test-kdf` builds, and `cargo
    /// test` unifies that feature into the `fieldcase` binary it builds; the opt-in keeps
    /// such a binary safe all the same, because no production code path (command line,
    /// server, app library) ever calls this.
    #[cfg(any(test, feature = "insecure-test-kdf"))]
    pub fn insecure_fast_for_tests() -> KdfParams {
        insecure::opt_in();
        INSECURE_TEST_FLOOR
    }

    /// `Ok` when these parameters are between this process's floor and the ceiling, else
    /// [`CryptoError::KdfOutOfBounds`] naming the parameter at fault. The floor is the
    /// production one unless this process asked for weak test parameters (see
    /// [`insecure_fast_for_tests`](Self::insecure_fast_for_tests)). Cheap; call it before
    /// running Argon2 on parameters read from disk.
    pub fn check(&self) -> Result<(), CryptoError> {
        self.check_within(floor())
    }

    /// [`check`](Self::check) against a given floor, so tests can check the production floor.
    fn check_within(&self, floor: KdfParams) -> Result<(), CryptoError> {
        let out = |why| Err(CryptoError::KdfOutOfBounds(why));
        if self.memory_kib < floor.memory_kib {
            return out("memory below the floor");
        }
        if self.memory_kib > MAX_MEMORY_KIB {
            return out("memory above the ceiling");
        }
        if self.iterations < floor.iterations {
            return out("iterations below the floor");
        }
        if self.iterations > MAX_ITERATIONS {
            return out("iterations above the ceiling");
        }
        if self.parallelism < floor.parallelism {
            return out("parallelism below the floor");
        }
        if self.parallelism > MAX_PARALLELISM {
            return out("parallelism above the ceiling");
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The floor a shipped build checks against (OWASP's minimum for Argon2id).
const PRODUCTION_FLOOR: KdfParams = KdfParams {
    memory_kib: MIN_MEMORY_KIB,
    iterations: MIN_ITERATIONS,
    parallelism: 1,
};

/// The fast parameters tests use, which are also the floor of a process that asked for them.
/// Argon2's own minimum is 8 KiB per lane and one pass; 64 KiB keeps a little realism.
#[cfg(any(test, feature = "insecure-test-kdf"))]
const INSECURE_TEST_FLOOR: KdfParams = KdfParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// The runtime opt-in to weak test parameters. A process-wide switch rather than a
/// parameter: stores are opened far from where tests choose their parameters (the sync
/// client, the app facade), and a switch that only the test constructor turns on cannot be
/// turned on by a file, an environment variable or a command-line flag.
#[cfg(any(test, feature = "insecure-test-kdf"))]
mod insecure {
    use std::sync::atomic::{AtomicBool, Ordering};

    static OPTED_IN: AtomicBool = AtomicBool::new(false);

    pub(super) fn opt_in() {
        OPTED_IN.store(true, Ordering::SeqCst);
    }

    pub(super) fn opted_in() -> bool {
        OPTED_IN.load(Ordering::SeqCst)
    }
}

/// The lowest parameters this process accepts: the production floor in a shipped build.
#[cfg(not(any(test, feature = "insecure-test-kdf")))]
fn floor() -> KdfParams {
    PRODUCTION_FLOOR
}

/// The lowest parameters this process accepts: the production floor, lowered only once this
/// process has asked for weak test parameters ([`KdfParams::insecure_fast_for_tests`]).
#[cfg(any(test, feature = "insecure-test-kdf"))]
fn floor() -> KdfParams {
    floor_for(insecure::opted_in())
}

#[cfg(any(test, feature = "insecure-test-kdf"))]
fn floor_for(opted_in: bool) -> KdfParams {
    if opted_in {
        INSECURE_TEST_FLOOR
    } else {
        PRODUCTION_FLOOR
    }
}

// Argon2 needs at least 8 KiB per lane. The floor covers the most lanes the ceiling allows, so
// `check` never passes parameters Argon2 would refuse.
#[cfg(any(test, feature = "insecure-test-kdf"))]
const _: () = assert!(INSECURE_TEST_FLOOR.memory_kib >= 8 * MAX_PARALLELISM);
const _: () = assert!(PRODUCTION_FLOOR.memory_kib >= 8 * MAX_PARALLELISM);

/// Derives the 256-bit key-encryption key.
///
/// KEK = Argon2id(passphrase, salt, params); with an extra secret,
/// KEK = HKDF-SHA256(salt = extra secret, ikm = Argon2id output, info = versioned label), so
/// the KEK needs both what the caseworker knows and what the device's keystore holds.
/// The parameters are checked before Argon2 runs.
pub(crate) fn derive_kek(
    params: &KdfParams,
    salt: &[u8],
    passphrase: &[u8],
    extra_secret: Option<&[u8]>,
) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
    params.check()?;
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(KEY_LEN),
    )
    .map_err(|_| CryptoError::KdfOutOfBounds("rejected by Argon2"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut stretched = Zeroizing::new([0u8; KEY_LEN]);
    // Only fails on out-of-range inputs (a salt under 8 bytes, a passphrase over 4 GiB), none of
    // which the envelope produces; reported as a bounds error rather than a panic all the same.
    argon
        .hash_password_into(passphrase, salt, stretched.as_mut())
        .map_err(|_| CryptoError::KdfOutOfBounds("rejected by Argon2"))?;
    let Some(extra) = extra_secret else {
        return Ok(stretched);
    };
    let mut kek = Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(Some(extra), stretched.as_ref())
        .expand(KEK_EXTRA_SECRET_INFO, kek.as_mut())
        .expect("HKDF-SHA256 can always expand to 32 bytes");
    Ok(kek)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &[u8; 16] = b"0123456789abcdef";

    #[test]
    fn default_is_within_the_production_bounds() {
        let d = KdfParams::DEFAULT;
        assert!(d.memory_kib >= MIN_MEMORY_KIB && d.memory_kib <= MAX_MEMORY_KIB);
        assert!(d.iterations >= MIN_ITERATIONS && d.iterations <= MAX_ITERATIONS);
        assert!(d.parallelism >= 1 && d.parallelism <= MAX_PARALLELISM);
        assert_eq!(d.check(), Ok(()));
        assert_eq!(KdfParams::default(), d);
    }

    #[test]
    fn check_accepts_the_fast_test_params_only_in_test_builds() {
        assert_eq!(KdfParams::insecure_fast_for_tests().check(), Ok(()));
        let below = KdfParams {
            memory_kib: 63,
            ..KdfParams::insecure_fast_for_tests()
        };
        assert!(matches!(below.check(), Err(CryptoError::KdfOutOfBounds(_))));
    }

    #[test]
    fn check_rejects_everything_outside_floor_and_ceiling() {
        // The edges below include the test floor, which this process accepts once it opts in.
        let _ = KdfParams::insecure_fast_for_tests();
        let ok = KdfParams::DEFAULT;
        let bad = [
            KdfParams {
                memory_kib: 0,
                ..ok
            },
            KdfParams {
                memory_kib: MAX_MEMORY_KIB + 1,
                ..ok
            },
            KdfParams {
                memory_kib: u32::MAX,
                ..ok
            },
            KdfParams {
                iterations: 0,
                ..ok
            },
            KdfParams {
                iterations: MAX_ITERATIONS + 1,
                ..ok
            },
            KdfParams {
                iterations: u32::MAX,
                ..ok
            },
            KdfParams {
                parallelism: 0,
                ..ok
            },
            KdfParams {
                parallelism: MAX_PARALLELISM + 1,
                ..ok
            },
            KdfParams {
                parallelism: u32::MAX,
                ..ok
            },
        ];
        for params in bad {
            assert!(
                matches!(params.check(), Err(CryptoError::KdfOutOfBounds(_))),
                "{params:?} should be out of bounds"
            );
        }
        let edges = [
            KdfParams {
                memory_kib: MAX_MEMORY_KIB,
                iterations: MAX_ITERATIONS,
                parallelism: 8,
            },
            KdfParams {
                memory_kib: MIN_MEMORY_KIB,
                iterations: MIN_ITERATIONS,
                parallelism: 1,
            },
            KdfParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 8,
            },
        ];
        for params in edges {
            assert_eq!(params.check(), Ok(()), "{params:?} should be accepted");
        }
    }

    #[test]
    fn the_floor_is_the_production_one_until_the_process_opts_in() {
        assert_eq!(floor_for(false), PRODUCTION_FLOOR);
        assert_eq!(floor_for(true), INSECURE_TEST_FLOOR);
        let fast = KdfParams::insecure_fast_for_tests();
        assert!(insecure::opted_in(), "the test constructor is the opt-in");
        assert!(matches!(
            fast.check_within(floor_for(false)),
            Err(CryptoError::KdfOutOfBounds(_))
        ));
    }

    #[test]
    fn production_floor_refuses_the_fast_params() {
        let fast = KdfParams::insecure_fast_for_tests();
        assert!(matches!(
            fast.check_within(PRODUCTION_FLOOR),
            Err(CryptoError::KdfOutOfBounds(_))
        ));
        let owasp = KdfParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        assert_eq!(owasp.check_within(PRODUCTION_FLOOR), Ok(()));
        assert_eq!(KdfParams::DEFAULT.check_within(PRODUCTION_FLOOR), Ok(()));
        for below in [
            KdfParams {
                memory_kib: 19 * 1024 - 1,
                ..owasp
            },
            KdfParams {
                iterations: 1,
                ..owasp
            },
        ] {
            assert!(matches!(
                below.check_within(PRODUCTION_FLOOR),
                Err(CryptoError::KdfOutOfBounds(_))
            ));
        }
    }

    #[test]
    fn derive_kek_is_deterministic_and_depends_on_every_input() {
        let p = KdfParams::insecure_fast_for_tests();
        let base = derive_kek(&p, SALT, b"pass", None).unwrap();
        assert_eq!(*base, *derive_kek(&p, SALT, b"pass", None).unwrap());
        let variants = [
            derive_kek(&p, SALT, b"pasS", None).unwrap(),
            derive_kek(&p, b"0123456789abcdeF", b"pass", None).unwrap(),
            derive_kek(&KdfParams { iterations: 2, ..p }, SALT, b"pass", None).unwrap(),
            derive_kek(&p, SALT, b"pass", Some(b"device secret")).unwrap(),
        ];
        for v in &variants {
            assert_ne!(**v, *base);
        }
        assert_ne!(
            *derive_kek(&p, SALT, b"pass", Some(b"device secret")).unwrap(),
            *derive_kek(&p, SALT, b"pass", Some(b"device secreT")).unwrap()
        );
    }

    #[test]
    fn derive_kek_checks_params_before_running_argon2() {
        // Would allocate 4 TiB and run forever if Argon2 were reached.
        let hostile = KdfParams {
            memory_kib: u32::MAX,
            iterations: u32::MAX,
            parallelism: 1,
        };
        assert!(matches!(
            derive_kek(&hostile, SALT, b"pass", None),
            Err(CryptoError::KdfOutOfBounds(_))
        ));
    }
}
