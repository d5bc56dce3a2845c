//! Reads `spin.toml` and the runtime config the way Spin does, for what this app uses:
//! application variables and their templates, HTTP and Redis triggers, and each
//! component's capabilities (`key_value_stores`, `allowed_outbound_hosts`, variables).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use toml::Value;

#[derive(Debug, Clone)]
pub struct Manifest {
    pub dir: PathBuf,
    pub redis_address: Option<String>,
    pub http_routes: Vec<HttpRoute>,
    pub redis_subscriptions: Vec<RedisSubscription>,
    pub components: BTreeMap<String, ComponentSpec>,
    /// Key-value labels the runtime config defines (plus `default`); on a hosted
    /// platform, every label a component lists (each linked at deploy).
    pub kv_labels: Vec<String>,
    /// Every trigger type the manifest names (`http`, `redis`, ...).
    pub trigger_types: Vec<String>,
    /// Labels the runtime config puts on Spin's Redis provider (`type = "redis"`), with
    /// their `url`.
    pub kv_redis: BTreeMap<String, String>,
    /// Labels the runtime config puts on Spin's DynamoDB provider (`type = "aws_dynamo"`):
    /// kept in SQLite, with DynamoDB's limits on each batch call.
    pub kv_dynamo: Vec<String>,
}

/// Spin's identifiers (`spin_serde::id`, v3.6.3): words separated by `delim`, each a
/// letter then letters and digits, all lowercase or all UPPERCASE (only lowercase when
/// `lower`). Component ids are kebab (`-`), variable names lower snake (`_`).
fn spin_id(id: &str, delim: char, lower: bool) -> std::result::Result<(), String> {
    if id.is_empty() {
        return Err("empty".into());
    }
    let wrong = if delim == '-' { '_' } else { '-' };
    if id.contains(wrong) {
        return Err(format!("words must be separated with {delim:?}, not {wrong:?}"));
    }
    for word in id.split(delim) {
        let mut chars = word.chars();
        let Some(first) = chars.next() else { return Err(format!("{delim:?}-separated words must not be empty")) };
        if !first.is_ascii_alphabetic() {
            return Err(format!("{delim:?}-separated words must start with an ASCII letter; got {first:?}"));
        }
        for ch in chars {
            if !ch.is_ascii_alphanumeric() {
                return Err(format!("{delim:?}-separated words may only contain alphanumeric ASCII; got {ch:?}"));
            }
            if !ch.is_ascii_digit() && ch.is_ascii_uppercase() != first.is_ascii_uppercase() {
                return Err(format!("{delim:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"));
            }
        }
        if lower && first.is_ascii_uppercase() {
            return Err(format!("Lower-case identifiers must be all lowercase; got {id:?}"));
        }
    }
    Ok(())
}

fn kebab_id(id: &str) -> std::result::Result<(), String> {
    spin_id(id, '-', false)
}

/// A variable's name, application or component: Spin's `LowerSnakeId`.
fn variable_name(name: &str) -> std::result::Result<(), String> {
    spin_id(name, '_', true)
}

/// Where the key-value stores come from.
#[derive(Debug, Clone, Copy)]
pub enum Stores<'a> {
    /// `spin up`: the runtime config's labels, if there is one, and `default`.
    RuntimeConfig(Option<&'a Path>),
    /// A hosted platform: a store per label, created or linked at deploy.
    LinkedAtDeploy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `route = "/order"`: only this path, kept without trailing slashes (so `/` is "").
    Exact(String),
    /// `route = "/invoice/..."`: this prefix and everything under it.
    Wildcard(String),
    /// `route = { private = true }`: reachable only by service chaining.
    Private,
}

