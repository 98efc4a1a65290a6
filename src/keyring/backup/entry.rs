//! One key version as Vault's backups carry it (a "key entry"), and its conversion
//! to and from [`KeyVersion`].
//!
//! Members and their order are Vault's. EC coordinates and RSA numbers are JSON
//! integers of any size, kept here as raw JSON text and converted through
//! num-bigint.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use num_bigint::BigUint;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::RestoreError;
use crate::crypto::KeyType;
use crate::crypto::components::{
    ec_components, ec_from_components, rsa_components, rsa_from_components, rsa_public_components,
    rsa_public_spki_der,
};
use crate::crypto::ecdsa::EcdsaPublicKey;
use crate::crypto::ed25519::{Ed25519Key, Ed25519PublicKey, SEED_LEN};
use crate::crypto::public::PublicKey;
use crate::keyring::key::{HMAC_KEY_LEN, KeyMaterial, KeyVersion};
use crate::secret::SecretBytes;

/// Vault's text for a zero time, which its unused archive slot carries.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The per-version convergent version of keys made since Vault's convergent v3.
pub(super) const CONVERGENT_VERSION: i64 = 3;

/// A key entry, as in the backup JSON.
#[derive(Serialize, Deserialize)]
pub(super) struct WireEntry {
    #[serde(default, with = "opt_secret_base64")]
    key: Option<SecretBytes>,
    #[serde(default, with = "opt_secret_base64")]
    hmac_key: Option<SecretBytes>,
    #[serde(default = "zero_time")]
    time: String,
    #[serde(default)]
    ec_x: Option<Box<RawValue>>,
    #[serde(default)]
    ec_y: Option<Box<RawValue>>,
    #[serde(default)]
    ec_d: Option<Box<RawValue>>,
    #[serde(default)]
    rsa_key: Option<WireRsa>,
    #[serde(default)]
    rsa_public_key: Option<WireRsaPublic>,
    #[serde(default)]
    public_key: String,
    #[serde(default)]
    pub(super) convergent_version: i64,
    #[serde(default)]
    creation_time: i64,
    #[serde(default)]
    certificate_chain: Option<Vec<String>>,
    #[serde(default)]
    external_key_ref: String,
}

fn zero_time() -> String {
    ZERO_TIME.to_owned()
}

/// An RSA private key with Go's member names.
#[derive(Serialize, Deserialize)]
#[expect(non_snake_case, reason = "Vault's backups use Go's field names")]
struct WireRsa {
    N: Box<RawValue>,
    E: Box<RawValue>,
    D: Box<RawValue>,
    Primes: Vec<Box<RawValue>>,
    #[serde(default, skip_deserializing)]
    Precomputed: Option<WirePrecomputed>,
}

/// The CRT values Go keeps with a private key; written for Vault, recomputed on read.
#[derive(Serialize, Deserialize)]
#[expect(non_snake_case, reason = "Vault's backups use Go's field names")]
struct WirePrecomputed {
    Dp: Box<RawValue>,
    Dq: Box<RawValue>,
    Qinv: Box<RawValue>,
    CRTValues: Vec<Box<RawValue>>,
}

/// An RSA public key; set for versions imported without their private half.
#[derive(Serialize, Deserialize)]
#[expect(non_snake_case, reason = "Vault's backups use Go's field names")]
struct WireRsaPublic {
    N: Box<RawValue>,
    E: Box<RawValue>,
}

impl WireEntry {
    /// The unused entry at archive index 0 of a never-trimmed key.
    pub(super) fn empty() -> Self {
        Self {
            key: None,
            hmac_key: None,
            time: zero_time(),
            ec_x: None,
            ec_y: None,
            ec_d: None,
            rsa_key: None,
            rsa_public_key: None,
            public_key: String::new(),
            convergent_version: 0,
            creation_time: 0,
            certificate_chain: None,
            external_key_ref: String::new(),
        }
    }

