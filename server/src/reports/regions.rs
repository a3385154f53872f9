//! Countries to IOM regional offices, as the 2012 figures present them.
//!
//! The table is `iom-regions.csv` (Annex 4 of the source, copied from the shared domain
//! folder). Two quirks of that file are handled here rather than edited away, so the copy
//! stays byte-for-byte the domain's:
//! - the region "South-Eastern Europe, Eastern Europe and Central Asia" contains a comma and is
//!   not quoted, so everything after the second field is the region;
//! - the 2012 figures merge "East Africa and the Horn of Africa" and "Southern Africa" into
//!   "East & Southern Africa" ([`MERGED_REGIONS`]); reports use the merged region.
//!
//! A country the file does not list is in no region: reports count it under `unknown`.

use fieldcase_core::model::Country;
use std::collections::HashMap;
use std::sync::OnceLock;

const REGIONS_CSV: &str = include_str!("iom-regions.csv");

/// Regions of the file that the 2012 figures report as one, and the name they report.
pub const MERGED_REGIONS: (&[&str], &str) = (
    &["East Africa and the Horn of Africa", "Southern Africa"],
    "East & Southern Africa",
);

/// One IOM region: a stable id for filters and the name the source prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    pub id: &'static str,
    pub name: &'static str,
}

struct Table {
    by_country: HashMap<&'static str, Region>,
    regions: Vec<Region>,
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for word in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && *w != "the" && *w != "and")
    {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    out
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(REGIONS_CSV.as_bytes());
        let mut by_country = HashMap::new();
        let mut regions: Vec<Region> = Vec::new();
        for record in reader.records() {
            // The file is compiled in and checked by a test; a bad line is skipped.
            let Ok(record) = record else { continue };
            let Some(code) = record.get(0) else { continue };
            let Ok(country) = Country::parse(code.trim()) else {
                continue;
            };
            let raw: Vec<&str> = record.iter().skip(2).map(str::trim).collect();
            let mut name = raw.join(", ");
            if MERGED_REGIONS.0.contains(&name.as_str()) {
                name = MERGED_REGIONS.1.to_owned();
            }
            let region = match regions.iter().find(|r| r.name == name) {
                Some(r) => *r,
                None => {
                    let id: &'static str = Box::leak(slug(&name).into_boxed_str());
                    let name: &'static str = Box::leak(name.into_boxed_str());
                    let r = Region { id, name };
                    regions.push(r);
                    r
                }
            };
            by_country.insert(country.as_str(), region);
        }
        regions.sort();
        Table {
            by_country,
            regions,
        }
    })
}

/// The region of a country, if the source assigns it one.
pub fn region_of(country: Country) -> Option<Region> {
    table().by_country.get(country.as_str()).copied()
}

/// Every region, by id.
pub fn all() -> &'static [Region] {
    &table().regions
}

/// The region with this id.
pub fn by_id(id: &str) -> Option<Region> {
    all().iter().find(|r| r.id == id).copied()
}

/// The countries of a region.
pub fn countries_of(region: Region) -> Vec<Country> {
    let mut out: Vec<Country> = table()
        .by_country
        .iter()
        .filter(|(_, r)| **r == region)
        .filter_map(|(code, _)| Country::parse(code).ok())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Country {
        Country::parse(code).unwrap()
    }

    #[test]
    fn every_line_of_the_file_maps_a_country() {
        let lines = REGIONS_CSV
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(table().by_country.len(), lines);
        assert_eq!(all().len(), 8, "nine regions in the file, two merged");
    }

    #[test]
    fn the_2012_merge_and_the_unquoted_comma_are_handled() {
        let kenya = region_of(c("KEN")).unwrap();
        assert_eq!(kenya.name, "East & Southern Africa");
        assert_eq!(region_of(c("ZAF")), Some(kenya));
        assert_eq!(kenya.id, "east_southern_africa");
        let ukraine = region_of(c("UKR")).unwrap();
        assert_eq!(
            ukraine.name,
            "South-Eastern Europe, Eastern Europe and Central Asia"
        );
        assert_eq!(by_id(ukraine.id), Some(ukraine));
        assert!(countries_of(kenya).contains(&c("ETH")));
        assert_eq!(region_of(c("ATA")), None);
    }
}
