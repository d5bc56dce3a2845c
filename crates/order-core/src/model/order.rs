//! The order: what `POST /order` accepts, validated field by field.
//!
//! The body is the original notebook's, `{"order": {...}}`. Validation walks the JSON
//! itself so every error names the field at fault (`order.details.quantity`). Unknown
//! fields are ignored (and not stored), so clients may send more than we read.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::model::ids::Id;
use crate::model::invalid::Invalid;
use crate::model::json_depth::{nesting_within, MAX_JSON_DEPTH};
use crate::model::money::{Cents, MAX_UNIT_PRICE};

pub const MAX_QUANTITY: u64 = 1000;
/// Longest free-text field (`city`, `coffeetype`, `coffeesize`, an event type), in characters.
pub const MAX_TEXT_CHARS: usize = 64;
pub const MAX_EVENT_TYPES: usize = 8;

/// A validated, normalised order. This is what the channel carries and the store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub accountid: Id,
    pub vendorid: Id,
    /// As the client sent it, once checked to be a date-time: Python's
    /// `str(datetime.now())` (`2026-11-27 23:06:44.123456`, no zone) or RFC 3339.
    pub orderdate: String,
    pub city: String,
    pub details: Details,
    pub eventtype: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    pub coffeetype: String,
    pub coffeesize: String,
    /// Serialized as a decimal string, `"4.50"`.
    pub unitprice: Cents,
    pub quantity: u16,
}

