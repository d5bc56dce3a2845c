//! An order as the order store keeps it, and `GET /order` answers it.

use serde::{Deserialize, Serialize};

use crate::model::message_id::MessageId;
use crate::model::order::Order;

/// The order and the message that brought it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrder {
    pub order: Order,
    pub message_id: MessageId,
    pub published_at: String,
    pub traceparent: String,
}
