//! Name pools with the **long-tailed frequencies** of a real caseload: per region, hundreds of
//! given names of each sex and of family names, drawn with Zipf-like weights (a few very
//! common names, a long tail of rare ones).
//!
//! Why: a caseload's name frequencies decide how many *namesakes* (different people with the
//! same names) a duplicate finder meets. Drawing from some thirty given and forty family names
//! per region, as the population first did, makes namesakes grow with the square of the
//! caseload far faster than any real register: at 100,000 cases they swamped the true double
//! entries, and measured precision said more about the generator than about matching. Real
//! name frequencies follow a power law (a few names like Mohammed or Ivanov, then thousands
//! each held by few people), which this module imitates.
//!
//! Each pool starts with the region's curated common names of [`super::names`] (most common
//! first, and the only ones with known transliteration variants), followed by more names:
//! real given names and family names typed as caseworkers write them, and plausible names
//! made by combining real name roots the way the region's names are built (`Abdul` + `Aziz`,
//! `Sokol` + `-ov`/`-enko`/`-chuk`, `Ade` + `-wale`, a root + `-uddin`, …). The extra names
//! are shuffled with a fixed seed, so a pool, and with it the population of a seed, is the
//! same on every run. No list names a real person.

use super::extra_names::{Compound, Extra, EXTRA};
use super::names::{Region, REGIONS};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::sync::OnceLock;

/// Zipf exponent of given names: the most common of ~300 is about one name in eight, as
/// Mohammed is among Arabic-speaking men.
const GIVEN_EXPONENT: f64 = 1.0;
/// Zipf exponent of family names: flatter than given names (the most common of several
/// hundred is a few percent, as Ivanov or Haddad are).
const FAMILY_EXPONENT: f64 = 0.8;
/// Seed of the pools' order: fixed, so pools do not depend on the population's seed.
const POOL_SEED: u64 = 0x706f_6f6c;

/// Names with cumulative Zipf weights for drawing.
pub(super) struct Pool {
    names: Vec<String>,
    cumulative: Vec<f64>,
}

impl Pool {
    fn new(names: Vec<String>, exponent: f64) -> Pool {
        let mut total = 0.0;
        let cumulative = (0..names.len())
            .map(|rank| {
                total += 1.0 / ((rank + 1) as f64).powf(exponent);
                total
            })
            .collect();
        Pool { names, cumulative }
    }

    /// A name drawn by its weight.
    pub(super) fn draw(&self, rng: &mut StdRng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let r = rng.gen::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c <= r);
        &self.names[i.min(self.names.len() - 1)]
    }

    /// The most common name.
    #[cfg(test)]
    pub(super) fn first(&self) -> &str {
        &self.names[0]
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }
}

/// The pools of one region.
pub(super) struct RegionPools {
    pub(super) male: Pool,
    pub(super) female: Pool,
    pub(super) family: Pool,
}

/// The pools of every region, in [`REGIONS`] order.
pub(super) fn pools() -> &'static [RegionPools] {
    static POOLS: OnceLock<Vec<RegionPools>> = OnceLock::new();
    POOLS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(POOL_SEED);
        REGIONS
            .iter()
            .zip(EXTRA.iter())
            .map(|(region, extra)| region_pools(region, extra, &mut rng))
            .collect()
    })
}

fn region_pools(region: &Region, extra: &Extra, rng: &mut StdRng) -> RegionPools {
    let names = |listed: &[&str], compounds: &[Compound]| -> Vec<String> {
        let mut out: Vec<String> = listed.iter().map(|s| (*s).to_owned()).collect();
        for (prefixes, roots, suffixes) in compounds {
            out.extend(combine(prefixes, roots, suffixes));
        }
        out
    };
    let male = names(extra.male, extra.male_compounds);
    let male = Pool::new(ordered(region.male, male, rng), GIVEN_EXPONENT);
    let female = names(extra.female, extra.female_compounds);
    let female = Pool::new(ordered(region.female, female, rng), GIVEN_EXPONENT);
    let mut family = names(extra.family, extra.family_compounds);
    if extra.family_from_fathers {
        // Where the family name is a father's or grandfather's given name.
        family.extend(male.names.iter().skip(region.male.len()).cloned());
    }
    let family = Pool::new(ordered(region.family, family, rng), FAMILY_EXPONENT);
    RegionPools {
        male,
        female,
        family,
    }
}

/// The curated head in its order, then the rest shuffled, each name once.
fn ordered(head: &[&str], mut rest: Vec<String>, rng: &mut StdRng) -> Vec<String> {
    rest.sort();
    rest.shuffle(rng);
    let mut seen = HashSet::new();
    head.iter()
        .map(|s| (*s).to_owned())
        .chain(rest)
        .filter(|n| seen.insert(n.to_lowercase()))
        .collect()
}

/// Every `prefix + root + suffix`, with the root's first letter lowered after a prefix that
/// ends in a letter (`Abdul` + `Aziz` → `Abdulaziz`).
fn combine(prefixes: &[&str], roots: &[&str], suffixes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for p in prefixes {
        for r in roots {
            let joined = if p.ends_with(|c: char| c.is_alphabetic()) {
                let mut cs = r.chars();
                let first = cs.next().map(|c| c.to_lowercase().to_string());
                format!("{p}{}{}", first.unwrap_or_default(), cs.as_str())
            } else {
                format!("{p}{r}")
            };
            for s in suffixes {
                out.push(format!("{joined}{s}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn pools_are_large_and_long_tailed() {
        for (region, pools) in REGIONS.iter().zip(pools()) {
            assert!(pools.male.len() >= 100, "{}", pools.male.len());
            assert!(pools.female.len() >= 100, "{}", pools.female.len());
            assert!(pools.family.len() >= 150, "{}", pools.family.len());
            assert_eq!(pools.male.first(), region.male[0], "the head stays first");
            let mut rng = StdRng::seed_from_u64(1);
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for _ in 0..20_000 {
                *counts.entry(pools.family.draw(&mut rng)).or_default() += 1;
            }
            let mut by_count: Vec<usize> = counts.values().copied().collect();
            by_count.sort_unstable_by(|a, b| b.cmp(a));
            // A head of common names and a tail of rare ones.
            assert!(
                by_count[0] > 20 * by_count[by_count.len() / 2],
                "{by_count:?}"
            );
            assert!(counts.len() > pools.family.len() / 2);
        }
    }
}
