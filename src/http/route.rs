//! Request paths and methods, parsed once into typed routes.
//!
//! Paths are relative to `/v1/` and percent-decoded. Key names follow Vault's rule;
//! a path inside the `transit/` mount that matches no route is "unsupported", and
//! one under no mount has "no handler", with Vault's different answers for each.

use axum::http::Method;

use super::error::ApiError;
use crate::auth::Capability;
use crate::config::is_key_name;

/// What a request asks to do, from its method (and `list=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// GET.
    Read,
    /// POST or PUT.
    Update,
    /// DELETE.
    Delete,
    /// LIST, or GET with `list=true`.
    List,
    /// HEAD.
    Head,
    /// OPTIONS: Vault refuses it as internal-only.
    Options,
    /// PATCH or any other method.
    Other,
}

impl Operation {
    /// The operation of `method`; `list` is the parsed `list` query parameter.
    pub fn of(method: &Method, list: bool) -> Self {
        match method.as_str() {
            "GET" if list => Operation::List,
            "GET" => Operation::Read,
            "POST" | "PUT" => Operation::Update,
            "DELETE" => Operation::Delete,
            "LIST" => Operation::List,
            "HEAD" => Operation::Head,
            "OPTIONS" => Operation::Options,
            _ => Operation::Other,
        }
    }

    /// The ACL capability this operation needs, if any can grant it.
    pub fn capability(self) -> Option<Capability> {
        match self {
            Operation::Read => Some(Capability::Read),
            Operation::Update => Some(Capability::Update),
            Operation::Delete => Some(Capability::Delete),
            Operation::List => Some(Capability::List),
            Operation::Head | Operation::Options | Operation::Other => None,
        }
    }
}

/// A route that needs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `auth/token/lookup-self`.
    LookupSelf,
    /// A route of the transit mount.
    Transit(Transit<'a>),
}

