//! `POST /drain/<group>`: a consumer group's HTTP entry point, for the platforms that
//! run no Redis trigger (Fermyon Cloud, Akamai Functions; see `deploy/fermyon-cloud/`).
//! It drains the group with the same [`crate::delivery::drain::drain`] the Redis-triggered
//! consumer runs, so the guarantees are the same: at least once, newest wins, retries
//! after the visibility timeout, dead letters.
//!
//! Who calls it: order-api, after it has answered an order whose append took the
//! group's bell (the doorbell over HTTP, coalesced exactly as on Redis); a drain that
//! stops at its budget with work left, handing over to a fresh invocation;
//! pipeline-api's doorbell and redrive; and a scheduler (Akamai's cron, or any other)
//! that brings retries back while no order comes.
//!
//! It answers `202` at once and drains after the answer, in the same invocation: Spin
//! runs a handler on after its response is sent, so the caller never waits for the
//! drain, and a chain of handovers never nests.
//!
//! Not open: the `drain_token` is required, as `Authorization: Bearer <token>` or, for
//! a scheduler that can set only a path and query (`spin aka cron create
//! --path-and-query`), as `?token=<token>` (our log lines never carry a query string).
//! It is compared in constant time, and every failure (no token, another scheme, a
//! wrong token, no token configured, one shorter than
//! [`MIN_SECRET_BYTES`](crate::access::credentials::MIN_SECRET_BYTES)) gets
//! the same `401`, so an answer tells a caller nothing about which. `POST` and, for
//! schedulers that only GET, `GET`: a drain is safe to repeat, it only does what is
//! owed. Anything else is `405`.

use crate::access::credentials::{bearer_token, configured, secret_matches, unauthorized};
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::ports::settings::Misconfigured;

/// The route of `group`'s drain endpoint.
pub fn path(group: &str) -> String {
    format!("/drain/{group}")
}

/// Whether `req` may start a drain of `group`: `Ok` with the `202` to answer before
/// draining, or the refusal to answer instead.
pub fn handle(req: &Request, group: &str, drain_token: Result<String, Misconfigured>) -> Result<Response, Problem> {
    req.check_limits()?;
    if req.method != "POST" && req.method != "GET" {
        return Err(Problem::method_not_allowed(&req.method, &["POST", "GET"]));
    }
    let expected = configured(drain_token);
    let query = req.query_params()?;
    let given = req.header("authorization").and_then(bearer_token).or_else(|| query.get("token"));
    match (expected, given) {
        (Some(expected), Some(given)) if secret_matches(given.as_bytes(), [expected.as_bytes()]) => {
            Ok(Response::json(202, &serde_json::json!({"group": group, "status": "draining"})))
        }
        _ => Err(unauthorized("Bearer", "send `Authorization: Bearer <drain token>` (the `drain_token` variable)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "drain-token-0123456789";

    fn call(method: &str, auth: Option<&str>, token: Result<String, Misconfigured>) -> Response {
        call_with_query(method, auth, "", token)
    }

    fn call_with_query(
        method: &str,
        auth: Option<&str>,
        query: &str,
        token: Result<String, Misconfigured>,
    ) -> Response {
        let mut headers = vec![];
        if let Some(a) = auth {
            headers.push(("authorization".to_owned(), a.to_owned()));
        }
        let req = Request { method: method.into(), headers, query: query.into(), ..Default::default() };
        crate::http::problem::respond(handle(&req, "order-writer", token))
    }

    #[test]
    fn the_right_token_starts_a_drain() {
        let r = call("POST", Some(&format!("Bearer {TOKEN}")), Ok(TOKEN.into()));
        assert_eq!(r.status, 202);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, serde_json::json!({"group": "order-writer", "status": "draining"}));
        assert_eq!(call("POST", Some(&format!("bearer {TOKEN}")), Ok(TOKEN.into())).status, 202);
        // A scheduler that sets only a path and query.
        assert_eq!(call_with_query("GET", None, &format!("token={TOKEN}"), Ok(TOKEN.into())).status, 202);
    }

    #[test]
    fn every_failure_gets_the_same_answer() {
        let refusals = [
            call("POST", None, Ok(TOKEN.into())),
            call("POST", Some(&format!("Basic {TOKEN}")), Ok(TOKEN.into())),
            call("POST", Some("Bearer wrong-token-0123456789"), Ok(TOKEN.into())),
            call("POST", Some(&format!("Bearer {TOKEN}x")), Ok(TOKEN.into())),
            call("POST", Some("Bearer short"), Ok("short".into())),
            call("POST", Some(&format!("Bearer {TOKEN}")), Err("variable `drain_token`: not set".into())),
            call("POST", Some("Bearer "), Ok(String::new())),
            call_with_query("GET", None, "token=wrong-token-0123456789", Ok(TOKEN.into())),
            call_with_query("GET", None, "token=", Ok(TOKEN.into())),
        ];
        for r in &refusals {
            assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")));
            assert_eq!(r.body, refusals[0].body, "the answer must not tell one failure from another");
        }
    }

    #[test]
    fn only_post_and_get() {
        let r = call("DELETE", Some(&format!("Bearer {TOKEN}")), Ok(TOKEN.into()));
        assert_eq!((r.status, r.header("allow")), (405, Some("POST, GET")));
    }
}
