//! The one error every port returns.

use std::fmt;

/// A storage or messaging failure: what kind, and the backend's own words. Never shown
/// raw to a client beyond a 503's detail, and never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError {
    pub kind: ErrorKind,
    /// The backend's words, or the adapter's when it could not understand the backend
    /// (boxed: a failure travels in every batch result, so it is kept small).
    pub detail: Box<str>,
}

/// Why a port failed: whether waiting may help, or the deployment must change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The backend failed or could not be reached; it may answer later.
    Unavailable,
    /// The backend answered something the adapter does not understand (another version
    /// of a script, a store written by something else).
    Unexpected,
    /// The platform did not grant the component the capability (a store it does not
    /// list, a host it may not reach).
    Denied,
    /// A setting is missing or unusable.
    Misconfigured,
}

impl PortError {
    pub fn unavailable(detail: impl Into<String>) -> PortError {
        PortError { kind: ErrorKind::Unavailable, detail: detail.into().into_boxed_str() }
    }
    pub fn unexpected(detail: impl Into<String>) -> PortError {
        PortError { kind: ErrorKind::Unexpected, detail: detail.into().into_boxed_str() }
    }
    pub fn denied(detail: impl Into<String>) -> PortError {
        PortError { kind: ErrorKind::Denied, detail: detail.into().into_boxed_str() }
    }
    pub fn misconfigured(detail: impl Into<String>) -> PortError {
        PortError { kind: ErrorKind::Misconfigured, detail: detail.into().into_boxed_str() }
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for PortError {}

/// A port that needed fresh ids and got no randomness fails with the clock's words.
impl From<crate::model::clock::RandomnessUnavailable> for PortError {
    fn from(e: crate::model::clock::RandomnessUnavailable) -> Self {
        PortError::unavailable(e.0)
    }
}

/// A port that cannot be opened for want of a setting fails with the setting's words.
impl From<crate::ports::settings::Misconfigured> for PortError {
    fn from(m: crate::ports::settings::Misconfigured) -> Self {
        PortError::misconfigured(m.0)
    }
}
