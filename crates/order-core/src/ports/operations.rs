//! The operations port: what pipeline-api reads and does to the topic (its health, the
//! dead letters, redrive, the doorbell and the platform clock's tick), and the shapes it
//! answers in.

use serde::Serialize;

use crate::model::span::MessagingSystem;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::error::PortError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Entries still in the topic's log (acknowledged entries are trimmed).
    pub stream_length: u64,
    /// Orders appended to the topic since it was created (a counter the topic keeps).
    pub orders_accepted: u64,
    /// Whether failed messages come back by themselves (see `delivery::wake`).
    pub retry_clock: RetryClock,
    pub groups: Vec<GroupStatus>,
    /// What a `202` survives: the level order-api holds orders to, and how the server
    /// gives it now (`None` where the adapter does not know the level).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durability: Option<DurabilityStatus>,
    /// What the topic's server is set to do that can lose accepted work, each with its fix.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Each partition of the topic, partition 0 first: the figures above are their
    /// totals ([`Status::with_partitions`]). One entry for a topic of one partition.
    pub partitions: Vec<PartitionStatus>,
}

/// One partition's figures, as [`Status`] has them for the whole topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    pub partition: u32,
    pub stream_length: u64,
    pub orders_accepted: u64,
    pub groups: Vec<GroupStatus>,
    /// Why it could not be read (its figures are then zero and its groups empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl PartitionStatus {
    /// A partition that could not be read, and why.
    pub fn unavailable(partition: u32, why: String) -> PartitionStatus {
        PartitionStatus { partition, stream_length: 0, orders_accepted: 0, groups: Vec::new(), unavailable: Some(why) }
    }
}

impl Status {
    /// This status (partition 0's) with the other partitions': each in `partitions`,
    /// and the totals over all of them at the top (per group: lags, pending, dead
    /// letters, deliveries and acknowledgements summed, a lag unknown where any is
    /// unknown, the oldest pending age the oldest). A partition that could not be read
    /// counts for nothing and is warned of.
    pub fn with_partitions(mut self, others: Vec<PartitionStatus>) -> Status {
        let first = PartitionStatus {
            partition: 0,
            stream_length: self.stream_length,
            orders_accepted: self.orders_accepted,
            groups: self.groups.clone(),
            unavailable: None,
        };
        for p in &others {
            self.stream_length += p.stream_length;
            self.orders_accepted += p.orders_accepted;
            for g in &p.groups {
                match self.groups.iter_mut().find(|t| t.group == g.group) {
                    Some(t) => {
                        t.lag = t.lag.zip(g.lag).map(|(a, b)| a + b);
                        t.pending += g.pending;
                        t.oldest_pending_age_ms = t.oldest_pending_age_ms.max(g.oldest_pending_age_ms);
                        t.dead_letters += g.dead_letters;
                        t.delivered += g.delivered;
                        t.acked += g.acked;
                    }
                    None => self.groups.push(g.clone()),
                }
            }
            if let Some(why) = &p.unavailable {
                self.warnings.push(format!(
                    "partition {} is unavailable ({why}): its accounts' orders are refused (503), and its backlog \
                     waits until it is back",
                    p.partition
                ));
            }
        }
        self.partitions = std::iter::once(first).chain(others).collect();
        self
    }
}

/// `groups` of a topic (or partition) whose log holds `stream_length` entries: every
/// configured group in `configured`'s order, then any other group it has. A configured
/// group it does not have yet (no order was published since it was configured: the next
/// one creates it at the topic's start) shows its lag as the whole log and nothing
/// delivered, so a fresh deployment shows its groups too.
pub fn configured_groups(mut groups: Vec<GroupStatus>, configured: &[String], stream_length: u64) -> Vec<GroupStatus> {
    let mut shown: Vec<GroupStatus> = configured
        .iter()
        .map(|name| match groups.iter().position(|g| &g.group == name) {
            Some(i) => groups.remove(i),
            None => GroupStatus {
                group: name.clone(),
                lag: Some(stream_length),
                pending: 0,
                oldest_pending_age_ms: None,
                dead_letters: 0,
                delivered: 0,
                acked: 0,
            },
        })
        .collect();
    shown.append(&mut groups);
    shown
}

/// The durability level in force ([`crate::model::durability`]), read from the server
/// when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DurabilityStatus {
    /// The level order-api holds each order to (variable `durability`).
    pub level: String,
    /// The failure an accepted order outlives at that level.
    pub survives: String,
    /// How order-api confirms it for each order, in the adapter's words: how the server
    /// is asked, or `declared` (the server cannot tell; the deployment says it gives it),
    /// `unchecked` (`memory`), or `refused` (the server cannot give it: every
    /// `POST /order` is `503`).
    pub confirmed_by: &'static str,
    /// Replicas that must acknowledge each order (`WAIT`), 0 below `replicas:N`.
    pub replicas: u8,
    /// What the server says of its persistence, in its own settings' names.
    pub server: ServerPersistence,
    /// When `refused`: why, and what to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A server's persistence settings as the adapter reads them: each name with its value,
