//! A durability level ([`order_core::model::durability`]) on the topic's Redis: what the
//! server gives, learned once per server run, and how order-api confirms the level for
//! each order before it answers `202`.
//!
//! **What the server gives** ([`ServerFacts`]) is read with `CONFIG GET appendonly
//! appendfsync`; where `CONFIG` is refused (most managed Redis), `appendonly` from `INFO
//! persistence`; and whether it has `WAITAOF` (Redis 7.2+, Valkey) by sending `WAITAOF 0 0 0`.
//! Order-api records the facts and its [`Plan`] for the configured level in
//! `<stream>:durability:<run id>` for a minute (so a `CONFIG SET` is seen within a
//! minute, and a restarted or promoted server, which has another run id, is asked again
//! at once). The publish script reads the plan in the same step as the append: with no
//! plan for this run of the server it appends nothing and asks for one; with a refusal,
//! it appends nothing and answers why.
//!
//! **How a level is confirmed** ([`Plan`]), with no round trip it does not need:
//! - `process`: `appendonly yes` is enough. With `appendfsync everysec` or `no` the write
//!   reaches the kernel before the reply (Redis writes its AOF buffer before it sends
//!   replies), so a killed process loses nothing; a disk so slow that an fsync takes over
//!   2 s can hold writes back past the reply (`aof_delayed_fsync` in `INFO persistence`).
//! - `machine`: `appendfsync always` is enough (the AOF is fsynced before replies go out);
//!   otherwise, on a server with `WAITAOF`, `WAITAOF 1 0 <timeout>` after the append, on the
//!   same connection, and its count checked.
//! - `replicas:N`: the primary as for `machine`, then `WAIT N <timeout>`, and its count
//!   checked (the replicas hold the write in memory; with asynchronous replication nothing
//!   else tells that the one promoted has it).
//! - Where the server can tell neither (`CONFIG` refused and no `WAITAOF`), the level the
//!   operator declares in `redis_durability`, shown as declared by `GET /pipeline`. What
//!   the server does tell always wins over a declaration.

use order_core::model::durability::Durability;
use order_core::ports::PortError;
use spin_sdk::redis::RedisParameter;

use crate::redis::{bin, int, text, Redis};

/// The failure an accepted order outlives at `level` on Redis, for people.
pub fn survives(level: Durability) -> String {
    match level {
        Durability::Memory => "nothing beyond the Redis process staying up".into(),
        Durability::Process => "a crash of the Redis process".into(),
        Durability::Machine => "a crash of the Redis machine".into(),
        Durability::Replicas(n) => format!(
            "the loss of the Redis primary to one of {n} replica{} that hold it, and a crash of its machine",
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// How long what a server gives is trusted before it is read again.
pub const FACTS_TTL_MS: i64 = 60_000;

/// The deployment's choice: its level, how long order-api waits for a confirmation, and
/// the level declared for a server that cannot tell (variables `durability`,
/// `durability_timeout_ms`, `redis_durability`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurabilityConfig {
    pub level: Durability,
    pub timeout_ms: u64,
    /// `None`: nothing declared.
    pub declared: Option<Durability>,
}

impl DurabilityConfig {
    /// No check at all: the `memory` level.
    pub fn memory() -> DurabilityConfig {
        DurabilityConfig { level: Durability::Memory, timeout_ms: 1000, declared: None }
    }

    /// From the variables' values (`declared` empty: nothing declared).
    pub fn parse(level: &str, timeout_ms: &str, declared: &str) -> Result<DurabilityConfig, String> {
        let level = Durability::parse(level).map_err(|e| format!("variable `durability`: {e}"))?;
        let timeout_ms = timeout_ms
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|t| (1..=60_000).contains(t))
            .ok_or_else(|| format!("variable `durability_timeout_ms`: `{timeout_ms}` is not 1 to 60000"))?;
        let declared = match declared.trim() {
            "" => None,
            d => Some(Durability::parse(d).map_err(|e| format!("variable `redis_durability`: {e}"))?),
        };
        Ok(DurabilityConfig { level, timeout_ms, declared })
    }

    /// From the variables `durability`, `durability_timeout_ms` and `redis_durability`.
    pub fn from_variables() -> Result<DurabilityConfig, String> {
        DurabilityConfig::parse(
            &crate::variable("durability")?,
            &crate::variable("durability_timeout_ms")?,
            &crate::variable("redis_durability")?,
        )
    }

    /// The field of the facts hash that holds this configuration's plan ('' for `memory`,
    /// which needs none).
    pub fn plan_field(&self) -> String {
        match self.level {
            Durability::Memory => String::new(),
            level => format!("plan:{level}:{}", self.declared.map(|d| d.to_string()).unwrap_or_default()),
        }
    }
}

/// What a Redis server says of its persistence. `None`: it would not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    pub appendonly: Option<bool>,
    pub appendfsync: Option<String>,
    pub waitaof: bool,
}

