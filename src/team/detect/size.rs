//! Project sizes and subscription plans.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::scan::Detection;

/// How big a project is, which decides how many optional roles a team gets.
///
/// From a [`Detection`], the largest bucket any measure reaches:
///
/// | size       | files    | lines     | services |
/// |------------|----------|-----------|----------|
/// | small      | < 50     | < 5,000   | <= 2     |
/// | medium     | < 500    | < 50,000  | <= 5     |
/// | large      | < 5,000  | < 500,000 | <= 15    |
/// | enterprise | more     | more      | more     |
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Small,
    Medium,
    Large,
    Enterprise,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::Small, Size::Medium, Size::Large, Size::Enterprise];

    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
            Size::Enterprise => "enterprise",
        }
    }

    pub fn from_detection(d: &Detection) -> Size {
        fn bucket(v: u64, limits: [u64; 3]) -> Size {
            match limits.iter().position(|l| v < *l) {
                Some(0) => Size::Small,
                Some(1) => Size::Medium,
                Some(2) => Size::Large,
                _ => Size::Enterprise,
            }
        }
        bucket(d.file_count, [50, 500, 5_000])
            .max(bucket(d.line_count, [5_000, 50_000, 500_000]))
            .max(bucket(d.service_count as u64, [3, 6, 16]))
    }

    /// How many of a template's optional roles (from the front) this size
    /// takes: small none, medium two, large and enterprise all.
    pub fn optional_roles(self) -> usize {
        match self {
            Size::Small => 0,
            Size::Medium => 2,
            Size::Large | Size::Enterprise => usize::MAX,
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_lowercase();
        Size::ALL
            .into_iter()
            .find(|z| z.name() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = Size::ALL.iter().map(|z| z.name()).collect();
                format!("unknown size {s:?}; valid sizes: {}", valid.join(", "))
            })
    }
}

/// The subscription plan, which caps how many agents run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanTier {
    Pro,
    Max5,
    Max20,
    Console,
}

impl PlanTier {
    pub const ALL: [PlanTier; 4] = [
        PlanTier::Pro,
        PlanTier::Max5,
        PlanTier::Max20,
        PlanTier::Console,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlanTier::Pro => "pro",
            PlanTier::Max5 => "max5",
            PlanTier::Max20 => "max20",
            PlanTier::Console => "console",
        }
    }

    /// Most agents (orchestrator included) this plan runs.
    pub fn cap(self) -> usize {
        match self {
            PlanTier::Pro => 3,
            PlanTier::Max5 => 5,
            PlanTier::Max20 => 8,
            PlanTier::Console => 10,
        }
    }
}

impl fmt::Display for PlanTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PlanTier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_lowercase();
        PlanTier::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = PlanTier::ALL.iter().map(|p| p.name()).collect();
                format!("unknown plan {s:?}; valid plans: {}", valid.join(", "))
            })
    }
}
