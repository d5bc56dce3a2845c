//! order-api's side of the topic: append, and ring the groups whose bell is free; with an
//! idempotency key, decided in the same script (`lua/publish.lua`).

use order_core::delivery::wake::{ToRing, BELL_LEASE_MS};
use order_core::ports::publisher::IDEMPOTENCY_TTL_MS;
use order_core::ports::{Idempotency, PortError, Published, Publisher};
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::redis::{bin, text, Redis, SpinRedis};
use crate::topic::{group_list, Topic, PUBLISH};
use crate::wake::Doorbell;

/// The topic's publisher, over `R` (Spin's outbound Redis, connected at the first
/// publish).
pub struct TopicPublisher<R = SpinRedis> {
    topic: Topic,
    redis: R,
}

impl TopicPublisher {
    pub fn new(topic: Topic) -> TopicPublisher {
        let redis = topic.redis();
        TopicPublisher { topic, redis }
    }
}

impl<R: Redis> TopicPublisher<R> {
    /// The publisher of `topic` over `redis`.
    pub fn over(topic: Topic, redis: R) -> TopicPublisher<R> {
        TopicPublisher { topic, redis }
    }
}

impl<R: Redis> Publisher for TopicPublisher<R> {
    /// With the doorbell on HTTP, the script publishes nothing and the answer names the
    /// groups whose bell it took, for order-api to call once it has answered.
    fn publish(&self, payload: &[u8], idempotency: Option<&Idempotency>) -> Result<Published, PortError> {
        let t = &self.topic;
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
        let keys = keys.into_iter().map(String::into_bytes).collect();
        let reply = self.redis.eval(PUBLISH, keys, args)?;
        match (reply.first().map(text).transpose()?.as_deref(), reply.get(1)) {
            (Some("appended"), _) => {
                let took = reply.get(2).map(text).transpose()?.unwrap_or_default();
                let to_ring = match t.doorbell {
                    Doorbell::Http => ToRing(group_list(&took)),
                    Doorbell::Redis => ToRing::default(),
                };
                Ok(Published::Appended(to_ring))
            }
            (Some("replay"), Some(RedisResult::Binary(answer))) => Ok(Published::Replay(answer.clone())),
            (Some("mismatch"), _) => Ok(Published::Mismatch),
            _ => Err(PortError("redis: the publish script returned an unexpected shape".into())),
        }
    }
}