#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub route: Route,
    pub raw: String,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct RedisSubscription {
    pub address: String,
    pub channel: String,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct ComponentSpec {
    pub id: String,
    pub source: PathBuf,
    pub key_value_stores: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    /// The list parsed as Spin does at the first outbound call (`Err`: malformed).
    pub allowed_hosts: Result<Vec<AllowedHost>, String>,
    /// Component variables, their templates already resolved.
    pub variables: HashMap<String, String>,
}

impl Manifest {
    /// Loads `spin.toml` at `path`, resolving templates against the application
    /// variables: `overrides` (as `SPIN_VARIABLE_X` or `--variable` would set them,
    /// by lower-case name), then the manifest's defaults. A required variable with no
    /// value fails, as `spin up` does.
    pub fn load(path: &Path, stores: Stores, overrides: &HashMap<String, String>) -> Result<Manifest> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let doc: Value =
            toml::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
                .with_context(|| format!("parsing {}", path.display()))?;
        if doc.get("spin_manifest_version").and_then(Value::as_integer) != Some(2) {
            bail!("only spin_manifest_version = 2 is supported");
        }

        let mut vars = HashMap::new();
        for (name, spec) in doc.get("variables").and_then(Value::as_table).into_iter().flatten() {
            variable_name(name).map_err(|e| anyhow!("invalid variable name `{name}`: {e}"))?;
            let value =
                overrides.get(name).cloned().or_else(|| spec.get("default").and_then(Value::as_str).map(str::to_owned));
            match value {
                Some(v) => {
                    vars.insert(name.clone(), v);
                }
                None if spec.get("required").and_then(Value::as_bool) == Some(true) => {
                    bail!("variable `{name}` is required and has no value")
                }
                None => {}
            }
        }
        let resolve = |s: &str| expand(s, &vars);
        let defaults: HashMap<String, String> = doc
            .get("variables")
            .and_then(Value::as_table)
            .into_iter()
            .flatten()
            .filter_map(|(k, spec)| Some((k.clone(), spec.get("default")?.as_str()?.to_owned())))
            .collect();

        let redis_address = doc
            .get("application")
            .and_then(|a| a.get("trigger"))
            .and_then(|t| t.get("redis"))
            .and_then(|r| r.get("address"))
            .and_then(Value::as_str)
            .map(resolve)
            .transpose()?;

        let mut components = BTreeMap::new();
        for (id, c) in doc.get("component").and_then(Value::as_table).into_iter().flatten() {
            kebab_id(id).map_err(|e| anyhow!("invalid component id `{id}`: {e}"))?;
            let list = |key: &str| -> Result<Vec<String>> {
                c.get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|v| resolve(v.as_str().ok_or_else(|| anyhow!("{id}.{key}: not a string"))?))
                    .collect()
            };
            let mut variables = HashMap::new();
            for (k, v) in c.get("variables").and_then(Value::as_table).into_iter().flatten() {
                variable_name(k).map_err(|e| anyhow!("component {id}: invalid variable name `{k}`: {e}"))?;
                variables.insert(
                    k.clone(),
                    resolve(v.as_str().ok_or_else(|| anyhow!("{id}.variables.{k}: not a string"))?)?,
                );
            }
            let source = c
                .get("source")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("component {id}: only a file `source` is supported"))?;
            // Spin checks the list at load with the variables' defaults only (a template
            // whose variable has no default is left for run time), then again, with the
            // real values, at the component's first outbound call.
            for raw in c.get("allowed_outbound_hosts").and_then(Value::as_array).into_iter().flatten() {
                let raw = raw.as_str().ok_or_else(|| anyhow!("{id}.allowed_outbound_hosts: not a string"))?;
                if let Ok(entry) = expand(raw, &defaults) {
                    AllowedHost::parse(&entry).map_err(|e| {
                        anyhow!("Failed to load component `{id}`: `allowed_outbound_hosts` is malformed: {e}")
                    })?;
                }
            }
            let allowed_outbound_hosts = list("allowed_outbound_hosts")?;
            components.insert(
                id.clone(),
                ComponentSpec {
                    id: id.clone(),
                    source: dir.join(source),
                    key_value_stores: list("key_value_stores")?,
                    allowed_hosts: parse_allowed_hosts(&allowed_outbound_hosts),
                    allowed_outbound_hosts,
                    variables,
                },
            );
        }

        let trigger = doc.get("trigger");
        let mut http_routes = Vec::new();
        for t in trigger.and_then(|t| t.get("http")).and_then(Value::as_array).into_iter().flatten() {
            let component =
                t.get("component").and_then(Value::as_str).ok_or_else(|| anyhow!("http trigger without component"))?;
            let (route, raw) = match t.get("route") {
                Some(Value::String(r)) => match r.strip_suffix("/...") {
                    Some(prefix) => (Route::Wildcard(prefix.to_owned()), r.clone()),
                    None => (Route::Exact(r.trim_end_matches('/').to_owned()), r.clone()),
                },
                Some(Value::Table(t)) if t.get("private").and_then(Value::as_bool) == Some(true) => {
                    (Route::Private, String::new())
                }
                other => bail!("http trigger for {component}: unsupported route {other:?}"),
            };
            http_routes.push(HttpRoute { route, raw, component: component.to_owned() });
        }
        let mut redis_subscriptions = Vec::new();
        for t in trigger.and_then(|t| t.get("redis")).and_then(Value::as_array).into_iter().flatten() {
            let component =
                t.get("component").and_then(Value::as_str).ok_or_else(|| anyhow!("redis trigger without component"))?;
            let channel = resolve(
                t.get("channel").and_then(Value::as_str).ok_or_else(|| anyhow!("redis trigger without channel"))?,
            )?;
            let address = match t.get("address").and_then(Value::as_str) {
                Some(a) => resolve(a)?,
                None => redis_address.clone().ok_or_else(|| anyhow!("redis trigger for {component} has no address"))?,
            };
            redis_subscriptions.push(RedisSubscription { address, channel, component: component.to_owned() });
        }
        for c in http_routes.iter().map(|r| &r.component).chain(redis_subscriptions.iter().map(|r| &r.component)) {
            kebab_id(c).map_err(|e| anyhow!("invalid component reference `{c}`: {e}"))?;
            if !components.contains_key(c) {
                bail!("a trigger names component `{c}`, which the manifest does not define");
            }
        }

        let trigger_types = trigger.and_then(Value::as_table).into_iter().flatten().map(|(k, _)| k.clone()).collect();
        let mut kv_labels = vec!["default".to_owned()];
        let mut kv_redis = BTreeMap::new();
        let mut kv_dynamo = Vec::new();
        if let Stores::LinkedAtDeploy = stores {
            kv_labels.extend(components.values().flat_map(|c| c.key_value_stores.clone()));
            kv_labels.sort();
            kv_labels.dedup();
        }
        if let Stores::RuntimeConfig(Some(rc)) = stores {
            let rc: Value =
                toml::from_str(&std::fs::read_to_string(rc).with_context(|| format!("reading {}", rc.display()))?)?;
            for (label, store) in rc.get("key_value_store").and_then(Value::as_table).into_iter().flatten() {
                // Spin 3.6.3 registers `spin` (SQLite), `redis`, `azure_cosmos` and
                // `aws_dynamo`; another type fails at start with its resolver's words.
                match store.get("type").and_then(Value::as_str).unwrap_or_default() {
                    "spin" => kv_labels.push(label.clone()),
                    "redis" => {
                        // Taken as written: Spin expands no variables in a runtime config.
                        let url = store.get("url").and_then(Value::as_str).map(str::to_owned);
                        let url = url.ok_or_else(|| anyhow!("key-value store `{label}`: `url` is required"))?;
                        redis::Client::open(url.as_str())
                            .with_context(|| format!("key-value store `{label}`: Invalid Redis URL"))?;
                        kv_labels.push(label.clone());
                        kv_redis.insert(label.clone(), url);
                    }
                    "aws_dynamo" => {
                        // Spin's provider requires both (`AwsDynamoKeyValueRuntimeConfig`).
                        for field in ["region", "table"] {
                            if store.get(field).and_then(Value::as_str).is_none() {
                                bail!("key-value store `{label}`: missing field `{field}`");
                            }
                        }
                        kv_labels.push(label.clone());
                        kv_dynamo.push(label.clone());
                    }
                    known @ "azure_cosmos" => bail!(
                        "key-value store `{label}`: the test host keeps stores as Spin's `spin` (SQLite) provider \
                         does and has no `{known}` provider"
                    ),
                    other => bail!(
                        "could not configure key-value store with label '{label}': the store type '{other}' was not \
                         registered with the config resolver"
                    ),
                }
            }
        }
        for c in components.values() {
            if let Some(label) = c.key_value_stores.iter().find(|l| !kv_labels.contains(l)) {
                bail!(
                    "component {} uses unknown key_value_stores label `{label}` (define it in the runtime config)",
                    c.id
                );
            }
        }
        Ok(Manifest {
            dir,
            redis_address,
            http_routes,
            redis_subscriptions,
            components,
            kv_labels,
            trigger_types,
            kv_redis,
            kv_dynamo,
        })
    }
}

