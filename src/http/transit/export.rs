//! `export/:type/:name[/:version]`: a key's material, one entry per version, in the
//! encodings Vault uses (see [`crate::crypto::export`]).
//!
//! Private material leaves only keys created `exportable`; public keys leave any
//! signing key. The checks run in Vault's order, so the first failing one answers:
//! type, format, key, exportability, soft delete, purpose, version, encoding.

use std::collections::BTreeMap;

use axum::response::Response;
use serde::{Deserialize, Serialize, Serializer};

use crate::crypto::export::{self as encode, PemEnd, base64_secret, pem_secret};
use crate::crypto::public::PublicKey;
use crate::crypto::{CryptoError, KeyType};
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakString};
use crate::http::response::envelope;
use crate::keyring::NamedKey;
use crate::keyring::key::{KeyMaterial, KeyVersion};
use crate::secret::SecretString;
use crate::service::Service;

/// Vault's texts for formats a key type has no encoding for. The first is also what
/// symmetric encryption keys answer, and the backticks are Vault's.
const HMAC_FORMATS: &str = "unknown format for HMAC key; supported values are `` or `raw`";
const RSA_FORMATS: &str =
    "unknown key format for rsa key; supported values are ``, `der`, or `pem`";
const EC_FORMATS: &str = "unknown key format for ec key; supported values are ``, `der`, or `pem`";

/// What `:type` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExportType {
    EncryptionKey,
    SigningKey,
    HmacKey,
    PublicKey,
    CertificateChain,
}

impl ExportType {
    fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "encryption-key" => Self::EncryptionKey,
            "signing-key" => Self::SigningKey,
            "hmac-key" => Self::HmacKey,
            "public-key" => Self::PublicKey,
            "certificate-chain" => Self::CertificateChain,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::EncryptionKey => "encryption-key",
            Self::SigningKey => "signing-key",
            Self::HmacKey => "hmac-key",
            Self::PublicKey => "public-key",
            Self::CertificateChain => "certificate-chain",
        }
    }

    /// Whether the answer holds only public data, so `exportable` is not needed.
    fn is_public(self) -> bool {
        matches!(self, Self::PublicKey | Self::CertificateChain)
    }
}

/// The `format` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Default,
    Raw,
    Der,
    Pem,
}

impl Format {
    fn parse(format: &str) -> Option<Self> {
        Some(match format {
            "" => Self::Default,
            "raw" => Self::Raw,
            "der" => Self::Der,
            "pem" => Self::Pem,
            _ => return None,
        })
    }
}

#[derive(Deserialize)]
struct ExportRequest {
    format: Option<WeakString>,
}

/// One exported value; key material, so it is zeroized once the answer is written.
struct Exported(SecretString);

impl Serialize for Exported {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose())
    }
}

#[derive(Serialize)]
struct ExportResponse<'a> {
    keys: BTreeMap<String, Exported>,
    name: &'a str,
    #[serde(rename = "type")]
    key_type: KeyType,
}

/// `GET export/:type/:name[/:version]`.
///
/// # Errors
/// 400 with Vault's message for a bad type, format, purpose or version, or a key
/// that is not exportable; 404 with no message for a missing key; 500 with Vault's
/// multierror text for a soft-deleted key or a format the key type has no encoding
/// for.
pub fn export(
    service: &Service,
    kind: &str,
    name: &str,
    version: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<ExportRequest>(&["type", "name", "version"])?;
    let export_type = ExportType::parse(kind)
        .ok_or_else(|| ApiError::bad_request(format!("invalid export type: {kind}")))?;
    let format_text = request.format.map(|f| f.0).unwrap_or_default();
    let format = Format::parse(&format_text)
        .ok_or_else(|| ApiError::bad_request(format!("invalid format: {format_text}")))?;

    let key = service.keyring.get(name).ok_or(ApiError::NotFound)?;
    check_key(export_type, &key)?;

    let selected: Vec<(u32, &KeyVersion)> = match version {
        None => key.visible_versions().collect(),
        Some(text) => {
            let number = requested_version(&key, text)?;
            key.versions
                .get(&number)
                .map(|v| vec![(number, v.as_ref())])
                .unwrap_or_default()
        }
    };
    let mut keys = BTreeMap::new();
    for (number, version) in selected {
        let value = encode_version(export_type, format, key.key_type, version)?;
        keys.insert(number.to_string(), Exported(value));
    }

    tracing::info!(key = %name, export_type = export_type.as_str(), "exported key");
    let response = ExportResponse {
        keys,
        name: &key.name,
        key_type: key.key_type,
    };
    Ok(envelope(&response, &warnings))
}

