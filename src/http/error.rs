//! Error answers, each with Vault's status and `{"errors":[...]}` body.
//!
//! The status of every error is decided here, in one match. Vault reports some
//! client mistakes as 500 with its multierror text (`1 error occurred:\n\t* ...`);
//! [`ApiError::Wrapped`] reproduces those. Faults of the server itself answer a
//! generic 500 and are logged once, with their cause, where they are turned into a
//! response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::keyring::KeyringError;
use crate::keyring::key::{SoftDeleted, VersionError};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400 with Vault's message.
    BadRequest(String),
    /// 400 `{"errors":[]}` (malformed `list` or health query values).
    BadRequestEmpty,
    /// 403 `permission denied`: no token, an unknown one, or an expired one.
    Unauthenticated,
    /// 403 multierror `permission denied`: a valid token without the capability.
    Denied,
    /// 404 `{"errors":[]}`: a read of something that does not exist.
    NotFound,
    /// 404 multierror `unsupported path`: no route inside the mount.
    UnsupportedPath,
    /// 404 `no handler for route "..."`: a path under no mount.
    NoHandler(String),
    /// 405 multierror `unsupported operation`: the route exists, not for this method.
    UnsupportedOperation,
    /// 405 `{"errors":[]}` for `sys/` endpoints.
    MethodNotAllowed,
    /// 408: the client did not send its body in time.
    RequestTimeout,
    /// 413: the body is over the configured limit.
    TooLarge,
    /// 415 with Vault's message.
    UnsupportedMediaType(String),
    /// 500 with Vault's multierror text around a client-facing message.
    Wrapped(String),
    /// 500 for a fault of the server; `cause` is logged and never sent.
    Internal {
        /// What failed, for the log line.
        cause: String,
    },
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: &'a [String],
}

/// Vault's multierror rendering of one error.
pub fn multierror(message: &str) -> String {
    format!("1 error occurred:\n\t* {message}\n\n")
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// A fault of the server.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal {
            cause: cause.to_string(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::BadRequestEmpty => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::Denied => StatusCode::FORBIDDEN,
            Self::NotFound | Self::UnsupportedPath | Self::NoHandler(_) => StatusCode::NOT_FOUND,
            Self::UnsupportedOperation | Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Wrapped(_) | Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn messages(&self) -> Vec<String> {
        match self {
            Self::BadRequest(m) | Self::UnsupportedMediaType(m) => vec![m.clone()],
            Self::BadRequestEmpty | Self::NotFound | Self::MethodNotAllowed => vec![],
            Self::Unauthenticated => vec!["permission denied".to_owned()],
            Self::Denied => vec![multierror("permission denied")],
            Self::UnsupportedPath => vec![multierror("unsupported path")],
            Self::NoHandler(path) => {
                vec![format!(
                    "no handler for route \"{path}\". route entry not found."
                )]
            }
            Self::UnsupportedOperation => vec![multierror("unsupported operation")],
            Self::TooLarge => vec!["http: request body too large".to_owned()],
            Self::RequestTimeout => vec!["timed out reading the request body".to_owned()],
            Self::Wrapped(m) => vec![multierror(m)],
            Self::Internal { .. } => vec![multierror("internal error")],
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal { cause } = &self {
            tracing::error!(%cause, "request failed");
        }
        let body = ErrorBody {
            errors: &self.messages(),
        };
        super::response::json_response(self.status(), &body)
    }
}

impl From<VersionError> for ApiError {
    fn from(err: VersionError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

/// Most endpoints refuse a soft-deleted key with 400; those that answer 500 (sign,
/// rotate, export, backup) wrap the error themselves.
impl From<SoftDeleted> for ApiError {
    fn from(err: SoftDeleted) -> Self {
        Self::bad_request(err.to_string())
    }
}

impl From<KeyringError> for ApiError {
    fn from(err: KeyringError) -> Self {
        match err {
            KeyringError::NotFound => Self::bad_request("key not found"),
            // Rotating a soft-deleted key is a 500 in OpenBao.
            KeyringError::SoftDeleted(err) => Self::Wrapped(err.to_string()),
            KeyringError::RotationRefused(_) => Self::Wrapped(err.to_string()),
            KeyringError::Exists(_) => Self::Wrapped(err.to_string()),
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_vault() {
        assert_eq!(ApiError::Unauthenticated.status(), StatusCode::FORBIDDEN);
        assert_eq!(ApiError::UnsupportedPath.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            ApiError::Wrapped("x".into()).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(ApiError::TooLarge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn internal_errors_never_reveal_their_cause() {
        let err = ApiError::internal("disk full at /secret/path");
        assert_eq!(
            err.messages(),
            vec!["1 error occurred:\n\t* internal error\n\n".to_owned()]
        );
    }

    #[test]
    fn denial_texts_match_openbao() {
        assert_eq!(
            ApiError::Unauthenticated.messages(),
            vec!["permission denied"]
        );
        assert_eq!(
            ApiError::Denied.messages(),
            vec!["1 error occurred:\n\t* permission denied\n\n"]
        );
    }
}
