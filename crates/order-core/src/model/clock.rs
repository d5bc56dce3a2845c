//! Time and randomness, the domain's one window on the platform's clock and entropy.

use std::fmt;

/// Time and randomness, injected so the domain is deterministic under test.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Nanoseconds since the Unix epoch (spans' times).
    fn now_ns(&self) -> u64 {
        self.now_ms().saturating_mul(1_000_000)
    }
    /// Fresh random bytes (ids, trace ids). An `Err` when the platform cannot give any:
    /// never zeros or other predictable bytes in their place.
    fn random(&self) -> Result<[u8; 16], RandomnessUnavailable>;
    /// Waits `ms` milliseconds (a consumer lingering for a fuller batch).
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// The platform gave no random bytes, in its own words: no id can be made (never zeros
/// in their place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomnessUnavailable(pub String);

impl fmt::Display for RandomnessUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The real clock: the system time and the platform's random source (WASI's
/// `wasi:random` under Spin).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    fn now_ns(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    }

    fn random(&self) -> Result<[u8; 16], RandomnessUnavailable> {
        let mut buf = [0u8; 16];
        // It does not fail on WASI or any tier-1 host; if it ever does, ids and trace
        // ids made of zeros would collide across instances and be guessable, so the
        // failure is reported (a 503 on `POST /order`) instead.
        getrandom::fill(&mut buf)
            .map_err(|e| RandomnessUnavailable(format!("the platform's random source failed: {e}")))?;
        Ok(buf)
    }
}
