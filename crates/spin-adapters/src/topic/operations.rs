//! pipeline-api's side of the topic: its health, the dead letters, redrive, the doorbell
//! and the platform clock's tick, each one script.

use order_core::delivery::wake::BELL_LEASE_MS;
use order_core::model::durability::Durability;
use order_core::ports::operations::{
    configured_groups, newest_first, DeadLetter, DoorbellRing, DurabilityStatus, GroupStatus, Operations,
    PartitionStatus, Redrive, ServerPersistence, Status,
};
use order_core::ports::PortError;
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::redis::{bin, int, text, Redis, SpinRedis};
use crate::topic::durability::{self, DurabilityConfig, Primary, ServerFacts};
use crate::topic::server::{
    eviction_warning, notify_keyspace_events, retry_clock_from_flags, retry_clock_recorded, retry_clock_scheduled,
};
use crate::topic::{group_list, Topic, DEAD_LETTERS, DOORBELL_LIMIT_MS, REDRIVE, RING, STATUS, TICK};
use crate::wake::Doorbell;

/// pipeline-api's side, over `R` (Spin's outbound Redis, connected at the first call).
/// With the doorbell on HTTP, a redrive, a ring and a tick name the groups whose bell
/// they took, for pipeline-api to call once it has answered.
pub struct TopicOperations<R = SpinRedis> {
    topic: Topic,
    redis: R,
    /// The topic's other partitions (1 and up), each over its own server.
    others: Vec<(Topic, R)>,
    /// The level order-api holds orders to, for `GET /pipeline` (`Err`: the variables
    /// do not name one; `None`: not known here).
    durability: Option<Result<DurabilityConfig, String>>,
}

impl TopicOperations {
    pub fn new(topic: Topic) -> TopicOperations {
        let others = topic
            .each_partition()
            .into_iter()
            .skip(1)
            .map(|t| {
                let redis = t.redis();
                (t, redis)
            })
            .collect();
        let redis = topic.redis();
        TopicOperations { topic, redis, others, durability: None }
    }
}

impl<R: Redis> TopicOperations<R> {
    /// The operations of `topic` over `redis`.
    pub fn over(topic: Topic, redis: R) -> TopicOperations<R> {
        TopicOperations { topic, redis, others: Vec::new(), durability: None }
    }

    /// The same, showing `durability` (as the variables give it) in the status.
    pub fn with_durability(self, durability: Result<DurabilityConfig, String>) -> TopicOperations<R> {
        TopicOperations { durability: Some(durability), ..self }
    }

    /// The level in force as the server gives it now, and a warning where it is refused
    /// or rests on a declaration.
    fn durability_status(&self) -> Option<(DurabilityStatus, Option<String>)> {
        let config = match self.durability.as_ref()? {
            Ok(config) => config,
            Err(e) => {
                let level = DurabilityStatus {
                    level: "unknown".into(),
                    survives: "nothing order-api can promise: it refuses every order".into(),
                    confirmed_by: "refused",
                    replicas: 0,
                    server: persistence(&ServerFacts::default()),
                    detail: Some(e.clone()),
                };
                return Some((level, Some(format!("order-api refuses every order: {e}"))));
            }
        };
        let facts = durability::learn(&self.redis);
        let (confirmed_by, detail) = match (config.level, durability::plan(config, &facts)) {
            (Durability::Memory, _) => ("unchecked", None),
            (_, Ok(plan)) => match plan.primary {
                Primary::Settings => ("settings", None),
                Primary::WaitAof => ("waitaof", None),
                Primary::Declared => ("declared", None),
            },
            (_, Err(why)) => ("refused", Some(why)),
        };
        let warning = match confirmed_by {
            "refused" => detail.as_ref().map(|why| format!("order-api refuses every order (503): {why}")),
            "declared" => Some(declared_warning(config)),
            "unchecked" => Some(
                "durability `memory`: an accepted order is held in Redis's memory only, and a crash of the Redis \
                 process loses it"
                    .into(),
            ),
            _ => None,
        };
        let level = DurabilityStatus {
            level: config.level.to_string(),
            survives: crate::topic::durability::survives(config.level),
            confirmed_by,
            replicas: config.level.replicas(),
            server: persistence(&facts),
            detail,
        };
        Some((level, warning))
    }

