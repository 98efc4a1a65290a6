//! `sign/:name[/:hash_algorithm]` and `verify/:name[/:hash_algorithm]`, single or
//! batch; verify also checks HMACs.
//!
//! The hash comes from the URL, else `hash_algorithm`, else the deprecated
//! `algorithm`, else sha2-256. Unless `prehashed`, the input is hashed and the digest
//! signed. Signatures are `<prefix>:vN:` followed by base64 of the DER signature, or
//! unpadded base64url of `r || s` with `marshaling_algorithm=jws`.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::NAME_FROM_PATH;
use super::batch::{self, StringItem};
use super::hmac::verify_hmac;
use super::sign_options::{Options, check_hash_name, hash_name};
use crate::crypto::ecdsa::{Asn1Shape, EcdsaPublicKey, Marshaling, check_asn1_shape};
use crate::crypto::ed25519::Ed25519Key;
use crate::crypto::hash::HashAlgorithm;
use crate::crypto::public::PublicKey;
use crate::crypto::rsa::RsaPublicKey;
use crate::crypto::rsa_signing::{RsaScheme, RsaSignError, SaltLength};
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt, WeakString, present};
use crate::http::response::envelope;
use crate::keyring::NamedKey;
use crate::keyring::key::{KeyMaterial, Purpose, ValueKind};
use crate::keyring::versioned::Prefix;
use crate::service::Service;

#[derive(Deserialize)]
struct SignRequest {
    input: Option<WeakString>,
    hash_algorithm: Option<WeakString>,
    algorithm: Option<WeakString>,
    key_version: Option<WeakInt>,
    context: Option<WeakString>,
    prehashed: Option<WeakBool>,
    signature_algorithm: Option<WeakString>,
    marshaling_algorithm: Option<WeakString>,
    /// Vault reads a null `salt_length` as "", which it refuses.
    #[serde(default, deserialize_with = "present")]
    salt_length: Option<WeakString>,
    batch_input: Option<Value>,
}

#[derive(Deserialize)]
struct VerifyRequest {
    input: Option<WeakString>,
    /// Vault reads a null `signature` or `hmac` as given and empty.
    #[serde(default, deserialize_with = "present")]
    signature: Option<WeakString>,
    #[serde(default, deserialize_with = "present")]
    hmac: Option<WeakString>,
    hash_algorithm: Option<WeakString>,
    algorithm: Option<WeakString>,
    context: Option<WeakString>,
    prehashed: Option<WeakBool>,
    signature_algorithm: Option<WeakString>,
    marshaling_algorithm: Option<WeakString>,
    /// Vault reads a null `salt_length` as "", which it refuses.
    #[serde(default, deserialize_with = "present")]
    salt_length: Option<WeakString>,
    batch_input: Option<Value>,
}

