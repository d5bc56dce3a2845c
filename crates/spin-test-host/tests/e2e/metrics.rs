//! `GET /pipeline/metrics`: checked by Prometheus' own `promtool check metrics` (the
//! format and its naming rules; `.ci/run` installs it), its counters never going down
//! across a burst, and its values the same as `GET /pipeline`'s.

use std::collections::BTreeMap;
use std::io::Write;

use super::*;

/// `promtool check metrics` on `body`: its complaints, empty when it has none.
fn promtool(body: &str) -> String {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is needed for this test (Debian's `prometheus` package; .ci/run installs it)");
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        text
    } else {
        format!("exit {:?}: {text}", out.status.code())
    }
}

/// The samples of an exposition that promtool accepted: `name{labels}` -> value.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_monotonic_and_agree_with_the_status() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let empty = get(&app, "/pipeline/metrics").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(promtool(&empty.text()), "", "{}", empty.text());

    let posting = {
        let app = app.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
            }
        })
    };
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    let mut scrapes = 0;
    while !posting.is_finished() || scrapes < 3 {
        let body = get(&app, "/pipeline/metrics").await.text();
        assert_eq!(promtool(&body), "", "{body}");
        let now = samples(&body);
        for (series, value) in &now {
            if series.contains("_total") {
                assert!(*value >= last.get(series).copied().unwrap_or(0.0), "{series} went down to {value}");
            }
        }
        last = now;
        scrapes += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    posting.await.unwrap();
    // Settled: both groups have acknowledged every order (an acknowledgement rides on the
    // next claim, so a moment after the order is stored).
    let status = settled_when(&app, Duration::from_secs(10), "every order acknowledged", |g| {
        g["acked"] == 300 && g["pending"] == 0
    })
    .await;
    let metrics = samples(&get(&app, "/pipeline/metrics").await.text());
    assert_eq!(metrics["coffee_orders_accepted_total"], 300.0);
    assert_eq!(status["orders_accepted"], 300);
    assert_eq!(metrics["coffee_orders_stream_entries"], status["stream_length"].as_f64().unwrap());
    for g in status["groups"].as_array().unwrap() {
        let name = g["group"].as_str().unwrap();
        let m = |family: &str| metrics[&format!("coffee_orders_group_{family}{{group=\"{name}\"}}")];
        assert_eq!(m("acknowledged_total"), g["acked"].as_f64().unwrap(), "{name}");
        assert_eq!(m("delivered_total"), g["delivered"].as_f64().unwrap(), "{name}");
        assert_eq!(m("pending"), g["pending"].as_f64().unwrap(), "{name}");
        assert_eq!(m("dead_letters"), g["dead_letters"].as_f64().unwrap(), "{name}");
        assert_eq!(m("acknowledged_total"), 300.0, "{name}: every order handled");
    }

    let om =
        call(&app, "GET", "/pipeline/metrics", &[("accept", "application/openmetrics-text; version=1.0.0")], "").await;
    assert_eq!(om.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert!(om.text().ends_with("# EOF\n") && om.text().contains("# TYPE coffee_orders_accepted counter\n"));
    let post = call(&app, "POST", "/pipeline/metrics", &[], "").await;
    assert_problem(&post, 405, None, "POST /pipeline/metrics");
}
