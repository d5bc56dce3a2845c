//! One trace per order under the real `spin up --experimental-wasi-otel`, with the
//! `otel` build of the order's path (as `scripts/run` runs it with an OTLP endpoint):
//! what Spin exports is collected by an in-process OTLP/HTTP receiver
//! (`spin_test_host::otlp`).

use super::*;
use spin_test_host::otlp::{OtlpReceiver, ReceivedSpan};
use spin_test_host::s3_server::S3Server;

/// Spin's exporter, told to send its batches at once.
fn traced(up: Up, receiver: &OtlpReceiver) -> Up {
    up.arg("--experimental-wasi-otel")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_SERVICE_NAME", "coffee-orders")
}

/// The otel build of `spin.toml` with the tests' variables on `redis` at `address`.
fn otel_app(redis: &RedisServer, address: &str, dir: &Path, receiver: &OtlpReceiver) -> Up {
    let manifest = spin_test_host::otel_manifest();
    let up = Up::new(manifest.to_str().unwrap(), dir, required_vars(redis, address))
        .subscribed(address, "orders", 1)
        .runtime_config(repo_runtime_config(dir));
    traced(up, receiver)
}

/// Posts order `i` (`accountid` `ta<i>`, `vendorid` `tv<i>`) with the client's own
/// `traceparent` and an `Idempotency-Key` if given; returns the answer.
fn post_traced(app: &SpinUp, i: usize, traceparent: &str, key: Option<&str>) -> serde_json::Value {
    let body = serde_json::to_vec(&serde_json::json!({"order": {
        "accountid": format!("ta{i}"), "vendorid": format!("tv{i}"), "orderdate": "2026-11-28 10:00:00.000000",
        "city": "Perth", "details": {"coffeetype": "Latte", "coffeesize": "Large", "unitprice": "4.5", "quantity": 3},
        "eventtype": ["new_order"]
    }}))
    .unwrap();
    let mut req = ureq::post(format!("{}/order", app.base()))
        .header("content-type", "application/json")
        .header("traceparent", traceparent);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let (status, body) = checked_answer("POST", &format!("{}/order", app.base()), req.send(&body[..]).unwrap());
    assert_eq!(status, 202);
    serde_json::from_slice(&body).unwrap()
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// Waits until the trace `trace_id` holds spans that `done` accepts; returns them.
fn wait_trace(
    receiver: &OtlpReceiver,
    trace_id: &str,
    what: &str,
    done: impl Fn(&[ReceivedSpan]) -> bool,
) -> Vec<ReceivedSpan> {
    let start = Instant::now();
    loop {
        let spans = receiver.trace(trace_id);
        if done(&spans) {
            return spans;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what} in trace {trace_id}; it has: {:#?}",
            spans.iter().map(|s| (&s.name, &s.span_id, &s.parent_span_id)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `text` as the byte list Spin's span of a Redis command records its arguments as.
fn byte_list(text: &str) -> String {
    text.bytes().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")
}

/// Where a span exported carries one of `secrets` in an attribute or its status, as text
/// or as a byte list: (span, kind, attribute or `status`).
fn secrets_in(receiver: &OtlpReceiver, secrets: &[&str]) -> Vec<(String, i32, String)> {
    let forms: Vec<String> = secrets.iter().flat_map(|s| [s.to_string(), byte_list(s)]).collect();
    let mut found = Vec::new();
    for s in receiver.spans() {
        let status = ("status".to_owned(), s.status.1.clone());
        for (k, v) in s.attributes.iter().chain([&status]) {
            if forms.iter().any(|f| v.contains(f.as_str())) {
                found.push((s.name.clone(), s.kind, k.clone()));
            }
        }
    }
    found
}

fn assert_no_secrets(receiver: &OtlpReceiver, secrets: &[&str]) {
    let found = secrets_in(receiver, secrets);
    assert!(found.is_empty(), "spans carry secrets: {found:?}");
}

/// One order, posted with a client's `traceparent`: the client's trace holds Spin's
/// request span, order-api's `accept order` under it, and one `process` span per
/// consumer, each a child of `accept order`; Spin's span for the publish nests under
/// `accept order`, and its calls for a one-message batch under the `process` span.
/// No span carries a credential: Redis's password, a signing key, an API key, a token.
#[test]
fn one_order_is_one_trace_from_the_post_to_both_stores() {
    let (spin, _one) = spin_or_skip!();
    const PASS: &str = "otel-redis-pass-0123456789";
    let redis = RedisServer::start_with(&["--save", "", "--requirepass", PASS]);
    let receiver = OtlpReceiver::start();
    let dir = scratch("otel");
    let app = otel_app(&redis, &redis.url_as("default", PASS), &dir, &receiver).start(&spin.path);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let answer = post_traced(&app, 0, &format!("00-{trace_id}-00f067aa0ba902b7-01"), Some("key-0"));
    assert_eq!(answer["trace_id"], trace_id, "the order continues the client's trace: {answer}");

    // Spin exports its own spans and the components' through two batches of its own:
    // wait for both consumers' spans and for Spin's spans around and under the acceptance.
    let spans = wait_trace(&receiver, trace_id, "both consumers' spans and Spin's around the acceptance", |s| {
        let accept = named(s, "accept order");
        named(s, "order-writer process").len() == 1
            && named(s, "invoice-writer process").len() == 1
            && accept.first().is_some_and(|a| {
                s.iter().any(|p| p.span_id == a.parent_span_id)
                    && s.iter().any(|c| c.parent_span_id == a.span_id && c.name == "EVAL")
            })
    });
    let accept = named(&spans, "accept order");
    assert_eq!(accept.len(), 1, "{spans:#?}");
    let accept = accept[0];
    let parent = spans.iter().find(|s| s.span_id == accept.parent_span_id);
    assert!(
        parent.is_some_and(|p| p.service == "coffee-orders"),
        "accept order's parent is Spin's span for the request: {spans:#?}"
    );
    assert_eq!(accept.attribute("messaging.message.id"), answer["message_id"].as_str());
    assert!(
        spans.iter().any(|s| s.parent_span_id == accept.span_id && s.name.contains("EVAL")),
        "Spin's span for the publish nests under accept order: {spans:#?}"
    );
    for (group, outcome) in [("order-writer", "stored"), ("invoice-writer", "invoiced")] {
        let process = named(&spans, &format!("{group} process"))[0];
        assert_eq!(process.parent_span_id, accept.span_id, "{group}: a child of accept order");
        assert_eq!((process.kind, process.status.0), (5, 1), "{group}: a consumer span, ok: {process:?}");
        assert_eq!(process.attribute("pipeline.outcome"), Some(outcome));
        assert_eq!(process.attribute("pipeline.delivery"), Some("1"));
        // Spin keeps its spans of `wasi:keyvalue` calls (the batch's store write) under
        // its invocation span, which the message's span links to.
        let (trace, span) = &process.links[0];
        let invocation = wait_trace(&receiver, trace, "the invocation's span", |s| {
            s.iter().any(|s| s.span_id == *span && s.kind == 5)
        });
        assert!(invocation.iter().any(|s| s.name == "spin_key_value.set_many"), "{group}: {invocation:#?}");
    }

    // Spin 3.6's span of the publish records its arguments (4.1's no longer does): the
    // idempotency record among them, replayed here, which holds no read token. Where
    // they are recorded, the scan below reads them: the message id is there.
    let eval = spans.iter().find(|s| s.parent_span_id == accept.span_id && s.name == "EVAL").unwrap();
    let message_id = answer["message_id"].as_str().unwrap();
    if let Some(arguments) = eval.attribute("arguments") {
        assert!(arguments.contains(&byte_list(message_id)), "{eval:?}");
    }
    let replayed = post_traced(&app, 0, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01", Some("key-0"));
    assert_eq!(replayed["order_url"], answer["order_url"], "the same URLs, signed again");
    let token = |answer: &serde_json::Value, url: &str| {
        answer[url].as_str().unwrap().split("token=").nth(1).unwrap().to_owned()
    };
    let (order_token, invoice_token) = (token(&answer, "order_url"), token(&answer, "invoice_url"));

    // Reads: the order with its token as a bearer credential, the invoice and a second
    // order with their capability URLs, one order with the API key.
    let other = post_traced(&app, 1, "00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-01", None);
    settled(&app.client(), 2, Duration::from_secs(30));
    // Each read in a trace of its own, so the test can wait for Spin's span of each (it
    // ends a request's span after the spans within).
    let read = |n: u8, url: &str, auth: Option<&str>| {
        let url = if url.starts_with('/') { format!("{}{url}", app.base()) } else { url.to_owned() };
        let mut req = ureq::get(&url).header("traceparent", format!("00-{n:032x}-00f067aa0ba902b7-01"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (status, _) = checked_answer("GET", &url, req.config().http_status_as_error(false).build().call().unwrap());
        // The read's outermost span, the child of the client's: Spin ends it, and so
        // exports it, after every span within (a read passed on to order-reader has two).
        wait_trace(&receiver, &format!("{n:032x}"), "Spin's span of the read", |s| {
            s.iter().any(|s| s.kind == 2 && s.parent_span_id == "00f067aa0ba902b7")
        });
        status
    };
    let base = |url: &serde_json::Value| format!("{}{}", app.base(), url.as_str().unwrap());
    assert_eq!(read(1, "/order?accountid=ta0&vendorid=tv0", Some(&format!("Bearer {order_token}"))), 200);
    assert_eq!(read(2, &base(&answer["invoice_url"]), None), 200);
    assert_eq!(read(3, &base(&other["order_url"]), None), 200, "through order-reader");
    assert_eq!(read(4, "/order?accountid=ta1&vendorid=tv1", Some(&format!("Bearer {READ_KEY}"))), 200);
    let other_token = token(&other, "order_url");
    assert_no_secrets(&receiver, &[PASS, &order_token, READ_KEY, ADMIN, DRAIN, KEYS.split(':').nth(1).unwrap()]);
    // A token the client put in a URL is in Spin's span of that request, `url.query`
    // (Spin records every request's query), and nowhere else: not in the request
    // order-api makes of order-reader, which carries it in a header.
    for t in [&invoice_token, &other_token] {
        let found = secrets_in(&receiver, &[t]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].1, found[0].2.as_str()), (2, "url.query"), "{found:?}");
    }
}

/// A message whose invoice the bucket refuses: each delivery is one more `process`
/// span in the order's trace, in error with the bucket's words, the last one saying it
/// is dead-lettered; order-writer's one span is ok.
#[test]
fn each_redelivery_is_an_attempt_in_the_orders_trace_and_the_last_says_dead_lettered() {
    let (spin, _one) = spin_or_skip!();
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let receiver = OtlpReceiver::start();
    let dir = scratch("otel-redelivered");
    let up =
        s3.variables().into_iter().fold(otel_app(&redis, &redis.url(), &dir, &receiver), |up, (k, v)| up.var(k, &v));
    let app = up
        .var("s3_secret_access_key", "not-the-secret-0123456789abcdef")
        .var("max_deliveries", "3")
        .var("visibility_timeout_ms", "300")
        .start(&spin.path);
    let answer = post_traced(&app, 1, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None);
    let trace_id = answer["trace_id"].as_str().unwrap();
    let spans = wait_trace(&receiver, trace_id, "three attempts of invoice-writer, each with its PUT", |s| {
        named(s, "invoice-writer process").len() == 3
            && named(s, "PUT").len() == 3
            && named(s, "accept order").len() == 1
            && named(s, "order-writer process").len() == 1
    });
    let accept = named(&spans, "accept order")[0];
    let mut attempts = named(&spans, "invoice-writer process");
    attempts.sort_by_key(|s| s.attribute("pipeline.delivery").map(str::to_owned));
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a.parent_span_id, accept.span_id, "attempt {}: a child of accept order", i + 1);
        assert_eq!(a.attribute("pipeline.delivery"), Some(&*(i + 1).to_string()));
        assert_eq!(a.status.0, 2, "attempt {}: in error: {a:?}", i + 1);
        assert!(a.status.1.contains(&format!("object store {}/invoices", s3.endpoint())), "{}", a.status.1);
        assert!(
            spans.iter().any(|s| s.parent_span_id == a.span_id && s.name == "PUT"),
            "attempt {}: Spin's span of its PUT to the bucket nests under it: {spans:#?}",
            i + 1
        );
    }
    // The bucket's own words, where its refusal was read (a refusal that closes the
    // request's stream before the upload is written comes back as `StreamError::Closed`).
    assert!(attempts.iter().any(|a| a.status.1.contains("answered 403 SignatureDoesNotMatch")), "{attempts:?}");
    assert!(attempts[0].status.1.starts_with("will retry: "), "{}", attempts[0].status.1);
    assert!(attempts[2].status.1.starts_with("dead-lettered after 3 deliveries: "), "{}", attempts[2].status.1);
    assert_eq!(attempts[2].attribute("pipeline.outcome"), Some("dead-lettered"));
    let writer = named(&spans, "order-writer process");
    assert_eq!((writer.len(), writer[0].status.0), (1, 1), "order-writer is not held up");
    assert_no_secrets(&receiver, &["not-the-secret-0123456789abcdef", spin_test_host::s3_server::SECRET_ACCESS_KEY]);
    // The bucket's requests are presigned (the signature in the URL): Spin records each
    // one's URL in its span of that call, and only there (operating.md says so, and how
    // to redact it).
    let signed = secrets_in(&receiver, &["X-Amz-Signature="]);
    assert!(
        !signed.is_empty() && signed.iter().all(|(_, kind, attr)| (*kind, attr.as_str()) == (3, "url.full")),
        "{signed:?}"
    );
}
