//! Redis as the components reach it, behind one seam: [`Redis`], whose commands answer
//! as Spin's outbound Redis answers (nested array replies flattened, RESP2). The
//! components run it over Spin's connection ([`SpinRedis`]); the tests run the very same
//! topic and store code, and their Lua scripts, over a native client on a real
//! `redis-server` (`crates/spin-test-host/tests/e2e/topic.rs` and `stores.rs`).

use std::cell::OnceCell;
use std::rc::Rc;

use order_core::ports::PortError;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::address::RedisAddress;

/// One connection's commands. Each is one round trip; a script (`EVAL`) is how several
/// steps are done at once.
pub trait Redis {
    /// `cmd args...`, its reply flattened as Spin flattens it.
    fn execute(&self, cmd: &str, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, PortError>;

    /// `EVAL script numkeys keys... args...`.
    fn eval(&self, script: &str, keys: Vec<Vec<u8>>, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, PortError> {
        let mut params = vec![bin(script), RedisParameter::Int64(keys.len() as i64)];
        params.extend(keys.into_iter().map(RedisParameter::Binary));
        params.extend(args);
        self.execute("EVAL", params)
    }
}

impl<R: Redis + ?Sized> Redis for Rc<R> {
    fn execute(&self, cmd: &str, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, PortError> {
        (**self).execute(cmd, args)
    }
}

/// Spin's outbound Redis to one address, opened at its first command (a request that is
/// refused before it needs Redis opens nothing: each open is a new TCP connection), its
/// errors scrubbed of the address's user info.
pub struct SpinRedis {
    address: RedisAddress,
    conn: OnceCell<Connection>,
    /// Which partition of the topic it reaches (0: `redis_address`, and the stores beside
    /// it): a refused connection is explained against that partition's host variable.
    partition: u32,
}

impl SpinRedis {
    pub fn new(address: RedisAddress) -> SpinRedis {
        SpinRedis { address, conn: OnceCell::new(), partition: 0 }
    }

    /// A connection to partition `partition` of the topic (1 and up, from
    /// `partition_addresses`), whose host `partition<n>_host` names.
    pub fn partition(address: RedisAddress, partition: u32) -> SpinRedis {
        SpinRedis { partition, ..SpinRedis::new(address) }
    }

    fn conn(&self) -> Result<&Connection, PortError> {
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let a = &self.address;
        let c = Connection::open(a.url()).map_err(|e| {
            // Spin refuses a host the manifest does not allow: if `redis_host` (what
            // `allowed_outbound_hosts` names) is another, say that instead. Read here,
            // when it can explain a failure, not on every request.
            let mismatch = match self.partition {
                0 => crate::variable("redis_host").ok().and_then(|h| a.check_allowed(&h).err()),
                n => crate::variable(&format!("partition{n}_host")).ok().and_then(|h| {
                    let what = format!("partition {n} of `partition_addresses` is");
                    a.check_allowed_as(&h, &what, &format!("partition{n}_host")).err()
                }),
            };
            PortError::unavailable(a.scrub(&mismatch.unwrap_or_else(|| format!("redis at {}: {e}", a.shown()))))
        })?;
        Ok(self.conn.get_or_init(|| c))
    }
}

impl Redis for SpinRedis {
    fn execute(&self, cmd: &str, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, PortError> {
        self.conn()?.execute(cmd, &args).map_err(|e| PortError::unavailable(self.address.scrub(&format!("redis: {e}"))))
    }
}

/// A binary argument.
pub fn bin(s: impl AsRef<[u8]>) -> RedisParameter {
    RedisParameter::Binary(s.as_ref().to_vec())
}

/// A reply as text.
pub fn text(r: &RedisResult) -> Result<String, PortError> {
    match r {
        RedisResult::Binary(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        RedisResult::Status(s) => Ok(s.clone()),
        RedisResult::Int64(i) => Ok(i.to_string()),
        RedisResult::Nil => Err(PortError::unexpected("redis: unexpected nil")),
    }
}

/// A reply as an integer.
pub fn int(r: &RedisResult) -> Result<i64, PortError> {
    match r {
        RedisResult::Int64(i) => Ok(*i),
        other => text(other)?.parse().map_err(|_| PortError::unexpected("redis: expected an integer")),
    }
}
