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
//! connection an invocation opens to that partition's server, and none can be half done. A consumer spends one
//! round trip per batch (`exchange.lua`: settle the last batch, claim the next).
//!
//! Keys beside the stream, per group: `<stream>:wake:<group>` (the doorbell's bell and
//! the retry clock's timer in one: its expiry is heard on the keyspace channel
//! `__keyspace@<db>__:<stream>:wake:<group>`), `<stream>:dead:<group>`,
//! `<stream>:failures:<group>`, `<stream>:wake-others:<group>` (on partition 0 only: the
//! timer kept for the other partitions, heard on its own keyspace channel); and
//! `<stream>:idem:<digest>` (an `Idempotency-Key`'s record), `<stream>:stats`, `<stream>:clock:<run id>` (how
//! the retry clock stood when last checked on this run of the Redis server),
//! `<stream>:durability:<run id>` (what the server gives, and order-api's plan for its
//! durability level: [`durability`]), `<stream>:doorbell` and `<stream>:tick` (the rate limits of `POST /pipeline/doorbell`
//! and `GET /pipeline/tick`).
//!
//! Each side of it has a file: [`publisher`] (order-api), [`queue`] (a consumer group),
//! [`operations`] (pipeline-api); [`server`] holds what the topic needs of its Redis
//! server. What wakes the consumers is [`crate::wake`].

/// The topic's messaging system, as its spans name it (OpenTelemetry's semantic
/// conventions for Redis streams).
pub const MESSAGING: order_core::model::span::MessagingSystem =
    order_core::model::span::MessagingSystem { name: "redis", entry_id_attribute: "messaging.redis.entry_id" };

pub mod durability;
pub mod operations;
pub mod publisher;
pub mod queue;
pub mod server;

use order_core::model::partition::MAX_PARTITIONS;

use crate::address::RedisAddress;
use crate::redis::{bin, int, Redis, SpinRedis};
use crate::variable;
use crate::wake::Doorbell;
use order_core::ports::PortError;
use spin_sdk::redis::RedisParameter;

/// The publish script, as order-api sends it.
pub const PUBLISH: &str = concat!(include_str!("../lua/require_redis7.lua"), include_str!("../lua/publish.lua"));
pub(crate) const EXCHANGE: &str =
    concat!(include_str!("../lua/require_redis7.lua"), include_str!("../lua/exchange.lua"));
pub(crate) const STATUS: &str = include_str!("../lua/status.lua");
pub(crate) const REDRIVE: &str = include_str!("../lua/redrive.lua");
pub(crate) const RING: &str = include_str!("../lua/ring.lua");
pub(crate) const TICK: &str = include_str!("../lua/tick.lua");
pub(crate) const DEAD_LETTERS: &str = include_str!("../lua/dead_letters.lua");
pub(crate) const OTHERS_TIMER: &str = include_str!("../lua/others_timer.lua");

/// How long a retry-clock check holds before it is made again (a restarted Redis is
/// checked at once: the check is kept per run id).
pub(crate) const CLOCK_CHECK_TTL_MS: i64 = 60_000;
/// `POST /pipeline/doorbell` rings at most once per this long, and so does
/// `GET /pipeline/tick`.
pub const DOORBELL_LIMIT_MS: i64 = 1_000;

/// Where the topic lives, from the variables `redis_address`, `partition_addresses`,
/// `orders_stream`, `orders_channel`, `consumer_groups` and `doorbell`.
///
/// A topic of several partitions ([`order_core::model::partition`]) is one whole topic
/// per Redis address (stream, groups, dead letters, idempotency records, bells), and
/// partition 0, `redis_address`, is also the control: only its channel is heard (the
/// Redis trigger subscribes to one address), so the other partitions' scripts publish
/// nothing and their rings are forwarded to it ([`Topic::forwards_rings`]), and their
/// retry clocks are followed by a timer of its own, `<stream>:wake-others:<group>`
/// (see `crate::consumer`).
#[derive(Debug, Clone)]
pub struct Topic {
    /// This partition's server.
    pub address: RedisAddress,
    /// The other partitions' servers, 1 to P-1, in order: set on partition 0's topic
    /// only (a partition's own topic has none).
    pub partitions: Vec<RedisAddress>,
    /// Which partition this is (0: the control).
    pub index: u32,
    pub stream: String,
    pub channel: String,
    pub groups: Vec<String>,
    pub doorbell: Doorbell,
}

impl Topic {
    /// Read per request (order-api reads it on every `POST`, at about 12 µs a variable
    /// under Spin): `redis_host` is read only when a connection fails, to explain it, and
    /// `orders_channel` only where the doorbell is on Redis.
    pub fn from_variables() -> Result<Topic, String> {
        let groups: Vec<String> = group_list(&variable("consumer_groups")?);
        if groups.is_empty() {
            return Err("variable `consumer_groups` names no group".into());
        }
        let doorbell = Doorbell::from_variable(&variable("doorbell")?)?;
        Ok(Topic {
            address: RedisAddress::parse(&variable("redis_address")?)?,
            // A manifest that does not declare it has one partition.
            partitions: partition_addresses(&variable("partition_addresses").unwrap_or_default())?,
            index: 0,
            stream: variable("orders_stream")?,
            channel: match doorbell {
                Doorbell::Redis => variable("orders_channel")?,
                Doorbell::Http => String::new(),
            },
            groups,
            doorbell,
        })
    }

