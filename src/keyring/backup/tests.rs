//! Round trips of every key type through the blob, Vault's archive layout, and the
//! refusals of blobs that break Vault's rules.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use time::OffsetDateTime;

use super::*;
use crate::keyring::key::NamedKey;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap()
}

fn document(key: &NamedKey) -> Value {
    let blob = STANDARD.decode(encode(key).unwrap()).unwrap();
    assert_eq!(
        blob.last(),
        Some(&b'\n'),
        "OpenBao ends the JSON with a newline"
    );
    // EC and RSA numbers exceed f64; the layout members read here are small.
    let text = String::from_utf8(blob).unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn restore(key: &NamedKey) -> Result<NamedKey, RestoreError> {
    Backup::parse(&encode(key).unwrap(), Some("copy"))?.into_key(now())
}

#[test]
fn every_key_type_survives_a_round_trip() {
    for key_type in KeyType::ALL {
        let size = if key_type == KeyType::Hmac { 48 } else { 0 };
        let key = NamedKey::generate_sized("k", key_type, size, now())
            .unwrap()
            .rotated(now())
            .unwrap();

        let copy = restore(&key).unwrap();
        assert_eq!(copy.name, "copy");
        assert_eq!(copy.key_type, key_type);
        assert_eq!(copy.key_size, size);
        assert_eq!(copy.latest_version(), 2);
        assert_eq!(copy.lifecycle.restore_info.map(|s| s.version), Some(2));
        crate::keyring::key::assert_same_versions(&key, &copy);
    }
}

#[test]
fn archive_index_zero_is_empty_until_a_trim() {
    let key = NamedKey::generate("k", KeyType::Aes256Gcm96, now())
        .unwrap()
        .rotated(now())
        .unwrap();
    let doc = document(&key);
    let archive = doc["archived_keys"]["keys"].as_array().unwrap();
    assert_eq!(archive.len(), 3);
    assert_eq!(archive[0]["key"], Value::Null);
    assert_eq!(archive[0]["time"], "0001-01-01T00:00:00Z");
    assert_eq!(doc["policy"]["archive_min_version"], 0);
    assert_eq!(doc["policy"]["type"], 0);

    let mut trimmed = key;
    trimmed.versions.remove(&1);
    trimmed.lifecycle.min_available_version = 2;
    trimmed.settings.min_decryption_version = 2;
    let doc = document(&trimmed);
    assert_eq!(doc["archived_keys"]["keys"].as_array().unwrap().len(), 1);
    assert_eq!(doc["policy"]["archive_min_version"], 2);
    assert_eq!(restore(&trimmed).unwrap().versions.len(), 1);
}

#[test]
fn settings_and_stamps_cross_in_vaults_units() {
    let mut key = NamedKey::generate("k", KeyType::Chacha20Poly1305, now()).unwrap();
    key.derived = true;
    key.convergent = true;
    key.settings.auto_rotate_period = 7200;
    key.settings.exportable = true;
    key.lifecycle.backup_info = Some(Stamp {
        time: now(),
        version: 1,
    });
    let doc = document(&key);
    assert_eq!(doc["policy"]["auto_rotate_period"], 7_200_000_000_000_i64);
    assert_eq!(doc["policy"]["convergent_version"], -1);
    assert_eq!(doc["policy"]["kdf"], 1);
    assert_eq!(doc["policy"]["keys"]["1"]["convergent_version"], 3);

    let copy = restore(&key).unwrap();
    assert_eq!(copy.settings, key.settings);
    assert!(copy.derived && copy.convergent);
    assert_eq!(copy.lifecycle.backup_info, key.lifecycle.backup_info);
}

fn with_policy(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let key = NamedKey::generate("k", KeyType::Aes256Gcm96, now()).unwrap();
    let mut doc = document(&key);
    edit(doc["policy"].as_object_mut().unwrap());
    STANDARD.encode(doc.to_string())
}

#[test]
fn blobs_that_break_vaults_rules_get_its_texts() {
    let refuse = |blob: String| {
        Backup::parse(&blob, Some("r"))
            .and_then(|b| b.into_key(now()))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refuse(with_policy(|p| drop(
            p.insert("latest_version".into(), 0.into())
        ))),
        "failed to restore the policy \"r\": latest version of 0 is less than 1"
    );
    assert_eq!(
        refuse(with_policy(|p| drop(
            p.insert("min_decryption_version".into(), 0.into())
        ))),
        "failed to restore the policy \"r\": minimum decryption version of 0 is less than 1"
    );
    assert_eq!(
        refuse(with_policy(|p| drop(p.insert("type".into(), 11.into())))),
        "key type 11 in the backup is not supported"
    );
    assert_eq!(
        refuse(with_policy(|p| drop(
            p.insert("latest_version".into(), 2.into())
        ))),
        "key version 2 is missing from the backup"
    );
}

#[test]
fn text_that_is_not_a_blob_gets_gos_texts() {
    let parse = |text: &str| Backup::parse(text, None).unwrap_err().to_string();
    assert_eq!(parse("ab$c"), "illegal base64 data at input byte 2");
    assert_eq!(parse("abcde"), "illegal base64 data at input byte 4");
    assert_eq!(
        parse(&STANDARD.encode("hello")),
        "invalid character 'h' looking for beginning of value"
    );
    assert_eq!(
        parse(&STANDARD.encode("[1]")),
        "json: cannot unmarshal array into Go value of type keysutil.KeyData"
    );
    assert_eq!(parse(&STANDARD.encode("{}")), "backup holds no policy");
    assert_eq!(
        parse(&STANDARD.encode(r#"{"policy":{}}"#)),
        "failed restored policy name validator: entry would not be accessible"
    );
}

#[test]
fn a_malformed_blob_does_not_echo_its_values_in_the_error() {
    let blob = r#"{"policy":{"name":"k","type":"c2VjcmV0LWtleS1ieXRlcw=="}}"#;
    let err = Backup::parse(&STANDARD.encode(blob), None)
        .unwrap_err()
        .to_string();

    assert!(err.contains("invalid type"), "{err}");
    assert!(!err.contains("c2VjcmV0LWtleS1ieXRlcw"), "{err}");
}

#[test]
fn public_only_versions_survive_a_round_trip_in_vaults_entry_form() {
    use crate::crypto::public::PublicKey;
    use crate::keyring::key::{KeyMaterial, KeyVersion};

    for key_type in [KeyType::EcdsaP384, KeyType::Ed25519, KeyType::Rsa2048] {
        let pair = NamedKey::generate("k", key_type, now()).unwrap();
        let der = pair.versions[&1].material.public_spki_der().unwrap();
        let public = PublicKey::from_spki_der(key_type, &der).unwrap();
        let version = KeyVersion::with_material(KeyMaterial::Public(Box::new(public)), now());
        let key = pair.with_version(version.unwrap());

        let entry = &document(&key)["policy"]["keys"]["2"];
        assert_eq!(entry["key"], Value::Null, "{key_type}");
        assert_eq!(entry["ec_d"], Value::Null, "{key_type}");
        assert_eq!(entry["rsa_key"], Value::Null, "{key_type}");
        let copy = restore(&key).unwrap();
        crate::keyring::key::assert_same_versions(&key, &copy);
        assert!(copy.versions[&2].material.public_only().is_some());
        assert!(copy.versions[&1].material.public_only().is_none());

        let mut derived = key.clone();
        derived.derived = true;
        if key_type == KeyType::Ed25519 {
            assert!(matches!(restore(&derived), Err(RestoreError::Setting(_))));
        }
    }
}
