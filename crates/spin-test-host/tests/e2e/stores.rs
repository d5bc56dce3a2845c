//! The store contract (`order_core::testing::contract`) against every implementation the
//! components use beyond the core's own: `spin-adapters`' Redis store itself, with the
//! scripts the components send (`spin-adapters/src/lua/store_*.lua`), natively on a real
//! Redis with a password, by one writer and by several at once.

use order_core::ports::{KeyValue, Put, PutOutcome};
use order_core::testing::contract;
use spin_adapters::store::RedisStore;

use super::native_redis::NativeRedis;
use super::*;
use std::sync::atomic::Ordering;

/// The order store on the Redis at `url`.
fn redis_store(url: &str) -> RedisStore<NativeRedis> {
    let conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    RedisStore::on("orders", NativeRedis::new(conn))
}

#[test]
fn the_redis_store_keeps_the_contract_with_one_writer() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    contract::one_writer(&redis_store(&redis.url_as("default", "s3cret-pass")));
}

#[test]
fn the_redis_store_keeps_the_contract_with_concurrent_writers_on_their_own_connections() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    let url = redis.url_as("default", "s3cret-pass");
    contract::concurrent_writers((0..4).map(|_| redis_store(&url)).collect());
}

/// The store's answers do not depend on the server's locale: versions compare byte by
/// byte (Lua's `<` on strings follows the locale Redis runs in).
#[test]
fn versions_compare_bytewise() {
    let redis = RedisServer::start();
    let s = redis_store(&redis.url());
    let put = |v: &str| Put { key: "k".into(), value: format!("{v}:x").into_bytes(), version: v.into() };
    let ids = [
        "019ac7a2-0000-7000-8000-000000000000",
        "019ac7a2-0000-7000-8000-00000000000a",
        "019ac7a2-0001-7000-8000-000000000000",
    ];
    for id in ids {
        assert_eq!(s.put_newest(&[put(id)], contract::version_in_value).unwrap(), [PutOutcome::Written]);
    }
    assert_eq!(
        s.put_newest(&[put(ids[1])], contract::version_in_value).unwrap(),
        [PutOutcome::NewerKept(ids[2].into())],
        "an older id is refused"
    );
}

/// `spin.toml` with both stores on Spin's Redis key-value provider (one `spin up`, its
/// runtime config saying `type = "redis"`): every order and invoice is stored, because
/// the components never call `get_many`, which that provider answers with the `KEYS`
/// command (the test host fails it as Spin's does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_toml_works_on_spins_redis_key_value_provider() {
    let redis = RedisServer::start();
    spin_test_host::build_components();
    let m = spin_test_host::edited_manifest(|m| m.replace("admin_token = { required", "admin_token = {  required"));
    let stores = format!("{}/1", redis.url());
    std::fs::write(
        m.with_file_name("runtime-config.toml"),
        format!(
            "[key_value_store.orders]\ntype = \"redis\"\nurl = \"{stores}\"\n\n\
             [key_value_store.invoices]\ntype = \"redis\"\nurl = \"{stores}\"\n"
        ),
    )
    .unwrap();
    let app = load(Options { variables: vars(&redis, &[]), manifest: Some(m), ..Options::default() });
    let _trigger = app.start_redis_trigger().await.unwrap();
    for i in 0..100 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    eventually(Duration::from_secs(20), "100 orders and their invoices", || {
        app.kv.count("orders", "a") == 100 && app.kv.count("invoices", "invoice/") == 100
    })
    .await;
    let read = get(&app, "/order?accountid=a7&vendorid=v7").await;
    assert_eq!((read.status, read.json()["order"]["vendorid"].as_str()), (200, Some("v7")));
    // What the components avoid: the provider's `get_many`.
    assert!(app.kv.get_many("orders", &["a1#v1".into(), "a2#v2".into()]).is_err());
    assert!(app.kv.get_many("orders", &["a1#v1".into()]).is_err(), "one key that exists: Spin's provider panics");
}

