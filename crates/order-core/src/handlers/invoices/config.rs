//! What invoice-api needs from its variables: the keys it signs download URLs with,
//! their lifetime, and the read credentials it accepts.

use crate::access::read_access::ReadAccess;
use crate::access::signing::{parse_ttl, SigningKeys};
use crate::ports::settings::Misconfigured;

/// What invoice-api needs from its variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub keys: SigningKeys,
    pub ttl_seconds: u64,
    pub access: ReadAccess,
}

impl Config {
    /// From the `url_signing_keys`, `invoice_url_ttl_seconds`, `read_api_keys`,
    /// `read_url_ttl_seconds` and `public_base_url` variables. The error names the
    /// variable, never its value.
    pub fn from_variables(
        keys: &str,
        ttl: &str,
        api_keys: &str,
        read_ttl: &str,
        base_url: &str,
    ) -> Result<Config, Misconfigured> {
        Ok(Config {
            keys: SigningKeys::parse(keys).map_err(|e| Misconfigured(format!("url_signing_keys: {e}")))?,
            ttl_seconds: parse_ttl(ttl).map_err(|e| Misconfigured(format!("invoice_url_ttl_seconds: {e}")))?,
            access: ReadAccess::from_variables(api_keys, keys, read_ttl, base_url)?,
        })
    }
}
