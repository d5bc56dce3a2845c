//! The notebook's 10,000 orders through the real HTTP listener: every one in both
//! stores, none lost, none duplicated. Reports how long the drain took.

use super::*;
use http_body_util::BodyExt;
use std::sync::atomic::Ordering;

pub const ORDERS: usize = 10_000;
const CONNECTIONS: usize = 32;

/// Posts orders `0..n` over `CONNECTIONS` keep-alive connections; returns the statuses.
pub async fn post_all(addr: std::net::SocketAddr, n: usize) -> Vec<u16> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..CONNECTIONS).map(|_| {
        let next = next.clone();
        tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let mut statuses = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return statuses;
                }
                let body = serde_json::to_vec(&order_body(i)).unwrap();
                let req = hyper::Request::post(format!("http://{addr}/order"))
                    .header("host", addr.to_string())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let resp = sender.send_request(req).await.unwrap();
                statuses.push(resp.status().as_u16());
                resp.into_body().collect().await.unwrap();
            }
        })
    });
    futures::future::join_all(workers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_orders_none_lost_none_duplicated() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();

    let start = Instant::now();
    let statuses = post_all(addr, ORDERS).await;
    let ingest = start.elapsed();
    assert_eq!(statuses.len(), ORDERS);
    assert!(
        statuses.iter().all(|s| *s == 202),
        "not all accepted: {:?}",
        statuses
            .iter()
            .filter(|s| **s != 202)
            .take(5)
            .collect::<Vec<_>>()
    );

    eventually(
        Duration::from_secs(300),
        "both stores to hold every order",
        || app.kv.keys("orders").len() == ORDERS && invoice_documents(&app) == ORDERS,
    )
    .await;
    let drain = start.elapsed();

    let mut orders = app.kv.keys("orders");
    orders.sort();
    let mut expected: Vec<String> = (0..ORDERS).map(|i| format!("a{i}#v{i}")).collect();
    expected.sort();
    assert_eq!(orders, expected, "every order, each once");
    // Each order handled once by each consumer: a doorbell wakes a consumer, which
    // drains what its group has not yet acknowledged, so most doorbells find the work
    // already done.
    for (c, outcome) in [("order-writer", "stored"), ("invoice-writer", "invoiced")] {
        let lines = log_lines(&app, c);
        assert_eq!(lines.len(), ORDERS, "{c}: one delivery per order");
        assert!(
            lines
                .iter()
                .all(|l| l["outcome"] == outcome && l["deliveries"] == 1),
            "{c}"
        );
    }
    assert!(trigger.is_running());
    assert_eq!(app.stats.handler_failures.load(Ordering::Relaxed), 0);
    eprintln!(
        "burst: {ORDERS} orders over {CONNECTIONS} connections: ingest {:.2} s ({:.0} orders/s), both stores complete after {:.2} s",
        ingest.as_secs_f64(),
        ORDERS as f64 / ingest.as_secs_f64(),
        drain.as_secs_f64()
    );
}