/// in the adapter's order (a JSON object).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerPersistence(pub Vec<(&'static str, serde_json::Value)>);

impl Serialize for ServerPersistence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            out.serialize_entry(name, value)?;
        }
        out.end()
    }
}

/// Whether failed messages come back by themselves: what the server says now, or what
/// a consumer's last check recorded (checks hold a minute; a consumer checks when it arms
/// the clock). The adapter decides which, and words the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryClock {
    /// The timers are heard: a failed message comes back one visibility timeout later.
    On,
    /// They are not: why, and what to change on the server.
    Off(String),
    /// The server will not tell, and no consumer checked lately.
    Unchecked,
    /// Nothing can hear a timer in this wiring (the doorbell over HTTP): why, and when a
    /// failed message comes back instead.
    Scheduled(String),
}

impl RetryClock {
    /// `on`, `off`, `unchecked` or `scheduled`, as `GET /pipeline` shows it.
    pub fn state(&self) -> &'static str {
        match self {
            RetryClock::On => "on",
            RetryClock::Off(_) => "off",
            RetryClock::Unchecked => "unchecked",
            RetryClock::Scheduled(_) => "scheduled",
        }
    }

    /// The why of `off` and `scheduled`.
    pub fn detail(&self) -> Option<&str> {
        match self {
            RetryClock::Off(why) | RetryClock::Scheduled(why) => Some(why),
            RetryClock::On | RetryClock::Unchecked => None,
        }
    }
}

/// `{"state": …, "detail": …}` (no `detail` without one).
impl Serialize for RetryClock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("RetryClock", 2)?;
        out.serialize_field("state", self.state())?;
        match self.detail() {
            Some(d) => out.serialize_field("detail", d)?,
            None => out.skip_field("detail")?,
        }
        out.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    pub group: String,
    /// Entries not yet delivered to the group (`null` when the server cannot tell).
    pub lag: Option<u64>,
    /// Delivered but not yet acknowledged: being handled, or waiting for a retry.
    pub pending: u64,
    /// Age of the oldest pending entry, by its time on the topic.
    pub oldest_pending_age_ms: Option<u64>,
    /// Entries in the group's dead-letter log.
    pub dead_letters: u64,
    /// Entries ever delivered to the group (first deliveries).
    pub delivered: u64,
    /// Entries the group acknowledged.
    pub acked: u64,
}

/// What a ring did: the groups rung (none when rate-limited), and how many subscribers
/// heard it (0: no consumer is listening yet, say while one restarts). Where the doorbell
/// rings over HTTP, the groups are also `drain_calls`, for the caller to call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DoorbellRing {
    #[serde(rename = "rung")]
    pub groups: Vec<String>,
    pub subscribers: u64,
    #[serde(skip)]
    pub drain_calls: DrainCalls,
}

impl DoorbellRing {
    /// The groups a tick found work for on the topic's other partitions (whose own
    /// channels no one hears) that partition 0's tick did not ring already: each once,
    /// in order, to be rung on partition 0's channel.
    pub fn still_to_ring(&self, others: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut groups: Vec<String> = others.into_iter().filter(|g| !self.groups.contains(g)).collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// What a redrive did: how many dead letters went back, and the group to ring if its
/// bell was taken where the doorbell rings over HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redrive {
    pub moved: u64,
    pub drain_calls: DrainCalls,
}

/// A message in a group's dead-letter log, as the queue keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetter {
    /// The partition of the topic it is on (0 for a topic of one partition).
    pub partition: u32,
    /// Its entry in the dead-letter log (its time, in ms, before the `-`).
    pub entry: String,
    /// The topic entry it was.
    pub original_entry: String,
    pub deliveries: u64,
    pub reason: String,
    /// The envelope, when the entry had one.
    pub envelope: Option<Vec<u8>>,
}

impl DeadLetter {
    /// When it was dead-lettered, in ms (its entry's time); 0 for an entry without one.
    pub fn at_ms(&self) -> u64 {
        self.entry.split('-').next().and_then(|ms| ms.parse().ok()).unwrap_or(0)
    }
}

/// One listing of the dead letters of several partitions: the newest `limit` of them,
/// newest first.
pub fn newest_first(mut letters: Vec<DeadLetter>, limit: usize) -> Vec<DeadLetter> {
    letters.sort_by_key(|d| std::cmp::Reverse(d.at_ms()));
    letters.truncate(limit);
    letters
}

