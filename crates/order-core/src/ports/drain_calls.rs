//! The drain endpoints a call leaves its caller to call.

/// The consumer groups a call took the doorbell of and did not ring itself: its caller
/// calls their drain endpoints (`POST /drain/<group>`, after its own answer). Empty where
/// the doorbell is the Redis channel, which the call's script published on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainCalls(pub Vec<String>);

impl DrainCalls {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
