//! `GET /order?accountid=&vendorid=` (order-reader): the stored order, or 404, to a
//! request with a read credential ([`crate::access::read_access`]): `401` without one, `403`
//! for one that does not grant this order.

use crate::access::capabilities::{Access, Resource};
use crate::access::read_access::ReadAccess;
use crate::http::problem::respond;
use crate::http::problem::Problem;
use crate::http::request::ids_from_query;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::ids::order_key;
use crate::model::stored_order::StoredOrder;
use crate::ports::key_value::KeyValue;
use crate::ports::settings::Misconfigured;

/// `access` is `Err` when the read credentials' variables are unusable; `now_ms` the time.
pub fn handle(
    req: &Request,
    orders: &impl KeyValue,
    access: Result<ReadAccess, Misconfigured>,
    now_ms: u64,
) -> Response {
    respond(read(req, orders, access, now_ms))
}

fn read(
    req: &Request,
    orders: &impl KeyValue,
    access: Result<ReadAccess, Misconfigured>,
    now_ms: u64,
) -> Result<Response, Problem> {
    req.check_limits()?;
    if req.method != "GET" {
        return Err(Problem::method_not_allowed(&req.method, crate::handlers::accept_order::ALLOW));
    }
    let (accountid, vendorid) = ids_from_query(&req.query_params()?, true)?;
    let vendorid = vendorid.expect("required above");
    let access = access.map_err(|e| Problem::unavailable(format!("reads are not configured: {e}")))?;
    let access = access.check(req, Resource::Order(&accountid, &vendorid), now_ms)?;
    let key = order_key(&accountid, &vendorid);
    let bytes = orders
        .get(&key)
        .map_err(|e| Problem::unavailable(format!("the order store is unavailable: {e}")))?
        .ok_or_else(|| Problem::not_found(format!("no order for accountid `{accountid}` and vendorid `{vendorid}`")))?;
    let stored: StoredOrder = serde_json::from_slice(&bytes)
        .map_err(|_| Problem::unavailable(format!("the stored order `{key}` is unreadable")))?;
    // A capability reads only its own message's order, not a newer one for the same ids.
    if let Access::Message(id) = access {
        if stored.message_id != id {
            return Err(Problem::not_found(format!(
                "the order this URL names is no longer the stored order for accountid `{accountid}` and \
                 vendorid `{vendorid}`: a newer one replaced it"
            )));
        }
    }
    Ok(Response::json(200, &stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::memory::MemoryStore;

    fn get(query: &str) -> Request {
        let auth = vec![("authorization".to_owned(), "Bearer read-key-0123456789abcdef".to_owned())];
        Request { method: "GET".into(), query: query.into(), headers: auth, ..Request::default() }
    }

    fn access() -> Result<ReadAccess, Misconfigured> {
        ReadAccess::from_variables("t:read-key-0123456789abcdef", "k1:0123456789abcdef0123456789abcdef", "60", "")
    }

    fn handle(req: &Request, s: &MemoryStore) -> Response {
        super::handle(req, s, access(), 0)
    }

    #[test]
    fn reads_need_a_credential_for_this_order() {
        let s = MemoryStore::default();
        let mut anonymous = get("accountid=a0&vendorid=v0");
        anonymous.headers.clear();
        assert_eq!(handle(&anonymous, &s).status, 401);
        let mut wrong = get("accountid=a0&vendorid=v0");
        wrong.headers[0].1 = "Bearer not-a-key-0000000000".into();
        assert_eq!(handle(&wrong, &s).status, 403);
        let caps = access().unwrap().capabilities;
        let a = crate::model::ids::Id::parse("accountid", "a0").unwrap();
        let m = crate::model::message_id::MessageId::from("m1");
        let (url, _, _) = caps.urls_for(&a, &crate::model::ids::Id::parse("vendorid", "v0").unwrap(), &m, 0);
        let mut capability = get(url.split_once('?').unwrap().1);
        capability.headers.clear();
        assert_eq!(handle(&capability, &s).status, 404, "granted: and there is no such order yet");
        // Stored, but by another message (a newer order for the same ids): not this URL's.
        s.set("a0#v0", br#"{"order":{"accountid":"a0","orderdate":"2026-11-27 23:06:44.123456","vendorid":"v0","city":"Perth","details":{"coffeetype":"Latte","coffeesize":"Large","unitprice":"4.50","quantity":3},"eventtype":["new_order"]},"message_id":"m2","published_at":"x","traceparent":"y"}"#).unwrap();
        let r = handle(&capability, &s);
        assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
        assert!(String::from_utf8_lossy(&r.body).contains("newer"));
        let swapped = url.replace("vendorid=v0", "vendorid=v1");
        let mut other = get(swapped.split_once('?').unwrap().1);
        other.headers.clear();
        assert_eq!(handle(&other, &s).status, 403, "another order's token");
        assert_eq!(super::handle(&get("accountid=a0&vendorid=v0"), &s, Err("unset".into()), 0).status, 503);
    }

    #[test]
    fn missing_and_bad_ids() {
        let s = MemoryStore::default();
        assert_eq!(handle(&get("accountid=a0&vendorid=v0"), &s).status, 404);
        for (q, field) in [
            ("vendorid=v0", "accountid"),
            ("accountid=a0", "vendorid"),
            ("accountid=a%230&vendorid=v0", "accountid"),
            ("accountid=a0&vendorid=", "vendorid"),
            ("accountid=a0&vendorid=v0&vendorid=v1", "vendorid"),
        ] {
            let r = handle(&get(q), &s);
            assert_eq!(r.status, 400, "{q}");
            let p: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(p["field"], field, "{q}");
        }
        let long = get(&format!("accountid=a0&vendorid=v0&pad={}", "p".repeat(crate::http::request::MAX_QUERY_BYTES)));
        assert_eq!(handle(&long, &s).status, 414);
        let mut post = get("accountid=a0&vendorid=v0");
        post.method = "DELETE".into();
        assert_eq!(handle(&post, &s).status, 405);
    }

    #[test]
    fn unreadable_store_entry_is_503_not_500() {
        let s = MemoryStore::default();
        s.set("a0#v0", b"not json").unwrap();
        assert_eq!(handle(&get("accountid=a0&vendorid=v0"), &s).status, 503);
        s.fail_with("disk full");
        assert_eq!(handle(&get("accountid=a0&vendorid=v0"), &s).status, 503);
    }
}