/// Refuses private material of a key not made `exportable`, any use of a
/// soft-deleted key, and an export type the key type has no material for, in
/// Vault's order.
fn check_key(export_type: ExportType, key: &NamedKey) -> Result<(), ApiError> {
    if !key.settings.exportable && !export_type.is_public() {
        return Err(ApiError::bad_request(
            "private key material is not exportable",
        ));
    }
    if key.lifecycle.soft_deleted {
        return Err(ApiError::Wrapped(
            "refusing to use soft-deleted key".to_owned(),
        ));
    }
    let key_type = key.key_type;
    let refusal = match export_type {
        ExportType::EncryptionKey if !key_type.supports_encryption() => {
            "encryption not supported for the key"
        }
        ExportType::SigningKey if !key_type.supports_signing() => {
            "signing not supported for the key"
        }
        ExportType::CertificateChain if !key_type.supports_signing() => {
            "certificate chain not supported for keys that do not support signing"
        }
        _ => return Ok(()),
    };
    Err(ApiError::bad_request(refusal))
}

/// Parses `:version`: `latest`, or a decimal with an optional `v` (and, as in Go's
/// `Atoi`, an optional sign), which must be a version the key still has.
fn requested_version(key: &NamedKey, text: &str) -> Result<u32, ApiError> {
    let number = if text == "latest" {
        i64::from(key.latest_version())
    } else {
        let digits = text.strip_prefix('v').unwrap_or(text);
        digits
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("invalid key version"))?
    };
    if number < i64::from(key.settings.min_decryption_version) {
        return Err(ApiError::bad_request(
            "version for export is below minimum decryption version",
        ));
    }
    u32::try_from(number)
        .ok()
        .filter(|n| key.versions.contains_key(n))
        .ok_or_else(|| ApiError::bad_request("version does not exist or cannot be found"))
}

/// One version's value for the export type and format.
fn encode_version(
    export_type: ExportType,
    format: Format,
    key_type: KeyType,
    version: &KeyVersion,
) -> Result<SecretString, ApiError> {
    let refused = |message: &str| Err(ApiError::Wrapped(message.to_owned()));
    let material = &version.material;
    match export_type {
        ExportType::HmacKey => match format {
            Format::Default | Format::Raw => Ok(base64_secret(version.hmac_key.expose())),
            Format::Der | Format::Pem => refused(HMAC_FORMATS),
        },
        ExportType::CertificateChain => {
            refused("selected key version does not have a certificate chain imported")
        }
        ExportType::EncryptionKey | ExportType::SigningKey => private_key(format, material),
        ExportType::PublicKey => public_key(format, material).unwrap_or_else(|| {
            refused(&format!(
                "unknown key type {key_type} for export type {}",
                export_type.as_str()
            ))
        }),
    }
}

/// A private key in `format`; the purpose check has already matched the material.
fn private_key(format: Format, material: &KeyMaterial) -> Result<SecretString, ApiError> {
    let refused = |message: &str| Err(ApiError::Wrapped(message.to_owned()));
    match (material, format) {
        (KeyMaterial::Aead(key), Format::Default | Format::Raw) => {
            Ok(base64_secret(key.raw().expose()))
        }
        (KeyMaterial::Aead(_) | KeyMaterial::Hmac(_), _) => refused(HMAC_FORMATS),
        (KeyMaterial::Rsa(_), Format::Raw) => refused(RSA_FORMATS),
        (KeyMaterial::Rsa(key), Format::Default) => {
            let der = encode::rsa_pkcs1_der(key).map_err(internal)?;
            Ok(pem_secret("RSA PRIVATE KEY", der.expose(), PemEnd::Newline))
        }
        (KeyMaterial::Rsa(key), Format::Der | Format::Pem) => {
            let der = encode::rsa_pkcs8_der(key).map_err(internal)?;
            Ok(der_or_pem(format, der.expose(), PemEnd::Newline))
        }
        (KeyMaterial::Ecdsa(_), Format::Raw) => refused(EC_FORMATS),
        (KeyMaterial::Ecdsa(key), Format::Default) => {
            let der = encode::ecdsa_sec1_der(key).map_err(internal)?;
            Ok(pem_secret("EC PRIVATE KEY", der.expose(), PemEnd::Trimmed))
        }
        (KeyMaterial::Ecdsa(key), Format::Der | Format::Pem) => {
            let der = encode::ecdsa_pkcs8_der(key).map_err(internal)?;
            Ok(der_or_pem(format, der.expose(), PemEnd::Trimmed))
        }
        (KeyMaterial::Ed25519(key), Format::Default | Format::Raw) => {
            Ok(base64_secret(encode::ed25519_keypair_bytes(key).expose()))
        }
        (KeyMaterial::Ed25519(key), Format::Der | Format::Pem) => {
            let der = encode::ed25519_pkcs8_der(key).map_err(internal)?;
            Ok(der_or_pem(format, der.expose(), PemEnd::Trimmed))
        }
        // A version without its private half exports as an empty string, as in
        // Vault, after the same format checks.
        (KeyMaterial::Public(public), Format::Raw) => match public.as_ref() {
            PublicKey::Ecdsa(_) => refused(EC_FORMATS),
            PublicKey::Rsa(_) => refused(RSA_FORMATS),
            PublicKey::Ed25519(_) => Ok(SecretString::new(String::new())),
        },
        (KeyMaterial::Public(_), _) => Ok(SecretString::new(String::new())),
    }
}

