//! The storage crate's one error type. It says what went wrong in storage
//! terms; `crates/api` decides what HTTP status that becomes.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No connection could be had: the pool timed out, or the server is down
    /// or closed the connection. Worth retrying later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key constraint refused the write.
    #[error("conflicts with existing data (constraint `{constraint}`)")]
    Conflict { constraint: String },
    /// A value in the database is not a valid domain value.
    #[error("invalid value in column `{column}`: {source}")]
    InvalidStoredValue {
        column: &'static str,
        #[source]
        source: domain::DomainError,
    },
    /// The object would belong to a user who is being erased (a caller
    /// another replica still remembered).
    #[error("the owner is erased")]
    OwnerErased,
    #[error("migrations failed: {0}")]
    Migration(String),
    /// The blocking task running the database work panicked or was cancelled.
    #[error("the database task did not finish: {0}")]
    TaskFailed(String),
    #[error("database query failed: {0}")]
    Query(#[source] DieselError),
}

impl StorageError {
    /// Whether the failure is the database being out of reach rather than
    /// something about this request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}

impl From<DieselError> for StorageError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StorageError::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
                ref info,
            ) => StorageError::Conflict {
                constraint: info.constraint_name().unwrap_or("unknown").to_owned(),
            },
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                StorageError::Unavailable(error.to_string())
            }
            other => StorageError::Query(other),
        }
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(error: r2d2::Error) -> Self {
        StorageError::Unavailable(error.to_string())
    }
}

/// Parses a stored closed-vocabulary value, naming the column on failure.
pub(crate) fn parse_stored<T>(column: &'static str, raw: &str) -> Result<T, StorageError>
where
    T: std::str::FromStr<Err = domain::DomainError>,
{
    raw.parse()
        .map_err(|source| StorageError::InvalidStoredValue { column, source })
}