/// A signature, single or as a batch item (a failed item reports version 0).
/// Derived ed25519 keys add the context's public key, named differently in single
/// answers (`public_key`) and batch items (`publickey`), as Vault names them.
#[derive(Serialize)]
struct Signed {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    key_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    publickey: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

/// What signing one input gives.
struct Signature {
    value: String,
    version: u32,
    /// The public key of a derived ed25519 key for the item's context.
    derived_public_key: Option<String>,
}

/// A verification result. HMAC batch items omit `valid` when it is false, as Vault.
#[derive(Serialize)]
struct Verified {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid: Option<bool>,
}

#[derive(Serialize)]
struct BatchResults<T: Serialize> {
    batch_results: Vec<T>,
}

/// One item of a sign or verify request; a field is `None` when the item lacks it.
#[derive(Default)]
struct Item {
    input: Option<String>,
    signature: Option<String>,
    hmac: Option<String>,
    context: Option<String>,
    reference: String,
}

impl Item {
    fn from_batch(mut item: StringItem) -> Self {
        Self {
            input: item.take("input"),
            signature: item.take("signature"),
            hmac: item.take("hmac"),
            context: item.take("context"),
            reference: item.take("reference").unwrap_or_default(),
        }
    }
}

/// The [`Options`] of a sign or verify request: both declare the same option fields.
macro_rules! options_of {
    ($request:expr, $url_algorithm:expr) => {
        Options::parse(
            $url_algorithm,
            $request.hash_algorithm.as_ref(),
            $request.algorithm.as_ref(),
            $request.prehashed,
            $request.signature_algorithm.as_ref(),
            $request.marshaling_algorithm.as_ref(),
            $request.salt_length.as_ref(),
        )
    };
}

/// Reads the items of a sign or verify batch.
fn parse_items(batch: &Value, item_type: &str) -> Result<Vec<Item>, ApiError> {
    Ok(batch::parse_string_items(batch, item_type)?
        .into_iter()
        .map(Item::from_batch)
        .collect())
}

fn decode_input(input: &str) -> Result<Vec<u8>, String> {
    encoding::decode_std(input).map_err(|e| format!("unable to decode input as base64: {e}"))
}

/// An item's `context`, decoded whatever the key type (empty when not given), as
/// Vault decodes it before it looks at the key.
fn decode_context(context: Option<&str>) -> Result<Vec<u8>, SignError> {
    match context {
        None | Some("") => Ok(Vec::new()),
        Some(context) => encoding::decode_std(context)
            .map_err(|_| SignError::Input("failed to base64-decode context".to_owned())),
    }
}

/// The key of a signature operation (`signing` or `verification`), checked in Vault's
/// order: it exists, its type signs, then the options' hash suits it.
fn signing_key(
    service: &Service,
    name: &str,
    options: &Options,
    missing: &str,
    operation: &str,
) -> Result<std::sync::Arc<NamedKey>, ApiError> {
    let key = existing_key(service, name, missing)?;
    if !key.key_type.supports_signing() {
        return Err(ApiError::bad_request(format!(
            "key type {} does not support {operation}",
            key.key_type
        )));
    }
    options.check_for_key(key.key_type)?;
    Ok(key)
}

fn existing_key(
    service: &Service,
    name: &str,
    missing: &str,
) -> Result<std::sync::Arc<NamedKey>, ApiError> {
    service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request(missing))
}

/// Why one signature could not be made: Vault answers a single request with 400 for
/// input errors and 500 (wrapped) for the rest.
enum SignError {
    Input(String),
    Other(String),
}

impl SignError {
    fn message(self) -> String {
        match self {
            SignError::Input(m) | SignError::Other(m) => m,
        }
    }

    /// The answer to a single (not batch) request.
    fn into_api(self) -> ApiError {
        match self {
            SignError::Input(m) => ApiError::BadRequest(m),
            SignError::Other(m) => ApiError::Wrapped(m),
        }
    }
}

/// The message Vault gives when a derived key is used without a context.
const MISSING_CONTEXT: &str = "error deriving key: missing 'context' for key derivation; the key \
    was created using a derived key, which means additional, per-request information must be \
    included in order to perform operations with the key";

/// The ed25519 key that signs for `context`: the version's own, or for a derived key
/// the one derived from the context.
fn ed25519_for(
    key: &NamedKey,
    pair: &Ed25519Key,
    context: &[u8],
) -> Result<Option<Ed25519Key>, SignError> {
    if !key.derived {
        return Ok(None);
    }
    if context.is_empty() {
        return Err(SignError::Other(MISSING_CONTEXT.to_owned()));
    }
    pair.derive(context)
        .map(Some)
        .map_err(|e| SignError::Other(e.to_string()))
}

