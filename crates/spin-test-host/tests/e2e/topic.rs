//! The orders topic itself: `spin-adapters`' publisher, queue and operations, and the Lua
//! scripts they send, run natively on a real `redis-server` through the same seam the
//! components use ([`spin_adapters::redis::Redis`]), so each script's edge cases are tested
//! on their own, not only through the built components: an empty stream, a group that
//! does not exist yet, a pending entry trimmed away, an entry past its delivery limit,
//! and the bells and timers each call leaves behind.

use std::thread::sleep;

use order_core::delivery::group_config::GroupConfig;
use order_core::ports::drain_calls::DrainCalls;
use order_core::ports::queue::{Claimed, Contact, Next, Queue, Settlement, Stop};
use order_core::ports::{Operations, Published, Publisher};
use redis::Commands;
use spin_adapters::address::RedisAddress;
use spin_adapters::topic::operations::TopicOperations;
use spin_adapters::topic::publisher::TopicPublisher;
use spin_adapters::topic::queue::GroupQueue;
use spin_adapters::topic::Topic;
use spin_adapters::wake::Doorbell;

use super::native_redis::NativeRedis;
use super::*;

const STREAM: &str = "orders:stream";
const GROUPS: [&str; 2] = ["order-writer", "invoice-writer"];
/// A short visibility timeout, so a retry comes back within a test.
const VISIBILITY_MS: u64 = 100;

fn topic(redis: &RedisServer, doorbell: Doorbell) -> Topic {
    Topic {
        address: RedisAddress::new(&redis.url(), &redis.host()).unwrap(),
        partitions: vec![],
        index: 0,
        stream: STREAM.into(),
        channel: "orders".into(),
        groups: GROUPS.map(str::to_owned).to_vec(),
        doorbell,
    }
}

fn publisher(redis: &RedisServer, doorbell: Doorbell) -> TopicPublisher<NativeRedis> {
    TopicPublisher::over(topic(redis, doorbell), NativeRedis::open(&redis.url()))
}

fn queue(redis: &RedisServer, group: &str, max_deliveries: u32) -> GroupQueue<NativeRedis> {
    let config = GroupConfig {
        batch: 100,
        visibility_timeout_ms: VISIBILITY_MS,
        max_deliveries,
        drain_budget_ms: 250,
        batch_linger_ms: 0,
    };
    GroupQueue::over(topic(redis, Doorbell::Redis), group, config, NativeRedis::open(&redis.url()))
}

fn operations(redis: &RedisServer, doorbell: Doorbell) -> TopicOperations<NativeRedis> {
    TopicOperations::over(topic(redis, doorbell), NativeRedis::open(&redis.url()))
}

fn publish(p: &TopicPublisher<NativeRedis>, n: usize) {
    for i in 0..n {
        let published = p.publish("a0", format!("order {i}").as_bytes(), None).unwrap();
        assert!(matches!(published, Published::Appended(_)), "{published:?}");
    }
}

fn claim(q: &impl Queue, settle: &Settlement, n: usize) -> Claimed {
    q.exchange(settle, Next::Claim(n), Contact::First).unwrap()
}

fn acked(c: &Claimed) -> Settlement {
    Settlement { acked: c.deliveries.iter().map(|d| d.entry.clone()).collect(), ..Settlement::default() }
}

/// A command's answer, over a plain connection.
fn query<T: redis::FromRedisValue>(redis: &RedisServer, cmd: &mut redis::Cmd) -> T {
    cmd.query(&mut redis.client().get_connection().unwrap()).unwrap()
}

fn stream_length(redis: &RedisServer) -> u64 {
    query(redis, redis::cmd("XLEN").arg(STREAM))
}

fn wake_key(redis: &RedisServer, group: &str) -> Option<String> {
    redis.client().get_connection().unwrap().get(format!("{STREAM}:wake:{group}")).unwrap()
}

/// The doorbell channel, read for what each call publishes: a subscriber on its own
/// connection and thread, as the Redis trigger subscribes; it stops when dropped.
struct Listener(std::sync::mpsc::Receiver<String>, Arc<std::sync::atomic::AtomicBool>);

