//! At-least-once delivery from the orders topic to each consumer group: what wakes a
//! consumer ([`wake`]), how it drains its group ([`drain`]) on every partition of the
//! topic ([`partitions`]), what handling one message comes to ([`handled`]), its spans
//! ([`spans`]), and the group's settings ([`group_config`]).

pub mod drain;
pub mod group_config;
pub mod handled;
pub mod partitions;
pub mod spans;
pub mod wake;