fn sign_item(
    key: &NamedKey,
    prefix: &Prefix,
    options: &Options,
    item: &Item,
    requested: i64,
) -> Result<Signature, SignError> {
    let input =
        decode_input(item.input.as_deref().unwrap_or_default()).map_err(SignError::Input)?;
    let context = decode_context(item.context.as_deref())?;
    key.usable().map_err(|e| SignError::Other(e.to_string()))?;
    let (number, version) = key
        .version_for(Purpose::Signing, requested)
        .map_err(|e| SignError::Other(e.to_string()))?;
    let mut derived_public_key = None;
    let signature = match &version.material {
        KeyMaterial::Ecdsa(pair) => {
            let digest = options.digest(&input).map_err(SignError::Input)?;
            // Only an empty prehashed input gives an empty digest; Vault refuses it.
            if digest.is_empty() {
                return Err(SignError::Other("ecdsa: hash cannot be empty".to_owned()));
            }
            pair.sign_digest(&digest, options.marshaling)
                .map_err(|e| SignError::Other(e.to_string()))?
        }
        // Pure Ed25519 signs the input itself; the hash options do not apply.
        KeyMaterial::Ed25519(pair) => match ed25519_for(key, pair, &context)? {
            Some(derived) => {
                derived_public_key = Some(encoding::encode_std(derived.public_key()));
                derived.sign(&input)
            }
            None => pair.sign(&input),
        },
        KeyMaterial::Rsa(rsa) => {
            let scheme = options.rsa_scheme().map_err(SignError::Other)?;
            let digest = options.digest(&input).map_err(SignError::Input)?;
            rsa.sign(options.hash, scheme, &digest)
                .map_err(|e: RsaSignError| SignError::Other(e.to_string()))?
        }
        KeyMaterial::Public(_) => {
            return Err(SignError::Other(
                "requested version for signing does not contain a private part".to_owned(),
            ));
        }
        KeyMaterial::Aead(_) | KeyMaterial::Hmac(_) => {
            return Err(SignError::Input(format!(
                "key type {} does not support signing",
                key.key_type
            )));
        }
    };
    let encoded = match options.marshaling {
        Marshaling::Asn1 => encoding::encode_std(&signature),
        Marshaling::Jws => encoding::encode_url_nopad(&signature),
    };
    Ok(Signature {
        value: prefix.format(number, &encoded),
        version: number,
        derived_public_key,
    })
}

/// `POST sign/:name[/:hash_algorithm]`.
///
/// # Errors
/// 400 for bad options or input; 500 (wrapped) for a refused `key_version`, as
/// Vault. Batch items fail on their own and the batch answers 200.
pub fn sign(
    service: &Service,
    name: &str,
    url_algorithm: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<SignRequest>(NAME_FROM_PATH)?;
    let options = options_of!(request, url_algorithm)?;
    let key = signing_key(service, name, &options, "signing key not found", "signing")?;
    let prefix = &service.config.prefix;
    let requested = request.key_version.map_or(0, |v| v.0);

    let Some(batch) = request.batch_input.as_ref().filter(|b| !b.is_null()) else {
        let item = Item {
            input: request.input.map(|i| i.0),
            context: request.context.map(|c| c.0),
            ..Item::default()
        };
        let signature =
            sign_item(&key, prefix, &options, &item, requested).map_err(SignError::into_api)?;
        let signed = Signed {
            error: None,
            key_version: signature.version,
            public_key: signature.derived_public_key,
            publickey: None,
            reference: None,
            signature: Some(signature.value),
        };
        return Ok(envelope(&signed, &warnings));
    };

    let results = parse_items(batch, "batchRequestSignItem")?
        .into_iter()
        .map(|item| {
            let outcome = match item.input {
                Some(_) => {
                    sign_item(&key, prefix, &options, &item, requested).map_err(SignError::message)
                }
                None => Err("missing input".to_owned()),
            };
            let reference = Some(item.reference);
            match outcome {
                Ok(signature) => Signed {
                    error: None,
                    key_version: signature.version,
                    public_key: None,
                    publickey: signature.derived_public_key,
                    reference,
                    signature: Some(signature.value),
                },
                Err(error) => Signed {
                    error: Some(error),
                    key_version: 0,
                    public_key: None,
                    publickey: None,
                    reference,
                    signature: None,
                },
            }
        })
        .collect();
    Ok(envelope(
        &BatchResults {
            batch_results: results,
        },
        &warnings,
    ))
}

