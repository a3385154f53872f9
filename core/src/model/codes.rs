//! The closed code sets of the core variables (`docs/case-format.md`).
//!
//! Every code set is a fieldless enum whose serde form is its lowercase snake_case code, exactly
//! as the domain document spells it. Each enum exposes `ALL` (every variant, in the document's
//! order, which is also the enum's `Ord`), `CODES` (the same as strings), `as_str()` and
//! `parse()`, so reports can enumerate rows and validation can list the allowed codes in an
//! error (codes are not personal data). The [`Code`] trait lets generic code do the same. This
//! module does not know which field uses which set; the case model does.

use std::fmt;

/// What every code set offers, for code that is generic over the set.
pub trait Code: Copy + Ord + fmt::Debug + 'static {
    /// Every variant, in the domain document's order.
    const ALL: &'static [Self];
    /// Every code as text, in the same order as [`Code::ALL`].
    const CODES: &'static [&'static str];
    /// The code as text.
    fn as_str(self) -> &'static str;
    /// The variant for a code, if it is one of this set's codes (exact, case-sensitive).
    fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

macro_rules! code_set {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in the domain document's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every code as text, in the same order as `ALL`.
            pub const CODES: &'static [&'static str] = &[$($code),+];

            /// The code as text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }

            /// The variant for a code, if it is one (exact, case-sensitive).
            pub fn parse(code: &str) -> Option<Self> {
                <Self as $crate::model::codes::Code>::parse(code)
            }
        }

        impl $crate::model::codes::Code for $name {
            const ALL: &'static [Self] = $name::ALL;
            const CODES: &'static [&'static str] = $name::CODES;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Lets other domain modules (referrals) declare their code sets the same way.
pub(crate) use code_set;

code_set! {
    /// `sex`.
    Sex { Female = "female", Male = "male", Other = "other", Unknown = "unknown" }
}

code_set! {
    /// `categories`: a person may be in several and is still counted once.
    Category {
        VictimOfTrafficking = "victim_of_trafficking",
        UnaccompaniedMigrantChild = "unaccompanied_migrant_child",
        StrandedMigrant = "stranded_migrant",
        /// A significant medical condition.
        HealthNeeds = "health_needs",
        RejectedAsylumSeeker = "rejected_asylum_seeker",
        ExploitedOrAbusedMigrant = "exploited_or_abused_migrant",
        OtherVulnerable = "other_vulnerable",
    }
}

code_set! {
    /// `programme`.
    Programme {
        /// Assisted voluntary return and reintegration.
        Avrr = "avrr",
        /// Post-arrival reintegration assistance.
        Para = "para",
        /// Counter-trafficking / vulnerable migrants.
        DirectAssistance = "direct_assistance",
        /// Emergency fund.
        Gaf = "gaf",
        Other = "other",
    }
}

code_set! {
    /// `exploitation_types`: a person exploited sexually and for labour has both.
    ExploitationType {
        Sexual = "sexual",
        Labour = "labour",
        ForcedBegging = "forced_begging",
        DomesticServitude = "domestic_servitude",
        ForcedMarriage = "forced_marriage",
        OrganRemoval = "organ_removal",
        ForcedCriminality = "forced_criminality",
        Other = "other",
    }
}

code_set! {
    /// `labour_sectors`.
    LabourSector {
        Agriculture = "agriculture",
        Construction = "construction",
        DomesticWork = "domestic_work",
        Fishing = "fishing",
        Manufacturing = "manufacturing",
        Mining = "mining",
        Hospitality = "hospitality",
        Begging = "begging",
        Other = "other",
    }
}

code_set! {
    /// `trafficking_type`.
    TraffickingType { Internal = "internal", International = "international" }
}

code_set! {
    /// `reintegration_assistance`.
    ReintegrationAssistance {
        CashAllowance = "cash_allowance",
        Education = "education",
        VocationalTraining = "vocational_training",
        BusinessSupport = "business_support",
        JobPlacement = "job_placement",
        Medical = "medical",
        Psychosocial = "psychosocial",
        Housing = "housing",
        Legal = "legal",
        FamilyTracing = "family_tracing",
        Other = "other",
    }
}

code_set! {
    /// `status`: a case with no status is `open`.
    Status { Open = "open", Active = "active", Closed = "closed" }
}