/// The transit routes, each with the key name it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transit<'a> {
    /// `keys` (list).
    Keys,
    /// `keys/:name`.
    Key(&'a str),
    /// `keys/:name/rotate`.
    Rotate(&'a str),
    /// `keys/:name/config`.
    Config(&'a str),
    /// `keys/:name/trim`.
    Trim(&'a str),
    /// `keys/:name/soft-delete` (OpenBao).
    SoftDelete(&'a str),
    /// `keys/:name/soft-delete-restore` (OpenBao).
    SoftDeleteRestore(&'a str),
    /// `keys/:name/import`: a new key from wrapped material.
    Import(&'a str),
    /// `keys/:name/import_version`: a new version from wrapped material.
    ImportVersion(&'a str),
    /// `wrapping_key`: the public key that wraps material for import.
    WrappingKey,
    /// `encrypt/:name`.
    Encrypt(&'a str),
    /// `decrypt/:name`.
    Decrypt(&'a str),
    /// `rewrap/:name`.
    Rewrap(&'a str),
    /// `sign/:name[/:hash_algorithm]`.
    Sign(&'a str, Option<&'a str>),
    /// `verify/:name[/:hash_algorithm]`.
    Verify(&'a str, Option<&'a str>),
    /// `datakey/:kind/:name` (kind first).
    Datakey(&'a str, &'a str),
    /// `random[/:source][/:bytes]`, with everything after `random/`.
    Random(Option<&'a str>),
    /// `hmac/:name[/:algorithm]`.
    Hmac(&'a str, Option<&'a str>),
    /// `hash[/:algorithm]`.
    Hash(Option<&'a str>),
    /// `export/:type/:name[/:version]` (type first; the version takes the rest).
    Export(&'a str, &'a str, Option<&'a str>),
    /// `config/keys`: mount-wide key settings.
    ConfigKeys,
    /// `cache-config`: the policy cache size.
    CacheConfig,
    /// `backup/:name`.
    Backup(&'a str),
    /// `restore[/:name]`, with everything after `restore/` (slashes included).
    Restore(Option<&'a str>),
}

impl<'a> Route<'a> {
    /// Parses a path relative to `/v1/`.
    ///
    /// # Errors
    /// 404 `unsupported path` inside the transit mount, 404 `no handler` elsewhere.
    pub fn parse(path: &'a str) -> Result<Self, ApiError> {
        if path == "auth/token/lookup-self" {
            return Ok(Route::LookupSelf);
        }
        let Some(rest) = path.strip_prefix("transit/") else {
            return Err(ApiError::NoHandler(path.to_owned()));
        };
        Transit::parse(rest)
            .map(Route::Transit)
            .ok_or(ApiError::UnsupportedPath)
    }

    /// Whether the route answers `operation`.
    pub fn allows(self, operation: Operation) -> bool {
        match self {
            Route::LookupSelf => operation == Operation::Read,
            Route::Transit(Transit::Keys) => operation == Operation::List,
            Route::Transit(Transit::WrappingKey) => operation == Operation::Read,
            Route::Transit(Transit::Backup(_)) => operation == Operation::Read,
            Route::Transit(Transit::ConfigKeys | Transit::CacheConfig) => {
                matches!(operation, Operation::Read | Operation::Update)
            }
            Route::Transit(Transit::Export(..)) => operation == Operation::Read,
            Route::Transit(Transit::Key(_)) => matches!(
                operation,
                Operation::Read | Operation::Update | Operation::Delete
            ),
            Route::Transit(Transit::SoftDelete(_)) => operation == Operation::Delete,
            Route::Transit(_) => operation == Operation::Update,
        }
    }

    /// A label for log lines, free of key names and parameters.
    pub fn label(self) -> &'static str {
        match self {
            Route::LookupSelf => "auth/token/lookup-self",
            Route::Transit(t) => match t {
                Transit::Keys => "transit/keys",
                Transit::Key(_) => "transit/keys/:name",
                Transit::Rotate(_) => "transit/keys/:name/rotate",
                Transit::Config(_) => "transit/keys/:name/config",
                Transit::Trim(_) => "transit/keys/:name/trim",
                Transit::SoftDelete(_) => "transit/keys/:name/soft-delete",
                Transit::SoftDeleteRestore(_) => "transit/keys/:name/soft-delete-restore",
                Transit::Import(_) => "transit/keys/:name/import",
                Transit::ImportVersion(_) => "transit/keys/:name/import_version",
                Transit::WrappingKey => "transit/wrapping_key",
                Transit::Encrypt(_) => "transit/encrypt/:name",
                Transit::Decrypt(_) => "transit/decrypt/:name",
                Transit::Rewrap(_) => "transit/rewrap/:name",
                Transit::Sign(..) => "transit/sign/:name",
                Transit::Verify(..) => "transit/verify/:name",
                Transit::Datakey(..) => "transit/datakey/:kind/:name",
                Transit::Random(_) => "transit/random",
                Transit::Hmac(..) => "transit/hmac/:name",
                Transit::Hash(_) => "transit/hash",
                Transit::Export(..) => "transit/export/:type/:name",
                Transit::ConfigKeys => "transit/config/keys",
                Transit::CacheConfig => "transit/cache-config",
                Transit::Backup(_) => "transit/backup/:name",
                Transit::Restore(_) => "transit/restore",
            },
        }
    }
}

impl<'a> Transit<'a> {
    fn parse(rest: &'a str) -> Option<Self> {
        if rest == "keys" || rest == "keys/" {
            return Some(Transit::Keys);
        }
        if rest == "config/keys" {
            return Some(Transit::ConfigKeys);
        }
        if rest == "cache-config" {
            return Some(Transit::CacheConfig);
        }
        if rest == "wrapping_key" {
            return Some(Transit::WrappingKey);
        }
        if rest == "random" {
            return Some(Transit::Random(None));
        }
        if rest == "hash" {
            return Some(Transit::Hash(None));
        }
        if rest == "restore" {
            return Some(Transit::Restore(None));
        }
        let (family, tail) = rest.split_once('/')?;
        if family == "random" {
            return Some(Transit::Random(Some(tail)));
        }
        if family == "hash" {
            return Some(Transit::Hash(Some(tail)));
        }
        if family == "export" {
            return Self::parse_export(tail);
        }
        if family == "restore" {
            return Some(Transit::Restore(Some(tail)));
        }
        let (name, after) = match tail.split_once('/') {
            Some((name, after)) => (name, Some(after)),
            None => (tail, None),
        };
        if !is_key_name(name) {
            return None;
        }
        Some(match (family, after) {
            ("keys", None) => Transit::Key(name),
            ("keys", Some("rotate")) => Transit::Rotate(name),
            ("keys", Some("config")) => Transit::Config(name),
            ("keys", Some("trim")) => Transit::Trim(name),
            ("keys", Some("soft-delete")) => Transit::SoftDelete(name),
            ("keys", Some("soft-delete-restore")) => Transit::SoftDeleteRestore(name),
            ("keys", Some("import")) => Transit::Import(name),
            ("keys", Some("import_version")) => Transit::ImportVersion(name),
            ("backup", None) => Transit::Backup(name),
            ("encrypt", None) => Transit::Encrypt(name),
            ("decrypt", None) => Transit::Decrypt(name),
            ("rewrap", None) => Transit::Rewrap(name),
            ("datakey", Some(key)) if is_key_name(key) => Transit::Datakey(name, key),
            // The optional trailing segment takes the rest of the path, slashes included.
            ("sign", algorithm) => Transit::Sign(name, algorithm),
            ("verify", algorithm) => Transit::Verify(name, algorithm),
            ("hmac", algorithm) => Transit::Hmac(name, algorithm),
            _ => return None,
        })
    }

    /// `export/` routes: the type and the name follow Vault's name rule; the version,
    /// when present, is any non-empty rest (its handler says what is invalid).
    fn parse_export(tail: &'a str) -> Option<Self> {
        let (kind, rest) = tail.split_once('/')?;
        let (name, version) = match rest.split_once('/') {
            Some((name, version)) => (name, Some(version)),
            None => (rest, None),
        };
        if !is_key_name(kind) || !is_key_name(name) || version == Some("") {
            return None;
        }
        Some(Transit::Export(kind, name, version))
    }

    /// The key the route acts on, if it names one.
    pub fn key(self) -> Option<&'a str> {
        match self {
            Transit::Keys
            | Transit::Random(_)
            | Transit::Hash(_)
            | Transit::ConfigKeys
            | Transit::CacheConfig
            | Transit::WrappingKey => None,
            Transit::Restore(n) => n.filter(|n| is_key_name(n)),
            Transit::Hmac(n, _) => Some(n),
            Transit::Datakey(_, n) => Some(n),
            Transit::Export(_, n, _) => Some(n),
            Transit::Key(n)
            | Transit::Rotate(n)
            | Transit::Config(n)
            | Transit::Trim(n)
            | Transit::SoftDelete(n)
            | Transit::SoftDeleteRestore(n)
            | Transit::Import(n)
            | Transit::ImportVersion(n)
            | Transit::Encrypt(n)
            | Transit::Decrypt(n)
            | Transit::Rewrap(n)
            | Transit::Sign(n, _)
            | Transit::Verify(n, _)
            | Transit::Backup(n) => Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transit_paths_parse_to_routes() {
        let parse = |p| Route::parse(p).unwrap();
        assert_eq!(
            parse("transit/keys/app"),
            Route::Transit(Transit::Key("app"))
        );
        assert_eq!(
            parse("transit/keys/app/rotate"),
            Route::Transit(Transit::Rotate("app"))
        );
        assert_eq!(
            parse("transit/keys/app/trim"),
            Route::Transit(Transit::Trim("app"))
        );
        assert_eq!(
            parse("transit/keys/app/soft-delete"),
            Route::Transit(Transit::SoftDelete("app"))
        );
        assert_eq!(
            parse("transit/keys/app/soft-delete-restore"),
            Route::Transit(Transit::SoftDeleteRestore("app"))
        );
        assert_eq!(
            parse("transit/encrypt/a.b"),
            Route::Transit(Transit::Encrypt("a.b"))
        );
        assert_eq!(
            parse("transit/sign/k"),
            Route::Transit(Transit::Sign("k", None))
        );
        assert_eq!(
            parse("transit/sign/k/sha2-512"),
            Route::Transit(Transit::Sign("k", Some("sha2-512")))
        );
        assert_eq!(
            parse("transit/verify/k/a/b"),
            Route::Transit(Transit::Verify("k", Some("a/b")))
        );
        assert_eq!(parse("auth/token/lookup-self"), Route::LookupSelf);
        assert_eq!(
            parse("transit/datakey/wrapped/k"),
            Route::Transit(Transit::Datakey("wrapped", "k"))
        );
        assert_eq!(
            parse("transit/keys/k/import"),
            Route::Transit(Transit::Import("k"))
        );
        assert_eq!(
            parse("transit/keys/k/import_version"),
            Route::Transit(Transit::ImportVersion("k"))
        );
        assert_eq!(
            parse("transit/wrapping_key"),
            Route::Transit(Transit::WrappingKey)
        );
        assert_eq!(
            parse("transit/random"),
            Route::Transit(Transit::Random(None))
        );
        assert_eq!(
            parse("transit/backup/k"),
            Route::Transit(Transit::Backup("k"))
        );
        assert_eq!(
            parse("transit/restore"),
            Route::Transit(Transit::Restore(None))
        );
        assert_eq!(
            parse("transit/restore/a/b"),
            Route::Transit(Transit::Restore(Some("a/b")))
        );
        assert_eq!(
            parse("transit/random/all/16"),
            Route::Transit(Transit::Random(Some("all/16")))
        );
    }

    #[test]
    fn export_paths_parse_type_name_and_version() {
        let parse = |p| Route::parse(p).unwrap();
        assert_eq!(
            parse("transit/export/signing-key/k"),
            Route::Transit(Transit::Export("signing-key", "k", None))
        );
        assert_eq!(
            parse("transit/export/hmac-key/k/v1/x"),
            Route::Transit(Transit::Export("hmac-key", "k", Some("v1/x")))
        );
        // An unknown type still routes: the handler answers 400 for it.
        assert_eq!(
            parse("transit/export/a.b/k/+1"),
            Route::Transit(Transit::Export("a.b", "k", Some("+1")))
        );
        for path in [
            "transit/export",
            "transit/export/hmac-key",
            "transit/export/hmac-key/",
            "transit/export/hmac-key/k/",
            "transit/export/-x/k",
            "transit/export/hmac-key/-k",
        ] {
            assert_eq!(Route::parse(path), Err(ApiError::UnsupportedPath), "{path}");
        }
        let export = parse("transit/export/public-key/k");
        assert!(export.allows(Operation::Read));
        assert!(!export.allows(Operation::Update) && !export.allows(Operation::List));
    }

    #[test]
    fn unknown_paths_get_vaults_two_kinds_of_404() {
        assert_eq!(
            Route::parse("transit/nothing"),
            Err(ApiError::UnsupportedPath)
        );
        assert_eq!(
            Route::parse("transit/keys/app/other"),
            Err(ApiError::UnsupportedPath)
        );
        assert_eq!(
            Route::parse("transit/keys/-bad"),
            Err(ApiError::UnsupportedPath)
        );
        assert_eq!(
            Route::parse("transit/encrypt/a/b"),
            Err(ApiError::UnsupportedPath)
        );
        assert_eq!(
            Route::parse("nomount/x"),
            Err(ApiError::NoHandler("nomount/x".into()))
        );
    }

    #[test]
    fn routes_answer_only_their_methods() {
        let key = Route::Transit(Transit::Key("k"));
        let encrypt = Route::Transit(Transit::Encrypt("k"));
        let keys = Route::Transit(Transit::Keys);
        assert!(key.allows(Operation::Read) && key.allows(Operation::Delete));
        assert!(!key.allows(Operation::List));
        assert!(keys.allows(Operation::List) && !keys.allows(Operation::Read));
        assert_eq!(Route::parse("transit/keys/").unwrap(), keys);
        assert!(encrypt.allows(Operation::Update) && !encrypt.allows(Operation::Read));
        let soft_delete = Route::Transit(Transit::SoftDelete("k"));
        let soft_restore = Route::Transit(Transit::SoftDeleteRestore("k"));
        let trim = Route::Transit(Transit::Trim("k"));
        assert!(soft_delete.allows(Operation::Delete) && !soft_delete.allows(Operation::Update));
        assert!(soft_restore.allows(Operation::Update) && !soft_restore.allows(Operation::Delete));
        assert!(trim.allows(Operation::Update) && !trim.allows(Operation::Read));
        let wrapping_key = Route::Transit(Transit::WrappingKey);
        assert!(wrapping_key.allows(Operation::Read) && !wrapping_key.allows(Operation::Update));
        assert!(!Route::Transit(Transit::Import("k")).allows(Operation::Read));
        let backup = Route::Transit(Transit::Backup("k"));
        let restore = Route::Transit(Transit::Restore(None));
        assert!(backup.allows(Operation::Read) && !backup.allows(Operation::Update));
        assert!(restore.allows(Operation::Update) && !restore.allows(Operation::Read));
        assert_eq!(Operation::of(&Method::GET, true), Operation::List);
        assert_eq!(
            Operation::of(&Method::from_bytes(b"LIST").unwrap(), false),
            Operation::List
        );
    }
}
