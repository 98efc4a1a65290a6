//! `auth/token/lookup-self`: what a token is, as Vault describes its tokens.

use std::collections::BTreeMap;

use axum::response::Response;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use super::response::envelope;
use crate::auth::TokenEntry;
use crate::auth::token::TOKEN_TTL;
use crate::service::Service;

/// The `data` of a lookup-self answer; members in Vault's (sorted) order.
#[derive(Serialize)]
struct LookupSelf<'a> {
    accessor: &'a str,
    creation_time: i64,
    creation_ttl: i64,
    display_name: &'static str,
    entity_id: &'static str,
    expire_time: Option<String>,
    explicit_max_ttl: i64,
    id: &'a str,
    issue_time: String,
    meta: Option<BTreeMap<&'static str, &'a str>>,
    num_uses: u32,
    orphan: bool,
    path: &'static str,
    policies: &'a [String],
    renewable: bool,
    ttl: i64,
    #[serde(rename = "type")]
    token_type: &'static str,
}

/// Answers lookup-self for `token`.
///
/// # Errors
/// 500 only if a time cannot be formatted, which cannot happen for valid times.
pub fn lookup_self(service: &Service, token: &TokenEntry) -> Result<Response, ApiError> {
    let now = service.clock.now();
    let format = |t: time::OffsetDateTime| t.format(&Rfc3339).map_err(ApiError::internal);
    let data = LookupSelf {
        accessor: &token.accessor,
        creation_time: token.created.unix_timestamp(),
        creation_ttl: token.expires.map_or(0, |_| TOKEN_TTL.whole_seconds()),
        display_name: "token",
        entity_id: "",
        expire_time: token.expires.map(format).transpose()?,
        explicit_max_ttl: 0,
        id: token.secret().expose(),
        issue_time: format(token.created)?,
        meta: token
            .endpoint
            .as_deref()
            .map(|endpoint| BTreeMap::from([("endpoint", endpoint)])),
        num_uses: 0,
        orphan: true,
        path: "auth/token/create",
        policies: &token.policies,
        renewable: false,
        ttl: token
            .expires
            .map_or(0, |expires| (expires - now).whole_seconds().max(0)),
        token_type: "service",
    };
    Ok(envelope(&data, &[]))
}
