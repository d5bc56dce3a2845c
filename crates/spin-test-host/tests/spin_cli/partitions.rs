//! The orders topic over three `redis-server` processes, each with a password, under
//! the real `spin up` (`spin.toml`, `partition_addresses`): orders land on their
//! accounts' partitions, and one partition's Redis SIGKILLed mid-burst costs only its
//! own accounts.

use order_core::model::partition::partition_of;

use super::*;

const PASS: &str = "partition-pass-0123";

fn appended(server: &RedisServer) -> u64 {
    let client = redis::Client::open(server.url_as("default", PASS)).unwrap();
    let n: Option<u64> = redis::cmd("HGET")
        .arg("orders:stream:stats")
        .arg("accepted")
        .query(&mut client.get_connection().unwrap())
        .unwrap();
    n.unwrap_or(0)
}

/// 3,000 orders from 3,000 accounts, posted while partition 1's Redis is SIGKILLed
/// (with 800 answered) and started again from its append-only file: each partition
/// took its accounts' orders, none more than 40 % of them; only partition 1's
/// accounts were refused; and every order answered `202` is stored, order and
/// invoice, partition 1's backlog with no further traffic.
#[test]
fn three_partitions_under_spin_up_lose_nothing_when_one_is_killed() {
    let (spin, _one) = spin_or_skip!();
    let mut servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_with(&["--requirepass", PASS])).collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url_as("default", PASS)).collect();
    let dir = scratch("partitions");
    let up = Up::new("spin.toml", &dir, required_vars(&servers[0], &urls[0]))
        .var("partition_addresses", &urls[1..].join(","))
        .var("partition1_host", &servers[1].host())
        .var("partition2_host", &servers[2].host())
        .var("visibility_timeout_ms", "2000")
        .runtime_config(repo_runtime_config(&dir))
        .subscribed(&urls[0], "orders", 1)
        .start(&spin.path);

    let burst = Burst::start(&[up.base()], "pt-", 3_000, 16);
    burst.wait_accepted(800, Duration::from_secs(60));
    servers[1].kill();
    let killed_at = burst.accepted_count();
    std::thread::sleep(Duration::from_secs(1));
    servers[1].restart();
    let accepted = burst.finish();
    assert!(accepted.len() > killed_at, "orders were accepted after the kill too");

    let partition = |i: usize| partition_of(&order_cli::post::ids("pt-", i).0, 3);
    let refused: Vec<usize> = (0..3_000).filter(|i| accepted.binary_search(i).is_err()).collect();
    assert!(!refused.is_empty(), "partition 1's accounts were refused while it was down");
    assert!(
        refused.iter().all(|i| partition(*i) == 1),
        "only partition 1's accounts were refused: {:?}",
        refused.iter().filter(|i| partition(**i) != 1).take(5).collect::<Vec<_>>()
    );
    let mut expected = [0u64; 3];
    for i in &accepted {
        expected[partition(*i) as usize] += 1;
    }
    let counts: Vec<u64> = servers.iter().map(appended).collect();
    assert_eq!(counts, expected, "each accepted order is on its account's partition");
    assert!(counts.iter().all(|c| *c * 10 <= accepted.len() as u64 * 4), "none with more than 40 %: {counts:?}");

    let client = up.client();
    eventually(Duration::from_secs(60), "every accepted order stored, with no further traffic", || {
        missing(&client, "pt-", &accepted) == (vec![], vec![])
    });
    assert!(!up.logs("order-api").contains(PASS), "order-api's log shows a password");
}
