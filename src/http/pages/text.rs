//! Every word the pages show, one table per language: English and French,
//! the UN's working languages. Vocabulary labels are keyed by their slugs
//! (SPEC.md §2) so the tables cover every group and region.

/// The pages' languages, by `?lang=` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub fn parse(code: Option<&str>) -> Option<Lang> {
        match code {
            None | Some("en") => Some(Lang::En),
            Some("fr") => Some(Lang::Fr),
            Some(_) => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub fn other(self) -> (Lang, &'static str) {
        match self {
            Lang::En => (Lang::Fr, "Français"),
            Lang::Fr => (Lang::En, "English"),
        }
    }

    pub fn t(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }
}

pub struct Text {
    pub site: &'static str,
    pub commitments: &'static str,
    pub intro: &'static str,
    pub version: &'static str,
    pub text_hash: &'static str,
    pub published_at: &'static str,
    pub signatories: &'static str,
    pub search: &'static str,
    pub name: &'static str,
    pub group: &'static str,
    pub region: &'static str,
    pub country: &'static str,
    pub status: &'static str,
    pub any: &'static str,
    pub current: &'static str,
    pub withdrawn: &'static str,
    pub all: &'static str,
    pub verified_only: &'static str,
    pub apply: &'static str,
    pub verified: &'static str,
    pub unverified: &'static str,
    pub name_conflict: &'static str,
    pub mixed_script: &'static str,
    pub entry: &'static str,
    pub next_page: &'static str,
    pub none_found: &'static str,
    pub organization_id: &'static str,
    pub current_key: &'static str,
    pub domain: &'static str,
    pub verification: &'static str,
    pub not_verified: &'static str,
    pub standings: &'static str,
    pub entries: &'static str,
    pub operator_entries: &'static str,
    pub tree_size: &'static str,
    pub log_key: &'static str,
    pub key_note: &'static str,
    pub policy: &'static str,
    pub proof: &'static str,
    /// The verifier script's words (src/http/pages/page.js), by key.
    pub js: &'static [(&'static str, &'static str)],
    pub error: &'static str,
    pub by_group: &'static str,
    pub by_region: &'static str,
    pub current_signatories: &'static str,
    pub counting: &'static str,
    pub counted_at: &'static str,
    pub groups: [(&'static str, &'static str); 6],
    pub regions: [(&'static str, &'static str); 6],
}

pub const EN: Text = Text {
    site: "Accord: who endorsed what",
    commitments: "Commitments",
    intro: "Every endorsement below is signed by the organization's own key and recorded in a public, append-only log that anyone can verify.",
    version: "Version",
    text_hash: "SHA-256 of the text",
    published_at: "Text published at",
    signatories: "Signatories",
    search: "Search by name",
    name: "Name",
    group: "Stakeholder group",
    region: "UN regional group",
    country: "Country",
    status: "Status",
    any: "Any",
    current: "current",
    withdrawn: "withdrawn",
    all: "all",
    verified_only: "Verified organizations only",
    apply: "Apply",
    verified: "verified",
    unverified: "unverified",
    name_conflict: "Warning: this name looks like the name of another, verified organization",
    mixed_script: "Warning: a word of this name mixes writing systems",
    entry: "Entry",
    next_page: "Next page",
    none_found: "No signatory matches.",
    organization_id: "Organization id",
    current_key: "Current key",
    domain: "Domain",
    verification: "Verification by the log operator",
    not_verified: "Not verified: the name is only what the organization says of itself.",
    standings: "Commitments",
    entries: "Its entries in the log",
    operator_entries: "The operator's entries about it",
    tree_size: "Log size of this answer",
    log_key: "Log key",
    key_note: "Compare this key (and the witness policy, if one is shown) with what the operator publishes elsewhere: everything on this site can be verified with it, and the Verify buttons do so in your browser.",
    policy: "Witness policy (checkpoints count only with the cosignatures it requires)",
    proof: "Proof",
    js: &[
        ("verify", "Verify"),
        ("verify_all", "Verify all shown"),
        ("verifying", "Verifying…"),
        ("ok", "Verified"),
        ("failed", "Verification failed"),
        ("checkpoint", "Checkpoint signed by the log key"),
        ("quorum", "Cosigned by the witnesses the policy requires"),
        ("inclusion", "Entry included in the log (inclusion proof)"),
        ("signature", "The organization's signature over the entry"),
        ("registry", "Registry proof of its current status"),
        ("record", "Registry proof of its record and current key"),
        ("against", "Verified in this browser against tree size {size}, root {root}"),
        ("pin", "Pin this key in this browser"),
        ("unpin", "Unpin"),
        ("pinned", "This key is pinned in this browser."),
        ("key_changed", "Warning: this site now presents a log key different from the one you pinned in this browser. Verification uses your pinned key, {pinned}: do not trust what fails."),
        ("no_crypto", "This browser cannot verify: its WebCrypto lacks Ed25519 (Chromium 137, Firefox 129 and Safari 17 have it)."),
        ("note", "Verification runs in your browser and trusts nothing from this site but the log key (and witness policy) shown at the bottom of the page."),
    ],
    error: "Error",
    by_group: "Current signatories by stakeholder group",
    by_region: "Current signatories by UN regional group",
    current_signatories: "current signatories",
    counting: "The signatories are being counted; reload in a moment.",
    counted_at: "counted at log size",
    groups: [
        ("government", "Government"),
        ("private-sector", "Private sector"),
        ("civil-society", "Civil society"),
        ("technical-community", "Technical community"),
        ("academia", "Academia"),
        ("intergovernmental", "Intergovernmental organization"),
    ],
    regions: [
        ("african", "African Group"),
        ("asia-pacific", "Asia-Pacific Group"),
        ("eastern-european", "Eastern European Group"),
        ("grulac", "Latin American and Caribbean Group"),
        ("weog", "Western European and Others Group"),
        ("global", "Global"),
    ],
};

