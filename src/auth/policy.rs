//! The service policies and the Vault ACL rules they stand for.
//!
//! Each policy grants exactly the paths of the managed service's policy table, for
//! one key. Matching follows Vault's ACL paths: an exact path, `+` for one path
//! segment, and a trailing `*` for any suffix. A token holds the union of the
//! rules of its endpoint's entries.

use crate::crypto::KeyType;

/// A Vault ACL capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// GET.
    Read,
    /// POST/PUT that creates something that does not exist yet.
    Create,
    /// POST/PUT.
    Update,
    /// DELETE.
    Delete,
    /// LIST, or GET with `list=true`.
    List,
}

impl Capability {
    const fn bit(self) -> u8 {
        match self {
            Capability::Read => 1,
            Capability::Create => 2,
            Capability::Update => 4,
            Capability::Delete => 8,
            Capability::List => 16,
        }
    }
}

/// A set of capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    /// The set holding `caps`.
    pub const fn of(caps: &[Capability]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < caps.len() {
            bits |= caps[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// Whether `cap` is in the set.
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }
}

const READ: Capabilities = Capabilities::of(&[Capability::Read]);
const READ_UPDATE: Capabilities = Capabilities::of(&[Capability::Read, Capability::Update]);
const ADMIN_SUBPATHS: Capabilities = Capabilities::of(&[
    Capability::Read,
    Capability::Create,
    Capability::Update,
    Capability::Delete,
]);

/// The service's policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Read and manage one key (rotate, config, ...).
    Admin,
    /// Sign with one key.
    Sign,
    /// Verify with one key.
    Verify,
    /// Encrypt with one key.
    Encrypt,
    /// Decrypt with one key.
    Decrypt,
    /// Rewrap ciphertexts of one key.
    Rewrap,
}

impl PolicyKind {
    /// Every policy name, in the order of the service documentation.
    pub const NAMES: [&'static str; 6] =
        ["admin", "sign", "verify", "encrypt", "decrypt", "rewrap"];

    const ALL: [PolicyKind; 6] = [
        PolicyKind::Admin,
        PolicyKind::Sign,
        PolicyKind::Verify,
        PolicyKind::Encrypt,
        PolicyKind::Decrypt,
        PolicyKind::Rewrap,
    ];

    /// Parses a policy name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The policy's name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Admin => "admin",
            PolicyKind::Sign => "sign",
            PolicyKind::Verify => "verify",
            PolicyKind::Encrypt => "encrypt",
            PolicyKind::Decrypt => "decrypt",
            PolicyKind::Rewrap => "rewrap",
        }
    }

    /// Whether the policy can do anything with a key of `key_type`.
    pub fn fits(self, key_type: KeyType) -> bool {
        match self {
            PolicyKind::Admin => true,
            PolicyKind::Sign | PolicyKind::Verify => key_type.supports_signing(),
            PolicyKind::Encrypt | PolicyKind::Decrypt | PolicyKind::Rewrap => {
                key_type.supports_encryption()
            }
        }
    }

    /// The ACL rules this policy grants for `key`.
    pub fn rules(self, key: &str) -> Vec<Rule> {
        let operation = match self {
            PolicyKind::Admin => {
                return vec![
                    Rule::new(Pattern::Exact(format!("transit/keys/{key}")), READ),
                    Rule::new(
                        Pattern::Prefix(format!("transit/keys/{key}/")),
                        ADMIN_SUBPATHS,
                    ),
                ];
            }
            PolicyKind::Sign => "sign",
            PolicyKind::Verify => "verify",
            PolicyKind::Encrypt => "encrypt",
            PolicyKind::Decrypt => "decrypt",
            PolicyKind::Rewrap => "rewrap",
        };
        let path = format!("transit/{operation}/{key}");
        let mut rules = vec![Rule::new(Pattern::Exact(path.clone()), READ_UPDATE)];
        if matches!(self, PolicyKind::Sign | PolicyKind::Verify) {
            // transit/sign/KEY/HASH_ALGORITHM
            rules.push(Rule::new(
                Pattern::OneSegmentUnder(format!("{path}/")),
                READ_UPDATE,
            ));
        }
        rules
    }
}

/// What Vault's `default` policy grants every token here: reading its own
/// description at `auth/token/lookup-self`.
pub fn default_rules() -> Vec<Rule> {
    vec![Rule::new(
        Pattern::Exact("auth/token/lookup-self".to_owned()),
        READ,
    )]
}

