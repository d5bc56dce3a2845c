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
//!
//! Keys beside the stream, per group: `<stream>:wake:<group>` (the doorbell's bell and
//! the retry clock's timer in one: its expiry is heard on the keyspace channel
//! `__keyspace@<db>__:<stream>:wake:<group>`), `<stream>:dead:<group>`,
//! `<stream>:failures:<group>`; and `<stream>:stats`, `<stream>:clock:<run id>` (how
//! the retry clock stood when last checked on this run of the Redis server),
//! `<stream>:doorbell` and `<stream>:tick` (the rate limits of `POST /pipeline/doorbell`
//! and `GET /pipeline/tick`).

use order_core::consumer::{eviction_warning, notify_keyspace_events_with_expiry, GroupConfig};
use order_core::delivery::{Claimed, Delivery, Next, Queue, Settlement, Stop, BELL_LEASE_MS};
use order_core::pipeline::{DeadLetter, GroupStatus, Operations, RetryClock, Rung, Status};
use order_core::ports::{Idempotency, Published, IDEMPOTENCY_TTL_MS};
use order_core::{PortError, Publisher};
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::address::RedisAddress;
use crate::variable;

/// The publish script, as order-api sends it.
pub const PUBLISH: &str = concat!(include_str!("lua/require_redis7.lua"), include_str!("lua/publish.lua"));
const EXCHANGE: &str = concat!(include_str!("lua/require_redis7.lua"), include_str!("lua/exchange.lua"));
const STATUS: &str = include_str!("lua/status.lua");
const REDRIVE: &str = include_str!("lua/redrive.lua");
const RING: &str = include_str!("lua/ring.lua");
const TICK: &str = include_str!("lua/tick.lua");
const DEAD_LETTERS: &str = include_str!("lua/dead_letters.lua");

/// How long a retry-clock check holds before it is made again (a restarted Redis is
/// checked at once: the check is kept per run id).
const CLOCK_CHECK_TTL_MS: i64 = 60_000;
/// `POST /pipeline/doorbell` rings at most once per this long, and so does
/// `GET /pipeline/tick`.
pub const DOORBELL_LIMIT_MS: i64 = 1_000;

/// How a consumer group is woken (the variable `doorbell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doorbell {
    /// `redis`: a message on `orders_channel`, heard by the Redis trigger (`spin up`,
    /// SpinKube). The retry clock is heard there too.
    Redis,
    /// `http`: no Redis trigger runs (Fermyon Cloud, Akamai Functions). The scripts
    /// still take and release the bells, but publish nothing; whoever took a bell calls
    /// the group's drain endpoint (see [`crate::doorbell`]). Retries come with the next
    /// order or the next scheduled call.
    Http,
}

/// Where the topic lives, from the variables `redis_address`, `redis_host`,
/// `orders_stream`, `orders_channel`, `consumer_groups` and `doorbell`.
#[derive(Debug, Clone)]
pub struct Topic {
    pub address: RedisAddress,
    pub stream: String,
    pub channel: String,
    pub groups: Vec<String>,
    pub doorbell: Doorbell,
}

impl Topic {
    pub fn from_variables() -> Result<Topic, String> {
        let groups: Vec<String> = group_list(&variable("consumer_groups")?);
        if groups.is_empty() {
            return Err("variable `consumer_groups` names no group".into());
        }
        Ok(Topic {
            address: RedisAddress::new(&variable("redis_address")?, &variable("redis_host")?)?,
            stream: variable("orders_stream")?,
            channel: variable("orders_channel")?,
            groups,
            doorbell: match variable("doorbell")?.trim() {
                "redis" => Doorbell::Redis,
                "http" => Doorbell::Http,
                other => return Err(format!("variable `doorbell` must be `redis` or `http`, not `{other}`")),
            },
        })
    }

    /// The channel the scripts publish on: none when the doorbell rings over HTTP.
    fn doorbell_channel(&self) -> &str {
        match self.doorbell {
            Doorbell::Redis => &self.channel,
            Doorbell::Http => "",
        }
    }

    /// One connection. Its error names the address without user info, and is scrubbed
    /// of it (Spin's own refusal of an allowed host quotes the address).
    pub fn connect(&self) -> Result<Connection, PortError> {
        let a = &self.address;
        Connection::open(a.url()).map_err(|e| PortError(a.scrub(&format!("redis at {}: {e}", a.shown()))))
    }

    fn dead_letters(&self, group: &str) -> String {
        format!("{}:dead:{group}", self.stream)
    }

    fn wake(&self, group: &str) -> String {
        format!("{}:wake:{group}", self.stream)
    }

    fn clock(&self) -> String {
        format!("{}:clock", self.stream)
    }

    fn failures(&self, group: &str) -> String {
        format!("{}:failures:{group}", self.stream)
    }