/// How the primary's part of a level is confirmed once the entry is appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primary {
    /// The server's settings give it already.
    Settings,
    /// `WAITAOF 1 0 <timeout>`: fsynced here.
    WaitAof,
    /// The operator's declaration stands for it (shown as such).
    Declared,
}

/// How order-api confirms a level for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub primary: Primary,
    /// `WAIT <replicas> <timeout>` when more than 0.
    pub replicas: u8,
}

impl Plan {
    /// As the facts hash keeps it, for the publish script to hand back.
    pub fn encode(self) -> String {
        let primary = match self.primary {
            Primary::Settings => "settings",
            Primary::WaitAof => "waitaof",
            Primary::Declared => "declared",
        };
        format!("{primary}:{}", self.replicas)
    }

    pub fn decode(s: &str) -> Option<Plan> {
        let (primary, replicas) = s.split_once(':')?;
        let primary = match primary {
            "settings" => Primary::Settings,
            "waitaof" => Primary::WaitAof,
            "declared" => Primary::Declared,
            _ => return None,
        };
        Some(Plan { primary, replicas: replicas.parse().ok()? })
    }
}

/// How `config` is confirmed on a server that says `facts`, or why it cannot be: the
/// setting that asks for what, and what the server lacks.
pub fn plan(config: &DurabilityConfig, facts: &ServerFacts) -> Result<Plan, String> {
    let level = config.level;
    let replicas = level.replicas();
    let asks = format!("durability `{level}` (an accepted order survives {})", survives(level));
    let declared = |lacks: &str| match config.declared {
        Some(d) if d.on_primary() >= level.on_primary() => Ok(Plan { primary: Primary::Declared, replicas }),
        _ => Err(format!(
            "{asks} needs {lacks}; set `redis_durability` to the level your Redis provider gives, if it gives this one"
        )),
    };
    match (level.on_primary(), facts.appendonly, facts.appendfsync.as_deref()) {
        (Durability::Memory, ..) => Ok(Plan { primary: Primary::Settings, replicas: 0 }),
        (_, Some(false), _) => Err(format!(
            "{asks} needs the append-only file, and this Redis has `appendonly no`: set `appendonly yes` (and \
             `appendfsync always` for `machine` and above) in its configuration"
        )),
        (Durability::Process, Some(true), _) => Ok(Plan { primary: Primary::Settings, replicas }),
        (_, Some(true), Some("always")) => Ok(Plan { primary: Primary::Settings, replicas }),
        (_, _, _) if facts.waitaof => Ok(Plan { primary: Primary::WaitAof, replicas }),
        (_, Some(true), Some(fsync)) => Err(format!(
            "{asks} needs each write fsynced before the answer, and this Redis has `appendfsync {fsync}` and no \
             WAITAOF: set `appendfsync always`, or use Redis 7.2 or later (or Valkey), which has WAITAOF"
        )),
        (Durability::Process, None, _) => {
            declared("`appendonly yes`, and this Redis refuses CONFIG and INFO, so it cannot tell")
        }
        (_, _, _) => {
            declared("each write fsynced, and this Redis refuses CONFIG and has no WAITAOF, so it cannot tell")
        }
    }
}

