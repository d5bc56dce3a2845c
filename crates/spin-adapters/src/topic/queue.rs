//! A consumer group's side of the topic: one round trip per batch (`lua/exchange.lua`:
//! settle the last batch, claim the next), and the retry clock's check.

use std::rc::Rc;

use order_core::delivery::group_config::GroupConfig;
use order_core::delivery::partitions::Partition;
use order_core::delivery::wake::BELL_LEASE_MS;
use order_core::ports::queue::{Claimed, ClockCheck, Contact, Delivery, Next, Queue, Settlement, Stop};
use order_core::ports::PortError;
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::redis::{bin, int, text, Redis, SpinRedis};
use crate::topic::server::{eviction_warning, notify_keyspace_events_with_expiry};
use crate::topic::{Topic, CLOCK_CHECK_TTL_MS, EXCHANGE};
use crate::variable;
use crate::wake::Doorbell;

/// A consumer's side: its group on the topic, over one connection (`R`: Spin's outbound
/// Redis, shared with a store on the same server).
pub struct GroupQueue<R = Rc<SpinRedis>> {
    topic: Topic,
    group: String,
    config: GroupConfig,
    redis: R,
}

impl<R: Redis> GroupQueue<R> {
    /// `group`'s queue over `redis`. The consumer name is the group's: Spin instances
    /// are short-lived, and pending entries are re-claimed by idle time, whoever held them.
    pub fn over(topic: Topic, group: &str, config: GroupConfig, redis: R) -> GroupQueue<R> {
        GroupQueue { topic, group: group.to_owned(), config, redis }
    }

    /// Its connection, for a store on the same Redis to share.
    pub fn redis(&self) -> &R {
        &self.redis
    }

    pub fn doorbell(&self) -> Doorbell {
        self.topic.doorbell
    }

    /// Records that this partition's retry clock is not heard here (partition 0 keeps a
    /// timer for it), so the exchange does not ask for a check again for a minute.
    pub fn record_clock_forwarded(&self, check: &ClockCheck) -> Result<(), PortError> {
        let key = format!("{}:{}", self.topic.clock(), check.0);
        let args = vec![bin(key), bin("forwarded"), bin("PX"), RedisParameter::Int64(CLOCK_CHECK_TTL_MS)];
        self.redis.execute("SET", args).map(drop)
    }

    /// What the server's `maxmemory-policy` puts at risk, if anything (see
    /// [`eviction_warning`]); `None` too where `INFO` is refused.
    pub fn eviction_warning(&self) -> Option<String> {
        let reply = self.redis.execute("INFO", vec![bin("memory")]).ok()?;
        let info = reply.first().map(text)?.ok()?;
        let policy = info.lines().find_map(|l| l.strip_prefix("maxmemory_policy:"))?;
        eviction_warning(policy.trim())
    }
}

impl<R: Redis> Partition for GroupQueue<R> {
    fn index(&self) -> u32 {
        self.topic.index
    }

    /// [`Topic::forwards_rings`].
    fn forwards_rings(&self) -> bool {
        self.topic.forwards_rings()
    }

    /// [`Topic::keep_others_timer`], for this group; nothing where the doorbell is on
    /// HTTP, where no timer is heard and the caller calls the drain endpoint instead.
    fn keep_others_timer(&self, ms: u64, ring: bool) -> Result<(), PortError> {
        if self.topic.doorbell != Doorbell::Redis {
            return Ok(());
        }
        self.topic.keep_others_timer(&self.redis, std::slice::from_ref(&self.group), ms, ring).map(drop)
    }
}

