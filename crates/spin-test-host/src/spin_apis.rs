//! Spin's `fermyon:spin@2.0.0` host APIs as our components use them: key-value,
//! outbound Redis and variables, each checked against the calling component's
//! capabilities exactly where Spin checks them.

use std::sync::atomic::Ordering;

use redis::AsyncCommands;
use wasmtime::component::Resource;
use wasmtime::Result;

use crate::bindings::fermyon::spin2_0_0::{key_value, redis as spin_redis, variables};
use crate::manifest::outbound_allowed;
use crate::HostState;

/// What a key-value `store` resource stands for: an opened label.
pub struct KvHandle(pub String);

/// What a Redis `connection` resource stands for: its own TCP connection, as Spin
/// makes one per `open`.
pub struct RedisHandle(pub redis::aio::MultiplexedConnection);

impl key_value::Host for HostState {}

impl key_value::HostStore for HostState {
    async fn open(&mut self, label: String) -> Result<Result<Resource<key_value::Store>, key_value::Error>> {
        Ok(self.open_store(label)?.map(Resource::new_own).map_err(|refused| match refused {
            Refused::AccessDenied => key_value::Error::AccessDenied,
            Refused::NoSuchStore => key_value::Error::NoSuchStore,
            Refused::Other(e) => key_value::Error::Other(e),
        }))
    }

    async fn get(
        &mut self,
        s: Resource<key_value::Store>,
        key: String,
    ) -> Result<Result<Option<Vec<u8>>, key_value::Error>> {
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        let label = self.kv_label(&s)?;
        Ok(tokio::task::block_in_place(|| app.kv.get(&label, &key)).map_err(key_value::Error::Other))
    }

    async fn set(
        &mut self,
        s: Resource<key_value::Store>,
        key: String,
        value: Vec<u8>,
    ) -> Result<Result<(), key_value::Error>> {
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        let label = self.kv_label(&s)?;
        app.kv.check_trap(&label)?;
        Ok(tokio::task::block_in_place(|| app.kv.set(&label, &key, value)).map_err(key_value::Error::Other))
    }

    async fn delete(&mut self, s: Resource<key_value::Store>, key: String) -> Result<Result<(), key_value::Error>> {
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        let label = self.kv_label(&s)?;
        Ok(self.app.kv.delete(&label, &key).map_err(key_value::Error::Other))
    }

    async fn exists(&mut self, s: Resource<key_value::Store>, key: String) -> Result<Result<bool, key_value::Error>> {
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        let label = self.kv_label(&s)?;
        Ok(self.app.kv.get(&label, &key).map(|v| v.is_some()).map_err(key_value::Error::Other))
    }

    async fn get_keys(&mut self, s: Resource<key_value::Store>) -> Result<Result<Vec<String>, key_value::Error>> {
        let label = self.kv_label(&s)?;
        Ok(Ok(self.app.kv.keys(&label)))
    }

    async fn drop(&mut self, s: Resource<key_value::Store>) -> Result<()> {
        self.table.delete(Resource::<KvHandle>::new_own(s.rep()))?;
        Ok(())
    }
}

/// Why a store did not open.
enum Refused {
    AccessDenied,
    NoSuchStore,
    /// The store's backend cannot be reached (an injected failure).
    Other(String),
}

impl HostState {
    /// Spin's check for both key-value interfaces: the component must list the label,
    /// and the runtime config must define it. Returns the handle's table index.
    fn open_store(&mut self, label: String) -> Result<Result<u32, Refused>> {
        if !self.component.spec.key_value_stores.contains(&label) {
            self.app
                .stats
                .denials
                .lock()
                .unwrap()
                .push(format!("{}: key-value store `{label}`", self.component.spec.id));
            return Ok(Err(Refused::AccessDenied));
        }
        if !self.app.kv.has(&label) {
            return Ok(Err(Refused::NoSuchStore));
        }
        if let Err(e) = self.app.kv.check_open(&label) {
            return Ok(Err(Refused::Other(e)));
        }
        Ok(Ok(self.table.push(KvHandle(label))?.rep()))
    }

    fn kv_label(&self, s: &Resource<key_value::Store>) -> Result<String> {
        Ok(self.table.get(&Resource::<KvHandle>::new_borrow(s.rep()))?.0.clone())
    }

    fn redis_conn(&mut self, c: &Resource<spin_redis::Connection>) -> Result<redis::aio::MultiplexedConnection> {
        Ok(self.table.get(&Resource::<RedisHandle>::new_borrow(c.rep()))?.0.clone())
    }
}

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> Result<Result<String, variables::Error>> {
        Ok(self
            .component
            .spec
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(format!("no variable for {name:?}"))))
    }
}

impl spin_redis::Host for HostState {}

fn other(e: redis::RedisError) -> spin_redis::Error {
    spin_redis::Error::Other(e.to_string())
}