    /// How many partitions the topic has (1 and up).
    pub fn partition_count(&self) -> u32 {
        1 + self.partitions.len() as u32
    }

    /// Partition `index`'s own topic (0: this one, without the others).
    pub fn partition(&self, index: u32) -> Topic {
        let address = match index {
            0 => self.address.clone(),
            i => self.partitions[i as usize - 1].clone(),
        };
        Topic {
            address,
            partitions: Vec::new(),
            index,
            stream: self.stream.clone(),
            channel: self.channel.clone(),
            groups: self.groups.clone(),
            doorbell: self.doorbell,
        }
    }

    /// On partition 0's server (`redis`; this is partition 0's topic): keeps each of
    /// `groups`' timer for the other partitions within `ms`, and, with `ring`, rings
    /// them on the channel (`lua/others_timer.lua`). How many subscribers heard it.
    pub(crate) fn keep_others_timer<R: Redis>(
        &self,
        redis: &R,
        groups: &[String],
        ms: u64,
        ring: bool,
    ) -> Result<u64, PortError> {
        debug_assert_eq!(self.index, 0, "the others' timer is on partition 0");
        let keys = groups.iter().map(|g| self.wake_others(g).into_bytes()).collect();
        let channel = if ring { self.channel.as_str() } else { "" };
        let args = vec![RedisParameter::Int64(ms.max(1) as i64), bin(channel), bin(groups.join(","))];
        let reply = redis.eval(OTHERS_TIMER, keys, args)?;
        Ok(reply.first().map(int).transpose()?.unwrap_or(0).max(0) as u64)
    }

    /// Every partition's own topic, the control (0) first.
    pub fn each_partition(&self) -> Vec<Topic> {
        (0..self.partition_count()).map(|i| self.partition(i)).collect()
    }

    /// Whether its rings go to the control's channel, by its caller, rather than on its
    /// own: a partition other than 0, with the doorbell on Redis.
    pub fn forwards_rings(&self) -> bool {
        self.index != 0 && self.doorbell == Doorbell::Redis
    }

    /// The channel the scripts publish on: none when the doorbell rings over HTTP, or
    /// when the partition's rings are forwarded to the control.
    pub(crate) fn doorbell_channel(&self) -> &str {
        match self.doorbell {
            Doorbell::Redis if self.index == 0 => &self.channel,
            _ => "",
        }
    }

    /// Its Redis, connected at the first command.
    pub fn redis(&self) -> SpinRedis {
        match self.index {
            0 => SpinRedis::new(self.address.clone()),
            n => SpinRedis::partition(self.address.clone(), n),
        }
    }

    pub(crate) fn dead_letters(&self, group: &str) -> String {
        format!("{}:dead:{group}", self.stream)
    }

    pub(crate) fn wake(&self, group: &str) -> String {
        format!("{}:wake:{group}", self.stream)
    }

    /// The timer partition 0 keeps for the other partitions of the group, whose own
    /// timers expire unheard (heard on `__keyspace@<db>__:<stream>:wake-others:<group>`).
    pub(crate) fn wake_others(&self, group: &str) -> String {
        format!("{}:wake-others:{group}", self.stream)
    }

    pub(crate) fn clock(&self) -> String {
        format!("{}:clock", self.stream)
    }

    pub(crate) fn failures(&self, group: &str) -> String {
        format!("{}:failures:{group}", self.stream)
    }

    /// The prefix of what its server gives, per server run (`<prefix>:<run id>`, see
    /// [`durability`]).
    pub(crate) fn durability(&self) -> String {
        format!("{}:durability", self.stream)
    }

    pub(crate) fn stats(&self) -> String {
        format!("{}:stats", self.stream)
    }
}

/// The variable `partition_addresses`: the addresses of partitions 1 and up, comma
/// separated, in order (empty: the topic is partition 0 alone). Each is a Redis
/// address as `redis_address` is; at most [`MAX_PARTITIONS`] partitions in all.
pub fn partition_addresses(csv: &str) -> Result<Vec<RedisAddress>, String> {
    let addresses: Vec<RedisAddress> = csv
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            RedisAddress::parse(a).map_err(|_| {
                "variable `partition_addresses` must list redis:// or rediss:// addresses, comma separated".to_owned()
            })
        })
        .collect::<Result<_, _>>()?;
    if addresses.len() + 1 > MAX_PARTITIONS as usize {
        return Err(format!(
            "variable `partition_addresses` lists {} addresses: a topic has at most {MAX_PARTITIONS} partitions, \
             `redis_address` and {} more",
            addresses.len(),
            MAX_PARTITIONS - 1
        ));
    }
    Ok(addresses)
}

/// Groups named in a comma-separated list (a variable, or a doorbell's payload).
pub(crate) fn group_list(csv: &str) -> Vec<String> {
    csv.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect()
}
