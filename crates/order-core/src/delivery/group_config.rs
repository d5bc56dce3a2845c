//! A consumer group's settings: how much one drain takes on, and when a message is
//! delivered again or given up on.
//!
//! A consumer (order-writer, invoice-writer) is woken ([`crate::delivery::wake`]) and
//! drains its group within [`GroupConfig::limits`].

use crate::delivery::drain::Limits;

/// Batches per invocation at most; the time budget usually ends a drain first.
pub const MAX_BATCHES: usize = 1_000;

/// Settings of a consumer group, from the component's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub batch: usize,
    pub visibility_timeout_ms: u64,
    pub max_deliveries: u32,
    /// How long one invocation drains before it hands over to the next (by ringing for
    /// itself): the next doorbell, or the other consumer's next message, waits for it.
    pub drain_budget_ms: u64,
    /// How long a drain waits after a short batch for a fuller one.
    pub batch_linger_ms: u64,
}

impl GroupConfig {
    /// Batch 1-1000, visibility timeout 1 ms to 1 hour, delivery limit 1-100, drain
    /// budget 1 ms to 10 minutes, linger 0 to 1000 ms. The error names the variable.
    pub fn from_variables(
        batch: &str,
        visibility_ms: &str,
        max_deliveries: &str,
        drain_budget_ms: &str,
        batch_linger_ms: &str,
    ) -> Result<GroupConfig, String> {
        fn num<T: std::str::FromStr + PartialOrd>(name: &str, v: &str, lo: T, hi: T) -> Result<T, String> {
            match v.trim().parse::<T>() {
                Ok(n) if n >= lo && n <= hi => Ok(n),
                _ => Err(format!("variable `{name}` must be a whole number in range, not `{v}`")),
            }
        }
        Ok(GroupConfig {
            batch: num("batch_size", batch, 1, 1_000)?,
            visibility_timeout_ms: num("visibility_timeout_ms", visibility_ms, 1, 3_600_000)?,
            max_deliveries: num("max_deliveries", max_deliveries, 1, 100)?,
            drain_budget_ms: num("drain_budget_ms", drain_budget_ms, 1, 600_000)?,
            batch_linger_ms: num("batch_linger_ms", batch_linger_ms, 0, 1_000)?,
        })
    }

    pub fn limits(&self) -> Limits {
        Limits {
            batch: self.batch,
            max_batches: MAX_BATCHES,
            max_ms: self.drain_budget_ms,
            linger_ms: self.batch_linger_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bounds_name_the_variable() {
        assert_eq!(
            GroupConfig::from_variables("10", "30000", "5", "250", "0"),
            Ok(GroupConfig {
                batch: 10,
                visibility_timeout_ms: 30_000,
                max_deliveries: 5,
                drain_budget_ms: 250,
                batch_linger_ms: 0
            })
        );
        let err = |v: [&str; 5]| GroupConfig::from_variables(v[0], v[1], v[2], v[3], v[4]).unwrap_err();
        assert!(err(["0", "30000", "5", "250", "0"]).contains("batch_size"));
        assert!(err(["10", "x", "5", "250", "0"]).contains("visibility_timeout_ms"));
        assert!(err(["10", "1", "101", "250", "0"]).contains("max_deliveries"));
        assert!(err(["10", "1", "5", "0", "0"]).contains("drain_budget_ms"));
        assert!(err(["10", "1", "5", "9", "1001"]).contains("batch_linger_ms"));
    }
}