impl Listener {
    fn on(redis: &RedisServer) -> Listener {
        let (heard, rx) = std::sync::mpsc::channel();
        let (subscribed, ready) = std::sync::mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (client, stopped) = (redis.client(), stop.clone());
        std::thread::spawn(move || {
            let mut conn = client.get_connection().unwrap();
            conn.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut ps = conn.as_pubsub();
            ps.subscribe("orders").unwrap();
            subscribed.send(()).unwrap();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match ps.get_message() {
                    Ok(m) => heard.send(m.get_payload::<String>().unwrap()).unwrap(),
                    Err(e) if e.is_timeout() => {}
                    Err(_) => break,
                }
            }
        });
        ready.recv().unwrap();
        Listener(rx, stop)
    }

    /// What was published since the last call, in order (what arrives within 300 ms).
    fn heard(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.0.recv_timeout(Duration::from_millis(300)).ok()).collect()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.1.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_publish_appends_and_rings_each_free_bell_once() {
    let redis = RedisServer::start();
    let mut listener = Listener::on(&redis);
    let p = publisher(&redis, Doorbell::Redis);
    publish(&p, 3);
    assert_eq!(listener.heard(), ["order-writer,invoice-writer"], "one ring for a burst while the bells are out");
    assert_eq!(stream_length(&redis), 3);
    let accepted: u64 = redis.client().get_connection().unwrap().hget(format!("{STREAM}:stats"), "accepted").unwrap();
    assert_eq!(accepted, 3);
    for g in GROUPS {
        assert_eq!(wake_key(&redis, g).as_deref(), Some("bell"), "{g}");
    }
    // Every group exists from the first append, at the stream's start.
    let q = queue(&redis, "invoice-writer", 5);
    assert_eq!(claim(&q, &Settlement::default(), 10).deliveries.len(), 3);
}

#[test]
fn with_the_doorbell_on_http_a_publish_names_the_groups_to_ring_and_publishes_nothing() {
    let redis = RedisServer::start();
    let mut listener = Listener::on(&redis);
    let p = publisher(&redis, Doorbell::Http);
    let first = p.publish("a0", b"order 0", None).unwrap();
    assert_eq!(first, Published::Appended(DrainCalls(GROUPS.map(str::to_owned).to_vec())));
    assert_eq!(
        p.publish("a0", b"order 1", None).unwrap(),
        Published::Appended(DrainCalls::default()),
        "the bells are out"
    );
    assert!(listener.heard().is_empty());
    let ops = operations(&redis, Doorbell::Http);
    let rung = ops.ring().unwrap();
    assert_eq!((rung.drain_calls.0.len(), rung.subscribers), (2, 0), "{rung:?}");
    assert!(listener.heard().is_empty());
}

#[test]
fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let redis = RedisServer::start();
    let p = publisher(&redis, Doorbell::Redis);
    let idem = |fingerprint: &str| order_core::ports::Idempotency {
        key_digest: "k1".into(),
        fingerprint: fingerprint.into(),
        answer: b"first answer".to_vec(),
    };
    assert!(matches!(p.publish("a0", b"order", Some(&idem("f1"))).unwrap(), Published::Appended(_)));
    assert_eq!(p.publish("a0", b"order", Some(&idem("f1"))).unwrap(), Published::Replay(b"first answer".to_vec()));
    assert_eq!(p.publish("a0", b"other", Some(&idem("f2"))).unwrap(), Published::Mismatch);
    assert_eq!(stream_length(&redis), 1);
}

/// On a fresh Redis (no stream, no group) a consumer's exchange creates what it needs,
/// claims nothing, and ends the drain; the status lists every configured group.
#[test]
fn an_empty_stream_and_groups_that_do_not_exist_yet() {
    let redis = RedisServer::start();
    let q = queue(&redis, "order-writer", 5);
    let c = claim(&q, &Settlement::default(), 10);
    assert!(c.deliveries.is_empty() && !c.more, "{c:?}");
    assert!(c.check_clock.is_some(), "the first contact asks for the clock's check");
    assert_eq!(wake_key(&redis, "order-writer"), None, "nothing pending: no bell, no timer");
    let status = operations(&redis, Doorbell::Redis).status().unwrap();
    assert_eq!(status.stream_length, 0);
    let names: Vec<&str> = status.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, GROUPS);
    assert!(status.groups.iter().all(|g| g.lag == Some(0) && g.pending == 0), "{status:?}");
}

