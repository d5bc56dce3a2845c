//! `POST /order` (order-api): validate an order and append it to the orders topic.
//!
//! Answers `202 Accepted` only once the topic has taken the message and it holds the
//! deployment's durability level ([`crate::model::durability`], see [`Publisher`]).
//! Otherwise `503`: where the level cannot hold, nothing was appended; where the message
//! was appended but the level was not confirmed in time, the answer says it may have
//! been accepted, names the message, and carries `Retry-After: 1`; a repeat with the same
//! `Idempotency-Key` then answers `202` once the level holds, and makes one order only.
//! The answer carries the
//! message id, the ids, the order's `Location` (its `GET /order` path), the trace id
//! (`x-trace-id`) the message carries downstream, and two capability URLs
//! ([`crate::access::capabilities`]): `order_url` reads this order, `invoice_url` its invoice
//! (`404` until the invoice exists), until `urls_expire_at`.
//!
//! **`Idempotency-Key`** (IETF httpapi draft): a request with the header is decided in
//! the publish script itself, so it holds across replicas. The same key with the same
//! body within 24 hours answers the first `202` again (same message id, with
//! `Idempotent-Replayed: true`) and appends nothing; the same key with another body is
//! `422`. The draft's `409` for a request still in flight cannot arise here: the key is
//! recorded in the same atomic step as the append. The record keeps the answer without
//! its capability URLs (Redis holds no read token; nor does the platform's span of the
//! publish, which records its arguments); a replay signs them again, to the same URLs. Without the header, every POST is a
//! new order. The key is 1-255 visible ASCII characters, bare or as a quoted string,
//! scoped to the order's `accountid` and `vendorid`.
//!
//! **Tracing.** Where the platform takes spans ([`Tracer`]), the order's trace is the
//! request's: the message's `traceparent` names an `accept order` span, a child of the
//! platform's span for the request, open while the order is published (so the
//! platform's span for the Redis call nests under it) and ended with the outcome. A
//! request refused before an order exists has the platform's span only. Elsewhere the
//! message continues the request's own `traceparent`, or starts a trace.

pub mod idempotency;
pub mod span;

use crate::access::capabilities::Capabilities;
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::clock::Clock;
use crate::model::envelope::Envelope;
use crate::model::order::Order;
use crate::model::time::rfc3339_ms;
use crate::model::trace::TraceParent;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::publisher::{Published, Publisher};
use crate::ports::settings::Misconfigured;
use crate::ports::tracer::Tracer;
use idempotency::Recorded;

/// The methods `/order` answers: POST here, GET by order-reader.
pub const ALLOW: &[&str] = &["GET", "POST"];

/// The answer, and the groups whose bell the append took for the component to ring
/// after it (where the doorbell is on HTTP). `capabilities` signs the answer's URLs
/// (`Err` when its variables are unusable).
pub fn handle(
    req: &Request,
    publisher: &impl Publisher,
    clock: &impl Clock,
    capabilities: Result<Capabilities, Misconfigured>,
    tracer: &impl Tracer,
) -> (Response, DrainCalls) {
    accept(req, publisher, clock, capabilities, tracer).unwrap_or_else(|p| (p.into_response(), DrainCalls::default()))
}

fn accept(
    req: &Request,
    publisher: &impl Publisher,
    clock: &impl Clock,
    capabilities: Result<Capabilities, Misconfigured>,
    tracer: &impl Tracer,
) -> Result<(Response, DrainCalls), Problem> {
    let start_ns = clock.now_ns();
    req.check_limits()?;
    if req.method != "POST" {
        return Err(Problem::method_not_allowed(&req.method, ALLOW));
    }
    req.check_json_body()?;
    let key = idempotency::key(req)?;
    let order = Order::from_body(&req.body)?;
    let capabilities = capabilities.map_err(|e| Problem::unavailable(format!("order URLs are not configured: {e}")))?;
    let invocation = tracer.invocation();
    let parent = invocation.as_ref().map(TraceParent::to_string);
    let envelope = Envelope::new(order, clock, parent.as_deref().or(req.header("traceparent"))).map_err(|e| {
        Problem::unavailable(format!("no randomness available for the order's ids, nothing was accepted: {e}"))
    })?;
    let Some(invocation) = invocation else {
        return publish(req, &envelope, key, publisher, clock, capabilities)
            .map(|(r, drain_calls, _)| (r, drain_calls));
    };
    let system = publisher.messaging_system();
    span::traced(tracer, clock, &invocation, &envelope, system, start_ns, || {
        publish(req, &envelope, key, publisher, clock, capabilities)
    })
    .map(|(r, drain_calls, _)| (r, drain_calls))
}

