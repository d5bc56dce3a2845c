//! The store contract (`order_core::ports::contract`) against every implementation the
//! components use beyond the core's own: the Redis store, run here with the very
//! scripts the components send (`spin-ports/src/lua/store_*.lua`), on a real Redis with
//! a password, by one writer and by several at once.

use order_core::ports::{contract, Kept, Put, VersionOf};
use order_core::{KeyValue, PortError};

use super::*;

const PUT: &str = include_str!("../../../spin-ports/src/lua/store_put.lua");
const GET: &str = include_str!("../../../spin-ports/src/lua/store_get.lua");
const SET: &str = include_str!("../../../spin-ports/src/lua/store_set.lua");

/// `spin-ports/src/store.rs`'s `RedisStore`, natively: the same keys, scripts and
/// answers.
struct NativeRedisStore(std::sync::Mutex<redis::Connection>, &'static str);

impl NativeRedisStore {
    fn new(url: &str) -> NativeRedisStore {
        NativeRedisStore(
            std::sync::Mutex::new(redis::Client::open(url).unwrap().get_connection().unwrap()),
            "kv:orders:",
        )
    }

    fn eval(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> Result<redis::Value, PortError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len());
        for k in keys {
            cmd.arg(format!("{}{k}", self.1));
        }
        for a in args {
            cmd.arg(*a);
        }
        cmd.query(&mut *self.0.lock().unwrap()).map_err(|e| PortError(e.to_string()))
    }
}

impl KeyValue for NativeRedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        Ok(self.get_many(&[key.to_owned()])?.pop().flatten())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.set_many(&[(key.to_owned(), value.to_vec())])
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        match self.eval(GET, &keys, &[])? {
            redis::Value::Array(values) => Ok(values
                .into_iter()
                .map(|v| match v {
                    redis::Value::BulkString(b) => Some(b),
                    _ => None,
                })
                .collect()),
            other => Err(PortError(format!("unexpected {other:?}"))),
        }
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<&[u8]> = entries.iter().map(|(_, v)| v.as_slice()).collect();
        self.eval(SET, &keys, &values).map(drop)
    }

    fn put_newest(&self, puts: &[Put], _version_of: VersionOf) -> Result<Vec<Kept>, PortError> {
        if puts.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = puts.iter().map(|p| p.key.as_str()).collect();
        let args: Vec<&[u8]> = puts.iter().flat_map(|p| [p.version.as_str().as_bytes(), p.value.as_slice()]).collect();
        match self.eval(PUT, &keys, &args)? {
            redis::Value::Array(values) => Ok(values
                .into_iter()
                .map(|v| match v {
                    redis::Value::BulkString(b) if !b.is_empty() => {
                        Kept::Newer(order_core::envelope::MessageId::from(String::from_utf8_lossy(&b).as_ref()))
                    }
                    _ => Kept::Written,
                })
                .collect()),
            other => Err(PortError(format!("unexpected {other:?}"))),
        }
    }
}

#[test]
fn the_redis_store_keeps_the_contract_with_one_writer() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    contract::one_writer(&NativeRedisStore::new(&redis.url_as("default", "s3cret-pass")));
}

#[test]
fn the_redis_store_keeps_the_contract_with_concurrent_writers_on_their_own_connections() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    let url = redis.url_as("default", "s3cret-pass");
    contract::concurrent_writers((0..4).map(|_| NativeRedisStore::new(&url)).collect());
}

/// The store's answers do not depend on the server's locale: versions compare byte by
/// byte (Lua's `<` on strings follows the locale Redis runs in).
#[test]
fn versions_compare_bytewise() {
    let redis = RedisServer::start();
    let s = NativeRedisStore::new(&redis.url());
    let put = |v: &str| Put { key: "k".into(), value: format!("{v}:x").into_bytes(), version: v.into() };
    let ids = [
        "019ac7a2-0000-7000-8000-000000000000",
        "019ac7a2-0000-7000-8000-00000000000a",
        "019ac7a2-0001-7000-8000-000000000000",
    ];
    for id in ids {
        assert_eq!(s.put_newest(&[put(id)], contract::version_in_value).unwrap(), [Kept::Written]);
    }
    assert_eq!(
        s.put_newest(&[put(ids[1])], contract::version_in_value).unwrap(),
        [Kept::Newer(ids[2].into())],
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
    assert!(app.kv.get_many("orders", &["a1#v1".into()]).is_err(), "one key: key names, not values");
}