#[test]
fn batches_are_claimed_acknowledged_and_trimmed_once_every_group_has_them() {
    let redis = RedisServer::start();
    publish(&publisher(&redis, Doorbell::Redis), 5);
    let q = queue(&redis, "order-writer", 5);
    let first = claim(&q, &Settlement::default(), 3);
    assert_eq!((first.deliveries.len(), first.more), (3, true));
    assert!(first.deliveries.iter().all(|d| d.deliveries == 1));
    let second = claim(&q, &acked(&first), 3);
    assert_eq!((second.deliveries.len(), second.more), (2, false), "a short batch, and nothing more");
    let end = claim(&q, &acked(&second), 3);
    assert!(end.deliveries.is_empty() && !end.more);
    assert_eq!(wake_key(&redis, "order-writer"), None, "caught up: the bell is released");
    assert_eq!(stream_length(&redis), 5, "invoice-writer has not had them yet");
    let other = queue(&redis, "invoice-writer", 5);
    let all = claim(&other, &Settlement::default(), 10);
    assert_eq!(all.deliveries.len(), 5);
    claim(&other, &acked(&all), 10);
    // Trimmed below the last entry every group was delivered (`XTRIM MINID` keeps it).
    assert_eq!(stream_length(&redis), 1, "trimmed once every group has acknowledged them");
    let status = operations(&redis, Doorbell::Redis).status().unwrap();
    assert!(status.groups.iter().all(|g| g.acked == 5 && g.pending == 0 && g.lag == Some(0)), "{status:?}");
}

/// A failed message stays pending with its reason, the retry clock is set to when it is
/// due again, it is delivered again after the visibility timeout, and past the delivery
/// limit it moves to the dead-letter stream with the last reason.
#[test]
fn a_failing_entry_comes_back_on_its_timer_then_is_dead_lettered_past_its_limit() {
    let redis = RedisServer::start();
    publish(&publisher(&redis, Doorbell::Redis), 1);
    let q = queue(&redis, "order-writer", 2);
    let failed = |c: &Claimed| Settlement {
        failed: c.deliveries.iter().map(|d| (d.entry.clone(), "store failed: disk full".into())).collect(),
        ..Settlement::default()
    };
    let first = claim(&q, &Settlement::default(), 10);
    assert_eq!(first.timer_ms, None, "a claim that goes on sets no clock");
    let entry = first.deliveries[0].entry.clone();
    let end = claim(&q, &failed(&first), 10);
    assert!(end.deliveries.is_empty() && !end.more, "not due again yet");
    assert_eq!(wake_key(&redis, "order-writer").as_deref(), Some("timer"), "the retry clock is set");
    // And the exchange that set it says when it fires: within a visibility timeout, and
    // no sooner than the key's time to live.
    let ttl: i64 = query(&redis, redis::cmd("PTTL").arg(format!("{STREAM}:wake:order-writer")));
    let fires = end.timer_ms.expect("the ending exchange says when its clock fires");
    assert!(fires <= VISIBILITY_MS + 1 && ttl <= fires as i64, "{fires} ms, PTTL {ttl}");
    sleep(Duration::from_millis(VISIBILITY_MS + 20));
    let again = claim(&q, &Settlement::default(), 10);
    assert_eq!((again.deliveries[0].entry.as_str(), again.deliveries[0].deliveries), (entry.as_str(), 2));
    claim(&q, &failed(&again), 10);
    sleep(Duration::from_millis(VISIBILITY_MS + 20));
    let past_limit = claim(&q, &Settlement::default(), 10);
    assert!(past_limit.deliveries.is_empty(), "past its limit it is not delivered: {past_limit:?}");
    assert_eq!(past_limit.timer_ms, None, "nothing pending: no clock");
    let (letters, total) = operations(&redis, Doorbell::Redis).dead_letters("order-writer", 10).unwrap();
    assert_eq!(total, 1);
    assert_eq!((letters[0].original_entry.as_str(), letters[0].deliveries), (entry.as_str(), 2));
    assert_eq!(letters[0].reason, "store failed: disk full");
    assert_eq!(letters[0].envelope.as_deref(), Some(&b"order 0"[..]));
    assert_eq!(wake_key(&redis, "order-writer"), None, "nothing pending: no timer");
}

#[test]
fn a_malformed_entry_is_dead_lettered_at_once_and_the_rest_acknowledged() {
    let redis = RedisServer::start();
    publish(&publisher(&redis, Doorbell::Redis), 2);
    let q = queue(&redis, "order-writer", 5);
    let c = claim(&q, &Settlement::default(), 10);
    let settle = Settlement {
        acked: vec![c.deliveries[1].entry.clone()],
        dead: vec![(c.deliveries[0].entry.clone(), "malformed message: not JSON".into())],
        ..Settlement::default()
    };
    claim(&q, &settle, 10);
    let status = operations(&redis, Doorbell::Redis).status().unwrap();
    let g = &status.groups[0];
    assert_eq!((g.dead_letters, g.pending, g.acked), (1, 0, 1), "{g:?}");
}

