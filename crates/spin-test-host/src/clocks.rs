//! Each wiring's clock, read from the files users deploy (never a test's own choice):
//! which path it calls and how often. Tests call that path at that period, never
//! faster, to emulate the platform: the kubelet's probe (`deploy/kubernetes`), the
//! systemd timer (`deploy/systemd`), and `scripts/run`'s loop.

use std::time::Duration;

use crate::workspace_root;

/// A platform's clock: `GET path` every `period`, the first one a period after the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformClock {
    pub wiring: &'static str,
    pub path: String,
    pub period: Duration,
}

/// A clock running against the test host's app, until dropped: `GET path` every
/// period, as the platform calls it, each call's status kept.
pub struct Ticking {
    task: tokio::task::JoinHandle<()>,
    pub statuses: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
}

impl Drop for Ticking {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PlatformClock {
    /// Starts calling `app` (inside a Tokio runtime).
    pub fn run(&self, app: &std::sync::Arc<crate::App>) -> Ticking {
        let (app, clock) = (app.clone(), self.clone());
        let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = statuses.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(clock.period).await;
                let req = crate::http_trigger::request("GET", &clock.path).body(Default::default()).unwrap();
                let status = app.call(req).await.map_or(0, |a| a.status);
                kept.lock().unwrap().push(status);
            }
        });
        Ticking { task, statuses }
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The readiness probe of the front SpinApp in `deploy/kubernetes/coffee-orders.yaml`
/// (`periodSeconds` defaults to 10, as the CRD says).
pub fn kubernetes() -> PlatformClock {
    let text = read("deploy/kubernetes/coffee-orders.yaml");
    let front = serde_norway::Deserializer::from_str(&text)
        .map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).expect("coffee-orders.yaml"))
        .find(|app| app["spec"]["components"].as_array().is_some_and(|c| c.iter().any(|c| c == "pipeline-api")))
        .expect("a SpinApp running pipeline-api");
    let probe = &front["spec"]["checks"]["readiness"];
    PlatformClock {
        wiring: "SpinKube",
        path: probe["httpGet"]["path"].as_str().expect("the probe's path").to_owned(),
        period: Duration::from_secs(probe["periodSeconds"].as_u64().unwrap_or(10)),
    }
}

/// `coffee-orders-tick.timer`'s `OnUnitActiveSec` and the URL its service calls.
pub fn systemd() -> PlatformClock {
    let timer = read("deploy/systemd/coffee-orders-tick.timer");
    let every = setting(&timer, "OnUnitActiveSec").expect("OnUnitActiveSec");
    let seconds = every.strip_suffix('s').unwrap_or(every).parse().expect("OnUnitActiveSec in seconds");
    let service = read("deploy/systemd/coffee-orders-tick.service");
    PlatformClock {
        wiring: "systemd",
        path: url_path(setting(&service, "ExecStart").expect("ExecStart")),
        period: Duration::from_secs(seconds),
    }
}

/// `scripts/run`'s clock loop: `TICK_SECONDS`' default and the URL it calls.
pub fn scripts_run() -> PlatformClock {
    let script = read("scripts/run");
    let seconds = script
        .split("${TICK_SECONDS:-")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .and_then(|n| n.parse().ok())
        .expect("scripts/run's TICK_SECONDS default");
    let call = script.lines().find(|l| l.contains("while sleep \"$tick_seconds\"")).expect("scripts/run's clock loop");
    PlatformClock { wiring: "scripts/run", path: url_path(call), period: Duration::from_secs(seconds) }
}

fn setting<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines().find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('=')).map(str::trim)
}

/// The path of the first `http://host/path` in `command`, up to a quote or a space.
fn url_path(command: &str) -> String {
    let url = command.split("http://").nth(1).expect("a URL");
    let url = url.split(['"', ' ', '\'']).next().unwrap();
    format!("/{}", url.split_once('/').expect("a path").1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wiring_declares_the_tick_within_the_issue_s_fifteen_seconds() {
        for clock in [kubernetes(), systemd(), scripts_run()] {
            assert_eq!(clock.path, "/pipeline/tick", "{clock:?}");
            assert!(clock.period <= Duration::from_secs(15) && clock.period >= Duration::from_secs(1), "{clock:?}");
        }
    }
}