/// Application variables from `SPIN_VARIABLE_<NAME>` entries of `env`, over those of a
/// `.env` file beside the manifest (lines `SPIN_VARIABLE_<NAME>=value`), by lower-case name.
pub fn provided_variables(env: &[(String, String)], manifest: &Path) -> HashMap<String, String> {
    let dotenv = std::fs::read_to_string(manifest.parent().unwrap_or(Path::new(".")).join(".env")).unwrap_or_default();
    let from_file = dotenv
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
    from_file
        .chain(env.iter().cloned())
        .filter_map(|(k, v)| Some((k.strip_prefix("SPIN_VARIABLE_")?.to_ascii_lowercase(), v)))
        .collect()
}

/// Expands `{{ name }}` templates.
fn expand(s: &str, vars: &HashMap<String, String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| anyhow!("unclosed template in `{s}`"))? + start;
        let name = rest[start + 2..end].trim();
        out.push_str(vars.get(name).ok_or_else(|| anyhow!("template `{s}` names unknown variable `{name}`"))?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One `allowed_outbound_hosts` entry, parsed as Spin parses it
/// (`AllowedHostConfig::parse` in `crates/outbound-networking-config/src/allowed_hosts.rs`,
/// the same in 3.6.3 and 4.0): `scheme://host[:port]`, where the scheme is letters or
/// `*`, the host a name, `*`, `*.domain` or an address, and the port a number, `*` or
/// `a..b`, required unless the scheme has a well-known one (redis 6379, http 80, https
/// 443; not rediss). User info (`redis://user:pw@host`) and paths are refused: Spin's
/// error names the host part, user info and all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: String,
    host: String,
    ports: (u16, u16),
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "redis" => Some(6379),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<AllowedHost, String> {
        let (scheme, rest) = entry.split_once("://").ok_or_else(|| format!("{entry:?} does not contain a scheme"))?;
        if !(scheme == "*" || (!scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()))) {
            return Err(format!("Invalid allowed host scheme {scheme:?}"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(format!("{entry:?} has a path but is not allowed to"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let valid_host = |h: &str| {
            h == "*"
                || (!h.is_empty()
                    && h.strip_prefix("*.")
                        .unwrap_or(h)
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'))
        };
        let ports = match port {
            None => match well_known_port(scheme) {
                Some(p) => (p, p),
                None => {
                    return Err(format!(
                        "no port was provided and the scheme {scheme:?} does not have a known default port number"
                    ))
                }
            },
            Some("*") => (0, u16::MAX),
            Some(p) => {
                let num = |s: &str| s.parse::<u16>().map_err(|_| format!("Invalid allowed host port {p:?}"));
                match p.split_once("..") {
                    Some((a, b)) => (num(a)?, num(b)?.saturating_sub(1)),
                    None => (num(p)?, num(p)?),
                }
            }
        };
        if !valid_host(host) {
            return Err(format!("Invalid allowed host {host:?}"));
        }
        Ok(AllowedHost { scheme: scheme.to_owned(), host: host.to_ascii_lowercase(), ports })
    }

    /// Whether this entry allows self-requests (relative URLs): `http://self`,
    /// `https://self` (or `self.alt`), as Spin's `allows_relative_url(["http", "https"])`.
    pub fn allows_self(&self) -> bool {
        ["*", "http", "https"].contains(&self.scheme.as_str()) && (self.host == "self" || self.host == "self.alt")
    }

    fn allows(&self, target: &Target) -> bool {
        // `self` names the app itself, never a host of that name.
        if self.host == "self" || self.host == "self.alt" {
            return false;
        }
        (self.scheme == "*" || self.scheme == target.scheme)
            && (self.host == "*"
                || self.host == target.host
                || (self.host.starts_with("*.") && target.host.ends_with(&self.host[1..])))
            && target.port.is_some_and(|p| self.ports.0 <= p && p <= self.ports.1)
    }
}

/// Every entry of a component's list, parsed; one bad entry spoils the list, as in Spin
/// (which then refuses every outbound call of the component).
pub fn parse_allowed_hosts(entries: &[String]) -> Result<Vec<AllowedHost>, String> {
    entries.iter().map(|e| AllowedHost::parse(e)).collect()
}

/// An address a component dials, as Spin's `OutboundUrl::parse` reads it: scheme, host
/// and port, the port defaulting to the scheme's well-known one; user info, path and
/// query are ignored.
struct Target {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Target {
    fn parse(url: &str) -> Option<Target> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit('@').next()?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (h, Some(p.parse().ok()?)),
            _ => (authority, None),
        };
        let scheme = scheme.to_ascii_lowercase();
        let port = port.or_else(|| well_known_port(&scheme));
        Some(Target { scheme, host: host.to_ascii_lowercase(), port })
    }
}

/// Whether `url` is allowed by a component's parsed list. `Err` when the list itself
/// is malformed: Spin then logs "Error parsing allowed outbound hosts" and refuses.
pub fn outbound_allowed(url: &str, allowed: &Result<Vec<AllowedHost>, String>) -> Result<bool, String> {
    let allowed = allowed.as_ref().map_err(Clone::clone)?;
    Ok(Target::parse(url).is_some_and(|t| allowed.iter().any(|a| a.allows(&t))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_matching() {
        let allowed = parse_allowed_hosts(&[
            "redis://127.0.0.1:6379".to_owned(),
            "http://order-reader.spin.internal".to_owned(),
            "rediss://cache.example:6380".to_owned(),
        ]);
        let ok = |url: &str| outbound_allowed(url, &allowed).unwrap();
        assert!(ok("redis://127.0.0.1:6379"));
        assert!(ok("redis://127.0.0.1"));
        assert!(ok("redis://default:secret@127.0.0.1:6379/0"), "user info and database are not matched");
        assert!(ok("rediss://user:pw@cache.example:6380"));
        assert!(!ok("rediss://cache.example"), "rediss has no well-known port");
        assert!(!ok("redis://127.0.0.1:6380"));
        assert!(!ok("redis://10.0.0.1:6379"));
        assert!(ok("http://order-reader.spin.internal/order?x=1"));
        assert!(!ok("http://invoice-api.spin.internal/"));
        assert!(!ok("https://order-reader.spin.internal/"));
    }

    #[test]
    fn allowed_hosts_are_refused_as_spin_refuses_them() {
        let err = |e: &str| AllowedHost::parse(e).unwrap_err();
        assert_eq!(err("redis://default:secret@127.0.0.1:6379"), r#"Invalid allowed host "default:secret@127.0.0.1""#);
        assert!(err("redis://127.0.0.1:6379/0").contains("has a path"));
        assert!(err("rediss://cache.example").contains("does not have a known default port"));
        assert!(AllowedHost::parse("redis://127.0.0.1:6379/").is_ok());
        assert!(AllowedHost::parse("redis://*:*").is_ok());
        let list = parse_allowed_hosts(&["redis://h:1".to_owned(), "redis://u:p@h:1".to_owned()]);
        assert!(outbound_allowed("redis://h:1", &list).is_err(), "one bad entry spoils the list");
    }

    #[test]
    fn variable_names_are_refused_as_spin_refuses_them() {
        for good in ["redis_address", "partition1_host", "a1_b2", "s3_bucket"] {
            assert_eq!(variable_name(good), Ok(()), "{good}");
        }
        let err = |n: &str| variable_name(n).unwrap_err();
        // Spin 3.6.3's own words (`spin up` on a manifest with `partition_host_1`).
        assert_eq!(err("partition_host_1"), "'_'-separated words must start with an ASCII letter; got '1'");
        assert_eq!(err("redis-host"), "words must be separated with '_', not '-'");
        assert_eq!(err("a__b"), "'_'-separated words must not be empty");
        assert_eq!(err("REDIS_HOST"), "Lower-case identifiers must be all lowercase; got \"REDIS_HOST\"");
        let dir = std::env::temp_dir().join(format!("manifest-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spin.toml");
        std::fs::write(&path, "spin_manifest_version = 2\n[variables]\npartition_host_1 = { default = \"x\" }\n")
            .unwrap();
        let e = Manifest::load(&path, Stores::RuntimeConfig(None), &HashMap::new()).unwrap_err();
        assert!(e.to_string().contains("must start with an ASCII letter; got '1'"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn environment_over_dotenv() {
        let dir = std::env::temp_dir().join(format!("manifest-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(".env"),
            "# keys\nSPIN_VARIABLE_URL_SIGNING_KEYS=k1:abc\nSPIN_VARIABLE_REDIS_ADDRESS=redis://a\nOTHER=x\n",
        )
        .unwrap();
        let env = vec![("SPIN_VARIABLE_REDIS_ADDRESS".to_owned(), "redis://b".to_owned())];
        let vars = provided_variables(&env, &dir.join("spin.toml"));
        assert_eq!(vars.get("url_signing_keys").map(String::as_str), Some("k1:abc"));
        assert_eq!(vars.get("redis_address").map(String::as_str), Some("redis://b"));
        assert_eq!(vars.len(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn templates() {
        let vars = HashMap::from([("a".to_owned(), "x".to_owned())]);
        assert_eq!(expand("redis://{{ a }}:1", &vars).unwrap(), "redis://x:1");
        assert!(expand("{{ b }}", &vars).is_err());
    }
}
