//! The order and invoice stores: Spin's key-value store (the default, for one `spin up`),
//! or hashes on Redis that any number of replicas share (`stores = "redis"`).
//!
//! Why a Redis store of our own, through outbound Redis, rather than Spin's key-value
//! store on its Redis provider (`[key_value_store.orders] type = "redis"`): that
//! provider (`crates/key-value-redis/src/store.rs`, the same in Spin 3.6.3 and 4.x)
//! answers `get_many` with the `KEYS` command, not `MGET` (`get_many`, lines 143-175 at
//! v3.6.3); and its compare-and-swap opens a new connection per key, never checks
//! whether the `EXEC` was aborted, and ends with `UNWATCH <key>`, which Redis refuses
//! (the command takes no argument), so `swap` cannot report a lost race truthfully. It
//! keeps keys raw, every label on one URL sharing one keyspace. Here one script per
//! batch decides newest-wins atomically (`lua/store_put.lua`), in one round trip.
//!
//! Keys: `kv:<label>:<key>`, on the topic's Redis (`redis_address`), each a hash of the
//! version (`v`, the writing message's id) and the value (`d`). A consumer's store shares
//! its queue's connection ([`open_beside`]). The script compares versions byte by byte,
//! as `MessageId::newer_than` compares them. The components never call `wasi:keyvalue`
//! `get_many`: on Spin's store a batch's reads are single `get`s.

use std::rc::Rc;

use order_core::model::message_id::MessageId;
use order_core::ports::{KeyValue, PortError, Put, PutOutcome, VersionOf};
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::address::RedisAddress;
use crate::kv::BatchStore;
use crate::redis::{Redis, SpinRedis};
use crate::variable;

const PUT: &str = include_str!("lua/store_put.lua");
const GET_MANY: &str = include_str!("lua/store_get.lua");
const SET_MANY: &str = include_str!("lua/store_set.lua");

/// Where the stores live: the variable `stores`.
enum Stores {
    /// Spin's key-value stores, by label.
    Kv,
    /// Hashes on the topic's Redis, shared by every replica.
    Redis,
}

fn stores() -> Result<Stores, PortError> {
    match variable("stores")?.trim() {
        "kv" => Ok(Stores::Kv),
        "redis" => Ok(Stores::Redis),
        other => Err(PortError::misconfigured(format!("variable `stores` must be `kv` or `redis`, not `{other}`"))),
    }
}

/// The store `label`, wherever the variable `stores` keeps it.
pub fn open(label: &str) -> Result<Store, PortError> {
    match stores()? {
        Stores::Kv => BatchStore::open(label).map(Store::Kv),
        Stores::Redis => RedisStore::open(label).map(Store::Redis),
    }
}

/// A consumer's store: as [`open`], but on Redis over `redis`, the connection its
/// group's queue already holds to the same server (the stores live on the topic's
/// Redis), so an invocation opens one connection, not two.
pub fn open_beside(label: &str, redis: Rc<SpinRedis>) -> Result<Store, PortError> {
    match stores()? {
        Stores::Kv => BatchStore::open(label).map(Store::Kv),
        Stores::Redis => Ok(Store::Redis(RedisStore::on(label, redis))),
    }
}

/// `label` if this component may use it: with `stores = "kv"`, `None` when its manifest
/// does not list the label (Spin's `AccessDenied`); with `redis`, always.
pub fn open_granted(label: &str) -> Result<Option<Store>, PortError> {
    match stores()? {
        Stores::Kv => Ok(BatchStore::open_granted(label)?.map(Store::Kv)),
        Stores::Redis => RedisStore::open(label).map(|s| Some(Store::Redis(s))),
    }
}

/// One of the two.
pub enum Store {
    Kv(BatchStore),
    Redis(RedisStore),
}

impl KeyValue for Store {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        match self {
            Store::Kv(s) => s.get(key),
            Store::Redis(s) => s.get(key),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        match self {
            Store::Kv(s) => s.set(key, value),
            Store::Redis(s) => s.set(key, value),
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        match self {
            Store::Kv(s) => s.get_many(keys),
            Store::Redis(s) => s.get_many(keys),
        }
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        match self {
            Store::Kv(s) => s.set_many(entries),
            Store::Redis(s) => s.set_many(entries),
        }
    }

    fn put_newest(&self, puts: &[Put], version_of: VersionOf) -> Result<Vec<PutOutcome>, PortError> {
        match self {
            Store::Kv(s) => s.put_newest(puts, version_of),
            Store::Redis(s) => s.put_newest(puts, version_of),
        }
    }
}

/// A store on Redis, over one connection (its own, or its queue's).
pub struct RedisStore<R = Rc<SpinRedis>> {
    redis: R,
    prefix: String,
}

impl RedisStore {
    /// The store `label` on the Redis of `redis_address`, connected at its first command
    /// (`redis_host` is read only if that fails, to explain it).
    pub fn open(label: &str) -> Result<RedisStore, PortError> {
        let address = RedisAddress::parse(&variable("redis_address")?).map_err(PortError::misconfigured)?;
        Ok(RedisStore::on(label, Rc::new(SpinRedis::new(address))))
    }
}

impl<R: Redis> RedisStore<R> {
    /// The store `label` (its keys `kv:<label>:<key>`) through `redis`.
    pub fn on(label: &str, redis: R) -> RedisStore<R> {
        RedisStore { redis, prefix: format!("kv:{label}:") }
    }

    fn eval(&self, script: &str, keys: &[&str], args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, PortError> {
        let keys = keys.iter().map(|k| format!("{}{k}", self.prefix).into_bytes()).collect();
        self.redis.eval(script, keys, args)
    }
}

impl<R: Redis> KeyValue for RedisStore<R> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        Ok(self.get_many(&[key.to_owned()])?.pop().flatten())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.set_many(&[(key.to_owned(), value.to_vec())])
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.eval(GET_MANY, &keys, vec![])?
            .into_iter()
            .map(|r| match r {
                RedisResult::Binary(b) => Ok(Some(b)),
                RedisResult::Nil => Ok(None),
                _ => Err(PortError::unexpected("redis store: an unexpected answer")),
            })
            .collect()
    }

    /// Unconditional writes (`lua/store_set.lua`), with no version: the next put
    /// replaces them.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        if entries.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let values = entries.iter().map(|(_, v)| RedisParameter::Binary(v.clone())).collect();
        self.eval(SET_MANY, &keys, values).map(drop)
    }

    /// Atomic, in one round trip (`lua/store_put.lua`): safe with any number of writers.
    fn put_newest(&self, puts: &[Put], _version_of: VersionOf) -> Result<Vec<PutOutcome>, PortError> {
        if puts.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = puts.iter().map(|p| p.key.as_str()).collect();
        let args = puts
            .iter()
            .flat_map(|p| {
                [
                    RedisParameter::Binary(p.version.as_str().as_bytes().to_vec()),
                    RedisParameter::Binary(p.value.clone()),
                ]
            })
            .collect();
        let reply = self.eval(PUT, &keys, args)?;
        if reply.len() != puts.len() {
            return Err(PortError::unexpected("redis store: an unexpected answer"));
        }
        Ok(reply
            .into_iter()
            .map(|r| match r {
                RedisResult::Binary(b) if !b.is_empty() => {
                    PutOutcome::NewerKept(MessageId::from(String::from_utf8_lossy(&b).as_ref()))
                }
                _ => PutOutcome::Written,
            })
            .collect())
    }
}
