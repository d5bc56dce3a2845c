//! The notebook's order, as the tests post and store it.

use serde_json::{json, Value};

use crate::model::order::Order;

/// The notebook's body, as `requests.post(url, json=...)` sends it.
pub fn notebook_body() -> Value {
    json!({"order": {
        "accountid": "a0", "orderdate": "2026-11-27 23:06:44.123456", "vendorid": "v0",
        "city": "Perth",
        "details": {"coffeetype": "Latte", "coffeesize": "Large", "unitprice": "4.5", "quantity": 3},
        "eventtype": ["new_order"]
    }})
}

/// The notebook's order, validated.
pub fn order() -> Order {
    Order::from_body(&serde_json::to_vec(&notebook_body()).unwrap()).unwrap()
}