/// Reads what `redis` gives. Never fails: what it will not say is `None`.
pub fn learn(redis: &impl Redis) -> ServerFacts {
    let mut facts = ServerFacts::default();
    if let Ok(reply) = redis.execute("CONFIG", vec![bin("GET"), bin("appendonly"), bin("appendfsync")]) {
        for pair in reply.chunks(2) {
            if let [name, value] = pair {
                match (text(name).as_deref(), text(value)) {
                    (Ok("appendonly"), Ok(v)) => facts.appendonly = Some(v == "yes"),
                    (Ok("appendfsync"), Ok(v)) => facts.appendfsync = Some(v),
                    _ => {}
                }
            }
        }
    }
    if facts.appendonly.is_none() {
        if let Ok(reply) = redis.execute("INFO", vec![bin("persistence")]) {
            let info = reply.first().map(text).transpose().ok().flatten().unwrap_or_default();
            facts.appendonly = info.lines().find_map(|l| l.trim().strip_prefix("aof_enabled:")).map(|v| v == "1");
        }
    }
    facts.waitaof = redis.execute("WAITAOF", vec![int_arg(0), int_arg(0), int_arg(0)]).is_ok();
    if facts.waitaof && facts.appendonly.is_none() {
        // WAITAOF with numlocal 1 is an error where the append-only file is off.
        facts.appendonly = Some(redis.execute("WAITAOF", vec![int_arg(1), int_arg(0), int_arg(1)]).is_ok());
    }
    facts
}

/// Records `facts` and `config`'s plan (or its refusal) under `key` for [`FACTS_TTL_MS`].
pub fn record(redis: &impl Redis, key: &str, config: &DurabilityConfig, facts: &ServerFacts) -> Result<(), PortError> {
    let plan = match plan(config, facts) {
        Ok(p) => p.encode(),
        Err(why) => format!("refuse:{why}"),
    };
    let shown = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
    let args = vec![
        bin(key),
        bin("appendonly"),
        bin(shown(facts.appendonly.map(|a| if a { "yes" } else { "no" }.to_owned()))),
        bin("appendfsync"),
        bin(shown(facts.appendfsync.clone())),
        bin("waitaof"),
        bin(if facts.waitaof { "yes" } else { "no" }),
        bin(config.plan_field()),
        bin(plan),
    ];
    redis.execute("HSET", args)?;
    redis.execute("PEXPIRE", vec![bin(key), int_arg(FACTS_TTL_MS)])?;
    Ok(())
}

/// Confirms `plan` for this connection's writes so far (the append, or on a replay the
/// script's own write, which follows the first append): `Err` says what fell short.
pub fn confirm(redis: &impl Redis, plan: Plan, timeout_ms: u64) -> Result<(), String> {
    let timeout = int_arg(timeout_ms as i64);
    if plan.primary == Primary::WaitAof {
        let reply = redis
            .execute("WAITAOF", vec![int_arg(1), int_arg(0), timeout.clone()])
            .map_err(|e| format!("WAITAOF failed: {e}"))?;
        let local = reply.first().map(int).transpose().ok().flatten().unwrap_or(0);
        if local < 1 {
            return Err(format!("the Redis primary had not fsynced it within {timeout_ms} ms (WAITAOF)"));
        }
    }
    if plan.replicas > 0 {
        let reply = redis
            .execute("WAIT", vec![int_arg(i64::from(plan.replicas)), timeout])
            .map_err(|e| format!("WAIT failed: {e}"))?;
        let held = reply.first().map(int).transpose().ok().flatten().unwrap_or(0);
        if held < i64::from(plan.replicas) {
            return Err(format!(
                "{held} of the {} replicas it needs acknowledged it within {timeout_ms} ms (WAIT)",
                plan.replicas
            ));
        }
    }
    Ok(())
}

