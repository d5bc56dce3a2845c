//! The one error every port returns.

use std::fmt;

/// A storage or messaging failure, with the backend's own words. Never shown raw to a
/// client beyond a 503's detail, and never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError(pub String);

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PortError {}

/// A port that needed fresh ids and got no randomness fails with the clock's words.
impl From<crate::model::clock::RandomnessUnavailable> for PortError {
    fn from(e: crate::model::clock::RandomnessUnavailable) -> Self {
        PortError(e.0)
    }
}

/// A port that cannot be opened for want of a setting fails with the setting's words.
impl From<crate::ports::settings::Misconfigured> for PortError {
    fn from(m: crate::ports::settings::Misconfigured) -> Self {
        PortError(m.0)
    }
}
