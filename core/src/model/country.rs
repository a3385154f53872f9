//! Countries: ISO 3166-1 alpha-3 codes, plus `XKX` for Kosovo.
//!
//! [`COUNTRY_CODES`] holds all 249 codes ISO 3166-1 currently assigns, plus the user-assigned
//! `XKX` that IOM (and `domain/iom-regions.csv`) uses for Kosovo: 250 codes, sorted, uppercase.
//! A [`Country`] can only be made from one of them, so a `Country` held anywhere is valid. This
//! module knows nothing of regions or names; reports map codes to regions themselves.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Every accepted country code, sorted: ISO 3166-1 alpha-3 as currently assigned, and `XKX`.
pub const COUNTRY_CODES: [&str; 250] = [
    "ABW", "AFG", "AGO", "AIA", "ALA", "ALB", "AND", "ARE", "ARG", "ARM", "ASM", "ATA", "ATF",
    "ATG", "AUS", "AUT", "AZE", "BDI", "BEL", "BEN", "BES", "BFA", "BGD", "BGR", "BHR", "BHS",
    "BIH", "BLM", "BLR", "BLZ", "BMU", "BOL", "BRA", "BRB", "BRN", "BTN", "BVT", "BWA", "CAF",
    "CAN", "CCK", "CHE", "CHL", "CHN", "CIV", "CMR", "COD", "COG", "COK", "COL", "COM", "CPV",
    "CRI", "CUB", "CUW", "CXR", "CYM", "CYP", "CZE", "DEU", "DJI", "DMA", "DNK", "DOM", "DZA",
    "ECU", "EGY", "ERI", "ESH", "ESP", "EST", "ETH", "FIN", "FJI", "FLK", "FRA", "FRO", "FSM",
    "GAB", "GBR", "GEO", "GGY", "GHA", "GIB", "GIN", "GLP", "GMB", "GNB", "GNQ", "GRC", "GRD",
    "GRL", "GTM", "GUF", "GUM", "GUY", "HKG", "HMD", "HND", "HRV", "HTI", "HUN", "IDN", "IMN",
    "IND", "IOT", "IRL", "IRN", "IRQ", "ISL", "ISR", "ITA", "JAM", "JEY", "JOR", "JPN", "KAZ",
    "KEN", "KGZ", "KHM", "KIR", "KNA", "KOR", "KWT", "LAO", "LBN", "LBR", "LBY", "LCA", "LIE",
    "LKA", "LSO", "LTU", "LUX", "LVA", "MAC", "MAF", "MAR", "MCO", "MDA", "MDG", "MDV", "MEX",
    "MHL", "MKD", "MLI", "MLT", "MMR", "MNE", "MNG", "MNP", "MOZ", "MRT", "MSR", "MTQ", "MUS",
    "MWI", "MYS", "MYT", "NAM", "NCL", "NER", "NFK", "NGA", "NIC", "NIU", "NLD", "NOR", "NPL",
    "NRU", "NZL", "OMN", "PAK", "PAN", "PCN", "PER", "PHL", "PLW", "PNG", "POL", "PRI", "PRK",
    "PRT", "PRY", "PSE", "PYF", "QAT", "REU", "ROU", "RUS", "RWA", "SAU", "SDN", "SEN", "SGP",
    "SGS", "SHN", "SJM", "SLB", "SLE", "SLV", "SMR", "SOM", "SPM", "SRB", "SSD", "STP", "SUR",
    "SVK", "SVN", "SWE", "SWZ", "SXM", "SYC", "SYR", "TCA", "TCD", "TGO", "THA", "TJK", "TKL",
    "TKM", "TLS", "TON", "TTO", "TUN", "TUR", "TUV", "TWN", "TZA", "UGA", "UKR", "UMI", "URY",
    "USA", "UZB", "VAT", "VCT", "VEN", "VGB", "VIR", "VNM", "VUT", "WLF", "WSM", "XKX", "YEM",
    "ZAF", "ZMB", "ZWE",
];

/// Whether `code` is an accepted country code (exact, uppercase).
pub fn is_iso3(code: &str) -> bool {
    COUNTRY_CODES.binary_search(&code).is_ok()
}

/// A country, by its ISO 3166-1 alpha-3 code (or `XKX`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(&'static str);

/// Why a string is not a [`Country`]. Carries nothing of the rejected text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ISO 3166-1 alpha-3 country code (or XKX for Kosovo)")]
pub struct NotACountry;

impl Country {
    /// The country for an exact, uppercase code such as `UGA`.
    pub fn parse(code: &str) -> Result<Country, NotACountry> {
        COUNTRY_CODES
            .binary_search(&code)
            .map(|i| Country(COUNTRY_CODES[i]))
            .map_err(|_| NotACountry)
    }

    /// Every accepted country, in code order.
    pub fn all() -> impl Iterator<Item = Country> {
        COUNTRY_CODES.iter().map(|code| Country(code))
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.0)
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Country::parse(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_iso_3166_1_plus_kosovo_sorted_and_unique() {
        assert_eq!(COUNTRY_CODES.len(), 249 + 1);
        assert!(
            COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert!(COUNTRY_CODES
            .iter()
            .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())));
        for code in [
            "AFG", "UGA", "NGA", "THA", "XKX", "SSD", "CUW", "ZWE", "ABW",
        ] {
            assert!(is_iso3(code), "{code}");
        }
    }

    #[test]
    fn non_codes_are_rejected() {
        for not in [
            "uga", "Uga", "UG", "UGAN", "XXX", "ZZZ", "", " UGA", "YUG", "ANT", "SCG",
        ] {
            assert!(!is_iso3(not), "{not:?}");
            assert_eq!(Country::parse(not), Err(NotACountry));
        }
    }

    #[test]
    fn countries_round_trip_through_text_and_serde() {
        let uga = Country::parse("UGA").unwrap();
        assert_eq!(uga.as_str(), "UGA");
        assert_eq!(uga.to_string(), "UGA");
        assert_eq!(serde_json::to_value(uga).unwrap(), serde_json::json!("UGA"));
        let back: Country = serde_json::from_value(serde_json::json!("UGA")).unwrap();
        assert_eq!(back, uga);
        assert!(serde_json::from_value::<Country>(serde_json::json!("uga")).is_err());
        assert_eq!(Country::all().count(), COUNTRY_CODES.len());
        assert!(Country::all().all(|c| is_iso3(c.as_str())));
    }
}
