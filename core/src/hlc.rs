//! Hybrid logical clock.
//!
//! Every operation carries an [`Hlc`]: wall-clock milliseconds, a counter for events within
//! the same millisecond (or while the wall clock lags a timestamp already seen), and the id of
//! the device that made it. Ordering is total — wall time, then counter, then device id — so
//! per-field last-writer-wins never has to compare values to break a tie.
//!
//! A [`Clock`] never goes backwards, even when the phone's wall clock does (a caseworker
//! fixing the date, a dead battery resetting it): it only moves forward, and it moves past
//! every timestamp it receives from elsewhere, so an edit made after seeing a value always
//! orders after that value.

use crate::ids::DeviceId;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// A hybrid logical timestamp. Ordered by `(wall_ms, counter, device)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch, as the clock knew them.
    #[serde(rename = "w")]
    pub wall_ms: u64,
    /// Tie counter within one `wall_ms`.
    #[serde(rename = "c")]
    pub counter: u32,
    /// The device that made this timestamp; the last tie breaker.
    #[serde(rename = "d")]
    pub device: DeviceId,
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, self.device).cmp(&(other.wall_ms, other.counter, other.device))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{}", self.wall_ms, self.counter, self.device)
    }
}

/// Why a string is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a version looks like 1764374400000.0@<device uuid>")]
pub struct InvalidHlc;

impl std::str::FromStr for Hlc {
    type Err = InvalidHlc;

    /// Parses the `Display` form, `wall.counter@device`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (time, device) = s.split_once('@').ok_or(InvalidHlc)?;
        let (wall, counter) = time.split_once('.').ok_or(InvalidHlc)?;
        Ok(Hlc {
            wall_ms: wall.parse().map_err(|_| InvalidHlc)?,
            counter: counter.parse().map_err(|_| InvalidHlc)?,
            device: device.parse().map_err(|_| InvalidHlc)?,
        })
    }
}

/// The clock of one device. Persisted by the store so it survives restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    device: DeviceId,
    last_wall_ms: u64,
    last_counter: u32,
}

impl Clock {
    /// A clock that has issued nothing yet.
    pub fn new(device: DeviceId) -> Self {
        Clock {
            device,
            last_wall_ms: 0,
            last_counter: 0,
        }
    }

    /// A clock restored from its last issued timestamp.
    pub fn resume(device: DeviceId, last: Option<Hlc>) -> Self {
        match last {
            Some(hlc) => Clock {
                device,
                last_wall_ms: hlc.wall_ms,
                last_counter: hlc.counter,
            },
            None => Clock::new(device),
        }
    }

    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The next timestamp, given the wall clock now. Always greater than anything issued or
    /// observed before.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        if now_ms > self.last_wall_ms {
            self.last_wall_ms = now_ms;
            self.last_counter = 0;
        } else {
            self.bump_counter();
        }
        self.current()
    }

    /// The next timestamp from the system wall clock.
    pub fn tick_now(&mut self) -> Hlc {
        self.tick(now_ms())
    }

    /// Moves the clock past a timestamp seen in an operation from elsewhere.
    pub fn observe(&mut self, seen: Hlc) {
        if (seen.wall_ms, seen.counter) > (self.last_wall_ms, self.last_counter) {
            self.last_wall_ms = seen.wall_ms;
            self.last_counter = seen.counter;
        }
    }

    /// The last timestamp issued or observed, stamped with this device.
    pub fn current(&self) -> Hlc {
        Hlc {
            wall_ms: self.last_wall_ms,
            counter: self.last_counter,
            device: self.device,
        }
    }

    fn bump_counter(&mut self) {
        // A counter overflow would need 4 billion events inside one millisecond; borrow the
        // next millisecond instead of wrapping, which keeps the clock monotonic.
        match self.last_counter.checked_add(1) {
            Some(next) => self.last_counter = next,
            None => {
                self.last_wall_ms += 1;
                self.last_counter = 0;
            }
        }
    }
}

/// Milliseconds since the Unix epoch from the system clock (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceId {
        DeviceId::from_bytes([n; 16])
    }

    #[test]
    fn ticks_are_strictly_increasing_even_when_the_wall_clock_goes_back() {
        let mut clock = Clock::new(device(1));
        let a = clock.tick(1_000);
        let b = clock.tick(1_000);
        let c = clock.tick(500);
        let d = clock.tick(2_000);
        assert!(a < b && b < c && c < d);
    }

    #[test]
    fn observing_a_later_timestamp_moves_the_clock_past_it() {
        let mut clock = Clock::new(device(1));
        clock.tick(1_000);
        let remote = Hlc {
            wall_ms: 9_000,
            counter: 7,
            device: device(2),
        };
        clock.observe(remote);
        let next = clock.tick(1_001);
        assert!(next > remote);
    }

    #[test]
    fn timestamps_round_trip_through_text() {
        let hlc = Hlc {
            wall_ms: 1_764_374_400_000,
            counter: 3,
            device: device(7),
        };
        assert_eq!(hlc.to_string().parse::<Hlc>().unwrap(), hlc);
        assert!("12@x".parse::<Hlc>().is_err());
        assert!("".parse::<Hlc>().is_err());
    }

    #[test]
    fn equal_wall_and_counter_are_ordered_by_device() {
        let a = Hlc {
            wall_ms: 5,
            counter: 0,
            device: device(1),
        };
        let b = Hlc {
            wall_ms: 5,
            counter: 0,
            device: device(2),
        };
        assert!(a < b);
    }
}
