//! `GET /order?accountid=&vendorid=` (order-reader): the stored order, or 404.

use crate::http::{respond, Request, Response};
use crate::ids::{ids_from_query, order_key};
use crate::ports::KeyValue;
use crate::problem::Problem;
use crate::store_order::StoredOrder;

pub fn handle(req: &Request, orders: &impl KeyValue) -> Response {
    respond(read(req, orders))
}

fn read(req: &Request, orders: &impl KeyValue) -> Result<Response, Problem> {
    req.check_limits()?;
    if req.method != "GET" {
        return Err(Problem::method_not_allowed(&req.method, crate::accept_order::ALLOW));
    }
    let (accountid, vendorid) = ids_from_query(&req.query_params()?, true)?;
    let vendorid = vendorid.expect("required above");
    let key = order_key(&accountid, &vendorid);
    let bytes = orders
        .get(&key)
        .map_err(|e| Problem::unavailable(format!("the order store is unavailable: {e}")))?
        .ok_or_else(|| Problem::not_found(format!("no order for accountid `{accountid}` and vendorid `{vendorid}`")))?;
    let stored: StoredOrder = serde_json::from_slice(&bytes)
        .map_err(|_| Problem::unavailable(format!("the stored order `{key}` is unreadable")))?;
    Ok(Response::json(200, &stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MemoryStore;

    fn get(query: &str) -> Request {
        Request { method: "GET".into(), query: query.into(), ..Request::default() }
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
        let long = get(&format!("accountid=a0&vendorid=v0&pad={}", "p".repeat(crate::http::MAX_QUERY_BYTES)));
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