impl<R: Redis> Queue for GroupQueue<R> {
    fn exchange(&self, settle: &Settlement, next: Next, contact: Contact) -> Result<Claimed, PortError> {
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
            RedisParameter::Int64(i64::from(contact == Contact::First)),
            RedisParameter::Int64(t.groups.len() as i64),
        ];
        args.extend(t.groups.iter().map(bin));
        args.push(RedisParameter::Int64(settle.acked.len() as i64));
        args.extend(settle.acked.iter().map(bin));
        for list in [&settle.failed, &settle.dead] {
            args.push(RedisParameter::Int64(list.len() as i64));
            args.extend(list.iter().flat_map(|(id, reason)| [bin(id), bin(reason)]));
        }
        let flat = self.redis.eval(EXCHANGE, keys.into_iter().map(String::into_bytes).collect(), args)?;
        let shape = || PortError::unexpected("redis: the exchange script returned an unexpected shape");
        // Four flags, then a triple per delivery.
        if flat.len() < 4 || (flat.len() - 4) % 3 != 0 {
            return Err(shape());
        }
        let mut flat = flat.into_iter();
        let flags: Vec<RedisResult> = flat.by_ref().take(4).collect();
        // The payloads are moved out of the reply, not copied.
        let mut deliveries = Vec::with_capacity(flat.len() / 3);
        while let (Some(id), Some(n), Some(payload)) = (flat.next(), flat.next(), flat.next()) {
            let RedisResult::Binary(payload) = payload else { return Err(shape()) };
            deliveries.push(Delivery {
                entry: text(&id)?,
                deliveries: int(&n)?.try_into().unwrap_or(u32::MAX),
                payload,
            });
        }
        // The script asks for a check by naming the server's run id, which the check's
        // outcome is recorded under.
        let run_id = text(&flags[1])?;
        let check_clock = (!run_id.is_empty()).then_some(ClockCheck(run_id));
        Ok(Claimed {
            deliveries,
            more: int(&flags[0])? == 1,
            check_clock,
            rang: int(&flags[2])? == 1,
            timer_ms: u64::try_from(int(&flags[3])?).ok(),
        })
    }

    /// Turns on the keyspace notifications the timer's expiry is heard by
    /// (`notify-keyspace-events` must hold `K` and `x`), keeping the server's other
    /// flags, and records the outcome for a minute on this run of the server
    /// (`<stream>:clock:<run id>`, shown by `GET /pipeline`). A Redis that refuses `CONFIG` (most managed ones) gets a
    /// reason saying what to set in its own configuration.
    fn check_clock(&self, check: &ClockCheck) -> Result<(), String> {
        let exec = |cmd: &str, args: Vec<RedisParameter>| self.redis.execute(cmd, args).map_err(|e| e.to_string());
        let refused = |why: String| {
            format!(
                "the retry clock cannot fire: Redis refused CONFIG ({why}). Set `notify-keyspace-events Kx` \
                 (or add K and x to the flags already set) in the server's configuration; until then a failed \
                 message is retried at the platform clock's next call of GET /pipeline/tick, when an order is \
                 posted, or when POST /pipeline/doorbell is called"
            )
        };
        let result =
            exec("CONFIG", vec![bin("GET"), bin("notify-keyspace-events")]).map_err(refused).and_then(|reply| {
                let current = reply.get(1).map(text).transpose().map_err(|e| refused(e.to_string()))?;
                match notify_keyspace_events_with_expiry(current.as_deref().unwrap_or("")) {
                    None => Ok(()),
                    Some(flags) => exec("CONFIG", vec![bin("SET"), bin("notify-keyspace-events"), bin(flags)])
                        .map(drop)
                        .map_err(refused),
                }
            });
        let state = match &result {
            Ok(()) => "on".to_owned(),
            Err(why) => format!("off: {why}"),
        };
        let _ = exec(
            "SET",
            vec![
                bin(format!("{}:{}", self.topic.clock(), check.0)),
                bin(state),
                bin("PX"),
                RedisParameter::Int64(CLOCK_CHECK_TTL_MS),
            ],
        );
        result
    }
}

/// A consumer's queue on each partition of the topic (partition 0 first, over the
/// connection a store on the same Redis shares) and its settings, from its variables
/// (`batch_size`, `visibility_timeout_ms`, `max_deliveries`, `drain_budget_ms`,
/// `batch_linger_ms` and the topic's).
pub fn open_group(group: &str) -> Result<(Vec<GroupQueue>, GroupConfig), String> {
    let config = GroupConfig::from_variables(
        &variable("batch_size")?,
        &variable("visibility_timeout_ms")?,
        &variable("max_deliveries")?,
        &variable("drain_budget_ms")?,
        &variable("batch_linger_ms")?,
    )?;
    let queues = Topic::from_variables()?
        .each_partition()
        .into_iter()
        .map(|topic| {
            let redis = Rc::new(topic.redis());
            GroupQueue::over(topic, group, config.clone(), redis)
        })
        .collect();
    Ok((queues, config))
}
