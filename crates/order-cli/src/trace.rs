//! `trace`: one order's path through the components, from their log lines (Spin keeps
//! them in `.spin/logs/<component>_stdout.txt`), without a tracing backend.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// Which order to follow: a trace id, or the order's ids.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub trace_id: Option<String>,
    pub accountid: Option<String>,
    pub vendorid: Option<String>,
}

impl Filter {
    fn matches(&self, line: &Value) -> bool {
        let is = |field: &str, want: &Option<String>| want.as_ref().is_none_or(|w| line[field].as_str() == Some(w));
        (self.trace_id.is_some() || self.accountid.is_some())
            && is("trace_id", &self.trace_id)
            && is("accountid", &self.accountid)
            && is("vendorid", &self.vendorid)
    }
}

/// Every JSON log line in `dir`'s `*_stdout.txt` files that matches, oldest first.
pub fn read(dir: &Path, filter: &Filter) -> Result<Vec<Value>> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading the logs in {}", dir.display()))? {
        let path = entry?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("_stdout.txt")) {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            lines.extend(
                text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|l| filter.matches(l)),
            );
        }
    }
    // Within one millisecond, the request that accepted an order comes before the
    // messages it caused.
    lines.sort_by(|a, b| (a["ts"].as_str(), a["event"] != "request").cmp(&(b["ts"].as_str(), b["event"] != "request")));
    Ok(lines)
}

/// The path as a table: time since the first line, component, what happened.
pub fn render(lines: &[Value]) -> String {
    if lines.is_empty() {
        return "no log line matches (is the app logging to this directory?)\n".into();
    }
    let t0 = millis(&lines[0]);
    let mut out = String::new();
    for l in lines {
        let what = match l["event"].as_str() {
            Some("request") => format!(
                "{} {} -> {}",
                l["method"].as_str().unwrap_or(""),
                l["path"].as_str().unwrap_or(""),
                l["status"]
            ),
            _ => format!("delivery {} of {}", l["deliveries"], l["entry"].as_str().unwrap_or("")),
        };
        out.push_str(&format!(
            "+{:>7.1} ms  {:<15} {:<13} {}{}\n",
            millis(l) - t0,
            l["component"].as_str().unwrap_or("?"),
            l["outcome"].as_str().unwrap_or("?"),
            what,
            l["reason"].as_str().map(|r| format!("  ({r})")).unwrap_or_default()
        ));
    }
    let ids: Vec<&str> = lines.iter().filter_map(|l| l["message_id"].as_str()).collect();
    if let (Some(m), Some(t)) = (ids.first(), lines.iter().find_map(|l| l["trace_id"].as_str())) {
        out.push_str(&format!("message {m}, trace {t}\n"));
    }
    out
}

fn millis(l: &Value) -> f64 {
    l["ts"].as_str().and_then(time_of_day_ms).unwrap_or(0.0)
}

/// Milliseconds since midnight of an RFC 3339 UTC time stamp (enough to order a trace).
fn time_of_day_ms(ts: &str) -> Option<f64> {
    let t = ts.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = t.split(':');
    let (h, m, s): (f64, f64, f64) =
        (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_one_order_in_time_order() {
        let dir = std::env::temp_dir().join(format!("trace-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("order-writer_stdout.txt"),
            "{\"ts\":\"2026-11-28T00:00:00.020Z\",\"component\":\"order-writer\",\"event\":\"message\",\"outcome\":\"stored\",\"trace_id\":\"t1\",\"accountid\":\"a0\",\"vendorid\":\"v0\",\"deliveries\":1,\"entry\":\"1-0\"}\nnot json\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("order-api_stdout.txt"),
            "{\"ts\":\"2026-11-28T00:00:00.005Z\",\"component\":\"order-api\",\"event\":\"request\",\"outcome\":\"ok\",\"status\":202,\"method\":\"POST\",\"path\":\"/order\",\"message_id\":\"m1\",\"trace_id\":\"t1\",\"accountid\":\"a0\",\"vendorid\":\"v0\"}\n{\"ts\":\"2026-11-28T00:00:00.006Z\",\"component\":\"order-api\",\"event\":\"request\",\"trace_id\":\"t2\",\"accountid\":\"a1\"}\n",
        )
        .unwrap();
        let lines = read(&dir, &Filter { trace_id: Some("t1".into()), ..Filter::default() }).unwrap();
        assert_eq!(lines.len(), 2);
        let text = render(&lines);
        assert!(text.find("order-api").unwrap() < text.find("order-writer").unwrap(), "{text}");
        assert!(text.contains("+   15.0 ms  order-writer"), "{text}");
        let by_ids =
            read(&dir, &Filter { accountid: Some("a0".into()), vendorid: Some("v0".into()), ..Filter::default() })
                .unwrap();
        assert_eq!(by_ids.len(), 2);
        assert!(read(&dir, &Filter::default()).unwrap().is_empty(), "no filter, no lines");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