fn verify_signature(
    key: &NamedKey,
    prefix: &Prefix,
    options: &Options,
    item: &Item,
    signature: &str,
) -> Result<bool, SignError> {
    let input = item.input.as_deref().unwrap_or_default();
    let input = decode_input(input).map_err(SignError::Input)?;
    let context = decode_context(item.context.as_deref())?;
    key.usable().map_err(|e| SignError::Input(e.to_string()))?;
    let value = prefix
        .parse(signature)
        .map_err(|e| SignError::Input(e.message("signature")))?;
    let (_, version) = key
        .version_of(ValueKind::Signature, value.version)
        .map_err(|e| SignError::Input(e.to_string()))?;
    let bad_base64 = |_| SignError::Input("invalid base64 signature value".to_owned());
    let raw = match options.marshaling {
        Marshaling::Asn1 => encoding::decode_std(value.payload).map_err(bad_base64)?,
        Marshaling::Jws => encoding::decode_url_nopad(value.payload).map_err(bad_base64)?,
    };
    match &version.material {
        KeyMaterial::Ecdsa(pair) => verify_ecdsa(pair.public(), options, &input, &raw),
        KeyMaterial::Ed25519(pair) => match ed25519_for(key, pair, &context)? {
            Some(derived) => Ok(derived.verify(&input, &raw)),
            None => Ok(pair.verify(&input, &raw)),
        },
        KeyMaterial::Rsa(rsa) => verify_rsa(rsa.public(), options, &input, &raw),
        KeyMaterial::Public(public) => match public.as_ref() {
            PublicKey::Ecdsa(ec) => verify_ecdsa(ec, options, &input, &raw),
            // Vault refuses to import a public key alone for a derived ed25519 key.
            PublicKey::Ed25519(ed) => Ok(ed.verify(&input, &raw)),
            PublicKey::Rsa(rsa) => verify_rsa(rsa, options, &input, &raw),
        },
        KeyMaterial::Aead(_) | KeyMaterial::Hmac(_) => Err(SignError::Input(format!(
            "key type {} does not support verification",
            key.key_type
        ))),
    }
}

/// Checks an ECDSA signature: Vault's DER shape check for `asn1`, then the digest.
fn verify_ecdsa(
    key: &EcdsaPublicKey,
    options: &Options,
    input: &[u8],
    raw: &[u8],
) -> Result<bool, SignError> {
    if options.marshaling == Marshaling::Asn1 {
        check_asn1_shape(raw).map_err(|shape| {
            SignError::Input(
                match shape {
                    Asn1Shape::Invalid => "supplied signature is invalid",
                    Asn1Shape::ExtraData => "supplied signature contains extra data",
                }
                .to_owned(),
            )
        })?;
    }
    let digest = options.digest(input).map_err(SignError::Input)?;
    Ok(key.verify_digest(&digest, raw, options.marshaling))
}

/// Checks an RSA signature after Vault's checks of the hash and the salt length.
fn verify_rsa(
    key: &RsaPublicKey,
    options: &Options,
    input: &[u8],
    raw: &[u8],
) -> Result<bool, SignError> {
    let scheme = options.rsa_scheme().map_err(SignError::Other)?;
    if let RsaScheme::Pss(SaltLength::Bytes(n)) = scheme
        && !key.salt_fits(options.hash, n)
    {
        return Err(SignError::Input(format!(
            "requested salt length {n} is invalid"
        )));
    }
    let digest = options.digest(input).map_err(SignError::Input)?;
    Ok(key.verify(options.hash, scheme, &digest, raw))
}

/// What a verify request checks: HMACs under this hash, or signatures.
enum Check {
    Hmac(HashAlgorithm),
    Signature(Options),
}

