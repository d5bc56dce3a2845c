//! order-api's side of the topic: append, and ring the groups whose bell is free; with an
//! idempotency key, decided in the same script (`lua/publish.lua`); then confirm the
//! deployment's durability level for the order ([`super::durability`]).

use order_core::delivery::wake::BELL_LEASE_MS;
use order_core::model::partition::partition_of;
use order_core::ports::publisher::IDEMPOTENCY_TTL_MS;
use order_core::ports::{Idempotency, PortError, Published, Publisher};
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::redis::{bin, text, Redis, SpinRedis};
use crate::topic::durability::{self, DurabilityConfig, Plan};
use crate::topic::{group_list, Topic, PUBLISH};

/// The topic's publisher, over `R` (Spin's outbound Redis, one connection per partition,
/// each opened at its first publish), holding each order to a durability level
/// ([`super::durability`]).
pub struct TopicPublisher<R = SpinRedis> {
    /// Each partition's own topic, and its server: partition 0 (the control) first.
    partitions: Vec<(Topic, R)>,
    durability: DurabilityConfig,
}

impl TopicPublisher {
    /// The publisher of `topic` at the `memory` level (no check; the benchmark's floor).
    pub fn new(topic: Topic) -> TopicPublisher {
        if topic.partitions.is_empty() {
            let redis = topic.redis();
            return TopicPublisher::over(topic, redis);
        }
        TopicPublisher::over_partitions(
            topic
                .each_partition()
                .into_iter()
                .map(|t| {
                    let r = t.redis();
                    (t, r)
                })
                .collect(),
        )
    }

    /// The topic and durability level from the variables (see [`Topic::from_variables`]
    /// and [`DurabilityConfig`]).
    pub fn from_variables() -> Result<TopicPublisher, String> {
        let durability = DurabilityConfig::from_variables()?;
        Ok(TopicPublisher::new(Topic::from_variables()?).with_durability(durability))
    }
}

impl<R: Redis> TopicPublisher<R> {
    /// The publisher of the one-partition `topic` over `redis`, at the `memory` level (no check).
    pub fn over(topic: Topic, redis: R) -> TopicPublisher<R> {
        TopicPublisher::over_partitions(vec![(topic, redis)])
    }

    /// The publisher of each partition's own topic over its server, partition 0 first
    /// (see [`Topic::each_partition`]), at the `memory` level (no check).
    pub fn over_partitions(partitions: Vec<(Topic, R)>) -> TopicPublisher<R> {
        assert!(!partitions.is_empty(), "a topic has at least one partition");
        TopicPublisher { partitions, durability: DurabilityConfig::memory() }
    }

    /// The same, holding each order to `durability`.
    pub fn with_durability(self, durability: DurabilityConfig) -> TopicPublisher<R> {
        TopicPublisher { durability, ..self }
    }

    /// The publish script's keys and arguments for one order on partition `t`.
    fn script_call(
        &self,
        t: &Topic,
        payload: &[u8],
        idempotency: Option<&Idempotency>,
    ) -> (Vec<Vec<u8>>, Vec<RedisParameter>) {
        let mut keys = vec![t.stream.clone(), t.stats()];
        keys.extend(t.groups.iter().map(|g| t.wake(g)));
        let mut args = vec![
            bin(payload),
            bin(t.doorbell_channel()),
            RedisParameter::Int64(BELL_LEASE_MS as i64),
            RedisParameter::Int64(t.groups.len() as i64),
            bin(t.durability()),
            bin(self.durability.plan_field()),
        ];
        args.extend(t.groups.iter().map(bin));
        if let Some(i) = idempotency {
            keys.push(format!("{}:idem:{}", t.stream, i.key_digest));
            args.extend([bin(&i.fingerprint), bin(&i.answer), RedisParameter::Int64(IDEMPOTENCY_TTL_MS as i64)]);
        }
        (keys.into_iter().map(String::into_bytes).collect(), args)
    }

