//! What a `202` survives: the durability level a deployment chooses (variable
//! `durability`), each named by the failure an accepted order outlives.
//!
//! The levels form a ladder; each holds everything below it:
//!
//! | level | an accepted order survives |
//! |---|---|
//! | `memory` | nothing beyond the topic's server process staying up |
//! | `process` | the server process crashing (SIGKILL, OOM kill, a restart) |
//! | `machine` | the server's machine crashing (power, kernel, a lost VM) |
//! | `replicas:N` | the primary lost to one of N replicas, and its machine crashing |
//!
//! The level is a promise about one order: order-api answers `202` only once its level
//! holds for that order's topic entry and idempotency record. How a server gives each
//! level, and the words for what it survives there, are the adapter's.

use std::fmt;

/// The durability level a deployment chooses. Ordered: a higher level holds every lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Durability {
    /// Held in the server's memory only.
    Memory,
    /// Written to the server's log: a crash of its process loses nothing (the kernel
    /// keeps what was written), a machine crash up to the last fsync.
    Process,
    /// Fsynced to the disk before the answer.
    Machine,
    /// Fsynced on the primary and held by this many replicas (at least 1).
    Replicas(u8),
}

/// The most replicas a level may ask for.
pub const MAX_REPLICAS: u8 = 16;

impl Durability {
    /// The level a variable names: `memory`, `process`, `machine` or `replicas:N`
    /// (`N` 1 to [`MAX_REPLICAS`]). `Err` says what is accepted.
    pub fn parse(s: &str) -> Result<Durability, String> {
        let s = s.trim();
        let level = match s {
            "memory" => Some(Durability::Memory),
            "process" => Some(Durability::Process),
            "machine" => Some(Durability::Machine),
            _ => s
                .strip_prefix("replicas:")
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| (1..=MAX_REPLICAS).contains(n))
                .map(Durability::Replicas),
        };
        level.ok_or_else(|| {
            format!(
                "`{s}` is not a durability level: use memory, process, machine or replicas:N (N from 1 to {MAX_REPLICAS})"
            )
        })
    }

    /// The replicas that must hold a write (0 below `replicas:N`).
    pub fn replicas(self) -> u8 {
        match self {
            Durability::Replicas(n) => n,
            _ => 0,
        }
    }

    /// What the primary itself must do for this level: `Replicas` asks of it what `Machine` does.
    pub fn on_primary(self) -> Durability {
        match self {
            Durability::Replicas(_) => Durability::Machine,
            other => other,
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::Memory => f.write_str("memory"),
            Durability::Process => f.write_str("process"),
            Durability::Machine => f.write_str("machine"),
            Durability::Replicas(n) => write!(f, "replicas:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_reads_back_as_it_is_written() {
        for level in [Durability::Memory, Durability::Process, Durability::Machine, Durability::Replicas(2)] {
            assert_eq!(Durability::parse(&level.to_string()), Ok(level));
        }
        assert_eq!(Durability::parse(" replicas:16 "), Ok(Durability::Replicas(16)));
    }

    #[test]
    fn anything_else_is_refused_saying_what_is_accepted() {
        for bad in ["", "disk", "Machine", "replicas", "replicas:0", "replicas:17", "replicas:-1", "replicas:x"] {
            let e = Durability::parse(bad).unwrap_err();
            assert!(e.contains("memory, process, machine or replicas:N"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_ladder_is_ordered_and_replicas_ask_the_primary_for_the_machine_level() {
        assert!(Durability::Memory < Durability::Process);
        assert!(Durability::Process < Durability::Machine);
        assert!(Durability::Machine < Durability::Replicas(1));
        assert!(Durability::Replicas(1) < Durability::Replicas(2));
        assert_eq!(Durability::Replicas(3).on_primary(), Durability::Machine);
        assert_eq!(Durability::Replicas(3).replicas(), 3);
        assert_eq!(Durability::Process.replicas(), 0);
    }
}
