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
    /// Key-value labels the runtime config defines (plus `default`).
    pub kv_labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `route = "/order"`: only this path.
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
    /// Component variables, their templates already resolved.
    pub variables: HashMap<String, String>,
}

impl Manifest {
    /// Loads `spin.toml` at `path`, resolving templates against the application
    /// variables: `overrides` (as `SPIN_VARIABLE_X` or `--variable` would set them,
    /// by lower-case name), then the manifest's defaults. A required variable with no
    /// value fails, as `spin up` does.
    pub fn load(path: &Path, runtime_config: Option<&Path>, overrides: &HashMap<String, String>) -> Result<Manifest> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let doc: Value =
            toml::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
                .with_context(|| format!("parsing {}", path.display()))?;
        if doc.get("spin_manifest_version").and_then(Value::as_integer) != Some(2) {
            bail!("only spin_manifest_version = 2 is supported");
        }

        let mut vars = HashMap::new();
        for (name, spec) in doc.get("variables").and_then(Value::as_table).into_iter().flatten() {
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
                variables.insert(
                    k.clone(),
                    resolve(v.as_str().ok_or_else(|| anyhow!("{id}.variables.{k}: not a string"))?)?,
                );
            }
            let source = c
                .get("source")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("component {id}: only a file `source` is supported"))?;
            components.insert(
                id.clone(),
                ComponentSpec {
                    id: id.clone(),
                    source: dir.join(source),
                    key_value_stores: list("key_value_stores")?,
                    allowed_outbound_hosts: list("allowed_outbound_hosts")?,
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
                    None if r == "/..." => (Route::Wildcard(String::new()), r.clone()),
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
            if !components.contains_key(c) {
                bail!("a trigger names component `{c}`, which the manifest does not define");
            }
        }

        let mut kv_labels = vec!["default".to_owned()];
        if let Some(rc) = runtime_config {
            let rc: Value =
                toml::from_str(&std::fs::read_to_string(rc).with_context(|| format!("reading {}", rc.display()))?)?;
            kv_labels.extend(
                rc.get("key_value_store").and_then(Value::as_table).into_iter().flatten().map(|(k, _)| k.clone()),
            );
        }
        for c in components.values() {
            if let Some(label) = c.key_value_stores.iter().find(|l| !kv_labels.contains(l)) {
                bail!(
                    "component {} uses unknown key_value_stores label `{label}` (define it in the runtime config)",
                    c.id
                );
            }
        }
        Ok(Manifest { dir, redis_address, http_routes, redis_subscriptions, components, kv_labels })
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

/// Whether `url` (`scheme://host[:port]...`) is allowed by one of `allowed`, with Spin's
/// matching: same scheme, same host (or `*`), same port (or `*`, or the scheme's default
/// when neither names one).
pub fn outbound_allowed(url: &str, allowed: &[String]) -> bool {
    let Some(target) = Authority::parse(url) else {
        return false;
    };
    allowed.iter().filter_map(|a| Authority::parse(a)).any(|a| {
        (a.scheme == "*" || a.scheme == target.scheme)
            && (a.host == "*"
                || a.host == target.host
                || (a.host.starts_with("*.") && target.host.ends_with(&a.host[1..])))
            && (a.port.as_deref() == Some("*") || a.port_or_default() == target.port_or_default())
    })
}

struct Authority {
    scheme: String,
    host: String,
    port: Option<String>,
}

impl Authority {
    fn parse(url: &str) -> Option<Authority> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?']).next()?;
        let authority = authority.rsplit('@').next()?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (h, Some(p.to_owned())),
            _ => (authority, None),
        };
        Some(Authority { scheme: scheme.to_ascii_lowercase(), host: host.to_ascii_lowercase(), port })
    }

    fn port_or_default(&self) -> Option<String> {
        self.port.clone().or_else(|| {
            match self.scheme.as_str() {
                "redis" => Some("6379"),
                "http" => Some("80"),
                "https" => Some("443"),
                _ => None,
            }
            .map(str::to_owned)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_matching() {
        let allowed = vec!["redis://127.0.0.1:6379".to_owned(), "http://order-reader.spin.internal".to_owned()];
        assert!(outbound_allowed("redis://127.0.0.1:6379", &allowed));
        assert!(outbound_allowed("redis://127.0.0.1", &allowed));
        assert!(!outbound_allowed("redis://127.0.0.1:6380", &allowed));
        assert!(!outbound_allowed("redis://10.0.0.1:6379", &allowed));
        assert!(outbound_allowed("http://order-reader.spin.internal/order?x=1", &allowed));
        assert!(!outbound_allowed("http://invoice-api.spin.internal/", &allowed));
        assert!(!outbound_allowed("https://order-reader.spin.internal/", &allowed));
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