code_set! {
    /// `closure_reason`: present exactly when the status is `closed`.
    ClosureReason {
        AssistanceCompleted = "assistance_completed",
        Transferred = "transferred",
        LostContact = "lost_contact",
        DeclinedAssistance = "declined_assistance",
        Deceased = "deceased",
        Other = "other",
    }
}

code_set! {
    /// `risk_level`: drives follow-up priority.
    RiskLevel { Low = "low", Medium = "medium", High = "high" }
}

code_set! {
    /// The `type` of one entry of `document_numbers`.
    DocumentType {
        Passport = "passport",
        NationalId = "national_id",
        TravelDocument = "travel_document",
        Other = "other",
    }
}

code_set! {
    /// `service_type` of a service record.
    ServiceType {
        Shelter = "shelter",
        Medical = "medical",
        Psychosocial = "psychosocial",
        Legal = "legal",
        ReturnTravel = "return_travel",
        FamilyTracing = "family_tracing",
        Education = "education",
        VocationalTraining = "vocational_training",
        MicroBusiness = "micro_business",
        CashAssistance = "cash_assistance",
        Other = "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// Every set round-trips through serde, `as_str` and `parse`, and `ALL`/`CODES` agree.
    fn check_set<C: Code + Serialize + for<'de> Deserialize<'de>>(expected: &[&str]) {
        assert_eq!(C::CODES, expected, "the code list is the domain document's");
        assert_eq!(C::ALL.len(), C::CODES.len());
        for (variant, code) in C::ALL.iter().zip(C::CODES) {
            assert_eq!(variant.as_str(), *code);
            assert_eq!(
                serde_json::to_value(variant).unwrap(),
                serde_json::json!(code)
            );
            let back: C = serde_json::from_value(serde_json::json!(code)).unwrap();
            assert_eq!(back, *variant);
            assert_eq!(C::parse(code), Some(*variant));
            assert_eq!(
                C::parse(&code.to_uppercase()),
                None,
                "parsing is case-sensitive"
            );
        }
        let mut sorted = C::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, C::ALL, "Ord follows the document's order");
        assert_eq!(C::parse("not_a_code"), None);
        assert!(serde_json::from_value::<C>(serde_json::json!("not_a_code")).is_err());
    }

    #[test]
    fn every_code_set_matches_the_domain_document_and_round_trips() {
        check_set::<Sex>(&["female", "male", "other", "unknown"]);
        check_set::<Category>(&[
            "victim_of_trafficking",
            "unaccompanied_migrant_child",
            "stranded_migrant",
            "health_needs",
            "rejected_asylum_seeker",
            "exploited_or_abused_migrant",
            "other_vulnerable",
        ]);
        check_set::<Programme>(&["avrr", "para", "direct_assistance", "gaf", "other"]);
        check_set::<ExploitationType>(&[
            "sexual",
            "labour",
            "forced_begging",
            "domestic_servitude",
            "forced_marriage",
            "organ_removal",
            "forced_criminality",
            "other",
        ]);
        check_set::<LabourSector>(&[
            "agriculture",
            "construction",
            "domestic_work",
            "fishing",
            "manufacturing",
            "mining",
            "hospitality",
            "begging",
            "other",
        ]);
        check_set::<TraffickingType>(&["internal", "international"]);
        check_set::<ReintegrationAssistance>(&[
            "cash_allowance",
            "education",
            "vocational_training",
            "business_support",
            "job_placement",
            "medical",
            "psychosocial",
            "housing",
            "legal",
            "family_tracing",
            "other",
        ]);
        check_set::<Status>(&["open", "active", "closed"]);
        check_set::<ClosureReason>(&[
            "assistance_completed",
            "transferred",
            "lost_contact",
            "declined_assistance",
            "deceased",
            "other",
        ]);
        check_set::<RiskLevel>(&["low", "medium", "high"]);
        check_set::<DocumentType>(&["passport", "national_id", "travel_document", "other"]);
        check_set::<ServiceType>(&[
            "shelter",
            "medical",
            "psychosocial",
            "legal",
            "return_travel",
            "family_tracing",
            "education",
            "vocational_training",
            "micro_business",
            "cash_assistance",
            "other",
        ]);
    }

    #[test]
    fn display_is_the_code() {
        assert_eq!(
            Category::VictimOfTrafficking.to_string(),
            "victim_of_trafficking"
        );
        assert_eq!(ServiceType::ReturnTravel.to_string(), "return_travel");
    }
}