    fn stats(&self) -> String {
        format!("{}:stats", self.stream)
    }
}

/// Groups named in a comma-separated list (a variable, or a doorbell's payload).
fn group_list(csv: &str) -> Vec<String> {
    csv.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect()
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

/// order-api's side: append, then ring the groups whose bell is free; with an
/// idempotency key, decided in the same script. With the doorbell on HTTP, the groups
/// whose bell it took are kept in [`TopicPublisher::rung`], for order-api to call after
/// it has answered.
pub struct TopicPublisher {
    pub topic: Topic,
    pub rung: std::cell::RefCell<Vec<String>>,
}

impl TopicPublisher {
    pub fn new(topic: Topic) -> TopicPublisher {
        TopicPublisher { topic, rung: Default::default() }
    }
}

impl Publisher for TopicPublisher {
    fn publish(&self, payload: &[u8], idempotency: Option<&Idempotency>) -> Result<Published, PortError> {
        let t = &self.topic;
        let conn = t.connect()?;
        let mut keys = vec![t.stream.clone(), t.stats()];
        keys.extend(t.groups.iter().map(|g| t.wake(g)));
        let mut args = vec![
            bin(payload),
            bin(t.doorbell_channel()),
            RedisParameter::Int64(BELL_LEASE_MS as i64),
            RedisParameter::Int64(t.groups.len() as i64),
        ];
        args.extend(t.groups.iter().map(bin));
        if let Some(i) = idempotency {
            keys.push(format!("{}:idem:{}", t.stream, i.key_digest));
            args.extend([bin(&i.fingerprint), bin(&i.answer), RedisParameter::Int64(IDEMPOTENCY_TTL_MS as i64)]);
        }
        let reply = eval(&conn, PUBLISH, &keys, args)?;
        match (reply.first().map(text).transpose()?.as_deref(), reply.get(1)) {
            (Some("appended"), _) => {
                if t.doorbell == Doorbell::Http {
                    let rung = reply.get(2).map(text).transpose()?.unwrap_or_default();
                    *self.rung.borrow_mut() = group_list(&rung);
                }
                Ok(Published::Appended)
            }
            (Some("replay"), Some(RedisResult::Binary(answer))) => Ok(Published::Replay(answer.clone())),
            (Some("mismatch"), _) => Ok(Published::Mismatch),
            _ => Err(PortError("redis: the publish script returned an unexpected shape".into())),
        }
    }
}

/// A consumer's side: its group on the topic, over one connection.
pub struct GroupQueue {
    topic: Topic,
    group: String,
    config: GroupConfig,
    conn: std::rc::Rc<Connection>,
    /// The Redis run id the exchange script gave with its request for a clock check.
    run_id: std::cell::RefCell<String>,
    /// Whether this invocation has exchanged yet: its first exchange is its first
    /// contact, where the clock is checked whatever happens next.
    contacted: std::cell::Cell<bool>,
}

impl GroupQueue {
    /// The consumer name is the group's: Spin instances are short-lived, and pending
    /// entries are re-claimed by idle time, whoever held them.
    pub fn open(topic: Topic, group: &str, config: GroupConfig) -> Result<GroupQueue, PortError> {
        let conn = topic.connect()?.into();
        Ok(GroupQueue {
            topic,
            group: group.to_owned(),
            config,
            conn,
            run_id: Default::default(),
            contacted: Default::default(),
        })
    }

    /// Its connection and where it leads, for a store on the same Redis to share.
    pub fn connection(&self) -> (std::rc::Rc<Connection>, RedisAddress) {
        (self.conn.clone(), self.topic.address.clone())
    }

    pub fn doorbell(&self) -> Doorbell {
        self.topic.doorbell
    }

    /// What the server's `maxmemory-policy` puts at risk, if anything (see
    /// [`eviction_warning`]); `None` too where `INFO` is refused.
    pub fn eviction_warning(&self) -> Option<String> {
        let reply = self.conn.execute("INFO", &[bin("memory")]).ok()?;
        let info = reply.first().map(text)?.ok()?;
        let policy = info.lines().find_map(|l| l.strip_prefix("maxmemory_policy:"))?;
        eviction_warning(policy.trim())
    }
}

impl Queue for GroupQueue {
    fn exchange(&self, settle: &Settlement, next: Next) -> Result<Claimed, PortError> {
        let t = &self.topic;
        let g = &self.group;
        let keys = [t.stream.clone(), t.dead_letters(g), t.failures(g), t.stats(), t.wake(g), t.clock()];
        let (count, stop) = match next {
            Next::Claim(n) => (n, ""),
            Next::Stop(Stop::Limit) => (0, "limit"),
            Next::Stop(Stop::Pause) => (0, "pause"),
        };
        let mut args = vec![
            bin(g),
            bin(g),
            RedisParameter::Int64(self.config.visibility_timeout_ms as i64),
            RedisParameter::Int64(count as i64),
            RedisParameter::Int64(i64::from(self.config.max_deliveries)),
            bin(stop),
            bin(t.doorbell_channel()),
            RedisParameter::Int64(BELL_LEASE_MS as i64),
            RedisParameter::Int64(i64::from(!self.contacted.replace(true))),
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
        let shape = || PortError("redis: the exchange script returned an unexpected shape".into());
        let (flags, entries) = flat.split_at_checked(3).ok_or_else(shape)?;
        let deliveries = entries
            .chunks(3)
            .map(|c| match c {
                [id, n, RedisResult::Binary(payload)] => Ok(Delivery {
                    entry: text(id)?,
                    deliveries: int(n)?.try_into().unwrap_or(u32::MAX),
                    payload: payload.clone(),
                }),
                _ => Err(shape()),
            })
            .collect::<Result<_, _>>()?;
        let run_id = text(&flags[1])?;
        let check_clock = !run_id.is_empty();
        if check_clock {
            *self.run_id.borrow_mut() = run_id;
        }
        Ok(Claimed { deliveries, more: int(&flags[0])? == 1, check_clock, rang: int(&flags[2])? == 1 })
    }

    /// Turns on the keyspace notifications the timer's expiry is heard by
    /// (`notify-keyspace-events` must hold `K` and `x`), keeping the server's other
    /// flags, and records the outcome for a minute on this run of the server
    /// (`<stream>:clock:<run id>`, shown by `GET /pipeline`). A Redis that refuses `CONFIG` (most managed ones) gets a
    /// reason saying what to set in its own configuration.
    fn check_clock(&self) -> Result<(), String> {
        let exec = |cmd: &str, args: &[RedisParameter]| self.conn.execute(cmd, args).map_err(|e| e.to_string());
        let refused = |why: String| {
            format!(
                "the retry clock cannot fire: Redis refused CONFIG ({why}). Set `notify-keyspace-events Kx` \
                 (or add K and x to the flags already set) in the server's configuration; until then a failed \
                 message is retried at the platform clock's next call of GET /pipeline/tick, when an order is \
                 posted, or when POST /pipeline/doorbell is called"
            )
        };
        let result = exec("CONFIG", &[bin("GET"), bin("notify-keyspace-events")]).map_err(refused).and_then(|reply| {
            let current = reply.get(1).map(text).transpose().map_err(|e| refused(e.to_string()))?;
            match notify_keyspace_events_with_expiry(current.as_deref().unwrap_or("")) {
                None => Ok(()),
                Some(flags) => {
                    exec("CONFIG", &[bin("SET"), bin("notify-keyspace-events"), bin(flags)]).map(drop).map_err(refused)
                }
            }
        });
        let state = match &result {
            Ok(()) => "on".to_owned(),
            Err(why) => format!("off: {why}"),
        };
        let _ = exec(
            "SET",
            &[
                bin(format!("{}:{}", self.topic.clock(), self.run_id.borrow())),
                bin(state),
                bin("PX"),
                RedisParameter::Int64(CLOCK_CHECK_TTL_MS),
            ],
        );
        result
    }
}

/// pipeline-api's side. With the doorbell on HTTP, the groups a redrive or a ring took
/// the bell of are kept in [`TopicOperations::rung`], for pipeline-api to call after it
/// has answered.
pub struct TopicOperations {
    pub topic: Topic,
    pub rung: std::cell::RefCell<Vec<String>>,
}

impl TopicOperations {
    pub fn new(topic: Topic) -> TopicOperations {
        TopicOperations { topic, rung: Default::default() }
    }
}

impl Operations for TopicOperations {
    fn status(&self) -> Result<Status, PortError> {
        let t = &self.topic;
        let conn = t.connect()?;
        let flat =
            eval(&conn, STATUS, &[t.stream.clone(), t.stats(), t.clock()], vec![bin(format!("{}:dead:", t.stream))])?;
        let stream_length = flat.first().map(int).transpose()?.unwrap_or(0).max(0) as u64;
        let retry_clock = flat.get(1).map(text).transpose()?.unwrap_or_default();
        let opt = |v: i64| (v >= 0).then_some(v as u64);
        let orders_accepted = flat.get(2).map(int).transpose()?.unwrap_or(0).max(0) as u64;
        let policy = flat.get(3).map(text).transpose()?.unwrap_or_default();
        let groups = flat[4.min(flat.len())..]
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
        // What is true now: the flags as the server has them, or, where it refuses
        // `CONFIG` to us, what a consumer's check recorded.
        let retry_clock = match t.doorbell {
            Doorbell::Redis => match notify_keyspace_events(&conn) {
                Ok(flags) => RetryClock::from_flags(&flags),
                Err(_) => RetryClock::from_state(&retry_clock),
            },
            Doorbell::Http => RetryClock::scheduled(),
        };
        let warnings = eviction_warning(&policy).into_iter().collect();
        Ok(Status { stream_length, orders_accepted, retry_clock, groups, warnings }.with_configured_groups(&t.groups))
    }

    fn redrive(&self, group: &str) -> Result<u64, PortError> {
        let t = &self.topic;
        let conn = t.connect()?;
        let reply = eval(
            &conn,
            REDRIVE,
            &[t.stream.clone(), t.dead_letters(group), t.wake(group)],
            vec![bin(group), bin(t.doorbell_channel()), RedisParameter::Int64(BELL_LEASE_MS as i64)],
        )?;
        if t.doorbell == Doorbell::Http && reply.get(1).map(int).transpose()? == Some(1) {
            self.rung.borrow_mut().push(group.to_owned());
        }
        Ok(reply.first().map(int).transpose()?.unwrap_or(0).max(0) as u64)
    }

    fn dead_letters(&self, group: &str, limit: usize) -> Result<(Vec<DeadLetter>, u64), PortError> {
        let t = &self.topic;
        let flat =
            eval(&t.connect()?, DEAD_LETTERS, &[t.dead_letters(group)], vec![RedisParameter::Int64(limit as i64)])?;
        let total = flat.first().map(int).transpose()?.unwrap_or(0).max(0) as u64;
        let letters = flat[1.min(flat.len())..]
            .chunks(5)
            .map(|c| match c {
                [entry, original, deliveries, reason, envelope] => Ok(DeadLetter {
                    entry: text(entry)?,
                    original_entry: text(original)?,
                    deliveries: int(deliveries)?.max(0) as u64,
                    reason: text(reason)?,
                    envelope: match envelope {
                        RedisResult::Binary(b) if !b.is_empty() => Some(b.clone()),
                        _ => None,
                    },
                }),
                _ => Err(PortError("redis: the dead-letter listing returned an unexpected shape".into())),
            })
            .collect::<Result<_, _>>()?;
        Ok((letters, total))
    }

    fn ring(&self) -> Result<Rung, PortError> {
        let t = &self.topic;
        let mut args = vec![bin(t.doorbell_channel()), RedisParameter::Int64(DOORBELL_LIMIT_MS)];
        args.extend(t.groups.iter().map(bin));
        let reply = eval(&t.connect()?, RING, &[format!("{}:doorbell", t.stream)], args)?;
        let groups = reply.first().map(text).transpose()?.unwrap_or_default();
        let groups = group_list(&groups);
        if t.doorbell == Doorbell::Http {
            *self.rung.borrow_mut() = groups.clone();
        }
        Ok(Rung { groups, subscribers: reply.get(1).map(int).transpose()?.unwrap_or(0).max(0) as u64 })
    }

    fn tick(&self) -> Result<Rung, PortError> {
        let t = &self.topic;
        let mut args = vec![bin(t.doorbell_channel()), RedisParameter::Int64(DOORBELL_LIMIT_MS)];
        args.extend(t.groups.iter().map(bin));
        let reply = eval(&t.connect()?, TICK, &[format!("{}:tick", t.stream), t.stream.clone()], args)?;
        let groups = group_list(&reply.first().map(text).transpose()?.unwrap_or_default());
        if t.doorbell == Doorbell::Http {
            *self.rung.borrow_mut() = groups.clone();
        }
        Ok(Rung { groups, subscribers: reply.get(1).map(int).transpose()?.unwrap_or(0).max(0) as u64 })
    }
}

/// The server's `notify-keyspace-events` (`Err` where `CONFIG` is refused).
fn notify_keyspace_events(conn: &Connection) -> Result<String, String> {
    let reply = conn.execute("CONFIG", &[bin("GET"), bin("notify-keyspace-events")]).map_err(|e| e.to_string())?;
    reply.get(1).map(text).transpose().map_err(|e| e.to_string())?.ok_or_else(|| "no such setting".to_owned())
}

/// A consumer's queue and its settings, from its variables (`batch_size`,
/// `visibility_timeout_ms`, `max_deliveries`, `drain_budget_ms`, `batch_linger_ms` and
/// the topic's).
pub fn open_group(group: &str) -> Result<(GroupQueue, GroupConfig), String> {
    let config = GroupConfig::from_variables(
        &variable("batch_size")?,
        &variable("visibility_timeout_ms")?,
        &variable("max_deliveries")?,
        &variable("drain_budget_ms")?,
        &variable("batch_linger_ms")?,
    )?;
    let queue = GroupQueue::open(Topic::from_variables()?, group, config.clone()).map_err(|e| e.to_string())?;
    Ok((queue, config))
}
