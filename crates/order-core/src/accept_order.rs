//! `POST /order` (order-api): validate an order and append it to the orders topic.
//!
//! Answers `202 Accepted` only once the topic has durably taken the message (see
//! [`Publisher`]); if it cannot, `503` and nothing is accepted. The answer carries the message id, the
//! ids, the order's `Location` (its `GET /order` URL) and the trace id (`x-trace-id`)
//! the message carries downstream.

use serde::Serialize;

use crate::envelope::Envelope;
use crate::http::{respond, Request, Response};
use crate::order::Order;
use crate::ports::{Clock, Publisher};
use crate::problem::Problem;

/// The methods `/order` answers: POST here, GET by order-reader.
pub const ALLOW: &[&str] = &["GET", "POST"];

#[derive(Debug, Serialize)]
struct Accepted<'a> {
    message_id: &'a str,
    accountid: &'a str,
    vendorid: &'a str,
    location: &'a str,
    trace_id: &'a str,
}

pub fn handle(req: &Request, publisher: &impl Publisher, clock: &impl Clock) -> Response {
    respond(accept(req, publisher, clock))
}

fn accept(req: &Request, publisher: &impl Publisher, clock: &impl Clock) -> Result<Response, Problem> {
    req.check_limits()?;
    if req.method != "POST" {
        return Err(Problem::method_not_allowed(&req.method, ALLOW));
    }
    req.check_json_body()?;
    let order = Order::from_body(&req.body)?;
    let envelope = Envelope::new(order, clock, req.header("traceparent")).map_err(|e| {
        Problem::unavailable(format!("no randomness available for the order's ids, nothing was accepted: {e}"))
    })?;
    publisher
        .publish(&envelope.to_bytes())
        .map_err(|e| Problem::unavailable(format!("the order could not be queued, nothing was accepted: {e}")))?;

    let o = &envelope.order;
    let location = format!("/order?accountid={}&vendorid={}", o.accountid, o.vendorid);
    let body = Accepted {
        message_id: envelope.id.as_str(),
        accountid: o.accountid.as_str(),
        vendorid: o.vendorid.as_str(),
        location: &location,
        trace_id: envelope.trace_id(),
    };
    Ok(Response::json(202, &body).with_header("location", &location).with_header("x-trace-id", envelope.trace_id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::TestClock;
    use crate::order::tests::notebook_body;
    use crate::ports::PortError;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Recorder {
        sent: RefCell<Vec<Vec<u8>>>,
        down: bool,
    }

    impl Publisher for Recorder {
        fn publish(&self, payload: &[u8]) -> Result<(), PortError> {
            if self.down {
                return Err(PortError("connection refused".into()));
            }
            self.sent.borrow_mut().push(payload.to_vec());
            Ok(())
        }
    }

    fn post(body: &[u8]) -> Request {
        Request { method: "POST".into(), body: body.to_vec(), ..Request::default() }
    }

    fn problem(r: &Response) -> serde_json::Value {
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn accepts_and_publishes_one_envelope() {
        let p = Recorder::default();
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let r = handle(&post(&body), &p, &TestClock::at(5));
        assert_eq!(r.status, 202);
        assert_eq!(r.header("location"), Some("/order?accountid=a0&vendorid=v0"));
        let sent = p.sent.borrow();
        assert_eq!(sent.len(), 1);
        let e = Envelope::from_bytes(&sent[0]).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(answer["message_id"], e.id.as_str());
        assert_eq!(answer["trace_id"], e.trace_id());
        assert_eq!(r.header("x-trace-id"), Some(e.trace_id()));
    }

    #[test]
    fn broker_down_is_503_and_nothing_accepted() {
        let p = Recorder { down: true, ..Recorder::default() };
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let r = handle(&post(&body), &p, &TestClock::at(5));
        assert_eq!(r.status, 503);
        assert!(problem(&r)["detail"].as_str().unwrap().contains("nothing was accepted"));
    }

    #[test]
    fn no_randomness_is_503_and_nothing_accepted() {
        let p = Recorder::default();
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let r = handle(&post(&body), &p, &crate::envelope::tests::NoRandomness);
        assert_eq!(r.status, 503);
        let detail = problem(&r)["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("no randomness available") && detail.contains("nothing was accepted"), "{detail}");
        assert!(p.sent.borrow().is_empty());
    }

    #[test]
    fn rejects_publish_nothing() {
        let p = Recorder::default();
        let clock = TestClock::at(5);
        let mut put = post(b"{}");
        put.method = "PUT".into();
        let r = handle(&put, &p, &clock);
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, POST"));

        let mut text = post(&serde_json::to_vec(&notebook_body()).unwrap());
        text.headers.push(("content-type".into(), "text/plain".into()));
        assert_eq!(handle(&text, &p, &clock).status, 415);

        let big = post(&vec![b' '; crate::http::MAX_BODY_BYTES + 1]);
        assert_eq!(handle(&big, &p, &clock).status, 413);

        let mut huge_trace = post(&serde_json::to_vec(&notebook_body()).unwrap());
        huge_trace.headers.push(("traceparent".into(), "0".repeat(10_000)));
        let r = handle(&huge_trace, &p, &clock);
        assert_eq!((r.status, problem(&r)["field"].as_str()), (431, Some("traceparent")));

        let r = handle(&post(b"{\"order\":{\"accountid\":\"a#1\"}}"), &p, &clock);
        assert_eq!(r.status, 400);
        assert_eq!(problem(&r)["field"], "order.accountid");
        assert!(p.sent.borrow().is_empty());
    }
}