    /// The script once; where it asks for this server run's plan (once a minute, and
    /// after a restart or a failover), learns what the server gives, records it with the
    /// plan, and sends the script again.
    fn eval(
        &self,
        (t, redis): &(Topic, R),
        payload: &[u8],
        idempotency: Option<&Idempotency>,
    ) -> Result<Vec<RedisResult>, PortError> {
        let (keys, args) = self.script_call(t, payload, idempotency);
        let reply = redis.eval(PUBLISH, keys, args)?;
        if reply.first().map(text).transpose()?.as_deref() != Some("learn") {
            return Ok(reply);
        }
        let run_id = reply.get(1).map(text).transpose()?.unwrap_or_default();
        let facts = durability::learn(redis);
        durability::record(redis, &format!("{}:{run_id}", t.durability()), &self.durability, &facts)?;
        let (keys, args) = self.script_call(t, payload, idempotency);
        let reply = redis.eval(PUBLISH, keys, args)?;
        match reply.first().map(text).transpose()?.as_deref() {
            Some("learn") => Err(PortError::unexpected("redis: what the server gives was recorded and then not found")),
            _ => Ok(reply),
        }
    }

    /// Confirms the level by the plan the script handed back: `Unconfirmed` when it fell short.
    fn confirmed(&self, redis: &R, plan: Option<&RedisResult>, published: Published) -> Result<Published, PortError> {
        let plan = plan.map(text).transpose()?.unwrap_or_default();
        if plan.is_empty() {
            return Ok(published);
        }
        let plan = Plan::decode(&plan).ok_or_else(|| {
            PortError::unexpected(format!("redis: the durability plan `{plan}` is not one order-api knows"))
        })?;
        Ok(match durability::confirm(redis, plan, self.durability.timeout_ms) {
            Ok(()) => published,
            Err(why) => {
                Published::Unconfirmed(format!("durability `{}` was not confirmed: {why}", self.durability.level))
            }
        })
    }

    /// Rings `groups` on the control's channel for a partition whose own channel no one
    /// hears, keeping their timers for the other partitions within the bell's lease
    /// ([`Topic::keep_others_timer`]). The order is on its partition already: a failed
    /// ring is reported and left, as the platform clock's tick finds the order anyway.
    fn forward_ring(&self, groups: &[String]) {
        let (control, redis) = &self.partitions[0];
        if let Err(e) = control.keep_others_timer(redis, groups, BELL_LEASE_MS, true) {
            eprintln!("the ring of {} could not be forwarded to partition 0: {e}", groups.join(","));
        }
    }
}

impl<R: Redis> Publisher for TopicPublisher<R> {
    /// On the partition of `partition_key` (the order's `accountid`). With the doorbell
    /// on HTTP, the script publishes nothing and the answer names the groups whose bell
    /// it took, for order-api to call once it has answered.
    fn publish(
        &self,
        partition_key: &str,
        payload: &[u8],
        idempotency: Option<&Idempotency>,
    ) -> Result<Published, PortError> {
        let partition = &self.partitions[partition_of(partition_key, self.partitions.len() as u32) as usize];
        let (topic, redis) = partition;
        let reply = self.eval(partition, payload, idempotency)?;
        match (reply.first().map(text).transpose()?.as_deref(), reply.get(1)) {
            (Some("appended"), _) => {
                let took = group_list(&reply.get(2).map(text).transpose()?.unwrap_or_default());
                if topic.forwards_rings() && !took.is_empty() {
                    self.forward_ring(&took);
                }
                let drain_calls = topic.doorbell.drain_calls(took);
                self.confirmed(redis, reply.get(3), Published::Appended(drain_calls))
            }
            (Some("replay"), Some(RedisResult::Binary(answer))) => {
                self.confirmed(redis, reply.get(2), Published::Replay(answer.clone()))
            }
            (Some("mismatch"), _) => Ok(Published::Mismatch),
            (Some("refused"), Some(why)) => Ok(Published::Refused(text(why)?)),
            _ => Err(PortError::unexpected("redis: the publish script returned an unexpected shape")),
        }
    }

    fn messaging_system(&self) -> order_core::model::span::MessagingSystem {
        crate::topic::MESSAGING
    }
}
