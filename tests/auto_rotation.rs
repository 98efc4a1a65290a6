//! Automatic rotation: a key with `auto_rotate_period` gets a new version once per
//! period, never twice, and the schedule survives a restart. Time is a manual clock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

use std::path::Path;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use vault_kms::clock::ManualClock;
use vault_kms::config::Config;
use vault_kms::service::{Mode, Service};

fn open(data_dir: &Path, clock: Arc<ManualClock>) -> Service {
    let text = format!(
        "data_dir: {}\nendpoints:\n  app:\n    - {{policy: admin, key: rotating, type: encrypt}}\n    - {{policy: admin, key: still, type: encrypt}}\n",
        data_dir.display()
    );
    let config = Config::parse(Path::new("test.yaml"), &text).unwrap();
    Service::open(config, clock, Mode::Serve).unwrap()
}

async fn set_period(service: &Service, key: &str, seconds: u64) {
    service
        .keyring
        .update::<vault_kms::keyring::KeyringError>(key, |k| {
            let mut next = k.clone();
            next.settings.auto_rotate_period = seconds;
            Ok(next)
        })
        .await
        .unwrap();
}

fn latest(service: &Service, key: &str) -> u32 {
    service.keyring.get(key).unwrap().latest_version()
}

#[tokio::test]
async fn due_keys_rotate_once_per_period_and_others_never() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let service = open(dir.path(), clock.clone());
    set_period(&service, "rotating", 3600).await;

    clock.advance(Duration::minutes(59));
    assert!(service.keyring.rotate_due_keys().await.is_empty());

    clock.advance(Duration::minutes(1));
    assert_eq!(service.keyring.rotate_due_keys().await, vec!["rotating"]);
    assert!(
        service.keyring.rotate_due_keys().await.is_empty(),
        "not twice in one period"
    );
    assert_eq!(latest(&service, "rotating"), 2);

    clock.advance(Duration::hours(5));
    assert_eq!(service.keyring.rotate_due_keys().await, vec!["rotating"]);
    assert_eq!(
        latest(&service, "rotating"),
        3,
        "one rotation however late the check"
    );
    assert_eq!(latest(&service, "still"), 1);
}

#[tokio::test]
async fn soft_deleted_keys_are_not_rotated_until_restored() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let service = open(dir.path(), clock.clone());
    set_period(&service, "rotating", 3600).await;
    let set_soft_deleted = |soft_deleted: bool| {
        service
            .keyring
            .update::<vault_kms::keyring::KeyringError>("rotating", move |k| {
                let mut next = k.clone();
                next.lifecycle.soft_deleted = soft_deleted;
                Ok(next)
            })
    };
    set_soft_deleted(true).await.unwrap();

    clock.advance(Duration::hours(3));
    assert!(service.keyring.rotate_due_keys().await.is_empty());
    assert_eq!(latest(&service, "rotating"), 1);

    set_soft_deleted(false).await.unwrap();
    assert_eq!(service.keyring.rotate_due_keys().await, vec!["rotating"]);
    assert_eq!(latest(&service, "rotating"), 2);
}

#[tokio::test]
async fn the_schedule_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let service = open(dir.path(), clock.clone());
    set_period(&service, "rotating", 7200).await;
    clock.advance(Duration::hours(2));
    assert_eq!(service.keyring.rotate_due_keys().await.len(), 1);
    drop(service);

    let service = open(dir.path(), clock.clone());
    assert_eq!(latest(&service, "rotating"), 2);
    assert_eq!(
        service
            .keyring
            .get("rotating")
            .unwrap()
            .settings
            .auto_rotate_period,
        7200
    );
    assert!(
        service.keyring.rotate_due_keys().await.is_empty(),
        "rotated before the restart"
    );

    clock.advance(Duration::hours(2));
    assert_eq!(service.keyring.rotate_due_keys().await.len(), 1);
    assert_eq!(latest(&service, "rotating"), 3);
}

#[tokio::test]
async fn imported_keys_rotate_automatically_only_when_their_import_allowed_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let service = open(dir.path(), clock.clone());
    for (key, allow) in [("rotating", true), ("still", false)] {
        service
            .keyring
            .update::<vault_kms::keyring::KeyringError>(key, |k| {
                let mut next = k.clone();
                next.settings.auto_rotate_period = 3600;
                next.lifecycle.imported = true;
                next.lifecycle.imported_allow_rotation = allow;
                Ok(next)
            })
            .await
            .unwrap();
    }

    clock.advance(Duration::hours(2));
    assert_eq!(service.keyring.rotate_due_keys().await, vec!["rotating"]);
    assert_eq!(latest(&service, "still"), 1);
    assert!(service.keyring.get("still").unwrap().lifecycle.imported);
    // As in OpenBao, a rotation with generated material ends the imported state.
    assert!(!service.keyring.get("rotating").unwrap().lifecycle.imported);
}
