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

use crate::ids::Id;
use crate::money::{Cents, MAX_UNIT_PRICE};
use crate::problem::Problem;

pub const MAX_QUANTITY: u64 = 1000;
/// Longest free-text field (`city`, `coffeetype`, `coffeesize`, an event type), in characters.
pub const MAX_TEXT_CHARS: usize = 64;
pub const MAX_EVENT_TYPES: usize = 8;
/// Deepest nesting of arrays and objects accepted in a body; the order itself nests 3
/// deep, so unknown fields have room. Checked by a linear scan before the body is
/// parsed, so the parser's recursion never depends on the client (serde_json's own
/// limit, 128, costs far more stack on the way).
pub const MAX_JSON_DEPTH: usize = 32;

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
    pub fn from_body(body: &[u8]) -> Result<Order, Problem> {
        if !nesting_within(body, MAX_JSON_DEPTH) {
            return Err(Problem::bad_request(format!(
                "the body nests arrays and objects more than {MAX_JSON_DEPTH} deep"
            )));
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
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

/// Whether the JSON text `bytes` nests arrays and objects at most `max` deep: one pass,
/// no recursion, brackets inside strings skipped. Says nothing else about the text; the
/// parser judges that.
pub fn nesting_within(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, Problem> {
    v.as_object().ok_or_else(|| Problem::invalid(field, format!("{field} must be a JSON object, not {}", kind(v))))
}

fn required<'a>(obj: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a Value, Problem> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(Problem::invalid(field, format!("{field} is required"))),
        Some(v) => Ok(v),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a str, Problem> {
    let v = required(obj, key, field)?;
    v.as_str().ok_or_else(|| Problem::invalid(field, format!("{field} must be a string, not {}", kind(v))))
}

/// Free text: 1..=64 characters, trimmed, no control characters.
fn text(obj: &Map<String, Value>, key: &str, field: &str) -> Result<String, Problem> {
    check_text(string(obj, key, field)?, field)
}

fn check_text(raw: &str, field: &str) -> Result<String, Problem> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Problem::invalid(field, format!("{field} must not be empty")));
    }
    if s.chars().count() > MAX_TEXT_CHARS {
        return Err(Problem::invalid(field, format!("{field} is longer than {MAX_TEXT_CHARS} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(Problem::invalid(field, format!("{field} contains a control character")));
    }
    Ok(s.to_owned())
}

fn orderdate(s: &str) -> Result<String, Problem> {
    const FIELD: &str = "order.orderdate";
    let python =
        format_description!(version = 2, "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]");
    let ok = PrimitiveDateTime::parse(s, python).is_ok() || OffsetDateTime::parse(s, &Rfc3339).is_ok();
    if ok {
        Ok(s.to_owned())
    } else {
        Err(Problem::invalid(
            FIELD,
            format!("{FIELD} `{}` is not a date-time; send `2026-11-27 23:06:44.123456` or RFC 3339", truncate(s)),
        ))
    }
}

fn unitprice(v: &Value) -> Result<Cents, Problem> {
    const FIELD: &str = "order.details.unitprice";
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        // `arbitrary_precision` keeps the number's own text: no float in between.
        Value::Number(n) => n.to_string(),
        other => {
            return Err(Problem::invalid(
                FIELD,
                format!("{FIELD} must be a decimal string or number, not {}", kind(other)),
            ))
        }
    };
    let cents = Cents::parse(&text).map_err(|e| Problem::invalid(FIELD, format!("{FIELD}: {}", truncate(&e))))?;
    if cents.0 == 0 || cents > MAX_UNIT_PRICE {
        return Err(Problem::invalid(FIELD, format!("{FIELD} must be more than 0 and at most {MAX_UNIT_PRICE}")));
    }
    Ok(cents)
}

fn quantity(v: &Value) -> Result<u16, Problem> {
    const FIELD: &str = "order.details.quantity";
    let msg = || format!("{FIELD} must be a whole number from 1 to {MAX_QUANTITY}");
    let Value::Number(n) = v else {
        return Err(Problem::invalid(FIELD, format!("{}, not {}", msg(), kind(v))));
    };
    match n.as_u64() {
        Some(q) if (1..=MAX_QUANTITY).contains(&q) => Ok(q as u16),
        _ => Err(Problem::invalid(FIELD, format!("{}; got {}", msg(), truncate(&n.to_string())))),
    }
}

/// Optional; defaults to `["new_order"]` as the original always sent.
fn eventtype(v: Option<&Value>) -> Result<Vec<String>, Problem> {
    const FIELD: &str = "order.eventtype";
    let items = match v {
        None | Some(Value::Null) => return Ok(vec!["new_order".to_owned()]),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(Problem::invalid(FIELD, format!("{FIELD} must be an array of strings, not {}", kind(other))))
        }
    };
    if items.is_empty() || items.len() > MAX_EVENT_TYPES {
        return Err(Problem::invalid(FIELD, format!("{FIELD} must hold 1 to {MAX_EVENT_TYPES} strings")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("{FIELD}[{i}]");
            let s = item
                .as_str()
                .ok_or_else(|| Problem::invalid(&field, format!("{field} must be a string, not {}", kind(item))))?;
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
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The notebook's body, as `requests.post(url, json=...)` sends it.
    pub fn notebook_body() -> Value {
        json!({"order": {
            "accountid": "a0", "orderdate": "2026-11-27 23:06:44.123456", "vendorid": "v0",
            "city": "Perth",
            "details": {"coffeetype": "Latte", "coffeesize": "Large", "unitprice": "4.5", "quantity": 3},
            "eventtype": ["new_order"]
        }})
    }

    fn parse(v: &Value) -> Result<Order, Problem> {
        Order::from_body(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn accepts_the_notebooks_order() {
        let o = parse(&notebook_body()).unwrap();
        assert_eq!(o.accountid.as_str(), "a0");
        assert_eq!(o.details.unitprice, Cents(450));
        assert_eq!(o.details.quantity, 3);
        assert_eq!(o.eventtype, vec!["new_order"]);
    }

    #[test]
    fn accepts_rfc3339_numbers_and_no_eventtype() {
        let mut b = notebook_body();
        b["order"]["orderdate"] = json!("2026-11-27T23:06:44+10:30");
        b["order"]["details"]["unitprice"] = json!(4.50);
        b["order"]["eventtype"] = Value::Null;
        let o = parse(&b).unwrap();
        assert_eq!(o.details.unitprice, Cents(450));
        assert_eq!(o.eventtype, vec!["new_order"]);
        // A JSON number keeps its own digits: no float rounding in between.
        b["order"]["details"]["unitprice"] = serde_json::from_str("4.999999999999999999").unwrap();
        assert!(parse(&b).is_err());
    }

    /// Each hostile input, and the field its error must name.
    #[test]
    fn hostile_inputs_name_the_field() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("body", Box::new(|b| *b = json!([1, 2]))),
            ("order", Box::new(|b| *b = json!({"notorder": 1}))),
            ("order", Box::new(|b| b["order"] = json!("a0#v0"))),
            (
                "order.accountid",
                Box::new(|b| b["order"].as_object_mut().unwrap().remove("accountid").map(drop).unwrap()),
            ),
            ("order.accountid", Box::new(|b| b["order"]["accountid"] = json!("a0#v1"))),
            ("order.accountid", Box::new(|b| b["order"]["accountid"] = json!("../etc/passwd"))),
            ("order.accountid", Box::new(|b| b["order"]["accountid"] = json!(7))),
            ("order.accountid", Box::new(|b| b["order"]["accountid"] = json!("x".repeat(10_000)))),
            ("order.accountid", Box::new(|b| b["order"]["accountid"] = json!("café"))),
            ("order.vendorid", Box::new(|b| b["order"]["vendorid"] = json!(""))),
            ("order.vendorid", Box::new(|b| b["order"]["vendorid"] = json!(null))),
            ("order.orderdate", Box::new(|b| b["order"]["orderdate"] = json!("yesterday"))),
            ("order.orderdate", Box::new(|b| b["order"]["orderdate"] = json!("2026-02-30 10:00:00"))),
            ("order.city", Box::new(|b| b["order"]["city"] = json!("   "))),
            ("order.city", Box::new(|b| b["order"]["city"] = json!("Perth\u{0007}"))),
            ("order.city", Box::new(|b| b["order"]["city"] = json!(["Perth"]))),
            ("order.details", Box::new(|b| b["order"]["details"] = json!(null))),
            ("order.details", Box::new(|b| b["order"]["details"] = json!([]))),
            ("order.details.coffeetype", Box::new(|b| b["order"]["details"]["coffeetype"] = json!("☕".repeat(65)))),
            ("order.details.unitprice", Box::new(|b| b["order"]["details"]["unitprice"] = json!("-4.5"))),
            ("order.details.unitprice", Box::new(|b| b["order"]["details"]["unitprice"] = json!("4.505"))),
            ("order.details.unitprice", Box::new(|b| b["order"]["details"]["unitprice"] = json!("0"))),
            ("order.details.unitprice", Box::new(|b| b["order"]["details"]["unitprice"] = json!(1e300))),
            ("order.details.unitprice", Box::new(|b| b["order"]["details"]["unitprice"] = json!(true))),
            ("order.details.quantity", Box::new(|b| b["order"]["details"]["quantity"] = json!(0))),
            ("order.details.quantity", Box::new(|b| b["order"]["details"]["quantity"] = json!(-3))),
            ("order.details.quantity", Box::new(|b| b["order"]["details"]["quantity"] = json!(1001))),
            ("order.details.quantity", Box::new(|b| b["order"]["details"]["quantity"] = json!(2.5))),
            ("order.details.quantity", Box::new(|b| b["order"]["details"]["quantity"] = json!("3"))),
            ("order.details.quantity", Box::new(|b| b["order"]["details"]["quantity"] = json!(u64::MAX))),
            ("order.eventtype", Box::new(|b| b["order"]["eventtype"] = json!("new_order"))),
            ("order.eventtype", Box::new(|b| b["order"]["eventtype"] = json!([]))),
            ("order.eventtype[1]", Box::new(|b| b["order"]["eventtype"] = json!(["new_order", 5]))),
        ];
        for (field, mutate) in cases {
            let mut b = notebook_body();
            mutate(&mut b);
            let p = parse(&b).expect_err(&format!("accepted {b}"));
            assert_eq!(p.status, 400);
            assert_eq!(p.field.as_deref(), Some(field), "{b} -> {}", p.detail);
            assert!(p.detail.contains(field), "detail `{}` does not name {field}", p.detail);
            assert!(p.detail.len() < 200, "detail echoes too much: {}", p.detail.len());
        }
    }

    #[test]
    fn malformed_json_is_a_400_without_field() {
        for body in [&b""[..], b"{", b"{\"order\":", b"\xff\xfe", b"null", b"{\"order\": {}} trailing"] {
            let p = Order::from_body(body).unwrap_err();
            assert_eq!(p.status, 400, "{body:?}");
        }
        // Nesting deeper than serde_json's recursion limit is refused, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert_eq!(Order::from_body(deep.as_bytes()).unwrap_err().status, 400);
    }

    #[test]
    fn nesting_is_refused_past_the_limit_before_parsing() {
        // A whole body of `[`: a clean 400 that names the limit.
        let p = Order::from_body("[".repeat(crate::http::MAX_BODY_BYTES).as_bytes()).unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.contains("more than 32 deep"), "{}", p.detail);
        // An unknown field may nest up to the limit (the body and `order` are two levels)...
        let nested = |levels: usize| -> Value {
            (0..levels).fold(json!(1), |inner, i| if i % 2 == 0 { json!([inner]) } else { json!({ "k": inner }) })
        };
        let mut b = notebook_body();
        b["order"]["extra"] = nested(MAX_JSON_DEPTH - 2);
        assert!(parse(&b).is_ok());
        // ...and no further, though serde_json alone would take it.
        b["order"]["extra"] = nested(MAX_JSON_DEPTH - 1);
        let bytes = serde_json::to_vec(&b).unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
        let p = Order::from_body(&bytes).unwrap_err();
        assert!(p.detail.contains("deep") && p.field.is_none(), "{}", p.detail);
        // Brackets inside strings, escaped quotes included, are not nesting.
        b["order"]["extra"] = json!(format!("\\\"{}", "[{".repeat(100)));
        assert!(parse(&b).is_ok());
    }

    #[test]
    fn unknown_fields_are_ignored_and_not_kept() {
        let mut b = notebook_body();
        b["order"]["extra"] = json!({"x": 1});
        b["order"]["details"]["milk"] = json!("oat");
        let o = parse(&b).unwrap();
        let stored = serde_json::to_value(&o).unwrap();
        assert!(stored["order"].get("extra").is_none() && stored.get("extra").is_none());
    }

    #[test]
    fn serde_round_trip_keeps_every_field() {
        let o = parse(&notebook_body()).unwrap();
        let back: Order = serde_json::from_slice(&serde_json::to_vec(&o).unwrap()).unwrap();
        assert_eq!(o, back);
    }
}
