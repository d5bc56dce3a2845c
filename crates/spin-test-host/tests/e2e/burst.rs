//! The notebook's 10,000 orders through the real HTTP listener: every one in both
//! stores, none lost, none duplicated. Reports how long the drain took.

use super::*;
use order_cli::{post, Client};

pub const ORDERS: usize = 10_000;

/// `orders post` (the command users run) of `n` orders to the listener at `addr`.
pub async fn post_all(addr: std::net::SocketAddr, n: usize, verify: bool) -> post::Report {
    let client = Client::new(&format!("http://{addr}"), Duration::from_secs(30));
    let opts = post::Options {
        path: "/order".into(),
        count: n,
        concurrency: 32,
        prefix: "b-".into(),
        verify,
        deadline: Duration::from_secs(300),
        progress: false,
    };
    tokio::task::spawn_blocking(move || post::run(&client, &opts)).await.unwrap()
}

/// `orders post --verify` of 10,000 orders reports none missing; underneath, each order
/// is in both stores exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_orders_none_lost_none_duplicated() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();

    let report = post_all(addr, ORDERS, true).await;
    eprintln!("orders post -n {ORDERS} --verify:\n{report}");
    assert!(report.complete(), "{report}");
    assert_eq!(report.accepted, ORDERS);

    let mut orders = app.kv.keys("orders");
    orders.sort();
    let mut expected: Vec<String> = (0..ORDERS).map(|i| format!("b-a{i}#b-v{i}")).collect();
    expected.sort();
    assert_eq!(orders, expected, "every order, each once");
    assert_eq!(invoice_documents(&app), ORDERS);
    // Each order handled once by each consumer: a doorbell wakes a consumer, which
    // drains what its group has not yet acknowledged, so most doorbells find the work
    // already done.
    for (c, outcome) in [("order-writer", "stored"), ("invoice-writer", "invoiced")] {
        eventually(Duration::from_secs(10), "the log lines", || log_lines(&app, c).len() >= ORDERS).await;
        let lines = log_lines(&app, c);
        assert_eq!(lines.len(), ORDERS, "{c}: one delivery per order");
        assert!(lines.iter().all(|l| l["outcome"] == outcome && l["deliveries"] == 1), "{c}");
    }
    assert!(trigger.is_running());
    assert_eq!(app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed), 0);
}