    /// What `GET /pipeline` warns of a partition other than 0's durability: a level its
    /// server refuses (order-api refuses its accounts' orders) or cannot confirm. The
    /// level itself, and a `memory` level's warning, are partition 0's.
    fn partition_durability_warning(&self, redis: &R) -> Option<String> {
        let Some(Ok(config)) = self.durability.as_ref() else { return None };
        if config.level == Durability::Memory {
            return None;
        }
        match durability::plan(config, &durability::learn(redis)) {
            Err(why) => Some(format!("order-api refuses its accounts' orders (503): {why}")),
            Ok(plan) if plan.primary == Primary::Declared => Some(declared_warning(config)),
            Ok(_) => None,
        }
    }

    fn eval(&self, script: &str, keys: Vec<String>, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, PortError> {
        self.redis.eval(script, keys.into_iter().map(String::into_bytes).collect(), args)
    }

    /// Rings `groups` of the other partitions on partition 0's channel, keeping their
    /// timers ([`Topic::keep_others_timer`]); how many subscribers heard it.
    fn forward(&self, groups: &[String]) -> Result<u64, PortError> {
        self.topic.keep_others_timer(&self.redis, groups, BELL_LEASE_MS, true)
    }

    /// A ring's or a tick's answer: the groups rung (comma-separated), and how many
    /// subscribers heard it.
    fn rung(&self, reply: &[RedisResult]) -> Result<DoorbellRing, PortError> {
        let groups = group_list(&reply.first().map(text).transpose()?.unwrap_or_default());
        let subscribers = reply.get(1).map(int).transpose()?.unwrap_or(0).max(0) as u64;
        Ok(DoorbellRing { drain_calls: self.topic.doorbell.drain_calls(groups.clone()), groups, subscribers })
    }
}

impl<R: Redis> Operations for TopicOperations<R> {
    fn messaging_system(&self) -> order_core::model::span::MessagingSystem {
        crate::topic::MESSAGING
    }

    /// Partition 0's status, with every other partition's figures and the totals
    /// ([`Status::with_partitions`]): one that cannot be read is shown as unavailable,
    /// while partition 0 unavailable is the whole answer's `503`.
    fn status(&self) -> Result<Status, PortError> {
        let t = &self.topic;
        let own = figures(t, &self.redis)?;
        // What is true now: the flags as the server has them, or, where it refuses
        // `CONFIG` to us, what a consumer's check recorded.
        let retry_clock = match t.doorbell {
            Doorbell::Redis => match notify_keyspace_events(&self.redis) {
                Ok(flags) => retry_clock_from_flags(&flags),
                Err(_) => retry_clock_recorded(&own.retry_clock),
            },
            Doorbell::Http => retry_clock_scheduled(),
        };
        let mut warnings: Vec<String> = eviction_warning(&own.policy).into_iter().collect();
        let durability = self.durability_status().map(|(status, warning)| {
            warnings.extend(warning);
            status
        });
        // The other partitions' figures, and what their servers put at risk.
        let others = self
            .others
            .iter()
            .map(|(t, redis)| match figures(t, redis) {
                Ok(f) => {
                    let risks = eviction_warning(&f.policy).into_iter().chain(self.partition_durability_warning(redis));
                    warnings.extend(risks.map(|w| format!("partition {}: {w}", t.index)));
                    PartitionStatus {
                        partition: t.index,
                        stream_length: f.stream_length,
                        orders_accepted: f.orders_accepted,
                        groups: configured_groups(f.groups, &t.groups, f.stream_length),
                        unavailable: None,
                    }
                }
                Err(e) => PartitionStatus::unavailable(t.index, e.to_string()),
            })
            .collect();
        let Figures { stream_length, orders_accepted, groups, .. } = own;
        Ok(Status {
            stream_length,
            orders_accepted,
            retry_clock,
            groups: configured_groups(groups, &t.groups, stream_length),
            durability,
            warnings,
            partitions: Vec::new(),
        }
        .with_partitions(others))
    }