pub trait Operations {
    /// The messaging system the topic runs on, named by the adapter (as
    /// [`crate::ports::publisher::Publisher::messaging_system`]).
    fn messaging_system(&self) -> MessagingSystem;
    fn status(&self) -> Result<Status, PortError>;
    /// Moves `group`'s dead letters back onto the topic (each onto its own partition), for
    /// that group only, and rings its doorbell if its bell is free.
    fn redrive(&self, group: &str) -> Result<Redrive, PortError>;
    /// Rings for every group, unless it rang less than a second ago (then no groups).
    fn ring(&self) -> Result<DoorbellRing, PortError>;
    /// The platform clock's tick: rings each group that has work waiting (entries not
    /// yet delivered to it, or pending), whether or not its bell is taken (a consumer
    /// that died holding it rang for no one), unless a tick rang less than a second ago
    /// (replicas probed at once ring once).
    fn tick(&self) -> Result<DoorbellRing, PortError>;
    /// The group's newest `limit` dead letters, newest first, and how many it holds (over
    /// every partition).
    fn dead_letters(&self, group: &str, limit: usize) -> Result<(Vec<DeadLetter>, u64), PortError>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_partitions_dead_letters_list_as_one_newest_first() {
        let letter =
            |partition: u32, entry: &str| DeadLetter { partition, entry: entry.into(), ..DeadLetter::default() };
        let listed = newest_first(
            vec![
                letter(0, "1700000000300-0"),
                letter(0, "1700000000100-0"),
                letter(1, "1700000000200-0"),
                letter(2, "x"),
            ],
            3,
        );
        let order: Vec<(u32, &str)> = listed.iter().map(|d| (d.partition, d.entry.as_str())).collect();
        assert_eq!(order, vec![(0, "1700000000300-0"), (1, "1700000000200-0"), (0, "1700000000100-0")]);
    }

    #[test]
    fn a_tick_rings_the_others_groups_once_and_not_those_partition_0_rang() {
        let rung = DoorbellRing { groups: vec!["order-writer".into()], ..DoorbellRing::default() };
        let others = ["invoice-writer", "order-writer", "invoice-writer"].map(String::from);
        assert_eq!(rung.still_to_ring(others), vec!["invoice-writer".to_owned()]);
    }

    use super::*;

    #[test]
    fn the_topic_totals_its_partitions_and_warns_of_one_it_cannot_read() {
        let group = |name: &str, lag: Option<u64>, pending: u64, age: Option<u64>| GroupStatus {
            group: name.into(),
            lag,
            pending,
            oldest_pending_age_ms: age,
            dead_letters: 1,
            delivered: 10,
            acked: 9,
        };
        let zero = Status {
            stream_length: 5,
            orders_accepted: 100,
            retry_clock: RetryClock::On,
            groups: vec![group("order-writer", Some(2), 1, Some(50))],
            durability: None,
            warnings: vec![],
            partitions: vec![],
        };
        let one = PartitionStatus {
            partition: 1,
            stream_length: 7,
            orders_accepted: 200,
            groups: vec![group("order-writer", Some(3), 2, Some(90)), group("invoice-writer", None, 0, None)],
            unavailable: None,
        };
        let total = zero.clone().with_partitions(vec![one.clone(), PartitionStatus::unavailable(2, "refused".into())]);
        assert_eq!((total.stream_length, total.orders_accepted), (12, 300));
        assert_eq!(
            total.groups[0],
            GroupStatus {
                lag: Some(5),
                pending: 3,
                oldest_pending_age_ms: Some(90),
                dead_letters: 2,
                delivered: 20,
                acked: 18,
                ..group("order-writer", None, 0, None)
            }
        );
        assert_eq!(total.groups[1].lag, None);
        assert_eq!(total.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(total.partitions[0].groups, zero.groups);
        assert!(total.warnings.len() == 1 && total.warnings[0].contains("partition 2 is unavailable (refused)"));
        let alone = zero.clone().with_partitions(vec![]);
        assert_eq!((alone.stream_length, alone.groups.clone(), alone.partitions.len()), (5, zero.groups, 1));
    }

    #[test]
    fn configured_groups_show_before_the_topic_has_them() {
        let group = |name: &str, acked| GroupStatus {
            group: name.into(),
            lag: Some(0),
            pending: 0,
            oldest_pending_age_ms: None,
            dead_letters: 0,
            delivered: acked,
            acked,
        };
        let configured = ["order-writer".to_owned(), "invoice-writer".to_owned()];
        // The topic has one of them, and a group no longer configured.
        let shown = configured_groups(vec![group("old", 1), group("invoice-writer", 7)], &configured, 2);
        let names: Vec<&str> = shown.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["order-writer", "invoice-writer", "old"]);
        assert_eq!(shown[0], GroupStatus { lag: Some(2), ..group("order-writer", 0) });
        assert_eq!(shown[1], group("invoice-writer", 7));
        // A fresh topic: both, with nothing to deliver.
        let fresh = configured_groups(vec![], &configured, 0);
        assert!(fresh.iter().all(|g| g.lag == Some(0) && g.acked == 0), "{fresh:?}");
    }

    #[test]
    fn the_retry_clock_shows_its_state_and_why() {
        let json = |c: RetryClock| serde_json::to_value(c).unwrap();
        assert_eq!(json(RetryClock::On), serde_json::json!({"state": "on"}));
        assert_eq!(
            json(RetryClock::Off("set K and x".into())),
            serde_json::json!({"state": "off", "detail": "set K and x"})
        );
        assert_eq!(json(RetryClock::Unchecked), serde_json::json!({"state": "unchecked"}));
        assert_eq!(json(RetryClock::Scheduled("drains".into()))["state"], "scheduled");
    }
}