impl spin_redis::HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Result<Resource<spin_redis::Connection>, spin_redis::Error>> {
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.redis_open_ns);
        match outbound_allowed(&address, &self.component.spec.allowed_hosts) {
            Ok(true) => {}
            Ok(false) => {
                app.deny(
                    &self.component.spec.id,
                    &format!("outbound redis to {} (not in allowed_outbound_hosts)", crate::redacted(&address)),
                );
                return Ok(Err(spin_redis::Error::InvalidAddress));
            }
            // Spin logs this on its own log (not the component's) and answers `other`
            // with the parser's message.
            Err(e) => {
                eprintln!("ERROR spin_factor_outbound_networking: Error parsing allowed outbound hosts error={e:?}");
                return Ok(Err(spin_redis::Error::Other(e)));
            }
        }
        let client = match redis::Client::open(address.as_str()) {
            Ok(c) => c,
            Err(_) => return Ok(Err(spin_redis::Error::InvalidAddress)),
        };
        let conn = match client.get_multiplexed_async_connection().await {
            Ok(c) => c,
            Err(e) => return Ok(Err(other(e))),
        };
        self.app.stats.redis_connections.fetch_add(1, Ordering::Relaxed);
        let r = self.table.push(RedisHandle(conn))?;
        Ok(Ok(Resource::new_own(r.rep())))
    }

    async fn publish(
        &mut self,
        c: Resource<spin_redis::Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<Result<(), spin_redis::Error>> {
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.redis_command_ns);
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.publish::<_, _, i64>(channel, payload).await.map(drop).map_err(other))
    }

    async fn get(
        &mut self,
        c: Resource<spin_redis::Connection>,
        key: String,
    ) -> Result<Result<Option<Vec<u8>>, spin_redis::Error>> {
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.get(key).await.map_err(other))
    }

    async fn set(
        &mut self,
        c: Resource<spin_redis::Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<Result<(), spin_redis::Error>> {
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.set(key, value).await.map_err(other))
    }

    async fn incr(
        &mut self,
        c: Resource<spin_redis::Connection>,
        key: String,
    ) -> Result<Result<i64, spin_redis::Error>> {
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.incr(key, 1).await.map_err(other))
    }

    async fn del(
        &mut self,
        c: Resource<spin_redis::Connection>,
        keys: Vec<String>,
    ) -> Result<Result<u32, spin_redis::Error>> {
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.del(keys).await.map_err(other))
    }

    async fn sadd(
        &mut self,
        c: Resource<spin_redis::Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<Result<u32, spin_redis::Error>> {
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.sadd(key, values).await.map_err(other))
    }

    async fn smembers(
        &mut self,
        c: Resource<spin_redis::Connection>,
        key: String,
    ) -> Result<Result<Vec<String>, spin_redis::Error>> {
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.smembers(key).await.map_err(other))
    }

    async fn srem(
        &mut self,
        c: Resource<spin_redis::Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<Result<u32, spin_redis::Error>> {
        let mut conn = self.redis_conn(&c)?;
        Ok(conn.srem(key, values).await.map_err(other))
    }

    async fn execute(
        &mut self,
        c: Resource<spin_redis::Connection>,
        command: String,
        arguments: Vec<spin_redis::RedisParameter>,
    ) -> Result<Result<Vec<spin_redis::RedisResult>, spin_redis::Error>> {
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.redis_command_ns);
        let mut conn = self.redis_conn(&c)?;
        let text = |a: &spin_redis::RedisParameter| match a {
            spin_redis::RedisParameter::Int64(i) => i.to_string(),
            spin_redis::RedisParameter::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        };
        let store_write = app.kv.any_poison()
            && command.eq_ignore_ascii_case("EVAL")
            && arguments.first().is_some_and(|s| text(s).contains("redis.call('HSET', key, 'v'"));
        if store_write {
            let n: usize = arguments.get(1).map(text).and_then(|n| n.parse().ok()).unwrap_or(0);
            let keys: Vec<String> = arguments.iter().skip(2).take(n).map(text).collect();
            if let Err(e) = app.kv.check_redis_store_write(&keys) {
                return Ok(Err(spin_redis::Error::Other(e)));
            }
        }
        let mut cmd = redis::cmd(&command);
        for a in arguments {
            match a {
                spin_redis::RedisParameter::Int64(i) => cmd.arg(i),
                spin_redis::RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let value: redis::Value = match cmd.query_async(&mut conn).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(other(e))),
        };
        let mut out = Vec::new();
        Ok(flatten(value, &mut out).map(|()| out))
    }

    async fn drop(&mut self, c: Resource<spin_redis::Connection>) -> Result<()> {
        self.table.delete(Resource::<RedisHandle>::new_own(c.rep()))?;
        Ok(())
    }
}