/// Publishes the order and builds the answer: `202` once the topic took it. With it,
/// the id of the message the answer names (on a replay, the first request's).
fn publish(
    req: &Request,
    envelope: &Envelope,
    key: Option<String>,
    publisher: &impl Publisher,
    clock: &impl Clock,
    capabilities: Capabilities,
) -> Result<(Response, DrainCalls, String), Problem> {
    let o = &envelope.order;
    let urls_expire_at_s = clock.now_ms() / 1000 + capabilities.ttl_seconds();
    let recorded = Recorded {
        message_id: envelope.id.to_string(),
        accountid: o.accountid.to_string(),
        vendorid: o.vendorid.to_string(),
        location: format!("/order?accountid={}&vendorid={}", o.accountid, o.vendorid),
        trace_id: envelope.trace_id().to_owned(),
        urls_expire_at: rfc3339_ms(urls_expire_at_s * 1000),
        urls_expire_at_s: Some(urls_expire_at_s),
    };
    let answer = recorded.answer(&capabilities, urls_expire_at_s)?;
    let idempotency = key.map(|k| idempotency::record(&k, &o.accountid, &o.vendorid, &req.body, &recorded));
    let published = publisher
        .publish(o.accountid.as_str(), &envelope.to_bytes(), idempotency.as_ref())
        .map_err(|e| Problem::unavailable(format!("the order could not be queued, nothing was accepted: {e}")))?;
    match published {
        Published::Appended(drain_calls) => Ok((accepted(answer, &recorded), drain_calls, recorded.message_id)),
        Published::Replay(first) => {
            let unreadable = || Problem::unavailable("the idempotency record of this key cannot be replayed");
            let first_recorded = serde_json::from_slice::<Recorded>(&first).map_err(|_| unreadable())?;
            let body = match first_recorded.urls_expire_at_s {
                Some(expires_at) => first_recorded.answer(&capabilities, expires_at)?,
                None => first,
            };
            let r = accepted(body, &first_recorded).with_header("idempotent-replayed", "true");
            Ok((r, DrainCalls::default(), first_recorded.message_id))
        }
        Published::Refused(why) => {
            Err(Problem::unavailable(format!("the order was not accepted, nothing was appended: {why}")))
        }
        Published::Unconfirmed(why) => {
            let retry = if idempotency.is_some() {
                "Repeat this request with the same idempotency-key: it answers 202 once the level holds, and makes \
                 no second order"
            } else {
                "It was sent without an idempotency-key, so a repeat is a second order if this one was kept: send \
                 an idempotency-key with every POST to retry safely"
            };
            let mut p = Problem::unavailable(format!(
                "the order may have been accepted (message {}): it is on the topic, but {why}. {retry}",
                recorded.message_id
            ));
            p.headers.push(("retry-after".into(), "1".into()));
            Err(p)
        }
        Published::Mismatch => Err(Problem {
            field: Some("idempotency-key".into()),
            ..Problem::new(
                422,
                "this idempotency-key was used with another body in the last 24 hours; use a new key for a new order",
            )
        }),
    }
}

