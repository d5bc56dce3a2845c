//! The HTTP-only hosted platforms: Fermyon Cloud (`spin deploy` in Spin 3, `spin cloud
//! deploy` in Spin 4) and Akamai Functions (`spin aka deploy`). [`check`] refuses what
//! they refuse, as fermyon/cloud-plugin's `src/commands/deploy.rs` refuses a locked app
//! (`load_cloud_app`, `validate_cloud_app`), in its words:
//!
//! - any trigger that is not HTTP: "Non-HTTP triggers are not supported - app uses
//!   'redis'";
//! - any host requirement (`ensure_needs_only("http", &[])`): Spin's loader marks a
//!   component whose `allowed_outbound_hosts` names a service-chaining host
//!   (`*.spin.internal`) as requiring `local_service_chaining`
//!   (`crates/loader/src/local.rs`, `requires_service_chaining`);
//! - two HTTP triggers with the same route.
//!
//! And what they have no place for: a runtime config (stores are linked by label at
//! deploy, `--link kv:<label>=<store>`; there are no SQLite paths or Redis-backed
//! stores to configure). The test host gives each label its own store, as a link does.

use crate::manifest::{Manifest, Route};

/// `Err` with the platform's refusal.
pub fn check(manifest: &Manifest) -> Result<(), String> {
    let unsupported: Vec<String> =
        manifest.trigger_types.iter().filter(|t| *t != "http").map(|t| format!("'{t}'")).collect();
    if !unsupported.is_empty() {
        return Err(format!("Non-HTTP triggers are not supported - app uses {}", unsupported.join(", ")));
    }
    let chaining = manifest.http_routes.iter().filter_map(|r| manifest.components.get(&r.component)).any(|c| {
        c.allowed_outbound_hosts.iter().any(|h| {
            let host = h.split_once("://").map_or(h.as_str(), |(_, rest)| rest);
            let host = host.split(['/', ':']).next().unwrap_or_default();
            host.split_once('.').is_some_and(|(_, domain)| domain == "spin.internal")
        })
    });
    if chaining {
        return Err(
            "This app requires features that are not yet available on Fermyon Cloud: local_service_chaining".into()
        );
    }
    for (i, a) in manifest.http_routes.iter().enumerate() {
        if let Some(b) = manifest.http_routes[i + 1..].iter().find(|b| b.route == a.route && a.route != Route::Private)
        {
            return Err(format!(
                "This application contains duplicate routes, which are not allowed in Fermyon Cloud.\n\
                 - Route '{}' appears in components '{}' and '{}'",
                a.raw, b.component, a.component
            ));
        }
    }
    if manifest.dir.join("runtime-config.toml").exists() {
        return Err("a hosted platform reads no runtime config: link stores by label at deploy instead".into());
    }
    Ok(())
}