    /// On every partition. The others' bells are rung on partition 0's channel. A
    /// partition that cannot be reached fails the redrive, after the others moved theirs
    /// (a second redrive moves what is left).
    fn redrive(&self, group: &str) -> Result<Redrive, PortError> {
        let (moved, took_bell) = redrive_on(&self.topic, &self.redis, group)?;
        let mut redrive = Redrive {
            moved,
            drain_calls: self.topic.doorbell.drain_calls(if took_bell { vec![group.to_owned()] } else { vec![] }),
        };
        let mut failed = None;
        let mut forward = false;
        for (t, redis) in &self.others {
            match redrive_on(t, redis, group) {
                Ok((moved, took_bell)) => {
                    redrive.moved += moved;
                    forward |= took_bell && t.forwards_rings();
                    if took_bell && !t.forwards_rings() && redrive.drain_calls.is_empty() {
                        redrive.drain_calls = self.topic.doorbell.drain_calls(vec![group.to_owned()]);
                    }
                }
                Err(e) => failed = Some(PortError { detail: format!("partition {}: {e}", t.index).into(), ..e }),
            }
        }
        // One ring for every partition whose bell it took, unless partition 0's rang.
        if forward && !took_bell {
            if let Err(e) = self.forward(&[group.to_owned()]) {
                eprintln!("the redrive's ring of {group} could not be forwarded to partition 0: {e}");
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(redrive),
        }
    }

    /// Every partition's newest `limit`, newest first, at most `limit` in all; a
    /// partition that cannot be reached fails the listing.
    fn dead_letters(&self, group: &str, limit: usize) -> Result<(Vec<DeadLetter>, u64), PortError> {
        let (mut letters, mut total) = dead_letters_on(&self.topic, &self.redis, group, limit)?;
        for (t, redis) in &self.others {
            let (more, n) = dead_letters_on(t, redis, group, limit)
                .map_err(|e| PortError { detail: format!("partition {}: {e}", t.index).into(), ..e })?;
            letters.extend(more);
            total += n;
        }
        Ok((newest_first(letters, limit), total))
    }

    fn ring(&self) -> Result<DoorbellRing, PortError> {
        let t = &self.topic;
        let mut args = vec![bin(t.doorbell_channel()), RedisParameter::Int64(DOORBELL_LIMIT_MS)];
        args.extend(t.groups.iter().map(bin));
        let reply = self.eval(RING, vec![format!("{}:doorbell", t.stream)], args)?;
        self.rung(&reply)
    }

    /// On every partition: partition 0's script rings on its channel; the groups with
    /// work on the others are rung there after it (their own channels are not heard). A
    /// partition that cannot be reached is skipped, saying so: the next tick tries again.
    fn tick(&self) -> Result<DoorbellRing, PortError> {
        let mut rung = self.rung(&tick_on(&self.topic, &self.redis)?)?;
        let mut others: Vec<String> = Vec::new();
        for (t, redis) in &self.others {
            match tick_on(t, redis)
                .and_then(|reply| Ok(group_list(&reply.first().map(text).transpose()?.unwrap_or_default())))
            {
                Ok(groups) => others.extend(groups),
                Err(e) => eprintln!("the tick could not reach partition {}: {e}", t.index),
            }
        }
        let forwarded = rung.still_to_ring(others);
        if forwarded.is_empty() {
            return Ok(rung);
        }
        if self.topic.doorbell == Doorbell::Redis {
            rung.subscribers = rung.subscribers.max(self.forward(&forwarded)?);
        }
        rung.groups.extend(forwarded);
        rung.drain_calls = self.topic.doorbell.drain_calls(rung.groups.clone());
        Ok(rung)
    }
}

/// A durability level that rests on the operator's word (`redis_durability`).
fn declared_warning(config: &DurabilityConfig) -> String {
    format!(
        "durability `{}` rests on `redis_durability`: this Redis cannot tell (it refuses CONFIG and has no \
         WAITAOF), so nothing checks that it gives it",
        config.level
    )
}

/// One partition's figures, as its status script reads them.
struct Figures {
    stream_length: u64,
    orders_accepted: u64,
    /// The retry clock's state as a consumer's check recorded it.
    retry_clock: String,
    /// The server's `maxmemory-policy`.
    policy: String,
    groups: Vec<GroupStatus>,
}

fn figures<R: Redis>(t: &Topic, redis: &R) -> Result<Figures, PortError> {
    let keys = [t.stream.clone(), t.stats(), t.clock()];
    let flat = redis.eval(
        STATUS,
        keys.into_iter().map(String::into_bytes).collect(),
        vec![bin(format!("{}:dead:", t.stream))],
    )?;
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
            _ => Err(PortError::unexpected("redis: status returned an unexpected shape")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Figures { stream_length, orders_accepted, retry_clock, policy, groups })
}

/// The redrive's script on one partition: how many dead letters it moved, and whether
/// it took the group's bell (rung on its channel when it has one).
fn redrive_on<R: Redis>(t: &Topic, redis: &R, group: &str) -> Result<(u64, bool), PortError> {
    let keys = [t.stream.clone(), t.dead_letters(group), t.wake(group)];
    let reply = redis.eval(
        REDRIVE,
        keys.into_iter().map(String::into_bytes).collect(),
        vec![bin(group), bin(t.doorbell_channel()), RedisParameter::Int64(BELL_LEASE_MS as i64)],
    )?;
    let took_bell = reply.get(1).map(int).transpose()? == Some(1);
    Ok((reply.first().map(int).transpose()?.unwrap_or(0).max(0) as u64, took_bell))
}

/// One partition's newest `limit` dead letters of `group`, newest first, and how many it holds.
fn dead_letters_on<R: Redis>(
    t: &Topic,
    redis: &R,
    group: &str,
    limit: usize,
) -> Result<(Vec<DeadLetter>, u64), PortError> {
    let flat = redis.eval(
        DEAD_LETTERS,
        vec![t.dead_letters(group).into_bytes()],
        vec![RedisParameter::Int64(limit as i64)],
    )?;
    let total = flat.first().map(int).transpose()?.unwrap_or(0).max(0) as u64;
    let letters = flat[1.min(flat.len())..]
        .chunks(5)
        .map(|c| match c {
            [entry, original, deliveries, reason, envelope] => Ok(DeadLetter {
                partition: t.index,
                entry: text(entry)?,
                original_entry: text(original)?,
                deliveries: int(deliveries)?.max(0) as u64,
                reason: text(reason)?,
                envelope: match envelope {
                    RedisResult::Binary(b) if !b.is_empty() => Some(b.clone()),
                    _ => None,
                },
            }),
            _ => Err(PortError::unexpected("redis: the dead-letter listing returned an unexpected shape")),
        })
        .collect::<Result<_, _>>()?;
    Ok((letters, total))
}

/// The tick's script on one partition: the groups with work there, rung on its channel
/// when it has one.
fn tick_on<R: Redis>(t: &Topic, redis: &R) -> Result<Vec<RedisResult>, PortError> {
    let mut args = vec![bin(t.doorbell_channel()), RedisParameter::Int64(DOORBELL_LIMIT_MS)];
    args.extend(t.groups.iter().map(bin));
    let keys = [format!("{}:tick", t.stream), t.stream.clone()];
    redis.eval(TICK, keys.into_iter().map(String::into_bytes).collect(), args)
}

/// `appendonly`, `appendfsync` (`unknown` where the server will not say) and whether it
/// has `WAITAOF`.
fn persistence(facts: &ServerFacts) -> ServerPersistence {
    let appendonly = match facts.appendonly {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    let appendfsync = facts.appendfsync.as_deref().unwrap_or("unknown");
    ServerPersistence(vec![
        ("appendonly", appendonly.into()),
        ("appendfsync", appendfsync.into()),
        ("waitaof", facts.waitaof.into()),
    ])
}
