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
