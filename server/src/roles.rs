//! The roles a user of the agency network can hold.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A user's role. What each may do:
/// - `caseworker`, `supervisor`: their agency's cases; the only roles that enroll devices;
/// - `agency_admin`: users and devices of their agency;
/// - `analyst`: aggregates only;
/// - `system_admin`: the whole network's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Caseworker,
    Supervisor,
    AgencyAdmin,
    Analyst,
    SystemAdmin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Caseworker,
        Role::Supervisor,
        Role::AgencyAdmin,
        Role::Analyst,
        Role::SystemAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Caseworker => "caseworker",
            Role::Supervisor => "supervisor",
            Role::AgencyAdmin => "agency_admin",
            Role::Analyst => "analyst",
            Role::SystemAdmin => "system_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a device enrolled for this role syncs case data.
    pub fn may_enroll_device(self) -> bool {
        matches!(self, Role::Caseworker | Role::Supervisor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| {
            let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role; one of: {}", all.join(", "))
        })
    }
}

/// What an API token may do beyond its user's role. Only a system admin issues grants, and
/// only to analysts and system admins (the central office).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Exact (unsuppressed) counts inside the network: `disclosure=internal`.
    ExactCounts,
    /// The duplicate review list, and confirming or rejecting a pair.
    ReviewDuplicates,
}

impl Grant {
    pub const ALL: [Grant; 2] = [Grant::ExactCounts, Grant::ReviewDuplicates];

    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ExactCounts => "exact_counts",
            Grant::ReviewDuplicates => "review_duplicates",
        }
    }

    pub fn parse(s: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Grant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Grant::parse(s)
            .ok_or_else(|| "unknown grant; one of: exact_counts, review_duplicates".into())
    }
}