pub const FR: Text = Text {
    site: "Accord : qui a approuvé quoi",
    commitments: "Engagements",
    intro: "Chaque approbation ci-dessous est signée par la clé de l'organisation elle-même et inscrite dans un journal public, en ajout seul, que chacun peut vérifier.",
    version: "Version",
    text_hash: "SHA-256 du texte",
    published_at: "Texte publié à",
    signatories: "Signataires",
    search: "Rechercher par nom",
    name: "Nom",
    group: "Groupe de parties prenantes",
    region: "Groupe régional de l'ONU",
    country: "Pays",
    status: "Statut",
    any: "Tous",
    current: "en vigueur",
    withdrawn: "retirée",
    all: "toutes",
    verified_only: "Organisations vérifiées seulement",
    apply: "Appliquer",
    verified: "vérifiée",
    unverified: "non vérifiée",
    name_conflict: "Attention : ce nom ressemble à celui d'une autre organisation, vérifiée",
    mixed_script: "Attention : un mot de ce nom mêle plusieurs écritures",
    entry: "Entrée",
    next_page: "Page suivante",
    none_found: "Aucun signataire ne correspond.",
    organization_id: "Identifiant de l'organisation",
    current_key: "Clé actuelle",
    domain: "Domaine",
    verification: "Vérification par l'opérateur du journal",
    not_verified: "Non vérifiée : le nom est seulement ce que l'organisation dit d'elle-même.",
    standings: "Engagements",
    entries: "Ses entrées dans le journal",
    operator_entries: "Les entrées de l'opérateur à son sujet",
    tree_size: "Taille du journal pour cette réponse",
    log_key: "Clé du journal",
    key_note: "Comparez cette clé (et la politique de témoins, si elle est affichée) avec ce que l'opérateur publie ailleurs : tout ce qui figure sur ce site se vérifie avec elle, et les boutons Vérifier le font dans votre navigateur.",
    policy: "Politique de témoins (un point de contrôle ne compte qu'avec les cosignatures qu'elle exige)",
    proof: "Preuve",
    js: &[
        ("verify", "Vérifier"),
        ("verify_all", "Tout vérifier (lignes affichées)"),
        ("verifying", "Vérification…"),
        ("ok", "Vérifié"),
        ("failed", "Échec de la vérification"),
        ("checkpoint", "Point de contrôle signé par la clé du journal"),
        ("quorum", "Cosigné par les témoins qu'exige la politique"),
        ("inclusion", "Entrée incluse dans le journal (preuve d'inclusion)"),
        ("signature", "Signature de l'organisation sur l'entrée"),
        ("registry", "Preuve de registre de son statut actuel"),
        ("record", "Preuve de registre de sa fiche et de sa clé actuelle"),
        ("against", "Vérifié dans ce navigateur à la taille d'arbre {size}, racine {root}"),
        ("pin", "Épingler cette clé dans ce navigateur"),
        ("unpin", "Désépingler"),
        ("pinned", "Cette clé est épinglée dans ce navigateur."),
        ("key_changed", "Attention : ce site présente désormais une clé de journal différente de celle que vous avez épinglée dans ce navigateur. La vérification utilise votre clé épinglée, {pinned} : ne vous fiez pas à ce qui échoue."),
        ("no_crypto", "Ce navigateur ne peut pas vérifier : son WebCrypto n'a pas Ed25519 (Chromium 137, Firefox 129 et Safari 17 l'ont)."),
        ("note", "La vérification se fait dans votre navigateur et ne se fie à rien de ce site sauf la clé du journal (et la politique de témoins) affichées en bas de page."),
    ],
    error: "Erreur",
    by_group: "Signataires actuels par groupe de parties prenantes",
    by_region: "Signataires actuels par groupe régional de l'ONU",
    current_signatories: "signataires actuels",
    counting: "Les signataires sont en cours de décompte ; rechargez dans un instant.",
    counted_at: "décompte à la taille du journal",
    groups: [
        ("government", "Gouvernement"),
        ("private-sector", "Secteur privé"),
        ("civil-society", "Société civile"),
        ("technical-community", "Communauté technique"),
        ("academia", "Monde universitaire"),
        ("intergovernmental", "Organisation intergouvernementale"),
    ],
    regions: [
        ("african", "Groupe des États d'Afrique"),
        ("asia-pacific", "Groupe des États d'Asie et du Pacifique"),
        ("eastern-european", "Groupe des États d'Europe orientale"),
        ("grulac", "Groupe des États d'Amérique latine et des Caraïbes"),
        ("weog", "Groupe des États d'Europe occidentale et autres États"),
        ("global", "Mondial"),
    ],
};

impl Text {
    pub fn group(&self, slug: &str) -> &'static str {
        (self.groups.iter())
            .find(|(s, _)| *s == slug)
            .map_or("?", |(_, l)| l)
    }

    pub fn region(&self, slug: &str) -> &'static str {
        (self.regions.iter())
            .find(|(s, _)| *s == slug)
            .map_or("?", |(_, l)| l)
    }
}