/// The `202` for an answer body (the first one, on a replay), its headers from its record.
fn accepted(body: Vec<u8>, recorded: &Recorded) -> Response {
    Response::new(202, "application/json", body)
        .with_header("location", recorded.location.clone())
        .with_header("x-trace-id", recorded.trace_id.clone())
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::{MessagingSystem, SpanKind, SpanStatus, Value};
    use crate::model::trace::hex;
    use crate::ports::error::PortError;
    use crate::ports::publisher::Idempotency;
    use crate::ports::tracer::NoTracer;
    use crate::testing::clock::TestClock;
    use crate::testing::fixtures::notebook_body;
    use crate::testing::tracer::{RecordingTracer, TEST_SYSTEM};
    use sha2::{Digest, Sha256};
    use std::cell::RefCell;

    /// A topic that remembers idempotency records, as the publish script does.
    #[derive(Default)]
    struct Recorder {
        /// Each message published, with its partition key.
        sent: RefCell<Vec<Vec<u8>>>,
        partition_keys: RefCell<Vec<String>>,
        keys: RefCell<std::collections::HashMap<String, (String, Vec<u8>)>>,
        down: bool,
    }

    impl Publisher for Recorder {
        fn publish(&self, key: &str, payload: &[u8], idem: Option<&Idempotency>) -> Result<Published, PortError> {
            if self.down {
                return Err(PortError::unavailable("connection refused"));
            }
            if let Some(i) = idem {
                if let Some((fingerprint, answer)) = self.keys.borrow().get(&i.key_digest) {
                    return Ok(if *fingerprint == i.fingerprint {
                        Published::Replay(answer.clone())
                    } else {
                        Published::Mismatch
                    });
                }
                self.keys.borrow_mut().insert(i.key_digest.clone(), (i.fingerprint.clone(), i.answer.clone()));
            }
            self.sent.borrow_mut().push(payload.to_vec());
            self.partition_keys.borrow_mut().push(key.to_owned());
            Ok(Published::Appended(DrainCalls::default()))
        }

        fn messaging_system(&self) -> MessagingSystem {
            TEST_SYSTEM
        }
    }

    fn caps() -> Result<Capabilities, Misconfigured> {
        Capabilities::from_variables("k1:0123456789abcdef0123456789abcdef", "3600", "")
    }

    fn handle(req: &Request, p: &Recorder, clock: &impl Clock) -> Response {
        super::handle(req, p, clock, caps(), &NoTracer).0
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
        assert_eq!(*p.partition_keys.borrow(), ["a0"], "published on the partition of its accountid");
    }

    #[test]
    fn the_answer_hands_out_capability_urls_for_the_order_and_its_invoice() {
        let p = Recorder::default();
        let r = handle(&post(&serde_json::to_vec(&notebook_body()).unwrap()), &p, &TestClock::at(5_000));
        let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let (order_url, invoice_url) = (answer["order_url"].as_str().unwrap(), answer["invoice_url"].as_str().unwrap());
        assert!(order_url.starts_with("/order?accountid=a0&vendorid=v0&token=v2.k1.3605.read-order."), "{order_url}");
        assert!(
            invoice_url.starts_with("/invoice?accountid=a0&vendorid=v0&token=v2.k1.3605.read-invoice."),
            "{invoice_url}"
        );
        assert_eq!(answer["urls_expire_at"], "1970-01-01T01:00:05.000Z");
        let (unconfigured, _) = super::handle(
            &post(&serde_json::to_vec(&notebook_body()).unwrap()),
            &p,
            &TestClock::at(5),
            Err("url_signing_keys: unset".into()),
            &NoTracer,
        );
        assert_eq!(unconfigured.status, 503);
        assert_eq!(p.sent.borrow().len(), 1, "nothing accepted without the URLs");
    }

    #[test]
    fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
        let p = Recorder::default();
        let clock = TestClock::at(5);
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let with_key = |body: &[u8], key: &str| {
            let mut r = post(body);
            r.headers.push(("idempotency-key".into(), key.into()));
            r
        };
        let first = handle(&with_key(&body, "\"8e03978e-40d5-43e8-bc93-6894a57f9324\""), &p, &clock);
        let again = handle(&with_key(&body, "8e03978e-40d5-43e8-bc93-6894a57f9324"), &p, &clock);
        assert_eq!((first.status, again.status), (202, 202));
        assert_eq!(first.body, again.body, "the same message id, the same URLs");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        // Later, the same URLs, expiring when the first ones do.
        let later = handle(&with_key(&body, "8e03978e-40d5-43e8-bc93-6894a57f9324"), &p, &TestClock::at(5 + 3_600_000));
        assert_eq!(later.body, first.body);
        for (_, record) in p.keys.borrow().values() {
            assert!(!String::from_utf8_lossy(record).contains("token"), "the record holds no read token");
        }
        // A record from before records left the tokens out is replayed as it is.
        let old = with_key(&body, "an-older-record");
        let old_key = hex(&Sha256::digest(b"a0#v0\nan-older-record"));
        p.keys.borrow_mut().insert(old_key, (hex(&Sha256::digest(&body)), first.body.clone()));
        assert_eq!(handle(&old, &p, &clock).body, first.body);
        // One that is neither cannot be replayed: a 503, never the record itself.
        let garbled = with_key(&body, "a-garbled-record");
        let garbled_key = hex(&Sha256::digest(b"a0#v0\na-garbled-record"));
        p.keys.borrow_mut().insert(garbled_key, (hex(&Sha256::digest(&body)), b"not a record".to_vec()));
        let r = handle(&garbled, &p, &clock);
        assert_eq!(r.status, 503);
        assert!(problem(&r)["detail"].as_str().unwrap().contains("cannot be replayed"));
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(p.sent.borrow().len(), 1, "appended once");
        let mut other = notebook_body();
        other["order"]["details"]["quantity"] = 9.into();
        let r =
            handle(&with_key(&serde_json::to_vec(&other).unwrap(), "8e03978e-40d5-43e8-bc93-6894a57f9324"), &p, &clock);
        assert_eq!((r.status, problem(&r)["field"].as_str()), (422, Some("idempotency-key")));
        for bad in ["", "\"\"", "a b", "é", &"k".repeat(256)] {
            let r = handle(&with_key(&body, bad), &p, &clock);
            assert_eq!((r.status, problem(&r)["field"].as_str()), (400, Some("idempotency-key")), "{bad:?}");
        }
        assert_eq!(p.sent.borrow().len(), 1);
        assert_eq!(handle(&post(&body), &p, &clock).status, 202, "without a key, a new order");
        assert_eq!(p.sent.borrow().len(), 2);
    }

    #[test]
    fn broker_down_is_503_and_nothing_accepted() {
        let p = Recorder { down: true, ..Recorder::default() };
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let r = handle(&post(&body), &p, &TestClock::at(5));
        assert_eq!(r.status, 503);
        assert!(problem(&r)["detail"].as_str().unwrap().contains("nothing was accepted"));
    }

    /// A topic whose durability level fails: every publish ends in `outcome`.
    struct FallsShort(Published);

    impl Publisher for FallsShort {
        fn publish(&self, _: &str, _: &[u8], _: Option<&Idempotency>) -> Result<Published, PortError> {
            Ok(self.0.clone())
        }
        fn messaging_system(&self) -> MessagingSystem {
            TEST_SYSTEM
        }
    }

    #[test]
    fn a_level_the_server_cannot_give_is_503_saying_nothing_was_appended_and_why() {
        let p = FallsShort(Published::Refused("durability `machine` needs a server that syncs each write".into()));
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let r = super::handle(&post(&body), &p, &TestClock::at(5), caps(), &NoTracer).0;
        let detail = problem(&r)["detail"].as_str().unwrap().to_owned();
        assert_eq!(r.status, 503);
        assert!(detail.contains("not accepted, nothing was appended: durability `machine` needs"), "{detail}");
        assert_eq!(r.header("retry-after"), None, "a setting to change, not a moment to wait");
    }

    #[test]
    fn an_unconfirmed_level_is_503_saying_the_order_may_be_accepted_and_how_to_retry() {
        let p = FallsShort(Published::Unconfirmed("0 of 1 replicas acknowledged it within 1000 ms".into()));
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let mut with_key = post(&body);
        with_key.headers.push(("idempotency-key".into(), "k-1".into()));
        let keyed = super::handle(&with_key, &p, &TestClock::at(5), caps(), &NoTracer).0;
        let detail = problem(&keyed)["detail"].as_str().unwrap().to_owned();
        assert_eq!((keyed.status, keyed.header("retry-after")), (503, Some("1")));
        assert!(detail.starts_with("the order may have been accepted (message "), "{detail}");
        assert!(detail.contains("but 0 of 1 replicas acknowledged it within 1000 ms"), "{detail}");
        assert!(detail.contains("with the same idempotency-key"), "{detail}");
        let bare = super::handle(&post(&body), &p, &TestClock::at(5), caps(), &NoTracer).0;
        let detail = problem(&bare)["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("without an idempotency-key, so a repeat is a second order"), "{detail}");
    }

    #[test]
    fn no_randomness_is_503_and_nothing_accepted() {
        let p = Recorder::default();
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let r = handle(&post(&body), &p, &crate::testing::clock::NoRandomness);
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

        let big = post(&vec![b' '; crate::http::request::MAX_BODY_BYTES + 1]);
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

    /// Where the doorbell is on HTTP, the groups whose bell the append took come back to
    /// the component, which calls their drain endpoints after its answer.
    #[test]
    fn the_groups_to_ring_come_back_with_the_answer() {
        struct Rings;
        impl Publisher for Rings {
            fn publish(&self, _: &str, _: &[u8], _: Option<&Idempotency>) -> Result<Published, PortError> {
                Ok(Published::Appended(DrainCalls(vec!["order-writer".into()])))
            }
            fn messaging_system(&self) -> MessagingSystem {
                TEST_SYSTEM
            }
        }
        let body = serde_json::to_vec(&notebook_body()).unwrap();
        let (r, drain_calls) = super::handle(&post(&body), &Rings, &TestClock::at(5), caps(), &NoTracer);
        assert_eq!((r.status, drain_calls), (202, DrainCalls(vec!["order-writer".into()])));
        let (r, drain_calls) = super::handle(&post(b"{}"), &Rings, &TestClock::at(5), caps(), &NoTracer);
        assert_eq!((r.status, drain_calls), (400, DrainCalls::default()));
    }

    /// With tracing on, the message names an `accept order` span in the request's trace:
    /// a child of the platform's span, open while the order is published, ended with
    /// the outcome; a publish that fails ends it in error.
    #[test]
    fn a_traced_acceptance_is_a_span_in_the_requests_trace_that_the_message_continues() {
        let p = Recorder::default();
        let tracer = RecordingTracer::exporting();
        let invocation = tracer.invocation.clone().unwrap();
        let mut req = post(&serde_json::to_vec(&notebook_body()).unwrap());
        req.headers.push(("traceparent".into(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()));
        let (r, _) = super::handle(&req, &p, &TestClock::at(5), caps(), &tracer);
        assert_eq!(r.status, 202);
        let e = Envelope::from_bytes(&p.sent.borrow()[0]).unwrap();
        let spans = tracer.spans();
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(span.context.to_string(), e.traceparent, "the message continues the span");
        assert_eq!(span.context.trace_id, invocation.trace_id, "in the platform's trace for the request");
        assert_eq!(span.parent_span_id, Some(invocation.span_id));
        assert_eq!(
            (span.name.as_str(), span.kind, &span.status),
            ("accept order", SpanKind::Producer, &SpanStatus::Ok)
        );
        assert_eq!(span.attribute("messaging.message.id"), Some(&Value::from(e.id.as_str())));
        assert_eq!(span.attribute("http.response.status_code"), Some(&Value::Int(202)));
        assert_eq!(tracer.calls.borrow()[0], crate::testing::tracer::Traced::Opened(span.context.clone()));
        assert!(tracer.unended().is_empty());

        let down = Recorder { down: true, ..Recorder::default() };
        let tracer = RecordingTracer::exporting();
        let (r, _) = super::handle(&req, &down, &TestClock::at(5), caps(), &tracer);
        assert_eq!(r.status, 503);
        let span = &tracer.spans()[0];
        assert!(matches!(&span.status, SpanStatus::Error(why) if why.contains("could not be queued")), "{span:?}");

        // A replay's span names the message the answer names: the first request's.
        let keyed = Recorder::default();
        let mut with_key = req.clone();
        with_key.headers.push(("idempotency-key".into(), "k-1".into()));
        let first = super::handle(&with_key, &keyed, &TestClock::at(5), caps(), &NoTracer).0;
        let first_id = serde_json::from_slice::<serde_json::Value>(&first.body).unwrap()["message_id"].clone();
        let tracer = RecordingTracer::exporting();
        let again = super::handle(&with_key, &keyed, &TestClock::at(6), caps(), &tracer).0;
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        let span = &tracer.spans()[0];
        assert_eq!(span.attribute("messaging.message.id"), Some(&Value::from(first_id.as_str().unwrap())));
        assert_eq!(span.attribute("order.idempotent_replay"), Some(&Value::Bool(true)));

        let refused = RecordingTracer::exporting();
        assert_eq!(super::handle(&post(b"{}"), &p, &TestClock::at(5), caps(), &refused).0.status, 400);
        assert!(refused.calls.borrow().is_empty(), "no order, no acceptance span");
    }
}