/// A public key in `format`, or `None` for key types without one.
fn public_key(format: Format, material: &KeyMaterial) -> Option<Result<SecretString, ApiError>> {
    let refused = |message: &str| Some(Err(ApiError::Wrapped(message.to_owned())));
    let (der, end) = match (material, format) {
        (KeyMaterial::Aead(_) | KeyMaterial::Hmac(_), _) => return None,
        (KeyMaterial::Ed25519(key), Format::Default | Format::Raw) => {
            return Some(Ok(base64_secret(key.public_key())));
        }
        (KeyMaterial::Rsa(_), Format::Raw) => return refused(RSA_FORMATS),
        (KeyMaterial::Ecdsa(_), Format::Raw) => return refused(EC_FORMATS),
        (KeyMaterial::Rsa(key), _) => (encode::rsa_public_der(key), PemEnd::Newline),
        (KeyMaterial::Ecdsa(key), _) => (encode::ecdsa_public_der(key), PemEnd::Trimmed),
        (KeyMaterial::Ed25519(key), _) => (encode::ed25519_public_der(key), PemEnd::Trimmed),
        (KeyMaterial::Public(public), _) => match (public.as_ref(), format) {
            (PublicKey::Ed25519(key), Format::Default | Format::Raw) => {
                return Some(Ok(base64_secret(key.as_bytes())));
            }
            (PublicKey::Rsa(_), Format::Raw) => return refused(RSA_FORMATS),
            (PublicKey::Ecdsa(_), Format::Raw) => return refused(EC_FORMATS),
            (PublicKey::Rsa(_), _) => (Ok(public.spki_der()), PemEnd::Newline),
            (PublicKey::Ecdsa(_) | PublicKey::Ed25519(_), _) => {
                (Ok(public.spki_der()), PemEnd::Trimmed)
            }
        },
    };
    Some(der.map_err(internal).map(|der| match format {
        Format::Der => base64_secret(&der),
        _ => pem_secret("PUBLIC KEY", &der, end),
    }))
}

/// Base64 DER for `der`, a `PRIVATE KEY` PEM for `pem`.
fn der_or_pem(format: Format, der: &[u8], end: PemEnd) -> SecretString {
    if format == Format::Der {
        base64_secret(der)
    } else {
        pem_secret("PRIVATE KEY", der, end)
    }
}

fn internal(err: CryptoError) -> ApiError {
    ApiError::internal(format!("encoding a key for export: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn key(key_type: KeyType, exportable: bool) -> NamedKey {
        let size = if key_type == KeyType::Hmac { 32 } else { 0 };
        let mut key =
            NamedKey::generate_sized("k", key_type, size, OffsetDateTime::UNIX_EPOCH).unwrap();
        key.settings.exportable = exportable;
        key
    }

    #[test]
    fn checks_run_in_vaults_order() {
        let mut hidden = key(KeyType::Hmac, false);
        hidden.lifecycle.soft_deleted = true;
        // Exportability first, then soft delete, then the purpose.
        assert_eq!(
            check_key(ExportType::EncryptionKey, &hidden),
            Err(ApiError::bad_request(
                "private key material is not exportable"
            ))
        );
        assert_eq!(
            check_key(ExportType::PublicKey, &hidden),
            Err(ApiError::Wrapped("refusing to use soft-deleted key".into()))
        );
        hidden.lifecycle.soft_deleted = false;
        assert_eq!(
            check_key(ExportType::CertificateChain, &hidden),
            Err(ApiError::bad_request(
                "certificate chain not supported for keys that do not support signing"
            ))
        );
        assert_eq!(check_key(ExportType::PublicKey, &hidden), Ok(()));
        assert_eq!(
            check_key(ExportType::SigningKey, &key(KeyType::Aes256Gcm96, true)),
            Err(ApiError::bad_request("signing not supported for the key"))
        );
    }

    #[test]
    fn versions_parse_like_gos_atoi_after_one_v() {
        let mut key = key(KeyType::Aes256Gcm96, true);
        key = key.rotated(OffsetDateTime::UNIX_EPOCH).unwrap();
        key = key.rotated(OffsetDateTime::UNIX_EPOCH).unwrap();
        key.settings.min_decryption_version = 2;

        for (text, number) in [("latest", 3), ("2", 2), ("v3", 3), ("+2", 2), ("v02", 2)] {
            assert_eq!(requested_version(&key, text), Ok(number), "{text}");
        }
        for text in ["1", "v1", "0", "-0", "-5"] {
            assert_eq!(
                requested_version(&key, text),
                Err(ApiError::bad_request(
                    "version for export is below minimum decryption version"
                )),
                "{text}"
            );
        }
        for text in ["4", "4294967298"] {
            assert_eq!(
                requested_version(&key, text),
                Err(ApiError::bad_request(
                    "version does not exist or cannot be found"
                )),
                "{text}"
            );
        }
        for text in [
            "",
            "v",
            "vv2",
            "V2",
            "LATEST",
            "2.0",
            " 2",
            "99999999999999999999",
        ] {
            assert_eq!(
                requested_version(&key, text),
                Err(ApiError::bad_request("invalid key version")),
                "{text}"
            );
        }
    }
}
