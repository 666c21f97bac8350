//! The domain's one error type: values that failed to parse into domain types.

/// A value from outside (a database row, a request, a setting) that is not a
/// valid domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("unknown resource kind `{0}`")]
    UnknownResourceKind(String),
    #[error("unknown lifecycle state `{0}`")]
    UnknownLifecycleState(String),
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("unknown permission `{0}`")]
    UnknownPermission(String),
    #[error("invalid upstream id: {0}")]
    InvalidUpstreamId(&'static str),
}
