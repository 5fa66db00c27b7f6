//! The two error enums of this layer: what a storage adapter reports, and what a core
//! service reports to its callers. HTTP mapping happens in the API crate, not here.

use clavis_types::ParseError;

/// What a storage adapter can report. Adapters map their driver errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or foreign-key constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be mapped back into the model.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The schema does not match this binary (newer database, edited migration…).
    #[error("{0}")]
    Schema(String),
    /// Anything else the driver reported.
    #[error("database error: {0}")]
    Other(String),
}

/// What a core service reports.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cryptography failed: {0}")]
    Crypto(#[from] clavis_crypto::CryptoError),
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<ParseError> for CoreError {
    fn from(e: ParseError) -> Self {
        Self::Invalid {
            field: e.what.to_owned(),
            reason: e.reason,
        }
    }
}
