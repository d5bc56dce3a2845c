//! The orders topic over three `redis-server` processes, each with a password, under
//! the real `spin up` (`spin.toml`, `partition_addresses`): orders land on their
//! accounts' partitions, and one partition's Redis SIGKILLed mid-burst costs only its
//! own accounts.

use order_core::model::partition::partition_of;

use super::*;

const PASS: &str = "partition-pass-0123";

/// `spin.toml` on the first `n` of `servers`, in `dir` (its SQLite stores there).
fn partitioned(servers: &[RedisServer], n: usize, dir: &Path) -> Up {
    let urls: Vec<String> = servers.iter().map(|s| s.url_as("default", PASS)).collect();
    let mut up = Up::new("spin.toml", dir, required_vars(&servers[0], &urls[0]))
        .var("partition_addresses", &urls[1..n].join(","))
        .var("visibility_timeout_ms", "2000")
        .runtime_config(repo_runtime_config(dir));
    for (i, s) in servers.iter().enumerate().take(n).skip(1) {
        up = up.var(&format!("partition{i}_host"), &s.host());
    }
    up
}

/// Posts order `i` of `account` with `quantity`; its message id.
fn post(client: &Client, account: &str, i: usize, quantity: u32) -> String {
    let mut body = order_cli::post::order("pc-", i, &mut rand::rng());
    body["order"]["accountid"] = account.into();
    body["order"]["details"]["quantity"] = quantity.into();
    let a = client.post_json("/order", &serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    a.json("202").unwrap()["message_id"].as_str().unwrap().to_owned()
}

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
/// took its accounts' orders, none more than 40 % of the 3,000; only partition 1's
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
    // Of the 3,000 posted (what was accepted leans away from partition 1 by however
    // long it was down): every partition took some, none more than 40 %.
    assert!(counts.iter().all(|c| *c > 0 && *c <= 1_200), "none with more than 40 % of the 3,000: {counts:?}");

    let client = up.client();
    eventually(Duration::from_secs(60), "every accepted order stored, with no further traffic", || {
        missing(&client, "pt-", &accepted) == (vec![], vec![])
    });
    assert!(!up.logs("order-api").contains(PASS), "order-api's log shows a password");
    // GET /pipeline shows each partition, and the totals are theirs.
    let status = pipeline(&client);
    let partitions = status["partitions"].as_array().unwrap();
    assert_eq!(partitions.iter().map(|p| p["orders_accepted"].as_u64().unwrap()).collect::<Vec<_>>(), counts);
    assert_eq!(status["orders_accepted"].as_u64(), Some(counts.iter().sum::<u64>()), "{status}");
}

/// The partitions go from 2 to 3 between two bursts of the same 200 keys, under the real
/// `spin up`: the first burst posted with no consumer running (so it waits on
/// partitions 0 and 1), the second after the change, with the consumers draining all
/// three. A third of the accounts moved, so their newer orders may be stored before
/// their older ones: still every key holds its newer order. Then one account's 20
/// orders all land on its partition.
#[test]
fn from_two_partitions_to_three_under_spin_up_the_newest_order_wins() {
    let (spin, _one) = spin_or_skip!();
    let servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_with(&["--requirepass", PASS])).collect();
    let dir = scratch("partitions-change");
    let account = |i: usize| format!("pc-a{i}");
    let mut front = partitioned(&servers, 2, &dir)
        .components(&["order-api", "order-reader", "invoice-api", "pipeline-api"])
        .start(&spin.path);
    let client = checked(Client::new(&front.base(), Duration::from_secs(30)));
    for i in 0..200 {
        post(&client, &account(i), i, 1);
    }
    front.kill();
    assert_eq!(servers[2..].iter().map(appended).sum::<u64>(), 0, "two partitions took the first burst");

    let urls0 = servers[0].url_as("default", PASS);
    let app = partitioned(&servers, 3, &dir).subscribed(&urls0, "orders", 1).start(&spin.path);
    let client = app.client();
    let newer: Vec<String> = (0..200).map(|i| post(&client, &account(i), i, 2)).collect();
    let moved = (0..200).filter(|i| partition_of(&account(*i), 2) != partition_of(&account(*i), 3)).count();
    assert!(moved > 30, "accounts moved: {moved}");
    eventually(Duration::from_secs(60), "every key to hold its newer order", || {
        (0..200).all(|i| {
            let a = client.get(&format!("/order?accountid={}&vendorid=pc-v{i}", account(i))).unwrap();
            a.status == 200 && a.json("order").unwrap()["message_id"] == newer[i].as_str()
        })
    });
    let status = pipeline(&client);
    assert_eq!(status["orders_accepted"], 400, "{status}");
    for g in status["groups"].as_array().unwrap() {
        assert_eq!(
            (g["acked"].as_u64(), g["pending"].as_u64(), g["lag"].as_u64()),
            (Some(400), Some(0), Some(0)),
            "{g}"
        );
    }

    let before: Vec<u64> = servers.iter().map(appended).collect();
    for i in 0..20 {
        post(&client, "pc-one", 1_000 + i, 3);
    }
    let added: Vec<u64> = servers.iter().zip(&before).map(|(s, b)| appended(s) - b).collect();
    let mut expected = vec![0; 3];
    expected[partition_of("pc-one", 3) as usize] = 20;
    assert_eq!(added, expected, "one account's orders on its partition");
}
