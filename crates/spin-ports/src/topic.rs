//! The orders topic on Redis: a stream (the durable log) with one consumer group per
//! consumer, and the pub/sub channel as its doorbell. The SNS/SQS of the original:
//!
//! | AWS | here |
//! |---|---|
//! | SNS topic | stream `orders_stream`, appended by order-api |
//! | SQS queue per subscriber | consumer group per consumer (`order-writer`, `invoice-writer`) |
//! | Lambda event source mapping | a doorbell on channel `orders_channel` wakes the Redis trigger, which drains its group |
//! | visibility timeout, maxReceiveCount, DLQ | pending entries re-claimed after `visibility_timeout_ms`; after `max_deliveries` moved to `<stream>:dead:<group>` |
//!
//! Every multi-step operation is one Lua script, so each costs one round trip on the
//! one connection an invocation opens, and none can be half done. A consumer spends one
//! round trip per batch (`exchange.lua`: settle the last batch, claim the next).

use order_core::delivery::{Delivery, GroupConfig, Queue, Settlement};
use order_core::pipeline::{GroupStatus, Operations, Status};
use order_core::{PortError, Publisher};
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::variable;

const PUBLISH: &str = include_str!("lua/publish.lua");
const EXCHANGE: &str = include_str!("lua/exchange.lua");
const STATUS: &str = include_str!("lua/status.lua");
const REDRIVE: &str = include_str!("lua/redrive.lua");

/// Where the topic lives, from the variables `redis_address`, `orders_stream`,
/// `orders_channel` and `consumer_groups`.
#[derive(Debug, Clone)]
pub struct Topic {
    pub address: String,
    pub stream: String,
    pub channel: String,
    pub groups: Vec<String>,
}

impl Topic {
    pub fn from_variables() -> Result<Topic, String> {
        let groups: Vec<String> =
            variable("consumer_groups")?.split(',').map(|g| g.trim().to_owned()).filter(|g| !g.is_empty()).collect();
        if groups.is_empty() {
            return Err("variable `consumer_groups` names no group".into());
        }
        Ok(Topic {
            address: variable("redis_address")?,
            stream: variable("orders_stream")?,
            channel: variable("orders_channel")?,
            groups,
        })
    }

    pub fn connect(&self) -> Result<Connection, PortError> {
        Connection::open(&self.address).map_err(|e| PortError(format!("redis at {}: {e}", self.address)))
    }

    fn dead_letters(&self, group: &str) -> String {
        format!("{}:dead:{group}", self.stream)
    }

    fn failures(&self, group: &str) -> String {
        format!("{}:failures:{group}", self.stream)
    }

    fn stats(&self) -> String {
        format!("{}:stats", self.stream)
    }
}

fn bin(s: impl AsRef<[u8]>) -> RedisParameter {
    RedisParameter::Binary(s.as_ref().to_vec())
}

/// `EVAL script numkeys keys... args...`
fn eval(
    conn: &Connection,
    script: &str,
    keys: &[String],
    args: Vec<RedisParameter>,
) -> Result<Vec<RedisResult>, PortError> {
    let mut params = vec![bin(script), RedisParameter::Int64(keys.len() as i64)];
    params.extend(keys.iter().map(bin));
    params.extend(args);
    conn.execute("EVAL", &params).map_err(|e| PortError(format!("redis: {e}")))
}