/// `spin.toml` with both stores on Spin's DynamoDB provider (`type = "aws_dynamo"`),
/// under a burst whose batches hold more than 25 writes and the same account many
/// times: DynamoDB refuses the first call of more than 25 items (a `ValidationException`)
/// and the store writes in calls of 25 from then on, never a key twice, so no message is
/// retried or dead-lettered for it, and the newest order of each key is the one stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_toml_stays_within_dynamodbs_batch_limits() {
    let redis = RedisServer::start();
    spin_test_host::build_components();
    let m = spin_test_host::edited_manifest(|m| m.replace("admin_token = { required", "admin_token = {  required"));
    std::fs::write(
        m.with_file_name("runtime-config.toml"),
        "[key_value_store.orders]\ntype = \"aws_dynamo\"\nregion = \"us-east-1\"\ntable = \"orders\"\n\n\
         [key_value_store.invoices]\ntype = \"aws_dynamo\"\nregion = \"us-east-1\"\ntable = \"invoices\"\n",
    )
    .unwrap();
    let app = load(Options { variables: vars(&redis, &[]), manifest: Some(m), ..Options::default() });
    // Orders queue up before the consumers run, so their batches are full.
    let mut newest = HashMap::new();
    for i in 0..300 {
        let mut body = order_body(i % 20);
        body["order"]["details"]["quantity"] = (i / 20 + 1).into();
        let a = post_order(&app, &body).await;
        assert_eq!(a.status, 202, "{}", a.text());
        newest.insert(i % 20, a.json()["message_id"].as_str().unwrap().to_owned());
    }
    let _trigger = app.start_redis_trigger().await.unwrap();
    ring(&app).await;
    let status = settled_when(&app, Duration::from_secs(30), "all 300 acknowledged", |g| g["acked"] == 300).await;
    assert!(status["groups"].as_array().unwrap().iter().all(|g| g["dead_letters"] == 0), "{status}");
    for (k, id) in newest {
        let order: serde_json::Value =
            serde_json::from_slice(&stored(&app, "orders", &format!("a{k}#v{k}")).unwrap()).unwrap();
        assert_eq!(order["message_id"], id.as_str(), "the newest order of a{k} is stored");
    }
    assert_eq!(invoice_documents(&app), 300);
    // The consumers write a batch in one call, as on every store; DynamoDB refuses one of
    // more than 25 writes, and from then on that invocation writes in 25s: at most one
    // refusal an invocation, and nothing lost or retried for it.
    let (refused, invocations) = (app.kv.refused_batches(), app.stats.redis_messages.load(Ordering::Relaxed));
    assert!((1..=invocations as usize).contains(&refused), "{refused} refusals in {invocations} invocations");
    // What the host holds the provider to: no key twice, at most 25 writes, 100 reads.
    let key = |i: usize| format!("a{i}#v{i}");
    assert!(app.kv.set_many("orders", vec![(key(1), b"x".to_vec()), (key(1), b"y".to_vec())]).is_err());
    assert!(app.kv.set_many("orders", (0..26).map(|i| (key(i), b"x".to_vec())).collect()).is_err());
    assert!(app.kv.get_many("orders", &[key(1), key(1)]).is_err());
    assert!(app.kv.get_many("orders", &(0..101).map(key).collect::<Vec<_>>()).is_err());
    assert!(app.kv.get_many("orders", &(0..100).map(key).collect::<Vec<_>>()).is_ok());
    assert_eq!(app.kv.refused_batches(), refused + 4);
}

/// On Spin's SQLite stores a batch's writes are one transaction per store, whatever the
/// batch's size: a backlog of 250 orders, drained in batches of 100 (the default), costs
/// each store at most 2 commits per batch (each commit a journal and an `fsync` under
/// `spin up`); before, every 25 entries were a commit of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_commits_at_most_twice_per_store() {
    let redis = RedisServer::start();
    let app = app(&redis);
    for i in 0..250 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let _trigger = app.start_redis_trigger().await.unwrap();
    ring(&app).await;
    eventually(Duration::from_secs(20), "the backlog in both stores", || {
        app.kv.count("orders", "") == 250 && invoice_documents(&app) == 250
    })
    .await;
    let batches = 250usize.div_ceil(100);
    for label in ["orders", "invoices"] {
        let commits = app.kv.commits(label);
        assert!((batches..=2 * batches).contains(&commits), "{label}: {commits} commits for {batches} batches");
    }
}
