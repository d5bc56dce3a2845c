//! `GET /pipeline/metrics` (pipeline-api): the pipeline's state for Prometheus, in the
//! text exposition format 0.0.4, or OpenMetrics 1.0 when the scraper asks for it in
//! `Accept` (`application/openmetrics-text`). The same numbers as `GET /pipeline`, read
//! from the topic's server, so every replica answers alike.
//!
//! Families (every one with `# HELP` and `# TYPE`; per group, label `group`):
//! `coffee_orders_accepted_total` (counter: orders appended to the topic),
//! `coffee_orders_stream_entries` (gauge), `coffee_orders_group_lag` (gauge: entries not
//! yet delivered; absent while the server cannot tell), `coffee_orders_group_pending` (gauge),
//! `coffee_orders_group_oldest_pending_age_seconds` (gauge; 0 when nothing is pending),
//! `coffee_orders_group_dead_letters` (gauge), `coffee_orders_group_delivered_total` and
//! `coffee_orders_group_acknowledged_total` (counters); and `coffee_orders_durability`
//! (gauge, 1, labels `level` and `confirmed_by`: the durability level in force, as
//! `GET /pipeline` shows it). Per partition of the topic (label `partition`, and `group`):
//! `coffee_orders_partition_up` (gauge: 1, or 0 while it cannot be read),
//! `coffee_orders_partition_accepted_total` (counter), `coffee_orders_partition_group_lag`
//! and `coffee_orders_partition_group_pending` (gauges). The families above are the
//! totals over every partition.

use crate::handlers::pipeline::status::unavailable;
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::ports::operations::{GroupStatus, Operations, PartitionStatus, Status};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The pipeline's state, read now, in the format `req` asks for.
pub fn answer(req: &Request, ops: &impl Operations) -> Result<Response, Problem> {
    Ok(render(req, &ops.status().map_err(unavailable(ops))?))
}