/// An entry trimmed away while pending (by `XDEL`, or a trim that went past it) is not
/// delivered again, and leaves nothing pending behind.
#[test]
fn a_pending_entry_trimmed_away_is_skipped() {
    let redis = RedisServer::start();
    publish(&publisher(&redis, Doorbell::Redis), 2);
    let q = queue(&redis, "order-writer", 5);
    let c = claim(&q, &Settlement::default(), 10);
    let _: u64 = query(&redis, redis::cmd("XDEL").arg(STREAM).arg(&c.deliveries[0].entry));
    claim(&q, &Settlement { acked: vec![c.deliveries[1].entry.clone()], ..Settlement::default() }, 0);
    sleep(Duration::from_millis(VISIBILITY_MS + 20));
    let after = claim(&q, &Settlement::default(), 10);
    assert!(after.deliveries.is_empty(), "{after:?}");
    let ending = q.exchange(&Settlement::default(), Next::Stop(Stop::Limit), Contact::Again).unwrap();
    assert!(!ending.more && !ending.rang, "{ending:?}");
    let (pending, ..): (u64, redis::Value, redis::Value, redis::Value) =
        query(&redis, redis::cmd("XPENDING").arg(STREAM).arg("order-writer"));
    assert_eq!(pending, 0);
}

/// A drain that stops at its limit with more waiting keeps the bell and rings for its
/// own group only; one that pauses (its store down) sets the retry clock instead.
#[test]
fn stopping_at_the_limit_rings_for_itself_and_a_pause_sets_the_clock() {
    let redis = RedisServer::start();
    publish(&publisher(&redis, Doorbell::Redis), 3);
    let mut listener = Listener::on(&redis);
    let q = queue(&redis, "order-writer", 5);
    let c = claim(&q, &Settlement::default(), 1);
    let stopped = q.exchange(&acked(&c), Next::Stop(Stop::Limit), Contact::Again).unwrap();
    assert!(stopped.rang && stopped.more, "{stopped:?}");
    assert_eq!(stopped.timer_ms, None, "a bell, not a clock");
    assert_eq!(listener.heard(), ["order-writer"]);
    let paused = q.exchange(&Settlement::default(), Next::Stop(Stop::Pause), Contact::Again).unwrap();
    assert!(!paused.rang);
    assert_eq!(wake_key(&redis, "order-writer").as_deref(), Some("timer"));
    assert_eq!(paused.timer_ms, Some(VISIBILITY_MS), "a pause retries a visibility timeout later");
}

/// The platform clock's tick rings the groups with work waiting and no other, at most
/// once a second across replicas; the doorbell rings every group, as rate-limited.
#[test]
fn the_tick_rings_only_groups_with_work_and_both_are_rate_limited() {
    let redis = RedisServer::start();
    publish(&publisher(&redis, Doorbell::Redis), 2);
    let q = queue(&redis, "order-writer", 5);
    let c = claim(&q, &Settlement::default(), 10);
    claim(&q, &acked(&c), 10);
    let mut listener = Listener::on(&redis);
    let ops = operations(&redis, Doorbell::Redis);
    let tick = ops.tick().unwrap();
    assert_eq!((tick.groups.as_slice(), tick.subscribers), (&["invoice-writer".to_owned()][..], 1));
    assert_eq!(listener.heard(), ["invoice-writer"]);
    assert!(ops.tick().unwrap().groups.is_empty(), "a second tick within a second rings nothing");
    let rung = ops.ring().unwrap();
    assert_eq!(rung.groups, GROUPS.map(str::to_owned));
    assert!(ops.ring().unwrap().groups.is_empty(), "rate-limited");
    assert_eq!(listener.heard(), ["order-writer,invoice-writer"]);
    sleep(Duration::from_millis(1_050));
    assert_eq!(ops.tick().unwrap().groups, ["invoice-writer"], "a second later it rings again");
}

/// A redrive puts a group's dead letters back for that group only: the other group skips
/// them, and the redriven group gets each again; on HTTP it names the group to ring.
#[test]
fn a_redrive_is_for_its_group_only() {
    let redis = RedisServer::start();
    publish(&publisher(&redis, Doorbell::Redis), 1);
    for g in GROUPS {
        let q = queue(&redis, g, 5);
        let c = claim(&q, &Settlement::default(), 10);
        let settle = if g == "order-writer" {
            Settlement { dead: vec![(c.deliveries[0].entry.clone(), "poison".into())], ..Settlement::default() }
        } else {
            acked(&c)
        };
        claim(&q, &settle, 10);
    }
    let redriven = operations(&redis, Doorbell::Http).redrive("order-writer").unwrap();
    assert_eq!((redriven.moved, redriven.drain_calls), (1, DrainCalls(vec!["order-writer".into()])));
    let other = queue(&redis, "invoice-writer", 5);
    assert!(claim(&other, &Settlement::default(), 10).deliveries.is_empty(), "not for invoice-writer");
    let q = queue(&redis, "order-writer", 5);
    let back = claim(&q, &Settlement::default(), 10);
    assert_eq!(back.deliveries.len(), 1);
    assert_eq!(back.deliveries[0].payload, b"order 0");
    assert_eq!(operations(&redis, Doorbell::Redis).redrive("order-writer").unwrap().moved, 0);
}