/// `POST verify/:name[/:hash_algorithm]`: a signature check, or an HMAC check when
/// `hmac` is given instead. A mismatch is `valid: false`, not an error.
///
/// # Errors
/// 400 for bad options, input, or a malformed or retired signature.
pub fn verify(
    service: &Service,
    name: &str,
    url_algorithm: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<VerifyRequest>(NAME_FROM_PATH)?;
    let batch = request.batch_input.as_ref().filter(|b| !b.is_null());
    let items = match batch {
        Some(batch) => parse_items(batch, "batchRequestVerifyItem")?,
        None => vec![Item {
            input: Some(request.input.map(|i| i.0).unwrap_or_default()),
            signature: request.signature.map(|s| s.0),
            hmac: request.hmac.map(|h| h.0),
            context: request.context.map(|c| c.0),
            reference: String::new(),
        }],
    };
    let hmac_mode = batch_mode(&items, batch.is_some())?;

    // An HMAC check reads only the hash, and names a missing key as the hmac
    // endpoint does; a signature check reads every option first.
    let (key, what) = if hmac_mode {
        let hash_name = hash_name(
            url_algorithm,
            request.hash_algorithm.as_ref(),
            request.algorithm.as_ref(),
        );
        check_hash_name(hash_name)?;
        let key = existing_key(service, name, "encryption key not found")?;
        (key, Check::Hmac(super::hmac::algorithm(hash_name)?))
    } else {
        let options = options_of!(request, url_algorithm)?;
        let missing = "signature verification key not found";
        let key = signing_key(service, name, &options, missing, "verification")?;
        (key, Check::Signature(options))
    };
    let prefix = &service.config.prefix;

    let check = |item: &Item| -> Result<bool, SignError> {
        let Some(input) = item.input.as_deref() else {
            return Err(SignError::Input("missing input".to_owned()));
        };
        let missing = |field: &str| Err(SignError::Input(format!("missing {field}")));
        match &what {
            Check::Hmac(hash) => match &item.hmac {
                Some(mac) => verify_hmac(&key, prefix, *hash, input, mac).map_err(SignError::Input),
                None => missing("hmac"),
            },
            Check::Signature(options) => match &item.signature {
                Some(signature) => verify_signature(&key, prefix, options, item, signature),
                None => missing("signature"),
            },
        }
    };

    if batch.is_none() {
        let valid = check(&items[0]).map_err(SignError::into_api)?;
        let verified = Verified {
            error: None,
            reference: None,
            valid: Some(valid),
        };
        return Ok(envelope(&verified, &warnings));
    }

    let results = items
        .iter()
        .map(|item| {
            let reference = Some(item.reference.clone());
            match check(item) {
                Ok(valid) => Verified {
                    error: None,
                    reference,
                    valid: (valid || !hmac_mode).then_some(valid),
                },
                Err(error) => Verified {
                    error: Some(error.message()),
                    reference,
                    valid: (!hmac_mode).then_some(false),
                },
            }
        })
        .collect();
    Ok(envelope(
        &BatchResults {
            batch_results: results,
        },
        &warnings,
    ))
}

/// Whether the items check HMACs (true) or signatures (false), with Vault's rules
/// for what a request must carry: an item with a `signature` counts as a signature
/// check even if it also has an `hmac`.
fn batch_mode(items: &[Item], batch: bool) -> Result<bool, ApiError> {
    let (mut signatures, mut hmacs, mut neither) = (false, false, false);
    for item in items {
        if item.signature.is_some() {
            signatures = true;
        } else if item.hmac.is_some() {
            hmacs = true;
        } else {
            neither = true;
        }
    }
    let refusal = match (signatures, hmacs, neither) {
        (false, false, _) if !batch => "neither a 'signature' nor an 'hmac' were given to verify",
        (true, true, _) => {
            "elements of batch_input must all provide 'signature' or all provide 'hmac'"
        }
        (true, false, true) => "some elements of batch_input are missing 'signature'",
        (false, true, true) => "some elements of batch_input are missing 'hmac'",
        (false, false, _) => "no batch_input elements have 'signature' or 'hmac'",
        (true, false, false) => return Ok(false),
        (false, true, false) => return Ok(true),
    };
    Err(ApiError::bad_request(refusal))
}
