//! The order's `accept order` span, where the platform takes spans: a child of the
//! platform's span for the request, open while the order is published (so the
//! platform's span of the topic's call nests under it), and ended with the outcome.

use crate::http::problem::Problem;
use crate::http::response::Response;
use crate::model::clock::Clock;
use crate::model::envelope::Envelope;
use crate::model::span::{MessagingSystem, Span, SpanKind, SpanStatus};
use crate::model::trace::TraceParent;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::tracer::Tracer;

/// What a publish gives: the answer, the drain calls it owes, and the id of the message
/// the answer names (on a replay, the first request's).
pub type Published = Result<(Response, DrainCalls, String), Problem>;

/// Runs `publish` inside the span of `envelope`'s acceptance, which began at `start_ns`
/// under the platform's `invocation`: a `5xx` ends it in error, a `4xx` unset.
pub fn traced(
    tracer: &impl Tracer,
    clock: &impl Clock,
    invocation: &TraceParent,
    envelope: &Envelope,
    system: MessagingSystem,
    start_ns: u64,
    publish: impl FnOnce() -> Published,
) -> Published {
    let context = TraceParent::parse(&envelope.traceparent).expect("an envelope's traceparent is valid");
    tracer.open(&context);
    let o = &envelope.order;
    let mut span = Span::start("accept order", SpanKind::Producer, context, Some(invocation), start_ns)
        .with("messaging.system", system.name)
        .with("order.accountid", o.accountid.as_str())
        .with("order.vendorid", o.vendorid.as_str());
    let result = publish();
    let (code, status) = match &result {
        Ok((r, _, message_id)) => {
            span = span
                .with("messaging.message.id", message_id.as_str())
                .with("order.idempotent_replay", r.header("idempotent-replayed").is_some());
            (r.status, SpanStatus::Ok)
        }
        Err(p) if p.status >= 500 => (p.status, SpanStatus::Error(p.detail.clone())),
        Err(p) => (p.status, SpanStatus::Unset),
    };
    tracer.end(span.with("http.response.status_code", i64::from(code)).end(clock.now_ns(), status));
    result
}
