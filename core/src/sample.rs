//! Synthetic cases for demos, benchmarks and load tests.
//!
//! Deterministic for a seed, varied like field data: names from several regions and scripts,
//! partial dates of birth, the nationalities and programmes the source document reports on,
//! trafficking details only for victims of trafficking, and a few hundred characters of
//! narrative. Every generated case is valid. Nothing here is real; any resemblance to a
//! person is chance.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const GIVEN: &[&str] = &[
    "Amina",
    "Grace",
    "Mohammed",
    "Fatima",
    "Yusuf",
    "Aisha",
    "Joseph",
    "Mary",
    "Ibrahim",
    "Zainab",
    "Olga",
    "Irina",
    "Nguyen",
    "Thi",
    "Ahmed",
    "Hassan",
    "Esther",
    "Blessing",
    "Chinedu",
    "Abdi",
    "Hodan",
    "Mariam",
    "Ana",
    "José",
    "Rosa",
    "Luis",
    "Sokha",
    "Dara",
    "Rahim",
    "Nasrin",
    "Olena",
    "Ivan",
    "Peter",
    "Sarah",
    "Moses",
    "Halima",
    "Ольга",
    "Мария",
    "محمد",
    "فاطمة",
    "Aïcha",
    "Zoë",
    "Kwame",
    "Akosua",
    "Tigist",
    "Dawit",
    "Selam",
    "Liya",
];
const FAMILY: &[&str] = &[
    "Nakato",
    "Achieng",
    "Al-Hassan",
    "Okafor",
    "Mensah",
    "Tesfaye",
    "Hussein",
    "Abdullahi",
    "Kovalenko",
    "Popescu",
    "Nguyen",
    "Tran",
    "Rahman",
    "Begum",
    "Haidari",
    "Mohammadi",
    "García",
    "López",
    "Hernández",
    "Mwangi",
    "Otieno",
    "Kamara",
    "Diallo",
    "Traoré",
    "Sow",
    "Keita",
    "Ivanova",
    "Petrenko",
    "Sok",
    "Chea",
    "Islam",
    "Khan",
    "Ali",
    "Banda",
    "Phiri",
    "Mutua",
    "Wanjiru",
    "Odhiambo",
    "Шевченко",
    "Бондаренко",
    "حسن",
    "علي",
];
const COUNTRIES: &[&str] = &[
    "UGA", "KEN", "ETH", "SOM", "NGA", "NER", "MLI", "GHA", "SEN", "AFG", "BGD", "MMR", "UKR",
    "MDA", "ROU", "ALB", "HTI", "GTM", "HND", "SLV", "VNM", "KHM", "LAO", "IDN", "PHL", "THA",
    "MYS", "IRQ", "SYR", "YEM",
];
const HOSTS: &[&str] = &[
    "DEU", "BEL", "NLD", "AUT", "GRC", "ITA", "ESP", "GBR", "NOR", "SAU", "ARE", "LBY", "MAR",
    "USA", "MEX", "THA", "ZAF",
];
const EXPLOITATION: &[&str] = &[
    "sexual",
    "labour",
    "forced_begging",
    "domestic_servitude",
    "forced_marriage",
    "forced_criminality",
    "other",
];
const SECTORS: &[&str] = &[
    "agriculture",
    "construction",
    "domestic_work",
    "fishing",
    "manufacturing",
    "mining",
    "hospitality",
    "other",
];
const REINTEGRATION: &[&str] = &[
    "cash_allowance",
    "education",
    "vocational_training",
    "business_support",
    "medical",
    "psychosocial",
    "housing",
    "legal",
];
const PROGRAMMES: &[&str] = &["avrr", "para", "direct_assistance", "gaf", "other"];
const AGENCIES: &[&str] = &["iom_uga", "iom_ken", "shelter_kla", "clinic_nbo", "iom_eth"];
const SENTENCES: &[&str] = &[
    "Recruited through an acquaintance with the promise of work abroad.",
    "Travelled by bus across two borders with a group of twelve.",
    "Passport was taken by the employer on arrival.",
    "Worked long hours without pay for several months.",
    "Was not allowed to leave the house or contact family.",
    "Escaped with the help of a neighbour and reached the police.",
    "Referred by the labour inspectorate after a raid.",
    "Reports headaches and trouble sleeping; referred for medical check.",
    "Wishes to return home and start a small tailoring business.",
    "Family has been informed and is ready to receive her.",
    "Owes money to the recruiter, who has threatened the family.",
    "Needs temporary shelter until travel documents are issued.",
    "Speaks the local language a little; interpreter used for the interview.",
    "Has two children who stayed with the grandmother.",
];

/// A generator of realistic synthetic cases.
pub struct SampleCases {
    rng: StdRng,
}

