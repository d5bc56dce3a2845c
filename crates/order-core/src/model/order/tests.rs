use super::*;
use crate::testing::fixtures::notebook_body;
use serde_json::json;

fn parse(v: &Value) -> Result<Order, Invalid> {
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
        ("order.accountid", Box::new(|b| b["order"].as_object_mut().unwrap().remove("accountid").map(drop).unwrap())),
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
        assert_eq!(p.field.as_deref(), Some(field), "{b} -> {}", p.detail);
        assert!(p.detail.contains(field), "detail `{}` does not name {field}", p.detail);
        assert!(p.detail.len() < 200, "detail echoes too much: {}", p.detail.len());
    }
}

#[test]
fn malformed_json_is_a_400_without_field() {
    for body in [&b""[..], b"{", b"{\"order\":", b"\xff\xfe", b"null", b"{\"order\": {}} trailing"] {
        let p = Order::from_body(body).unwrap_err();
        // A 400 (`http::problem`'s test) about the body as a whole, no field within it.
        assert!(matches!(p.field.as_deref(), None | Some("body")), "{body:?}: {p:?}");
    }
    // Nesting deeper than serde_json's recursion limit is refused, not a stack overflow.
    let deep = "[".repeat(100_000);
    assert_eq!(Order::from_body(deep.as_bytes()).unwrap_err().field, None);
}

#[test]
fn nesting_is_refused_past_the_limit_before_parsing() {
    // A whole body of `[`: a clean 400 that names the limit.
    let p = Order::from_body("[".repeat(crate::http::request::MAX_BODY_BYTES).as_bytes()).unwrap_err();
    assert_eq!(p.field, None);
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

#[test]
fn a_quantity_is_a_whole_number_as_json_schema_counts_one() {
    let mut b = notebook_body();
    for (text, q) in
        [("3", 3), ("3.0", 3), ("293.000", 293), ("3e0", 3), ("1E3", 1000), ("0.5e1", 5), ("30e-1", 3), ("1000", 1000)]
    {
        b["order"]["details"]["quantity"] = serde_json::from_str(text).unwrap();
        assert_eq!(parse(&b).map(|o| o.details.quantity), Ok(q), "{text}");
    }
    for text in
        ["3.5", "3.0000000000000000001", "0.0", "1001.0", "1e4", "-3.0", "1e999999999999", "1e-999999999999", "25e-1"]
    {
        b["order"]["details"]["quantity"] = serde_json::from_str(text).unwrap();
        let e = parse(&b).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("order.details.quantity"), "{text}");
    }
}