impl Order {
    /// Parses and validates a `POST /order` body.
    pub fn from_body(body: &[u8]) -> Result<Order, Invalid> {
        if !nesting_within(body, MAX_JSON_DEPTH) {
            return Err(Invalid::whole(format!("the body nests arrays and objects more than {MAX_JSON_DEPTH} deep")));
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| Invalid::whole(format!("the body is not valid JSON: {e}")))?;
        let root = object(&value, "body")?;
        let order = object(required(root, "order", "order")?, "order")?;
        let accountid = Id::parse("order.accountid", string(order, "accountid", "order.accountid")?)?;
        let vendorid = Id::parse("order.vendorid", string(order, "vendorid", "order.vendorid")?)?;
        let orderdate = orderdate(string(order, "orderdate", "order.orderdate")?)?;
        let city = text(order, "city", "order.city")?;
        let details = object(required(order, "details", "order.details")?, "order.details")?;
        let order = Order {
            accountid,
            vendorid,
            orderdate,
            city,
            details: Details {
                coffeetype: text(details, "coffeetype", "order.details.coffeetype")?,
                coffeesize: text(details, "coffeesize", "order.details.coffeesize")?,
                unitprice: unitprice(required(details, "unitprice", "order.details.unitprice")?)?,
                quantity: quantity(required(details, "quantity", "order.details.quantity")?)?,
            },
            eventtype: eventtype(order.get("eventtype"))?,
        };
        Ok(order)
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, Invalid> {
    v.as_object().ok_or_else(|| Invalid::field(field, format!("{field} must be a JSON object, not {}", kind(v))))
}

fn required<'a>(obj: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a Value, Invalid> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(Invalid::field(field, format!("{field} is required"))),
        Some(v) => Ok(v),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a str, Invalid> {
    let v = required(obj, key, field)?;
    v.as_str().ok_or_else(|| Invalid::field(field, format!("{field} must be a string, not {}", kind(v))))
}

/// Free text: 1..=64 characters, trimmed, no control characters.
fn text(obj: &Map<String, Value>, key: &str, field: &str) -> Result<String, Invalid> {
    check_text(string(obj, key, field)?, field)
}

fn check_text(raw: &str, field: &str) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid::field(field, format!("{field} must not be empty")));
    }
    if s.chars().count() > MAX_TEXT_CHARS {
        return Err(Invalid::field(field, format!("{field} is longer than {MAX_TEXT_CHARS} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::field(field, format!("{field} contains a control character")));
    }
    Ok(s.to_owned())
}

fn orderdate(s: &str) -> Result<String, Invalid> {
    const FIELD: &str = "order.orderdate";
    let python =
        format_description!(version = 2, "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]");
    let ok = PrimitiveDateTime::parse(s, python).is_ok() || OffsetDateTime::parse(s, &Rfc3339).is_ok();
    if ok {
        Ok(s.to_owned())
    } else {
        Err(Invalid::field(
            FIELD,
            format!("{FIELD} `{}` is not a date-time; send `2026-11-27 23:06:44.123456` or RFC 3339", truncate(s)),
        ))
    }
}

fn unitprice(v: &Value) -> Result<Cents, Invalid> {
    const FIELD: &str = "order.details.unitprice";
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        // `arbitrary_precision` keeps the number's own text: no float in between.
        Value::Number(n) => n.to_string(),
        other => {
            return Err(Invalid::field(
                FIELD,
                format!("{FIELD} must be a decimal string or number, not {}", kind(other)),
            ))
        }
    };
    let cents = Cents::parse(&text).map_err(|e| Invalid::field(FIELD, format!("{FIELD}: {}", truncate(&e))))?;
    if cents.0 == 0 || cents > MAX_UNIT_PRICE {
        return Err(Invalid::field(FIELD, format!("{FIELD} must be more than 0 and at most {MAX_UNIT_PRICE}")));
    }
    Ok(cents)
}

fn quantity(v: &Value) -> Result<u16, Invalid> {
    const FIELD: &str = "order.details.quantity";
    let msg = || format!("{FIELD} must be a whole number from 1 to {MAX_QUANTITY}");
    let Value::Number(n) = v else {
        return Err(Invalid::field(FIELD, format!("{}, not {}", msg(), kind(v))));
    };
    match whole_number(&n.to_string()) {
        Some(q) if (1..=MAX_QUANTITY).contains(&q) => Ok(q as u16),
        _ => Err(Invalid::field(FIELD, format!("{}; got {}", msg(), truncate(&n.to_string())))),
    }
}

/// Optional; defaults to `["new_order"]` as the original always sent.
/// The value of a JSON number's text when it is a whole number below 10^7, exactly as
/// JSON Schema's `integer` counts one (the type the API's OpenAPI document gives):
/// `3`, `3.0` (as many encoders write a float) and `3e0` alike, never
/// `3.0000000000000000001`. Linear in the text's length.
fn whole_number(text: &str) -> Option<u64> {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The value is `digits` × 10^(exponent - frac.len()), so `significant` (the digits
    // without their zeros at either end) × 10^shift.
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        return Some(0);
    }
    let shift = exponent.checked_sub(frac.len() as i64)?.checked_add((digits.len() - significant.len()) as i64)?;
    // A fraction, or 10^7 and more: not a whole number this is asked for.
    if shift < 0 || significant.len() as i64 + shift > 7 {
        return None;
    }
    significant.parse::<u64>().ok()?.checked_mul(10u64.pow(shift as u32))
}

fn eventtype(v: Option<&Value>) -> Result<Vec<String>, Invalid> {
    const FIELD: &str = "order.eventtype";
    let items = match v {
        None | Some(Value::Null) => return Ok(vec!["new_order".to_owned()]),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(Invalid::field(FIELD, format!("{FIELD} must be an array of strings, not {}", kind(other))))
        }
    };
    if items.is_empty() || items.len() > MAX_EVENT_TYPES {
        return Err(Invalid::field(FIELD, format!("{FIELD} must hold 1 to {MAX_EVENT_TYPES} strings")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("{FIELD}[{i}]");
            let s = item
                .as_str()
                .ok_or_else(|| Invalid::field(&field, format!("{field} must be a string, not {}", kind(item))))?;
            check_text(s, &field)
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Echoes client input in an error without echoing a megabyte of it.
fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests;
