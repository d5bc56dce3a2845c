//! The deployment's settings (the app's variables), as the adapter hands them to the
//! core: each is a value, or why it cannot be used.

use std::fmt;

/// A setting the deployment does not give usably: unset, not granted to the component,
/// or set to something the core refuses. The words are for the operator: they name the
/// variable, never its value. A handler answers it `503` (the app is not configured to
/// do this right now), never a client's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfigured(pub String);

impl fmt::Display for Misconfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a setting's words go on as a plain message (a component's own settings).
impl From<Misconfigured> for String {
    fn from(m: Misconfigured) -> String {
        m.0
    }
}

impl From<&str> for Misconfigured {
    fn from(words: &str) -> Self {
        Misconfigured(words.to_owned())
    }
}