fn text(r: &RedisResult) -> Result<String, PortError> {
    match r {
        RedisResult::Binary(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        RedisResult::Status(s) => Ok(s.clone()),
        RedisResult::Int64(i) => Ok(i.to_string()),
        RedisResult::Nil => Err(PortError("redis: unexpected nil".into())),
    }
}

fn int(r: &RedisResult) -> Result<i64, PortError> {
    match r {
        RedisResult::Int64(i) => Ok(*i),
        other => text(other)?.parse().map_err(|_| PortError("redis: expected an integer".into())),
    }
}

/// order-api's side: append, then ring.
pub struct TopicPublisher(pub Topic);

impl Publisher for TopicPublisher {
    fn publish(&self, payload: &[u8]) -> Result<(), PortError> {
        let t = &self.0;
        let conn = t.connect()?;
        let mut args = vec![bin(payload), bin(&t.channel)];
        args.extend(t.groups.iter().map(bin));
        eval(&conn, PUBLISH, std::slice::from_ref(&t.stream), args).map(drop)
    }
}

/// A consumer's side: its group on the topic, over one connection.
pub struct GroupQueue {
    topic: Topic,
    group: String,
    config: GroupConfig,
    conn: Connection,
}

impl GroupQueue {
    /// The consumer name is the group's: Spin instances are short-lived, and pending
    /// entries are re-claimed by idle time, whoever held them.
    pub fn open(topic: Topic, group: &str, config: GroupConfig) -> Result<GroupQueue, PortError> {
        let conn = topic.connect()?;
        Ok(GroupQueue { topic, group: group.to_owned(), config, conn })
    }
}

impl Queue for GroupQueue {
    fn exchange(&self, settle: &Settlement, max: usize) -> Result<Vec<Delivery>, PortError> {
        let t = &self.topic;
        let keys = [t.stream.clone(), t.dead_letters(&self.group), t.failures(&self.group), t.stats()];
        let mut args = vec![
            bin(&self.group),
            bin(&self.group),
            RedisParameter::Int64(self.config.visibility_timeout_ms as i64),
            RedisParameter::Int64(max as i64),
            RedisParameter::Int64(i64::from(self.config.max_deliveries)),
            RedisParameter::Int64(t.groups.len() as i64),
        ];
        args.extend(t.groups.iter().map(bin));
        args.push(RedisParameter::Int64(settle.acked.len() as i64));
        args.extend(settle.acked.iter().map(bin));
        for list in [&settle.failed, &settle.dead] {
            args.push(RedisParameter::Int64(list.len() as i64));
            args.extend(list.iter().flat_map(|(id, reason)| [bin(id), bin(reason)]));
        }
        let flat = eval(&self.conn, EXCHANGE, &keys, args)?;
        flat.chunks(3)
            .map(|c| match c {
                [id, n, RedisResult::Binary(payload)] => Ok(Delivery {
                    entry: text(id)?,
                    deliveries: int(n)?.try_into().unwrap_or(u32::MAX),
                    payload: payload.clone(),
                }),
                _ => Err(PortError("redis: the exchange script returned an unexpected shape".into())),
            })
            .collect()
    }

    fn wake(&self) -> Result<(), PortError> {
        self.conn.publish(&self.topic.channel, b"more").map_err(|e| PortError(format!("redis: {e}")))
    }
}

/// pipeline-api's side.
pub struct TopicOperations(pub Topic);

impl Operations for TopicOperations {
    fn status(&self) -> Result<Status, PortError> {
        let t = &self.0;
        let conn = t.connect()?;
        let flat = eval(&conn, STATUS, &[t.stream.clone(), t.stats()], vec![bin(format!("{}:dead:", t.stream))])?;
        let stream_length = flat.first().map(int).transpose()?.unwrap_or(0).max(0) as u64;
        let opt = |v: i64| (v >= 0).then_some(v as u64);
        let groups = flat[1.min(flat.len())..]
            .chunks(7)
            .map(|c| match c {
                [name, lag, pending, age, dead, delivered, acked] => Ok(GroupStatus {
                    group: text(name)?,
                    lag: opt(int(lag)?),
                    pending: int(pending)?.max(0) as u64,
                    oldest_pending_age_ms: opt(int(age)?),
                    dead_letters: int(dead)?.max(0) as u64,
                    delivered: int(delivered)?.max(0) as u64,
                    acked: int(acked)?.max(0) as u64,
                }),
                _ => Err(PortError("redis: status returned an unexpected shape".into())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Status { stream_length, groups })
    }

    fn redrive(&self, group: &str) -> Result<u64, PortError> {
        let t = &self.0;
        let conn = t.connect()?;
        let moved =
            eval(&conn, REDRIVE, &[t.stream.clone(), t.dead_letters(group)], vec![bin(group), bin(&t.channel)])?;
        Ok(moved.first().map(int).transpose()?.unwrap_or(0).max(0) as u64)
    }

    fn ring(&self) -> Result<(), PortError> {
        let t = &self.0;
        t.connect()?.publish(&t.channel, b"doorbell").map_err(|e| PortError(format!("redis: {e}")))
    }
}

/// A consumer's queue and its batch size, from its variables (`batch_size`,
/// `visibility_timeout_ms`, `max_deliveries` and the topic's).
pub fn open_group(group: &str) -> Result<(GroupQueue, usize), String> {
    let config = GroupConfig::from_variables(
        &variable("batch_size")?,
        &variable("visibility_timeout_ms")?,
        &variable("max_deliveries")?,
    )?;
    let batch = config.batch;
    let queue = GroupQueue::open(Topic::from_variables()?, group, config).map_err(|e| e.to_string())?;
    Ok((queue, batch))
}