    /// The entry of `version`.
    pub(super) fn of(version: &KeyVersion, convergent: bool) -> Result<Self, RestoreError> {
        let mut entry = Self::empty();
        entry.hmac_key = Some(version.hmac_key.clone());
        entry.time = version
            .created
            .format(&Rfc3339)
            .map_err(|_| RestoreError::Encode)?;
        entry.creation_time = version.created.unix_timestamp();
        entry.convergent_version = if convergent { CONVERGENT_VERSION } else { 0 };
        match &version.material {
            KeyMaterial::Aead(key) => entry.key = Some(key.raw().clone()),
            KeyMaterial::Hmac(key) => entry.key = Some(key.clone()),
            KeyMaterial::Ed25519(pair) => {
                // Vault keeps Go's 64-byte private key: the seed, then the public key.
                let mut full = Vec::with_capacity(2 * SEED_LEN);
                full.extend_from_slice(pair.seed().expose());
                full.extend_from_slice(pair.public_key());
                entry.key = Some(SecretBytes::new(full));
                entry.public_key = STANDARD.encode(pair.public_key());
            }
            KeyMaterial::Ecdsa(pair) => {
                let parts = ec_components(pair).map_err(|_| RestoreError::Encode)?;
                entry.ec_x = Some(decimal(&parts.x)?);
                entry.ec_y = Some(decimal(&parts.y)?);
                entry.ec_d = Some(decimal(parts.d.expose())?);
                entry.public_key = pair.public_pem().to_owned();
            }
            KeyMaterial::Rsa(pair) => {
                let parts = rsa_components(pair).map_err(|_| RestoreError::Encode)?;
                entry.rsa_key = Some(WireRsa {
                    N: decimal(&parts.n)?,
                    E: decimal(&parts.e)?,
                    D: decimal(parts.d.expose())?,
                    Primes: vec![decimal(parts.p.expose())?, decimal(parts.q.expose())?],
                    Precomputed: Some(WirePrecomputed {
                        Dp: decimal(parts.dp.expose())?,
                        Dq: decimal(parts.dq.expose())?,
                        Qinv: decimal(parts.qinv.expose())?,
                        CRTValues: Vec::new(),
                    }),
                });
            }
            // Vault's entry for a version without its private half: no `ec_d`, no
            // `rsa_key`, no `key`.
            KeyMaterial::Public(public) => match public.as_ref() {
                PublicKey::Ecdsa(ec) => {
                    let point = ec.point();
                    let len = ec.curve().field_len();
                    if point.len() != 1 + 2 * len {
                        return Err(RestoreError::Encode);
                    }
                    entry.ec_x = Some(decimal(&point[1..=len])?);
                    entry.ec_y = Some(decimal(&point[1 + len..])?);
                    entry.public_key = ec.public_pem().to_owned();
                }
                PublicKey::Ed25519(ed) => entry.public_key = STANDARD.encode(ed.as_bytes()),
                PublicKey::Rsa(rsa) => {
                    let (n, e) = rsa_public_components(rsa).map_err(|_| RestoreError::Encode)?;
                    entry.rsa_public_key = Some(WireRsaPublic {
                        N: decimal(&n)?,
                        E: decimal(&e)?,
                    });
                }
            },
        }
        Ok(entry)
    }

    /// The version this entry holds, for a key of `key_type` (`number` names it in
    /// errors). Every part is checked: sizes, the EC point against d, the RSA numbers
    /// against each other, the Ed25519 public half against the seed.
    pub(super) fn into_version(
        self,
        key_type: KeyType,
        number: u32,
    ) -> Result<KeyVersion, RestoreError> {
        let bad = || RestoreError::Material(number);
        if self
            .certificate_chain
            .as_ref()
            .is_some_and(|c| !c.is_empty())
            || !self.external_key_ref.is_empty()
        {
            return Err(RestoreError::Unsupported(number));
        }
        let created = if self.time == ZERO_TIME {
            OffsetDateTime::from_unix_timestamp(self.creation_time).map_err(|_| bad())?
        } else {
            OffsetDateTime::parse(&self.time, &Rfc3339).map_err(|_| bad())?
        };
        let public = self.public_only(key_type, number)?;
        let hmac_key = self.hmac_key.ok_or_else(bad)?;
        if key_type != KeyType::Hmac && hmac_key.len() != HMAC_KEY_LEN {
            return Err(bad());
        }

        if let Some(public) = public {
            return Ok(KeyVersion {
                created,
                material: KeyMaterial::Public(Box::new(public)),
                hmac_key,
            });
        }
        let material = if let Some(curve) = key_type.curve() {
            let number_of = |raw: &Option<Box<RawValue>>| {
                raw.as_deref()
                    .ok_or_else(bad)
                    .and_then(|raw| big_endian(raw, number))
            };
            let d = SecretBytes::new(number_of(&self.ec_d)?);
            let pair = ec_from_components(
                curve,
                &number_of(&self.ec_x)?,
                &number_of(&self.ec_y)?,
                d.expose(),
            )
            .map_err(|_| bad())?;
            KeyMaterial::Ecdsa(Box::new(pair))
        } else if key_type.rsa_bits().is_some() {
            let rsa = self.rsa_key.ok_or_else(bad)?;
            let [p, q] = rsa.Primes.as_slice() else {
                return Err(bad());
            };
            let secret = |raw: &RawValue| big_endian(raw, number).map(SecretBytes::new);
            let (d, p, q) = (secret(&rsa.D)?, secret(p)?, secret(q)?);
            let pair = rsa_from_components(
                &big_endian(&rsa.N, number)?,
                &big_endian(&rsa.E, number)?,
                d.expose(),
                p.expose(),
                q.expose(),
            )
            .map_err(|_| bad())?;
            let material = KeyMaterial::Rsa(Box::new(pair));
            // The modulus size must be the one the type names.
            return finish(key_type, number, material, hmac_key, created);
        } else if key_type == KeyType::Ed25519 {
            let full = self.key.ok_or_else(bad)?;
            if full.len() != 2 * SEED_LEN {
                return Err(bad());
            }
            let seed = SecretBytes::new(full.expose()[..SEED_LEN].to_vec());
            let pair = Ed25519Key::from_seed(seed).map_err(|_| bad())?;
            if pair.public_key() != &full.expose()[SEED_LEN..] {
                return Err(bad());
            }
            KeyMaterial::Ed25519(Box::new(pair))
        } else {
            let key = self.key.ok_or_else(bad)?;
            KeyMaterial::from_stored(key_type, key).map_err(|_| bad())?
        };
        finish(key_type, number, material, hmac_key, created)
    }
}

