//! Redis as Spin's outbound Redis answers the components (replies flattened, as the test
//! host's `spin_apis.rs` does for them), over a native client: so the tests run
//! `spin-adapters`' own topic and store code (their keys, argument packing and answers)
//! with the very scripts the components send.

use order_core::ports::PortError;
use spin_adapters::redis::Redis;
use spin_sdk::redis::{RedisParameter, RedisResult};

pub struct NativeRedis(std::sync::Mutex<redis::Connection>);

impl NativeRedis {
    pub fn new(conn: redis::Connection) -> NativeRedis {
        NativeRedis(std::sync::Mutex::new(conn))
    }

    /// A connection to the Redis at `url`.
    pub fn open(url: &str) -> NativeRedis {
        NativeRedis::new(redis::Client::open(url).unwrap().get_connection().unwrap())
    }
}

impl Redis for NativeRedis {
    fn execute(&self, command: &str, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, PortError> {
        let mut cmd = redis::cmd(command);
        for a in args {
            match a {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let reply: redis::Value =
            cmd.query(&mut *self.0.lock().unwrap()).map_err(|e| PortError::unavailable(e.to_string()))?;
        let mut out = Vec::new();
        flatten(reply, &mut out);
        Ok(out)
    }
}

fn flatten(v: redis::Value, out: &mut Vec<RedisResult>) {
    match v {
        redis::Value::Nil => out.push(RedisResult::Nil),
        redis::Value::Int(i) => out.push(RedisResult::Int64(i)),
        redis::Value::BulkString(b) => out.push(RedisResult::Binary(b)),
        redis::Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        redis::Value::Okay => out.push(RedisResult::Status("OK".into())),
        redis::Value::Array(items) => items.into_iter().for_each(|i| flatten(i, out)),
        other => panic!("the scripts answer no {other:?}"),
    }
}