/// Spin's reply conversion: nested arrays flattened depth-first, doubles as text,
/// booleans as 0/1, maps and verbatim strings refused as type errors.
fn flatten(v: redis::Value, out: &mut Vec<spin_redis::RedisResult>) -> Result<(), spin_redis::Error> {
    use spin_redis::RedisResult as R;
    match v {
        redis::Value::Nil => out.push(R::Nil),
        redis::Value::Int(i) => out.push(R::Int64(i)),
        redis::Value::BulkString(b) => out.push(R::Binary(b)),
        redis::Value::SimpleString(s) => out.push(R::Status(s)),
        redis::Value::Okay => out.push(R::Status("OK".into())),
        redis::Value::Double(d) => out.push(R::Binary(d.to_string().into_bytes())),
        redis::Value::Boolean(b) => out.push(R::Int64(b.into())),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        _ => return Err(spin_redis::Error::TypeError),
    }
    Ok(())
}

// ---- wasi:keyvalue (store, batch), over the same stores and capability list ----

use crate::bindings::wasi::keyvalue::{batch, store as wkv};

fn wkv_other(e: String) -> wkv::Error {
    wkv::Error::Other(e)
}

impl HostState {
    fn bucket_label(&self, b: &Resource<wkv::Bucket>) -> Result<String> {
        Ok(self.table.get(&Resource::<KvHandle>::new_borrow(b.rep()))?.0.clone())
    }
}

impl wkv::Host for HostState {
    async fn open(&mut self, label: String) -> Result<Result<Resource<wkv::Bucket>, wkv::Error>> {
        Ok(self.open_store(label)?.map(Resource::new_own).map_err(|refused| match refused {
            Refused::AccessDenied => wkv::Error::AccessDenied,
            Refused::NoSuchStore => wkv::Error::NoSuchStore,
            Refused::Other(e) => wkv::Error::Other(e),
        }))
    }
}

impl wkv::HostBucket for HostState {
    async fn get(&mut self, b: Resource<wkv::Bucket>, key: String) -> Result<Result<Option<Vec<u8>>, wkv::Error>> {
        let label = self.bucket_label(&b)?;
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        Ok(tokio::task::block_in_place(|| app.kv.get(&label, &key)).map_err(wkv_other))
    }

    async fn set(&mut self, b: Resource<wkv::Bucket>, key: String, value: Vec<u8>) -> Result<Result<(), wkv::Error>> {
        let label = self.bucket_label(&b)?;
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        app.kv.check_trap(&label)?;
        Ok(tokio::task::block_in_place(|| app.kv.set(&label, &key, value)).map_err(wkv_other))
    }

    async fn delete(&mut self, b: Resource<wkv::Bucket>, key: String) -> Result<Result<(), wkv::Error>> {
        let label = self.bucket_label(&b)?;
        Ok(self.app.kv.delete(&label, &key).map_err(wkv_other))
    }

    async fn exists(&mut self, b: Resource<wkv::Bucket>, key: String) -> Result<Result<bool, wkv::Error>> {
        let label = self.bucket_label(&b)?;
        Ok(self.app.kv.get(&label, &key).map(|v| v.is_some()).map_err(wkv_other))
    }

    async fn list_keys(
        &mut self,
        b: Resource<wkv::Bucket>,
        _cursor: Option<String>,
    ) -> Result<Result<wkv::KeyResponse, wkv::Error>> {
        let label = self.bucket_label(&b)?;
        Ok(Ok(wkv::KeyResponse { keys: self.app.kv.keys(&label), cursor: None }))
    }

    async fn drop(&mut self, b: Resource<wkv::Bucket>) -> Result<()> {
        self.table.delete(Resource::<KvHandle>::new_own(b.rep()))?;
        Ok(())
    }
}

impl batch::Host for HostState {
    async fn get_many(
        &mut self,
        b: Resource<wkv::Bucket>,
        keys: Vec<String>,
    ) -> Result<Result<Vec<(String, Option<Vec<u8>>)>, wkv::Error>> {
        let label = self.bucket_label(&b)?;
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        Ok(tokio::task::block_in_place(|| app.kv.get_many(&label, &keys)).map_err(wkv_other))
    }

    async fn set_many(
        &mut self,
        b: Resource<wkv::Bucket>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<Result<(), wkv::Error>> {
        let label = self.bucket_label(&b)?;
        let app = self.app.clone();
        let _t = app.stats.time(&app.stats.kv_ns);
        app.kv.check_trap(&label)?;
        Ok(tokio::task::block_in_place(|| app.kv.set_many(&label, entries)).map_err(wkv_other))
    }

    async fn delete_many(&mut self, b: Resource<wkv::Bucket>, keys: Vec<String>) -> Result<Result<(), wkv::Error>> {
        let label = self.bucket_label(&b)?;
        Ok(keys.iter().try_for_each(|k| self.app.kv.delete(&label, k)).map_err(wkv_other))
    }
}
