//! Clocks for tests: fixed time that moves only when told (or when a drain lingers), and
//! "random" bytes that count up, so ids are deterministic.

use std::cell::Cell;

use crate::model::clock::{Clock, RandomnessUnavailable};

/// A deterministic clock: fixed time, counting "random" bytes.
pub struct TestClock {
    pub now_ms: Cell<u64>,
    pub seed: Cell<u8>,
}

impl TestClock {
    pub fn at(now_ms: u64) -> TestClock {
        TestClock { now_ms: Cell::new(now_ms), seed: Cell::new(1) }
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }
    fn sleep_ms(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }
    fn random(&self) -> Result<[u8; 16], RandomnessUnavailable> {
        let s = self.seed.get();
        self.seed.set(s.wrapping_add(1));
        Ok([s; 16])
    }
}

/// A clock whose platform has no randomness to give.
pub struct NoRandomness;

impl Clock for NoRandomness {
    fn now_ms(&self) -> u64 {
        1_000
    }
    fn random(&self) -> Result<[u8; 16], RandomnessUnavailable> {
        Err(RandomnessUnavailable("the platform's random source failed: unsupported".into()))
    }
}
