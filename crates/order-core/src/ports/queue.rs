//! The consuming side of the orders topic: one consumer group's view of it, the port
//! `delivery::drain` drains through.

use crate::ports::error::PortError;

/// A message handed to a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The log's own id for the entry (not the envelope's message id).
    pub entry: String,
    /// How many times it has been delivered to this group, this time included.
    pub deliveries: u32,
    pub payload: Vec<u8>,
}

/// What a batch's handling decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Handled: acknowledge.
    pub acked: Vec<String>,
    /// Failed this time, with the reason: leave pending for a later delivery.
    pub failed: Vec<(String, String)>,
    /// Can never succeed, with the reason: move to the dead-letter log now.
    pub dead: Vec<(String, String)>,
}

/// What a drain asks of the queue after settling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Claim up to this many messages.
    Claim(usize),
    /// Claim nothing: the drain ends here.
    Stop(Stop),
}

/// Why a drain ends before its group is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It reached its batch or time limit: if more is waiting, the queue keeps the bell
    /// and rings for this group, so the rest drains in the next invocation.
    Limit,
    /// A whole batch failed (the store is likely down): the bell is released, so a new
    /// order rings again, and the retry clock brings the failed batch back.
    Pause,
}

/// The queue's answer to an exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claimed {
    pub deliveries: Vec<Delivery>,
    /// Something is claimable right now beyond what was returned (never delivered, or
    /// pending past the visibility timeout). A short batch is not the end: this is.
    pub more: bool,
    /// The queue armed its retry clock (or met the topic's server for the first time)
    /// and has not checked lately that the clock can fire: the check to make, with
    /// [`Queue::check_clock`].
    pub check_clock: Option<ClockCheck>,
    /// The queue rang the doorbell for this group (a `Stop::Limit` with more waiting).
    pub rang: bool,
    /// This exchange ended the drain with entries pending and set the retry clock: it
    /// fires in this many ms.
    pub timer_ms: Option<u64>,
}

/// A check of the retry clock a queue asks for, with what it records the outcome under
/// (the adapter's own: the run of the server it checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockCheck(pub String);

/// Whether an exchange is the invocation's first with the queue: the first is when the
/// queue checks its clock, whatever happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    First,
    Again,
}

/// One consumer group's view of the topic.
pub trait Queue {
    /// Settles the previous batch, then claims up to `Next::Claim(n)` messages, in one
    /// round trip: first those pending past the visibility timeout (redeliveries), then
    /// new ones. Messages past the delivery limit are moved to the dead-letter log by
    /// the queue itself and not returned. An exchange that finds nothing to claim, or a
    /// `Next::Stop`, ends the drain: the queue then releases the group's bell (or rings
    /// again, for a `Stop::Limit` with more waiting) and aims its retry clock at the
    /// earliest pending message, atomically with the look that found the group empty.
    fn exchange(&self, settle: &Settlement, next: Next, contact: Contact) -> Result<Claimed, PortError>;

    /// Makes sure the retry clock can fire, and says whether it can (`Err` with the
    /// reason it cannot, meant for the operator). Called with [`Claimed::check_clock`].
    fn check_clock(&self, check: &ClockCheck) -> Result<(), String>;
}