/// Which request paths a rule covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Exactly this path.
    Exact(String),
    /// This prefix followed by one segment (Vault's `prefix/+`).
    OneSegmentUnder(String),
    /// Any path starting with this prefix (Vault's trailing `*`).
    Prefix(String),
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Exact(exact) => path == exact,
            // Like Vault's `+`, the segment may be empty (`sign/KEY/` then answers 400).
            Pattern::OneSegmentUnder(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|segment| !segment.contains('/')),
            Pattern::Prefix(prefix) => path.starts_with(prefix.as_str()),
        }
    }
}

/// A path pattern and the capabilities granted on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pattern: Pattern,
    capabilities: Capabilities,
}

impl Rule {
    /// A rule granting `capabilities` on `pattern`.
    pub fn new(pattern: Pattern, capabilities: Capabilities) -> Self {
        Self {
            pattern,
            capabilities,
        }
    }
}

/// The rules a token holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    rules: Vec<Rule>,
    root: bool,
}

impl Acl {
    /// The union of `rules`.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules, root: false }
    }

    /// Vault's `root` policy: every capability on every path.
    pub fn root() -> Self {
        Self {
            rules: Vec::new(),
            root: true,
        }
    }

    /// Whether this is the root policy.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Whether any rule grants `capability` on `path` (relative to `/v1/`).
    pub fn allows(&self, path: &str, capability: Capability) -> bool {
        self.root
            || self
                .rules
                .iter()
                .any(|rule| rule.capabilities.contains(capability) && rule.pattern.matches(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn acl(policy: PolicyKind) -> Acl {
        Acl::new(policy.rules("k"))
    }

    #[test]
    fn admin_reads_the_key_and_manages_its_subpaths_only() {
        let admin = acl(PolicyKind::Admin);

        assert!(admin.allows("transit/keys/k", Read));
        assert!(!admin.allows("transit/keys/k", Update));
        assert!(!admin.allows("transit/keys/k", Delete));
        for cap in [Read, Create, Update, Delete] {
            assert!(admin.allows("transit/keys/k/rotate", cap));
            assert!(admin.allows("transit/keys/k/config", cap));
            assert!(admin.allows("transit/keys/k/import_version", cap));
        }
        assert!(!admin.allows("transit/keys/k/rotate", List));
        assert!(!admin.allows("transit/keys/kk/rotate", Update));
        assert!(!admin.allows("transit/keys/", List));
        assert!(!admin.allows("transit/wrapping_key", Read));
        assert!(!admin.allows("transit/encrypt/k", Update));
    }

    #[test]
    fn sign_covers_the_path_with_and_without_a_hash_segment() {
        let sign = acl(PolicyKind::Sign);

        assert!(sign.allows("transit/sign/k", Update));
        assert!(sign.allows("transit/sign/k/sha2-512", Update));
        assert!(sign.allows("transit/sign/k/sha2-512", Read));
        assert!(!sign.allows("transit/sign/k/sha2-512", Delete));
        assert!(!sign.allows("transit/sign/k/a/b", Update));
        assert!(!sign.allows("transit/sign/kk", Update));
        assert!(!sign.allows("transit/verify/k", Update));
    }

    #[test]
    fn data_policies_grant_read_and_update_on_one_path() {
        let cases = [
            (PolicyKind::Encrypt, "transit/encrypt/k"),
            (PolicyKind::Decrypt, "transit/decrypt/k"),
            (PolicyKind::Rewrap, "transit/rewrap/k"),
            (PolicyKind::Verify, "transit/verify/k"),
        ];
        for (policy, path) in cases {
            let acl = acl(policy);
            assert!(acl.allows(path, Read) && acl.allows(path, Update), "{path}");
            assert!(
                !acl.allows(path, Create) && !acl.allows(path, Delete),
                "{path}"
            );
            assert!(!acl.allows(&format!("{path}/x"), Update) || policy == PolicyKind::Verify);
        }
    }

    #[test]
    fn the_root_policy_allows_everything() {
        let root = Acl::root();
        assert!(root.allows("transit/keys/anything", Delete));
        assert!(root.allows("sys/mounts", Read));
        assert!(!Acl::default().allows("transit/keys/k", Read));
    }

    #[test]
    fn policies_fit_only_key_types_they_can_use() {
        assert!(PolicyKind::Admin.fits(KeyType::Chacha20Poly1305));
        assert!(PolicyKind::Sign.fits(KeyType::EcdsaP256));
        assert!(!PolicyKind::Sign.fits(KeyType::Chacha20Poly1305));
        assert!(!PolicyKind::Decrypt.fits(KeyType::EcdsaP256));
    }
}
