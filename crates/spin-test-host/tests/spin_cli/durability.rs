//! What a `202` survives, under the real `spin up`: the replica level, where order-api
//! sends `WAIT` after the publish script on the one connection Spin opened for it (so
//! `WAIT` counts that connection's append), and a level the server cannot give.

use super::*;

/// `curl` POSTs `body` with an `Idempotency-Key`, as a client that retries does:
/// (status, `Retry-After`, `Idempotent-Replayed`, body).
fn post_keyed(base: &str, body: &serde_json::Value, key: &str) -> (u16, String, String, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-H", "content-type: application/json", "-H"])
        .arg(format!("idempotency-key: {key}"))
        .args(["--data-binary", &body.to_string()])
        .arg(format!("{base}/order"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {text}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    (status, header("retry-after"), header("idempotent-replayed"), serde_json::from_str(body).unwrap_or_default())
}

/// `replicas:1` on a primary with one replica: orders answered `202`; the replica stopped
/// (`SIGSTOP`), a `503` within the timeout saying the order may have been accepted; the
/// same `Idempotency-Key` once it is back, a `202` replay, and one order and one invoice.
/// Then the primary SIGKILLed and the replica promoted: every append is on it.
#[test]
fn the_replica_level_waits_for_the_replica_on_spins_own_connection() {
    let (spin, _one) = spin_or_skip!();
    let primary = RedisServer::start_with(&["--appendfsync", "always"]);
    let replica = primary.replica(&[]);
    let dir = scratch("replica-level");
    let app = local_app(&primary, &dir)
        .runtime_config(repo_runtime_config(&dir))
        .var("durability", "replicas:1")
        .var("durability_timeout_ms", "500")
        .start(&spin.path);
    let base = app.base();
    let order = |i: usize| order_cli::post::order("rl-", i, &mut rand::rng());
    for i in 0..10 {
        let (status, _, _, answer) = post_keyed(&base, &order(i), &format!("k{i}"));
        assert_eq!(status, 202, "{answer}");
    }
    let status = pipeline(&app.client());
    assert_eq!(status["durability"]["level"], "replicas:1", "{status}");
    assert_eq!(status["durability"]["confirmed_by"], "settings", "{status}");

    replica.pause(true);
    let retried = order(10);
    let started = Instant::now();
    let (status, retry_after, _, problem) = post_keyed(&base, &retried, "retry-me");
    let took = started.elapsed();
    assert_eq!((status, retry_after.as_str()), (503, "1"), "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("the order may have been accepted (message "), "{detail}");
    assert!(detail.contains("0 of the 1 replicas it needs acknowledged it within 500 ms"), "{detail}");
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(3), "{took:?}");

    replica.pause(false);
    let (status, _, replayed, answer) = post_keyed(&base, &retried, "retry-me");
    assert_eq!((status, replayed.as_str()), (202, "true"), "{answer}");
    let client = app.client();
    settled(&client, 11, Duration::from_secs(60));
    let (accountid, vendorid) =
        (retried["order"]["accountid"].as_str().unwrap(), retried["order"]["vendorid"].as_str().unwrap());
    let stored = order_cli::get_order(&client, accountid, vendorid).unwrap();
    assert_eq!(stored["message_id"], answer["message_id"], "the retried order, stored once: {stored}");
    assert_eq!(pipeline(&client)["orders_accepted"], 11, "one append for the 503 and its retry");

    let mut primary = primary;
    primary.kill();
    let mut promoted = replica.client().get_connection().unwrap();
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut promoted).unwrap();
    let appended: u64 = redis::cmd("HGET").arg("orders:stream:stats").arg("accepted").query(&mut promoted).unwrap();
    assert_eq!(appended, 11, "every append the primary confirmed is on the promoted replica");
}

/// The default level on a Redis without its append-only file: `503` naming the setting,
/// nothing appended.
#[test]
fn the_default_level_on_a_redis_without_its_append_only_file_is_refused() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start_with(&["--appendonly", "no"]);
    let dir = scratch("no-aof");
    let app = local_app(&redis, &dir).runtime_config(repo_runtime_config(&dir)).start(&spin.path);
    let (status, _, _, problem) = post_keyed(&app.base(), &order_cli::post::order("na-", 0, &mut rand::rng()), "k");
    assert_eq!(status, 503, "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("nothing was appended") && detail.contains("`appendonly no`"), "{detail}");
    let length: u64 =
        redis::cmd("XLEN").arg("orders:stream").query(&mut redis.client().get_connection().unwrap()).unwrap();
    assert_eq!(length, 0);
}