impl WireEntry {
    /// The public half of an entry without its private half (Vault's public-key-only
    /// imports), checked against the key type; `None` for an entry with a private key.
    fn public_only(
        &self,
        key_type: KeyType,
        number: u32,
    ) -> Result<Option<PublicKey>, RestoreError> {
        let bad = || RestoreError::Material(number);
        if let Some(curve) = key_type.curve() {
            let (None, Some(x), Some(y)) = (&self.ec_d, &self.ec_x, &self.ec_y) else {
                return Ok(None);
            };
            let len = curve.field_len();
            let mut point = vec![4u8];
            for raw in [x, y] {
                // Without leading zeros, as num-bigint writes it.
                let number = big_endian(raw, number)?;
                if number.len() > len {
                    return Err(bad());
                }
                point.extend(std::iter::repeat_n(0, len - number.len()));
                point.extend_from_slice(&number);
            }
            let key = EcdsaPublicKey::from_point(curve, &point).map_err(|_| bad())?;
            return Ok(Some(PublicKey::Ecdsa(key)));
        }
        if key_type.rsa_bits().is_some() {
            let (None, Some(public)) = (&self.rsa_key, &self.rsa_public_key) else {
                return Ok(None);
            };
            let n = big_endian(&public.N, number)?;
            let e = big_endian(&public.E, number)?;
            let der = rsa_public_spki_der(&n, &e).map_err(|_| bad())?;
            let key = PublicKey::from_spki_der(key_type, &der).map_err(|_| bad())?;
            return Ok(Some(key));
        }
        if key_type == KeyType::Ed25519 && self.key.is_none() && !self.public_key.is_empty() {
            let bytes = STANDARD.decode(&self.public_key).map_err(|_| bad())?;
            let key = Ed25519PublicKey::from_bytes(&bytes).map_err(|_| bad())?;
            return Ok(Some(PublicKey::Ed25519(key)));
        }
        Ok(None)
    }
}

fn finish(
    key_type: KeyType,
    number: u32,
    material: KeyMaterial,
    hmac_key: SecretBytes,
    created: OffsetDateTime,
) -> Result<KeyVersion, RestoreError> {
    // Loading the stored form again applies the type's own checks (RSA modulus
    // size, key lengths), the same ones a stored key passes at startup.
    let bytes = material
        .stored_bytes()
        .ok_or(RestoreError::Material(number))?;
    let material = KeyMaterial::from_stored(key_type, bytes.clone())
        .map_err(|_| RestoreError::Material(number))?;
    if let KeyMaterial::Hmac(key) = &material
        && key != &hmac_key
    {
        return Err(RestoreError::Material(number));
    }
    Ok(KeyVersion {
        created,
        material,
        hmac_key,
    })
}

/// A big-endian number as a JSON integer.
fn decimal(bytes: &[u8]) -> Result<Box<RawValue>, RestoreError> {
    RawValue::from_string(BigUint::from_bytes_be(bytes).to_str_radix(10))
        .map_err(|_| RestoreError::Encode)
}

/// Decimal digits of the largest number a supported key holds: 2^4096 has 1234.
const MAX_DIGITS: usize = 1234;

/// A JSON integer as a big-endian number; anything but plain digits, or more digits
/// than any supported key needs (which would only cost time), is refused.
fn big_endian(raw: &RawValue, number: u32) -> Result<Vec<u8>, RestoreError> {
    let text = raw.get();
    if text.is_empty() || text.len() > MAX_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RestoreError::Material(number));
    }
    BigUint::parse_bytes(text.as_bytes(), 10)
        .map(|n| n.to_bytes_be())
        .ok_or(RestoreError::Material(number))
}

/// Optional secret bytes as standard base64, or null.
mod opt_secret_base64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    use crate::secret::SecretBytes;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<SecretBytes>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_str(&Zeroizing::new(STANDARD.encode(bytes.expose()))),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretBytes>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)?.map(Zeroizing::new) else {
            return Ok(None);
        };
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        Ok(Some(SecretBytes::new(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn decimal_numbers_cross_both_ways() {
        let bytes = [0x01, 0x00, 0x01];
        assert_eq!(decimal(&bytes).unwrap().get(), "65537");
        assert_eq!(big_endian(&raw("65537"), 1).unwrap(), bytes);
    }

    #[test]
    fn numbers_that_are_not_plain_or_too_long_are_refused() {
        for text in ["-1", "1.5", "1e3", "\"12\"", "null"] {
            assert_eq!(
                big_endian(&raw(text), 4),
                Err(RestoreError::Material(4)),
                "{text}"
            );
        }
        assert!(big_endian(&raw(&"9".repeat(MAX_DIGITS)), 1).is_ok());
        assert!(big_endian(&raw(&"9".repeat(MAX_DIGITS + 1)), 1).is_err());
    }
}