impl SampleCases {
    pub fn new(seed: u64) -> Self {
        SampleCases {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from.choose(&mut self.rng).copied().unwrap_or_default()
    }

    fn some<'a>(&mut self, from: &[&'a str], max: usize) -> Vec<&'a str> {
        let n = self.rng.gen_range(1..=max);
        let mut chosen: Vec<&str> = from.choose_multiple(&mut self.rng, n).copied().collect();
        chosen.sort_unstable();
        chosen
    }

    /// A family name; most people carry two (a father's and a mother's, or a clan and a
    /// family), which is what makes a full name nearly unique in a large caseload.
    fn family_name(&mut self) -> String {
        let first = self.pick(FAMILY);
        if self.rng.gen_bool(0.8) {
            let second = self.pick(FAMILY);
            if second != first {
                return format!("{first} {second}");
            }
        }
        first.to_owned()
    }

    /// A date in 2024 through October 2026: in the past for as long as this code is current.
    fn intake_date(&mut self) -> String {
        let year = self.rng.gen_range(2024..=2026);
        let last_month = if year == 2026 { 10 } else { 12 };
        let month = self.rng.gen_range(1..=last_month);
        format!("{year}-{month:02}-{:02}", self.rng.gen_range(1..=28))
    }

    /// The next case, in the nested JSON form of [`crate::model::Case::from_json`].
    pub fn next_case(&mut self) -> Value {
        let intake = self.intake_date();
        let intake_year: i32 = intake[..4].parse().unwrap_or(2025);
        let nationality = self.pick(COUNTRIES);
        let victim = self.rng.gen_bool(0.6);
        let adult = self.rng.gen_bool(0.75);
        let birth_year = if adult {
            intake_year - self.rng.gen_range(19..60)
        } else {
            intake_year - self.rng.gen_range(9..18)
        };
        let date_of_birth = match self.rng.gen_range(0..10) {
            0 => format!("{birth_year}"),
            1..=2 => format!("{birth_year}-{:02}", self.rng.gen_range(1..=12)),
            _ => format!(
                "{birth_year}-{:02}-{:02}",
                self.rng.gen_range(1..=12),
                self.rng.gen_range(1..=28)
            ),
        };
        let mut categories = vec![if victim {
            "victim_of_trafficking"
        } else {
            "stranded_migrant"
        }];
        if !adult && self.rng.gen_bool(0.3) {
            categories.push("unaccompanied_migrant_child");
        }
        if self.rng.gen_bool(0.15) {
            categories.push("health_needs");
        }
        categories.sort_unstable();
        let narrative: Vec<&str> = (0..self.rng.gen_range(6..10))
            .map(|_| self.pick(SENTENCES))
            .collect();
        let mut case = json!({
            "given_name": self.pick(GIVEN),
            "family_name": self.family_name(),
            "date_of_birth": date_of_birth,
            "sex": *[ "female", "female", "male", "male", "other", "unknown" ].choose(&mut self.rng).unwrap_or(&"unknown"),
            "nationality": nationality,
            "country_of_assistance": if self.rng.gen_bool(0.5) { nationality } else { self.pick(HOSTS) },
            "intake_date": intake,
            "categories": categories,
            "programme": self.pick(PROGRAMMES),
            "phone": format!("+{} {} {:06}", self.rng.gen_range(200..300), self.rng.gen_range(700..800), self.rng.gen_range(0..1_000_000)),
            "document_numbers": [{
                "type": "passport",
                "number": format!("{}{:07}", (b'A' + self.rng.gen_range(0..26)) as char, self.rng.gen_range(0..10_000_000)),
                "issuing_country": nationality
            }],
            "consent": {
                "assistance": {"given": true, "date": intake, "recorded_by": format!("user-{}", self.rng.gen_range(1..40))},
                "data_sharing": self.some(AGENCIES, 2),
                "research": self.rng.gen_bool(0.7)
            },
            "status": *["open", "active", "active"].choose(&mut self.rng).unwrap_or(&"open"),
            "risk_level": *["low", "medium", "high"].choose(&mut self.rng).unwrap_or(&"low"),
            "answers": {"narrative": narrative.join(" "), "interview_language": self.pick(&["en", "fr", "ar", "sw", "uk"])}
        });
        if !adult {
            case["consent"]["guardian"] = json!("Legal guardian appointed by the court");
        }
        if victim {
            let types = self.some(EXPLOITATION, 2);
            if types.contains(&"labour") {
                case["labour_sectors"] = json!(self.some(SECTORS, 2));
            }
            case["exploitation_types"] = json!(types);
            case["trafficking_type"] = json!(if self.rng.gen_bool(0.3) {
                "internal"
            } else {
                "international"
            });
            case["country_of_destination"] = json!(self.pick(HOSTS));
        }
        if self.rng.gen_bool(0.3) {
            case["host_country"] = json!(self.pick(HOSTS));
            case["return_date"] = json!(intake);
            case["reintegration_assistance"] = json!(self.some(REINTEGRATION, 3));
        }
        case
    }
}

impl Iterator for SampleCases {
    type Item = Value;
    fn next(&mut self) -> Option<Value> {
        Some(self.next_case())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Case;

    #[test]
    fn generated_cases_are_valid_varied_and_case_sized() {
        let cases: Vec<Value> = SampleCases::new(1).take(2000).collect();
        for (i, case) in cases.iter().enumerate() {
            if let Err(errors) = Case::from_json(case) {
                panic!("sample {i} is invalid: {errors}");
            }
        }
        let mean = cases.iter().map(|c| c.to_string().len()).sum::<usize>() / cases.len();
        assert!((900..=1600).contains(&mean), "mean case size {mean} bytes");
        let names: std::collections::BTreeSet<_> = cases
            .iter()
            .map(|c| format!("{} {}", c["given_name"], c["family_name"]))
            .collect();
        assert!(names.len() > 1000, "names vary");
        assert_eq!(
            SampleCases::new(1).next_case(),
            cases[0],
            "deterministic for a seed"
        );
    }
}
