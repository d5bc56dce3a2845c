//! The domain's data: what an order is, how it is keyed, what travels on the channel,
//! what an invoice says. Pure data and its rules; nothing here reaches a store.

pub mod clock;
pub mod durability;
pub mod envelope;
pub mod ids;
pub mod invalid;
pub mod invoice;
pub mod json_depth;
pub mod message_id;
pub mod money;
pub mod order;
pub mod partition;
pub mod span;
pub mod stored_order;
pub mod time;
pub mod trace;