/// The exposition of `status` in the format `req` asks for.
pub fn render(req: &Request, status: &Status) -> Response {
    let openmetrics = req.header("accept").is_some_and(|a| a.contains("application/openmetrics-text"));
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        // OpenMetrics names a counter's family without `_total`; its samples keep it.
        let family = if openmetrics && kind == "counter" { name.trim_end_matches("_total") } else { name };
        out.push_str(&format!("# HELP {family} {help}\n# TYPE {family} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let per_group = |f: &dyn Fn(&GroupStatus) -> Option<f64>| group_samples("", &status.groups, f);
    family(
        "coffee_orders_accepted_total",
        "counter",
        "Orders appended to the topic.",
        vec![(String::new(), status.orders_accepted as f64)],
    );
    family(
        "coffee_orders_stream_entries",
        "gauge",
        "Entries in the topic's stream (acknowledged ones are trimmed).",
        vec![(String::new(), status.stream_length as f64)],
    );
    family(
        "coffee_orders_group_lag",
        "gauge",
        "Entries not yet delivered to the consumer group.",
        per_group(&|g| g.lag.map(|l| l as f64)),
    );
    family(
        "coffee_orders_group_pending",
        "gauge",
        "Entries delivered to the group and not yet acknowledged.",
        per_group(&|g| Some(g.pending as f64)),
    );
    family(
        "coffee_orders_group_oldest_pending_age_seconds",
        "gauge",
        "Age of the group's oldest pending entry, by its time on the topic; 0 when none is pending.",
        per_group(&|g| Some(g.oldest_pending_age_ms.unwrap_or(0) as f64 / 1000.0)),
    );
    family(
        "coffee_orders_group_dead_letters",
        "gauge",
        "Entries in the group's dead-letter stream.",
        per_group(&|g| Some(g.dead_letters as f64)),
    );
    family(
        "coffee_orders_group_delivered_total",
        "counter",
        "Entries the group has read from the topic.",
        per_group(&|g| Some(g.delivered as f64)),
    );
    family(
        "coffee_orders_group_acknowledged_total",
        "counter",
        "Entries the group has handled and acknowledged.",
        per_group(&|g| Some(g.acked as f64)),
    );
    let per_partition = |f: &dyn Fn(&PartitionStatus) -> Option<f64>| {
        status.partitions.iter().filter_map(|p| Some((format!("{{partition=\"{}\"}}", p.partition), f(p)?))).collect()
    };
    let per_partition_group = |f: &dyn Fn(&GroupStatus) -> Option<f64>| -> Vec<(String, f64)> {
        let each = |p: &PartitionStatus| group_samples(&format!("partition=\"{}\",", p.partition), &p.groups, f);
        status.partitions.iter().flat_map(each).collect()
    };
    family(
        "coffee_orders_partition_up",
        "gauge",
        "1 while the topic's partition can be read, 0 while it cannot (its accounts' orders are refused).",
        per_partition(&|p| Some(if p.unavailable.is_some() { 0.0 } else { 1.0 })),
    );
    family(
        "coffee_orders_partition_accepted_total",
        "counter",
        "Orders appended to the partition.",
        per_partition(&|p| p.unavailable.is_none().then_some(p.orders_accepted as f64)),
    );
    family(
        "coffee_orders_partition_group_lag",
        "gauge",
        "Entries of the partition not yet delivered to the consumer group.",
        per_partition_group(&|g| g.lag.map(|l| l as f64)),
    );
    family(
        "coffee_orders_partition_group_pending",
        "gauge",
        "Entries of the partition delivered to the group and not yet acknowledged.",
        per_partition_group(&|g| Some(g.pending as f64)),
    );
    if let Some(d) = &status.durability {
        family(
            "coffee_orders_durability",
            "gauge",
            "The durability level order-api holds each order to, and how it is confirmed; confirmed_by is refused \
             while every POST /order is 503.",
            vec![(format!("{{level=\"{}\",confirmed_by=\"{}\"}}", escape(&d.level), d.confirmed_by), 1.0)],
        );
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    Response::new(200, if openmetrics { OPENMETRICS } else { TEXT }, out.into_bytes())
        .with_header("cache-control", "no-store")
}

/// `f` of each group that has a value, labelled `{<labels>group="<name>"}` (`labels`:
/// the labels before `group`, each followed by a comma).
fn group_samples(labels: &str, groups: &[GroupStatus], f: &dyn Fn(&GroupStatus) -> Option<f64>) -> Vec<(String, f64)> {
    groups.iter().filter_map(|g| Some((format!("{{{labels}group=\"{}\"}}", escape(&g.group)), f(g)?))).collect()
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::operations::RetryClock;

    fn status() -> Status {
        let group = |name: &str, lag| GroupStatus {
            group: name.into(),
            lag,
            pending: 2,
            oldest_pending_age_ms: Some(1500),
            dead_letters: 1,
            delivered: 10,
            acked: 8,
        };
        Status {
            durability: None,
            stream_length: 12,
            orders_accepted: 10,
            retry_clock: RetryClock::On,
            groups: vec![group("order-writer", Some(0)), group("invoice-writer", None)],
            warnings: vec![],
            partitions: vec![],
        }
    }

    fn get(accept: Option<&str>) -> Response {
        let headers = accept.map(|a| vec![("accept".to_owned(), a.to_owned())]).unwrap_or_default();
        render(&Request { method: "GET".into(), headers, ..Request::default() }, &status())
    }

    #[test]
    fn text_format_with_help_and_type_for_every_family() {
        let r = get(None);
        assert_eq!(r.header("content-type"), Some(TEXT));
        let body = String::from_utf8(r.body).unwrap();
        assert!(
            body.contains("# TYPE coffee_orders_accepted_total counter\ncoffee_orders_accepted_total 10\n"),
            "{body}"
        );
        assert!(body.contains("coffee_orders_group_oldest_pending_age_seconds{group=\"order-writer\"} 1.5\n"));
        assert!(body.contains("coffee_orders_group_lag{group=\"order-writer\"} 0\n"));
        assert!(!body.contains("coffee_orders_group_lag{group=\"invoice-writer\"}"), "an unknown lag is absent");
        assert_eq!(body.matches("# HELP ").count(), body.matches("# TYPE ").count());
        assert!(!body.contains("# EOF"));
    }

    #[test]
    fn openmetrics_when_asked() {
        let r = get(Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"));
        assert_eq!(r.header("content-type"), Some(OPENMETRICS));
        let body = String::from_utf8(r.body).unwrap();
        assert!(body.contains("# TYPE coffee_orders_accepted counter\ncoffee_orders_accepted_total 10\n"), "{body}");
        assert!(body.ends_with("# EOF\n"));
    }

    #[test]
    fn each_partition_is_up_or_down_with_its_own_figures() {
        let total = status().with_partitions(vec![PartitionStatus::unavailable(1, "connection refused".into())]);
        let body = String::from_utf8(render(&Request::default(), &total).body).unwrap();
        for line in [
            "coffee_orders_partition_up{partition=\"0\"} 1\n",
            "coffee_orders_partition_up{partition=\"1\"} 0\n",
            "coffee_orders_partition_accepted_total{partition=\"0\"} 10\n",
            "coffee_orders_partition_group_pending{partition=\"0\",group=\"invoice-writer\"} 2\n",
        ] {
            assert!(body.contains(line), "{line} in {body}");
        }
        assert!(!body.contains("coffee_orders_partition_accepted_total{partition=\"1\"}"), "{body}");
        assert!(
            !body.contains("coffee_orders_partition_group_lag{partition=\"0\",group=\"invoice-writer\"}"),
            "unknown lag"
        );
    }

    #[test]
    fn the_durability_level_in_force_is_a_gauge_labelled_with_how_it_is_confirmed() {
        use crate::ports::operations::{DurabilityStatus, ServerPersistence};
        let mut s = status();
        s.durability = Some(DurabilityStatus {
            level: "machine".into(),
            survives: "a crash of the server's machine".into(),
            confirmed_by: "settings",
            replicas: 0,
            server: ServerPersistence::default(),
            detail: None,
        });
        let body = String::from_utf8(render(&Request::default(), &s).body).unwrap();
        assert!(
            body.contains("# TYPE coffee_orders_durability gauge\ncoffee_orders_durability{level=\"machine\",confirmed_by=\"settings\"} 1\n"),
            "{body}"
        );
        let none = String::from_utf8(get(None).body).unwrap();
        assert!(!none.contains("coffee_orders_durability"), "absent where the level is not known");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
