//! `accord demo`: fills a fresh log with a realistic registry — the two
//! example commitments, endorsed by the champions and key constituents of the
//! Global Commitment named in the Roundtable 4 meeting note (December 2019),
//! some also endorsing the Paris Call, plus one withdrawal and one key
//! rotation. DEMONSTRATION DATA: every key is generated on the spot; no
//! organization signed anything.

use super::{client, keys, CliError};
use crate::core::endorsement::Endorsement;
use crate::core::entry::Signed;
use crate::core::model::{Region as R, StakeholderGroup as G};
use crate::core::statements::{organization_id, CommitmentRegistration, KeyRotation, Withdrawal};
use crate::proto;
use ed25519_dalek::{Signer as _, SigningKey};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The example commitments: id, title and text (the files in commitments/,
/// whose SHA-256 is what endorsements name). Registered exactly as README's
/// `accord commitment register` commands do, so either order works.
const COMMITMENTS: &[(&str, &str, &[u8])] = &[
    (
        "global-commitment-dts",
        "Global Commitment on Digital Trust and Security",
        include_bytes!("../../commitments/global-commitment-dts.txt"),
    ),
    (
        "paris-call",
        "Paris Call for Trust and Security in Cyberspace",
        include_bytes!("../../commitments/paris-call.txt"),
    ),
];

/// Name, group, region, country, domain, and whether it also endorses the Paris Call.
type Org = (
    &'static str,
    G,
    R,
    Option<&'static str>,
    Option<&'static str>,
    bool,
);

/// Champions and key constituents (Roundtable 4 meeting note, 10 December 2019).
const ORGANIZATIONS: &[Org] = &[
    (
        "Government of Estonia",
        G::Government,
        R::EasternEuropean,
        Some("EE"),
        Some("valitsus.ee"),
        true,
    ),
    (
        "Government of the Netherlands",
        G::Government,
        R::WesternEuropeanOthers,
        Some("NL"),
        Some("government.nl"),
        true,
    ),
    (
        "Government of Uruguay",
        G::Government,
        R::LatinAmericanCaribbean,
        Some("UY"),
        Some("gub.uy"),
        false,
    ),
    (
        "Microsoft",
        G::PrivateSector,
        R::Global,
        Some("US"),
        Some("microsoft.com"),
        true,
    ),
    (
        "UN Office for Disarmament Affairs",
        G::Intergovernmental,
        R::Global,
        None,
        Some("un.org"),
        false,
    ),
    (
        "Office of the Special Adviser",
        G::Intergovernmental,
        R::Global,
        None,
        Some("un.org"),
        false,
    ),
    (
        "Government of France",
        G::Government,
        R::WesternEuropeanOthers,
        Some("FR"),
        Some("gouvernement.fr"),
        true,
    ),
    (
        "Government of New Zealand",
        G::Government,
        R::WesternEuropeanOthers,
        Some("NZ"),
        Some("govt.nz"),
        true,
    ),
    (
        "Government of Singapore",
        G::Government,
        R::AsiaPacific,
        Some("SG"),
        Some("gov.sg"),
        false,
    ),
    (
        "Government of Switzerland",
        G::Government,
        R::WesternEuropeanOthers,
        Some("CH"),
        Some("admin.ch"),
        true,
    ),
    (
        "Government of Bangladesh",
        G::Government,
        R::AsiaPacific,
        Some("BD"),
        Some("gov.bd"),
        false,
    ),
    (
        "Government of Finland",
        G::Government,
        R::WesternEuropeanOthers,
        Some("FI"),
        Some("valtioneuvosto.fi"),
        true,
    ),
    (
        "Government of Mexico",
        G::Government,
        R::LatinAmericanCaribbean,
        Some("MX"),
        Some("gob.mx"),
        true,
    ),
    (
        "Government of Japan",
        G::Government,
        R::AsiaPacific,
        Some("JP"),
        Some("japan.go.jp"),
        true,
    ),
    (
        "Government of Kiribati",
        G::Government,
        R::AsiaPacific,
        Some("KI"),
        None,
        false,
    ),
    (
        "Government of Kenya",
        G::Government,
        R::African,
        Some("KE"),
        Some("go.ke"),
        false,
    ),
    (
        "Government of Canada",
        G::Government,
        R::WesternEuropeanOthers,
        Some("CA"),
        Some("canada.ca"),
        true,
    ),
    (
        "GovTech Lab",
        G::TechnicalCommunity,
        R::Global,
        None,
        None,
        false,
    ),
    (
        "The Future of Life Institute",
        G::CivilSociety,
        R::Global,
        Some("US"),
        Some("futureoflife.org"),
        false,
    ),
    (
        "Center for Strategic and International Studies (CSIS)",
        G::Academia,
        R::WesternEuropeanOthers,
        Some("US"),
        Some("csis.org"),
        false,
    ),
    (
        "Konrad-Adenauer-Stiftung (KAS)",
        G::CivilSociety,
        R::WesternEuropeanOthers,
        Some("DE"),
        Some("kas.de"),
        true,
    ),
    (
        "Internet Commission",
        G::CivilSociety,
        R::WesternEuropeanOthers,
        Some("GB"),
        None,
        false,
    ),
    (
        "World Health Organization (WHO)",
        G::Intergovernmental,
        R::Global,
        None,
        Some("who.int"),
        false,
    ),
    (
        "Facebook",
        G::PrivateSector,
        R::Global,
        Some("US"),
        Some("facebook.com"),
        true,
    ),
    (
        "World Economic Forum (WEF)",
        G::CivilSociety,
        R::Global,
        Some("CH"),
        Some("weforum.org"),
        false,
    ),
    (
        "Internet Society (ISOC)",
        G::TechnicalCommunity,
        R::Global,
        None,
        Some("internetsociety.org"),
        true,
    ),
    (
        "World Bank",
        G::Intergovernmental,
        R::Global,
        None,
        Some("worldbank.org"),
        false,
    ),
    (
        "IEEE",
        G::TechnicalCommunity,
        R::Global,
        None,
        Some("ieee.org"),
        false,
    ),
    (
        "International Telecommunication Union (ITU)",
        G::Intergovernmental,
        R::Global,
        None,
        Some("itu.int"),
        false,
    ),
    (
        "ICT4Peace",
        G::CivilSociety,
        R::Global,
        Some("CH"),
        Some("ict4peace.org"),
        true,
    ),
    (
        "UNICRI",
        G::Intergovernmental,
        R::Global,
        None,
        Some("unicri.it"),
        false,
    ),
    (
        "UN Secretary-General's Task Force on Digital Financing of the SDGs (DFTF)",
        G::Intergovernmental,
        R::Global,
        None,
        None,
        false,
    ),
    (
        "UN Office on Drugs and Crime",
        G::Intergovernmental,
        R::Global,
        None,
        Some("unodc.org"),
        false,
    ),
];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Submitter {
    client: proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>,
    token: String,
    count: usize,
}

impl Submitter {
    async fn submit(&mut self, signed: Signed) -> Result<u64, CliError> {
        // The admin token only goes with operator statements.
        let token = signed
            .is_operator_statement()
            .then_some(self.token.as_str());
        let req = client::with_token(crate::service::convert::signed_to_proto(&signed), token)?;
        let resp = self.client.submit(req).await.map_err(client::status)?;
        self.count += 1;
        Ok(resp.into_inner().index)
    }
}

pub async fn run(server: &str, data: &Path) -> Result<(), CliError> {
    let operator = keys::read_key(&data.join(crate::server::datadir::OPERATOR_KEY_FILE))?;
    let mut s = Submitter {
        client: client::connect(server).await?,
        token: client::admin_token(&data.join(crate::server::datadir::ADMIN_TOKEN_FILE))?,
        count: 0,
    };
    let t0 = now() - 60;
    for (id, title, text) in COMMITMENTS {
        let registration = CommitmentRegistration {
            commitment_id: (*id).into(),
            version: "1".into(),
            title: (*title).into(),
            text_sha256: crate::core::sha256(text),
            url: None,
            signed_at: now(),
            public_key: operator.verifying_key().to_bytes(),
        };
        let signature = operator.sign(&registration.signed_message()).to_bytes();
        s.submit(Signed::Commitment {
            registration,
            signature,
        })
        .await?;
    }
    let mut keys = Vec::new();
    for (i, (name, group, region, country, domain, paris)) in ORGANIZATIONS.iter().enumerate() {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        for (c, (id, _, text)) in COMMITMENTS.iter().enumerate() {
            if c == 1 && !paris {
                continue;
            }
            let e = Endorsement {
                commitment_id: (*id).into(),
                commitment_sha256: crate::core::sha256(text),
                organization_name: (*name).into(),
                stakeholder_group: *group,
                region: *region,
                country: country.map(Into::into),
                domain: domain.map(Into::into),
                statement: None,
                signed_at: t0 + (i * 2 + c) as u64,
                public_key: key.verifying_key().to_bytes(),
            };
            let signature = key.sign(&e.signed_message()).to_bytes();
            s.submit(Signed::Endorsement {
                endorsement: e,
                signature,
            })
            .await?;
        }
        keys.push(key);
    }
    // Facebook withdraws from the Paris Call; Estonia rotates its key.
    let fb = ORGANIZATIONS
        .iter()
        .position(|o| o.0 == "Facebook")
        .expect("listed");
    let withdrawal = Withdrawal {
        organization_id: organization_id(&keys[fb].verifying_key().to_bytes()),
        commitment_id: "paris-call".into(),
        signed_at: now(),
        public_key: keys[fb].verifying_key().to_bytes(),
    };
    let signature = keys[fb].sign(&withdrawal.signed_message()).to_bytes();
    s.submit(Signed::Withdrawal {
        withdrawal,
        signature,
    })
    .await?;
    let new_key = SigningKey::generate(&mut rand_core::OsRng);
    let rotation = KeyRotation {
        organization_id: organization_id(&keys[0].verifying_key().to_bytes()),
        old_public_key: keys[0].verifying_key().to_bytes(),
        new_public_key: new_key.verifying_key().to_bytes(),
        signed_at: now(),
    };
    let m = rotation.signed_message();
    let (old_signature, new_signature) = (keys[0].sign(&m).to_bytes(), new_key.sign(&m).to_bytes());
    s.submit(Signed::KeyRotation {
        rotation,
        old_signature,
        new_signature,
    })
    .await?;
    let verified = verify_governments(&mut s, &operator, &keys).await?;
    out!(
        "demo: {} statements submitted ({} organizations, 2 commitments, 1 withdrawal, 1 key rotation, {verified} governments verified, 1 impersonator) — demonstration data, keys generated on the spot, nothing was really checked",
        s.count,
        ORGANIZATIONS.len() + 1
    );
    Ok(())
}

/// The operator verifies the governments (as if by official letter), and an
/// impersonator endorses under the first one's name with another key: the
/// listing then shows it UNVERIFIED with `name-conflict`.
async fn verify_governments(
    s: &mut Submitter,
    operator: &SigningKey,
    keys: &[SigningKey],
) -> Result<usize, CliError> {
    use crate::core::verification::Verification;
    let governments = ORGANIZATIONS
        .iter()
        .zip(keys)
        .filter(|(o, _)| o.1 == G::Government);
    let mut verified = Vec::new();
    for ((name, group, _, country, domain, _), key) in governments {
        let v = Verification {
            organization_id: organization_id(&key.verifying_key().to_bytes()),
            name: (*name).into(),
            stakeholder_group: *group,
            country: country.map(Into::into),
            domain: domain.map(Into::into),
            method: crate::core::model::VerificationMethod::OfficialLetter,
            evidence_sha256: crate::core::sha256(b"demonstration data: nothing was checked"),
            signed_at: now(),
            public_key: operator.verifying_key().to_bytes(),
        };
        let signature = operator.sign(&v.signed_message()).to_bytes();
        s.submit(Signed::Verification {
            verification: v,
            signature,
        })
        .await?;
        verified.push(*name);
    }
    if let Some(name) = verified.first() {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let e = Endorsement {
            commitment_id: COMMITMENTS[0].0.into(),
            commitment_sha256: crate::core::sha256(COMMITMENTS[0].2),
            organization_name: name.to_uppercase(),
            stakeholder_group: G::Government,
            region: R::Global,
            country: None,
            domain: None,
            statement: None,
            signed_at: now(),
            public_key: key.verifying_key().to_bytes(),
        };
        let signature = key.sign(&e.signed_message()).to_bytes();
        s.submit(Signed::Endorsement {
            endorsement: e,
            signature,
        })
        .await?;
    }
    Ok(verified.len())
}
