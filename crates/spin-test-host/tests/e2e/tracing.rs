//! Following one order: the trace context crosses the Redis hop in the envelope, every
//! component writes one JSON line per event carrying it, and `orders trace` shows the
//! path from the log files alone.

use super::*;

const COMPONENTS: &[&str] = &["order-api", "order-writer", "invoice-writer"];

async fn post_and_wait(app: &Arc<App>, headers: &[(&str, &str)]) -> Answer {
    let body = serde_json::to_vec(&order_body(0)).unwrap();
    let a = call(app, "POST", "/order", headers, body).await;
    assert_eq!(a.status, 202, "{}", a.text());
    eventually(Duration::from_secs(10), "a line from each pipeline component", || {
        COMPONENTS.iter().all(|c| !log_lines(app, c).is_empty())
    })
    .await;
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_traceparent_is_followed_through_every_component() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let a = post_and_wait(&app, &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))]).await;
    assert_eq!(a.header("x-trace-id"), Some(trace));
    for c in COMPONENTS {
        let lines = log_lines(&app, c);
        assert_eq!(lines.len(), 1, "{c}: one line per event");
        let l = &lines[0];
        for field in
            ["ts", "component", "event", "outcome", "message_id", "trace_id", "accountid", "vendorid", "duration_ms"]
        {
            assert!(!l[field].is_null(), "{c}: no `{field}` in {l}");
        }
        assert_eq!((l["trace_id"].as_str(), l["component"].as_str()), (Some(trace), Some(*c)), "{l}");
        assert_eq!(l["message_id"], a.json()["message_id"]);
    }
    // GET /order passes the trace on to order-reader.
    let tp = format!("00-{trace}-00f067aa0ba902b8-01");
    assert_eq!(
        call(
            &app,
            "GET",
            "/order?accountid=a0&vendorid=v0",
            &[("traceparent", &tp), ("authorization", &format!("Bearer {READ_KEY}"))],
            Bytes::new()
        )
        .await
        .status,
        200
    );
    let reader = &log_lines(&app, "order-reader")[0];
    assert_eq!(reader["trace_id"], trace);
    // The path the client asked for, not the route glued to it (`/order/order`).
    assert_eq!((reader["method"].as_str(), reader["path"].as_str()), (Some("GET"), Some("/order")), "{reader}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_traceparent_a_new_trace_id_still_goes_downstream() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let a = post_and_wait(&app, &[]).await;
    let trace = a.header("x-trace-id").unwrap().to_owned();
    assert_eq!(trace.len(), 32);
    for c in COMPONENTS {
        assert_eq!(log_lines(&app, c)[0]["trace_id"], trace.as_str(), "{c}");
    }

    // `orders trace` over the logs, laid out as Spin writes them.
    let dir = std::env::temp_dir().join(format!("spin-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for c in COMPONENTS {
        std::fs::write(dir.join(format!("{c}_stdout.txt")), app.logs(c)).unwrap();
    }
    let filter = order_cli::trace::Filter { trace_id: Some(trace.clone()), ..Default::default() };
    let lines = order_cli::trace::read(&dir, &filter).unwrap();
    let path: Vec<_> = lines.iter().map(|l| l["component"].as_str().unwrap().to_owned()).collect();
    assert_eq!(path[0], "order-api", "accepted first: {path:?}");
    assert!(path.contains(&"order-writer".to_owned()) && path.contains(&"invoice-writer".to_owned()));
    let text = order_cli::trace::render(&lines);
    assert!(text.contains("stored") && text.contains("invoiced") && text.contains(&trace), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}