/// The retry clock's check turns on the keyspace notifications it needs, keeping the
/// flags already set; a Redis that refuses `CONFIG` gets a reason saying what to set.
#[test]
fn the_clock_check_turns_notifications_on_or_says_what_to_set() {
    let redis = RedisServer::start_with(&["--notify-keyspace-events", "Eg"]);
    let q = queue(&redis, "order-writer", 5);
    let check = claim(&q, &Settlement::default(), 10).check_clock.expect("the first contact asks for a check");
    assert_eq!(q.check_clock(&check), Ok(()));
    let flags: Vec<String> = query(&redis, redis::cmd("CONFIG").arg("GET").arg("notify-keyspace-events"));
    assert!(flags[1].contains('K') && flags[1].contains('x') && flags[1].contains('g'), "{flags:?}");
    assert_eq!(operations(&redis, Doorbell::Redis).status().unwrap().retry_clock.state(), "on");

    let locked = RedisServer::start_with(&["--rename-command", "CONFIG", ""]);
    let q = queue(&locked, "order-writer", 5);
    let check = claim(&q, &Settlement::default(), 10).check_clock.expect("the first contact asks for a check");
    let refused = q.check_clock(&check).unwrap_err();
    assert!(refused.contains("Redis refused CONFIG") && refused.contains("notify-keyspace-events Kx"), "{refused}");
    let status = operations(&locked, Doorbell::Redis).status().unwrap();
    assert_eq!(status.retry_clock.state(), "off", "what the check recorded: {:?}", status.retry_clock);
}

/// `maxmemory-policy allkeys-*` is warned of, in the status and by the consumer.
#[test]
fn an_allkeys_eviction_policy_is_warned_of() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let q = queue(&redis, "order-writer", 5);
    assert!(q.eviction_warning().is_some_and(|w| w.contains("allkeys-lru")));
    let status = operations(&redis, Doorbell::Redis).status().unwrap();
    assert!(status.warnings.iter().any(|w| w.contains("noeviction")), "{status:?}");
    let fine = RedisServer::start();
    assert_eq!(queue(&fine, "order-writer", 5).eviction_warning(), None);
}

/// What the server gives is learned once per run of the server: the first publish at a
/// durability level records it with its plan under the server's run id, for a minute;
/// later ones read the plan inside the script; a restarted server (a new run id) is
/// asked again at its first publish.
#[test]
fn what_the_server_gives_is_learned_once_per_run_of_the_server() {
    use spin_adapters::topic::durability::DurabilityConfig;
    let mut redis = RedisServer::start();
    let level = DurabilityConfig::parse("process", "1000", "").unwrap();
    let facts_keys = |redis: &RedisServer| -> Vec<String> {
        let mut keys: Vec<String> =
            redis.client().get_connection().unwrap().keys("orders:stream:durability:*").unwrap();
        keys.sort();
        keys
    };
    let p = publisher(&redis, Doorbell::Redis).with_durability(level.clone());
    for _ in 0..3 {
        assert!(matches!(p.publish("a0", b"order", None).unwrap(), Published::Appended(_)));
    }
    let first = facts_keys(&redis);
    assert_eq!(first.len(), 1, "{first:?}");
    let mut conn = redis.client().get_connection().unwrap();
    let plan: String = conn.hget(&first[0], "plan:process:").unwrap();
    assert_eq!(plan, "settings:0");
    let (appendonly, fsync): (String, String) =
        (conn.hget(&first[0], "appendonly").unwrap(), conn.hget(&first[0], "appendfsync").unwrap());
    assert_eq!((appendonly.as_str(), fsync.as_str()), ("yes", "everysec"));
    let ttl: i64 = conn.pttl(&first[0]).unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "kept for a minute: {ttl} ms");

    redis.restart();
    let p = publisher(&redis, Doorbell::Redis).with_durability(level);
    assert!(matches!(p.publish("a0", b"order", None).unwrap(), Published::Appended(_)));
    let after = facts_keys(&redis);
    assert_eq!(after.len(), 2, "the new run of the server has its own: {after:?}");
    assert!(after.contains(&first[0]));
}
