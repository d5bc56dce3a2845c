//! The topic's Redis address, from the variables `redis_address` (secret: the URL the
//! components connect with, credentials and all) and `redis_host` (the same `host:port`
//! without them: what `allowed_outbound_hosts` names, since Spin refuses user info
//! there). Every text that could carry the address is shown through [`RedisAddress`],
//! so no password (nor the user info it comes in) reaches an answer or a log line.

/// A checked Redis address.
#[derive(Clone)]
pub struct RedisAddress {
    url: String,
    /// The user info (`user:password`), if any: what must never be shown.
    secret: Option<String>,
    shown: String,
    host_port: String,
}

impl std::fmt::Debug for RedisAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl RedisAddress {
    /// `redis://[user:password@]host[:port][/db]` or `rediss://…`, whose `host:port`
    /// (port 6379 when none is given) must be `allowed_host`'s. The error names both
    /// addresses without their user info.
    pub fn new(url: &str, allowed_host: &str) -> Result<RedisAddress, String> {
        let address = RedisAddress::parse(url)?;
        address.check_allowed(allowed_host)?;
        Ok(address)
    }

    /// `redis://[user:password@]host[:port][/db]` or `rediss://…`, unchecked against
    /// `redis_host`: where a request must not spend a variable read on it, and Spin
    /// refuses a host its manifest does not allow anyway ([`Self::check_allowed`] then
    /// says why).
    pub fn parse(url: &str) -> Result<RedisAddress, String> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| *s == "redis" || *s == "rediss")
            .ok_or_else(|| "variable `redis_address` must start with redis:// or rediss://".to_owned())?;
        // The user info runs to the last `@`, even when a password holds an unencoded
        // `/`, `?` or `#` (the URL is then invalid, but nothing of it may be shown).
        let (secret, after) = match rest.rsplit_once('@') {
            Some((userinfo, after)) => (Some(userinfo.to_owned()).filter(|u| !u.is_empty()), after),
            None => (None, rest),
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (host_port, tail) = after.split_at(end);
        let shown = format!("{scheme}://{host_port}{tail}");
        Ok(RedisAddress { url: url.to_owned(), secret, shown, host_port: host_port.to_owned() })
    }

    /// Whether its `host:port` is `allowed_host`'s (`redis_host`, the host
    /// `allowed_outbound_hosts` names); the error names both without their user info.
    pub fn check_allowed(&self, allowed_host: &str) -> Result<(), String> {
        self.check_allowed_as(allowed_host, "variable `redis_address` points at", "redis_host")
    }

    /// [`Self::check_allowed`], in the words of the variables that name this address
    /// (`what`: how the address is named, `host_variable`: the host's variable).
    pub fn check_allowed_as(&self, allowed_host: &str, what: &str, host_variable: &str) -> Result<(), String> {
        let with_port = |hp: &str| {
            let hp = hp.trim().to_ascii_lowercase();
            match hp.rsplit_once(':') {
                Some((_, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => hp,
                _ => format!("{hp}:6379"),
            }
        };
        if with_port(&self.host_port) != with_port(allowed_host) {
            // `redis_host` is not secret, but someone may have pasted the whole address.
            let allowed_shown = allowed_host.rsplit('@').next().unwrap_or_default();
            return Err(format!(
                "{what} {}, but `{host_variable}` (the host allowed_outbound_hosts names) is `{allowed_shown}`: \
                 set both to the same host and port",
                self.shown
            ));
        }
        Ok(())
    }

    /// The URL to connect with (credentials included): for `Connection::open` only.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address without its user info, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `text` with the user info, the password alone, and the password as the Redis
    /// client decodes it, each replaced by `***` (an error from the platform may quote
    /// the address).
    pub fn scrub(&self, text: &str) -> String {
        let Some(userinfo) = &self.secret else {
            return text.to_owned();
        };
        let mut out = text.replace(userinfo.as_str(), "***");
        if let Some((_, password)) = userinfo.split_once(':') {
            for p in
                [password.to_owned(), percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned()]
            {
                if p.len() >= 4 {
                    out = out.replace(&p, "***");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_never_shown() {
        let a = RedisAddress::new("redis://app:s3cr%40t-pw@cache.internal:6380/2", "cache.internal:6380").unwrap();
        assert_eq!(a.shown(), "redis://cache.internal:6380/2");
        assert_eq!(a.url(), "redis://app:s3cr%40t-pw@cache.internal:6380/2");
        assert_eq!(format!("{a:?}"), "redis://cache.internal:6380/2");
        let quoted = r#"Invalid allowed host "app:s3cr%40t-pw@cache.internal"; auth failed for s3cr@t-pw"#;
        let scrubbed = a.scrub(quoted);
        assert!(!scrubbed.contains("s3cr") && !scrubbed.contains("app:"), "{scrubbed}");
    }

    #[test]
    fn the_host_must_be_the_allowed_one() {
        assert!(RedisAddress::new("redis://127.0.0.1", "127.0.0.1:6379").is_ok());
        assert!(RedisAddress::new("rediss://default:pw@h:6380", "H:6380").is_ok());
        let e = RedisAddress::new("redis://default:hunter22@10.0.0.9:6379", "127.0.0.1:6379").unwrap_err();
        assert!(e.contains("redis://10.0.0.9:6379") && e.contains("127.0.0.1:6379") && !e.contains("hunter22"), "{e}");
        assert!(RedisAddress::new("http://h:1", "h:1").unwrap_err().contains("redis://"));
        // A password with an unencoded `/`, and an address pasted into redis_host.
        let e = RedisAddress::new("redis://default:ab/cd-secret@cache:6379", "other:6379").unwrap_err();
        assert!(!e.contains("cd-secret") && e.contains("redis://cache:6379"), "{e}");
        let e = RedisAddress::new("redis://cache:6379", "redis://u:pasted-secret@cache2:6379").unwrap_err();
        assert!(!e.contains("pasted-secret"), "{e}");
        // A partition's, in its own variables' words.
        let p = RedisAddress::parse("redis://default:pw-secret@cache-2:6379").unwrap();
        let e = p.check_allowed_as("unused.invalid:6379", "partition 2 of `partition_addresses` is", "partition2_host");
        assert_eq!(
            e.unwrap_err(),
            "partition 2 of `partition_addresses` is redis://cache-2:6379, but `partition2_host` (the host \
             allowed_outbound_hosts names) is `unused.invalid:6379`: set both to the same host and port"
        );
        let ok = RedisAddress::new("redis://default:ab/cd-secret@cache:6379", "cache:6379").unwrap();
        assert_eq!(ok.shown(), "redis://cache:6379");
    }
}