fn int_arg(i: i64) -> RedisParameter {
    RedisParameter::Int64(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_level_survives_names_its_replicas() {
        assert!(survives(Durability::Replicas(1)).contains("1 replica that"));
        assert!(survives(Durability::Replicas(2)).contains("2 replicas that"));
    }

    fn config(level: &str, declared: &str) -> DurabilityConfig {
        DurabilityConfig::parse(level, "1000", declared).unwrap()
    }

    fn facts(appendonly: Option<bool>, fsync: Option<&str>, waitaof: bool) -> ServerFacts {
        ServerFacts { appendonly, appendfsync: fsync.map(str::to_owned), waitaof }
    }

    const SETTINGS: Primary = Primary::Settings;

    /// A server that answers each command by its name: a reply, or an error.
    struct Answers(Vec<(&'static str, Result<Vec<spin_sdk::redis::RedisResult>, &'static str>)>);

    impl Redis for Answers {
        fn execute(&self, cmd: &str, _: Vec<RedisParameter>) -> Result<Vec<spin_sdk::redis::RedisResult>, PortError> {
            let (_, reply) = self.0.iter().find(|(c, _)| *c == cmd).unwrap_or_else(|| panic!("unexpected {cmd}"));
            reply.clone().map_err(PortError::unavailable)
        }
    }

    fn ints(values: &[i64]) -> Result<Vec<spin_sdk::redis::RedisResult>, &'static str> {
        Ok(values.iter().map(|v| spin_sdk::redis::RedisResult::Int64(*v)).collect())
    }

    #[test]
    fn a_confirmation_that_falls_short_says_which_and_by_how_much() {
        let waitaof = Plan { primary: Primary::WaitAof, replicas: 0 };
        let not_fsynced = Answers(vec![("WAITAOF", ints(&[0, 0]))]);
        let e = confirm(&not_fsynced, waitaof, 700).unwrap_err();
        assert_eq!(e, "the Redis primary had not fsynced it within 700 ms (WAITAOF)");
        assert_eq!(confirm(&Answers(vec![("WAITAOF", ints(&[1, 0]))]), waitaof, 700), Ok(()));

        let two = Plan { primary: SETTINGS, replicas: 2 };
        let one_held = Answers(vec![("WAIT", ints(&[1]))]);
        assert_eq!(
            confirm(&one_held, two, 500).unwrap_err(),
            "1 of the 2 replicas it needs acknowledged it within 500 ms (WAIT)"
        );
        let dropped = Answers(vec![("WAIT", Err("redis: connection reset"))]);
        assert_eq!(confirm(&dropped, two, 500).unwrap_err(), "WAIT failed: redis: connection reset");
        assert_eq!(confirm(&Answers(vec![]), Plan { primary: SETTINGS, replicas: 0 }, 500), Ok(()), "no round trip");
    }

    #[test]
    fn where_config_is_refused_info_and_the_waitaof_probe_tell_what_they_can() {
        use spin_sdk::redis::RedisResult::Binary;
        let info = Ok(vec![Binary(b"# Persistence\r\naof_enabled:1\r\n".to_vec())]);
        let managed = Answers(vec![
            ("CONFIG", Err("ERR unknown command 'CONFIG'")),
            ("INFO", info),
            ("WAITAOF", Err("ERR unknown command")),
        ]);
        assert_eq!(learn(&managed), facts(Some(true), None, false));
        let waitaof_only =
            Answers(vec![("CONFIG", Err("NOPERM")), ("INFO", Err("NOPERM")), ("WAITAOF", ints(&[0, 0]))]);
        assert_eq!(learn(&waitaof_only), facts(Some(true), None, true), "WAITAOF 1 0 1 answered: the file is on");
    }

    #[test]
    fn process_needs_the_append_only_file_and_nothing_else() {
        let c = config("process", "");
        for fsync in ["everysec", "no", "always"] {
            assert_eq!(plan(&c, &facts(Some(true), Some(fsync), false)), Ok(Plan { primary: SETTINGS, replicas: 0 }));
        }
        let e = plan(&c, &facts(Some(false), Some("everysec"), true)).unwrap_err();
        assert!(e.contains("durability `process`") && e.contains("`appendonly no`"), "{e}");
    }

    #[test]
    fn machine_takes_appendfsync_always_or_waitaof_and_refuses_everysec_without_it() {
        let c = config("machine", "");
        assert_eq!(plan(&c, &facts(Some(true), Some("always"), false)).unwrap().primary, SETTINGS);
        assert_eq!(plan(&c, &facts(Some(true), Some("always"), true)).unwrap().primary, SETTINGS, "no round trip");
        assert_eq!(plan(&c, &facts(Some(true), Some("everysec"), true)).unwrap().primary, Primary::WaitAof);
        let e = plan(&c, &facts(Some(true), Some("everysec"), false)).unwrap_err();
        assert!(e.contains("`appendfsync everysec` and no WAITAOF") && e.contains("appendfsync always"), "{e}");
    }

    #[test]
    fn a_declaration_stands_only_where_the_server_cannot_tell() {
        let refuses_config = facts(None, None, false);
        let e = plan(&config("machine", ""), &refuses_config).unwrap_err();
        assert!(e.contains("refuses CONFIG") && e.contains("redis_durability"), "{e}");
        assert_eq!(plan(&config("machine", "machine"), &refuses_config).unwrap().primary, Primary::Declared);
        assert_eq!(plan(&config("replicas:2", "replicas:1"), &refuses_config).unwrap().replicas, 2);
        assert!(plan(&config("machine", "process"), &refuses_config).is_err(), "declared too low");
        // What the server tells wins.
        assert!(plan(&config("process", "machine"), &facts(Some(false), None, false)).is_err());
        assert_eq!(plan(&config("machine", "machine"), &facts(None, None, true)).unwrap().primary, Primary::WaitAof);
        // appendonly from INFO, appendfsync unknown: process holds, machine needs more.
        assert_eq!(plan(&config("process", ""), &facts(Some(true), None, false)).unwrap().primary, SETTINGS);
        assert!(plan(&config("machine", ""), &facts(Some(true), None, false)).is_err());
    }

    #[test]
    fn replicas_ask_the_primary_for_the_machine_level_then_wait() {
        let p = plan(&config("replicas:2", ""), &facts(Some(true), Some("always"), false)).unwrap();
        assert_eq!(p, Plan { primary: SETTINGS, replicas: 2 });
        assert!(plan(&config("replicas:1", ""), &facts(Some(true), Some("everysec"), false)).is_err());
        assert_eq!(Plan::decode(&p.encode()), Some(p));
        assert_eq!(Plan::decode("waitaof:0"), Some(Plan { primary: Primary::WaitAof, replicas: 0 }));
        assert_eq!(Plan::decode("refuse:x"), None);
    }

    #[test]
    fn memory_plans_nothing_and_the_variables_are_checked() {
        assert_eq!(config("memory", "").plan_field(), "");
        assert_eq!(config("replicas:1", "machine").plan_field(), "plan:replicas:1:machine");
        assert!(DurabilityConfig::parse("disk", "1000", "").unwrap_err().contains("variable `durability`"));
        assert!(DurabilityConfig::parse("process", "0", "").unwrap_err().contains("durability_timeout_ms"));
        assert!(DurabilityConfig::parse("process", "1000", "x").unwrap_err().contains("redis_durability"));
    }
}
