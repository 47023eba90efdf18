//! The closed vocabularies of an endorsement: stakeholder groups and UN
//! regional groups. Their one-byte codes are part of the signed bytes
//! (SPEC.md, "Code tables"); codes are never reused or renumbered.

use super::Error;

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($variant:ident = $code:literal, $slug:literal, $label:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The byte used in canonical encodings.
            pub fn code(self) -> u8 { match self { $($name::$variant => $code),* } }
            /// The command-line spelling.
            pub fn slug(self) -> &'static str { match self { $($name::$variant => $slug),* } }
            /// The human-readable name.
            pub fn label(self) -> &'static str { match self { $($name::$variant => $label),* } }
            pub fn from_code(code: u8) -> Result<Self, Error> {
                match code {
                    $($code => Ok($name::$variant),)*
                    other => Err(Error::invalid($field, format!("unknown code {other}"))),
                }
            }
            pub fn from_slug(slug: &str) -> Result<Self, Error> {
                match slug {
                    $($slug => Ok($name::$variant),)*
                    other => Err(Error::invalid($field, format!(
                        "unknown value {other:?}; expected one of: {}",
                        [$($slug),*].join(", ")))),
                }
            }
        }
    };
}

code_enum!(
    /// Who is endorsing, in the six groups the Global Commitment addresses.
    StakeholderGroup, "stakeholder_group" {
        Government = 1, "government", "Government";
        PrivateSector = 2, "private-sector", "Private Sector";
        CivilSociety = 3, "civil-society", "Civil Society";
        TechnicalCommunity = 4, "technical-community", "Technical Community";
        Academia = 5, "academia", "Academia";
        Intergovernmental = 6, "intergovernmental", "Intergovernmental Organization";
    }
);

code_enum!(
    /// The five UN regional groups, plus Global for bodies with no region.
    Region, "region" {
        African = 1, "african", "African Group";
        AsiaPacific = 2, "asia-pacific", "Asia-Pacific Group";
        EasternEuropean = 3, "eastern-european", "Eastern European Group";
        LatinAmericanCaribbean = 4, "grulac", "Latin American and Caribbean Group";
        WesternEuropeanOthers = 5, "weog", "Western European and Others Group";
        Global = 6, "global", "Global";
    }
);

code_enum!(
    /// How the log operator checked who stands behind an organization's key.
    VerificationMethod, "method" {
        Domain = 1, "domain", "Domain (.well-known/accord.txt)";
        OfficialLetter = 2, "official-letter", "Official letter";
        InPerson = 3, "in-person", "In person";
    }
);
