//! The spans of a consumer's batch: one `process` span per message per delivery, in
//! the message's own trace (a child of its `accept order` span through the envelope's
//! `traceparent`), so a message retried three times shows three attempts in its order's
//! trace, whatever batch carried each.
//!
//! The platform's spans for the calls made while a batch is handled (its store writes,
//! the invoice bucket) nest under the span open meanwhile: the message's own when the
//! batch is that one message, else a `batch` span in the invocation's trace, which each
//! message's span links to (a batch's store write serves all its orders at once; it
//! belongs to no one order's trace). Claiming and acknowledging happen between batches,
//! under the invocation's own span. Every message span also links to the invocation's
//! span (the platform's `<channel> receive`, or the drain request).
//!
//! Tracing never fails a batch: a payload that is not an envelope gets its span in the
//! invocation's trace; with no randomness for span ids, or no tracer exporting, no span
//! is built at all.

use crate::delivery::handled::{Failure, Handled};
use crate::model::clock::Clock;
use crate::model::envelope::Envelope;
use crate::model::span::{MessagingSystem, Span, SpanKind, SpanStatus};
use crate::model::trace::TraceParent;
use crate::ports::queue::Delivery;
use crate::ports::tracer::{NoTracer, Tracer};

/// Who drains, as the spans name it: the tracer, the consumer group, its delivery limit.
pub struct Tracing<'a, T: Tracer> {
    pub tracer: &'a T,
    pub group: &'a str,
    /// The messaging system the topic runs on (the adapter's).
    pub system: MessagingSystem,
    /// A failure on this delivery is the last: the message is dead-lettered next.
    pub max_deliveries: u32,
}

/// No tracing.
pub const OFF: Tracing<'static, NoTracer> = Tracing {
    tracer: &NoTracer,
    group: "",
    system: MessagingSystem { name: "", entry_id_attribute: "" },
    max_deliveries: 0,
};

/// A batch's spans, begun before it is handled.
pub struct BatchSpans {
    /// The batch span, when the batch is more than one message.
    batch: Option<Span>,
    messages: Vec<Span>,
    /// The span `begin` opened (the batch's, else the only message's): it is ended, the
    /// others recorded.
    opened: TraceParent,
}

impl<T: Tracer> Tracing<'_, T> {
    /// Begins the spans of `deliveries` and opens the one the batch's calls nest under.
    /// `None` when the tracer exports nothing or there is no randomness for span ids.
    pub fn begin(
        &self,
        invocation: Option<&TraceParent>,
        clock: &impl Clock,
        deliveries: &[Delivery],
    ) -> Option<BatchSpans> {
        let invocation = invocation.filter(|_| !deliveries.is_empty())?;
        let start_ns = clock.now_ns();
        let batch = match deliveries.len() {
            1 => None,
            n => Some(
                Span::start(
                    format!("{} batch", self.group),
                    SpanKind::Internal,
                    invocation.child(clock).ok()?,
                    Some(invocation),
                    start_ns,
                )
                .with("messaging.system", self.system.name)
                .with("messaging.consumer.group.name", self.group)
                .with("messaging.batch.message_count", n as i64),
            ),
        };
        let mut messages = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let envelope = Envelope::from_bytes(&d.payload).ok();
            let parent = envelope.as_ref().and_then(|e| TraceParent::parse(&e.traceparent));
            // A message with no trace of its own is shown in the invocation's.
            let parent = parent.as_ref().unwrap_or(invocation);
            let mut span = Span::start(
                format!("{} process", self.group),
                SpanKind::Consumer,
                parent.child(clock).ok()?,
                Some(parent),
                start_ns,
            )
            .with("messaging.system", self.system.name)
            .with("messaging.operation.type", "process")
            .with("messaging.consumer.group.name", self.group)
            .with(self.system.entry_id_attribute, d.entry.as_str())
            .with("pipeline.delivery", i64::from(d.deliveries))
            .with("pipeline.max_deliveries", i64::from(self.max_deliveries));
            if let Some(e) = &envelope {
                span = span
                    .with("messaging.message.id", e.id.as_str())
                    .with("order.accountid", e.order.accountid.as_str())
                    .with("order.vendorid", e.order.vendorid.as_str());
            }
            span.links.push(invocation.clone());
            if let Some(b) = &batch {
                span.links.push(b.context.clone());
            }
            messages.push(span);
        }
        let opened = batch.as_ref().map_or(&messages[0].context, |b| &b.context).clone();
        self.tracer.open(&opened);
        Some(BatchSpans { batch, messages, opened })
    }

    /// Ends the spans with each message's outcome (`results` in `deliveries`' order),
    /// the batch span last.
    pub fn finish(
        &self,
        spans: BatchSpans,
        clock: &impl Clock,
        deliveries: &[Delivery],
        results: &[Result<Handled, Failure>],
    ) {
        let end_ns = clock.now_ns();
        // The batch span was opened when there is one, else the first message's.
        for ((span, d), result) in spans.messages.into_iter().zip(deliveries).zip(results) {
            let (outcome, status) = match result {
                Ok(h) => (h.outcome, SpanStatus::Ok),
                Err(f @ Failure::Malformed(_)) => ("dead-lettered", SpanStatus::Error(format!("dead-lettered: {f}"))),
                Err(f) if d.deliveries >= self.max_deliveries => (
                    "dead-lettered",
                    SpanStatus::Error(format!("dead-lettered after {} deliveries: {f}", d.deliveries)),
                ),
                Err(f) => ("will-retry", SpanStatus::Error(format!("will retry: {f}"))),
            };
            let span = span.with("pipeline.outcome", outcome).end(end_ns, status);
            if span.context == spans.opened {
                self.tracer.end(span);
            } else {
                self.tracer.record(span);
            }
        }
        if let Some(batch) = spans.batch {
            self.tracer.end(batch.end(end_ns, SpanStatus::Unset));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::handled::MessageMeta;
    use crate::model::span::Value;
    use crate::ports::error::PortError;
    use crate::testing::clock::{NoRandomness, TestClock};
    use crate::testing::fixtures::order;
    use crate::testing::tracer::TEST_SYSTEM;
    use crate::testing::tracer::{RecordingTracer, Traced};

    fn delivery(payload: Vec<u8>, deliveries: u32) -> Delivery {
        Delivery { entry: format!("{deliveries}-0"), deliveries, payload }
    }

    fn stored() -> Result<Handled, Failure> {
        Ok(Handled { meta: MessageMeta::default(), outcome: "stored", detail: String::new() })
    }

    fn store_failed() -> Result<Handled, Failure> {
        Err(Failure::Store { meta: MessageMeta::default(), error: PortError::unavailable("throttled") })
    }

    #[test]
    fn a_message_alone_is_one_process_span_in_its_orders_trace_holding_the_batchs_calls() {
        let clock = TestClock::at(7);
        let e = Envelope::new(order(), &clock, None).unwrap();
        let accept = TraceParent::parse(&e.traceparent).unwrap();
        let tracer = RecordingTracer::exporting();
        let tracing = Tracing { tracer: &tracer, group: "order-writer", system: TEST_SYSTEM, max_deliveries: 5 };
        let d = [delivery(e.to_bytes(), 2)];
        let spans = tracing.begin(tracer.invocation.as_ref(), &clock, &d).unwrap();
        let opened = tracer.calls.borrow().clone();
        tracing.finish(spans, &clock, &d, &[stored()]);
        let span = &tracer.spans()[0];
        assert_eq!(opened, vec![Traced::Opened(span.context.clone())], "open while the batch is handled");
        assert_eq!((span.context.trace_id, span.parent_span_id), (accept.trace_id, Some(accept.span_id)));
        assert_eq!(
            (span.name.as_str(), span.kind, &span.status),
            ("order-writer process", SpanKind::Consumer, &SpanStatus::Ok)
        );
        assert_eq!(span.attribute("pipeline.delivery"), Some(&Value::Int(2)));
        assert_eq!(span.attribute("pipeline.outcome"), Some(&Value::from("stored")));
        assert_eq!(span.attribute("messaging.message.id"), Some(&Value::from(e.id.as_str())));
        assert_eq!(span.links, vec![tracer.invocation.clone().unwrap()], "linked to the invocation");
        assert_eq!(tracer.spans().len(), 1);
        assert!(tracer.unended().is_empty());
    }

    #[test]
    fn a_batch_holds_its_calls_in_a_batch_span_and_each_message_ends_with_its_outcome() {
        let clock = TestClock::at(7);
        let invocation = RecordingTracer::exporting().invocation.unwrap();
        let (a, b) = (Envelope::new(order(), &clock, None).unwrap(), Envelope::new(order(), &clock, None).unwrap());
        let tracer = RecordingTracer::exporting();
        let tracing = Tracing { tracer: &tracer, group: "invoice-writer", system: TEST_SYSTEM, max_deliveries: 3 };
        let d = [
            delivery(a.to_bytes(), 1),
            delivery(b"not json".to_vec(), 1),
            delivery(b.to_bytes(), 3),
            delivery(a.to_bytes(), 2),
        ];
        let results = [stored(), Err(Failure::Malformed("not JSON".into())), store_failed(), store_failed()];
        let spans = tracing.begin(Some(&invocation), &clock, &d).unwrap();
        tracing.finish(spans, &clock, &d, &results);
        let spans = tracer.spans();
        assert_eq!(spans.len(), 5);
        let batch = spans.last().unwrap();
        assert_eq!(
            (batch.name.as_str(), batch.context.trace_id, batch.parent_span_id),
            ("invoice-writer batch", invocation.trace_id, Some(invocation.span_id))
        );
        assert_eq!(batch.attribute("messaging.batch.message_count"), Some(&Value::Int(4)));
        assert_eq!(tracer.calls.borrow()[0], Traced::Opened(batch.context.clone()), "the batch's calls nest under it");
        for s in &spans[..4] {
            assert_eq!(s.links, vec![invocation.clone(), batch.context.clone()]);
        }
        let status = |i: usize| spans[i].status.clone();
        assert_eq!(status(0), SpanStatus::Ok);
        assert_eq!(spans[1].context.trace_id, invocation.trace_id, "no envelope: in the invocation's trace");
        assert_eq!(status(1), SpanStatus::Error("dead-lettered: malformed message: not JSON".into()));
        assert_eq!(status(2), SpanStatus::Error("dead-lettered after 3 deliveries: store failed: throttled".into()));
        assert_eq!(status(3), SpanStatus::Error("will retry: store failed: throttled".into()));
        assert_eq!(spans[3].context.trace_id, spans[0].context.trace_id, "a's retry is in a's trace");
        assert_eq!(spans[2].attribute("pipeline.outcome"), Some(&Value::from("dead-lettered")));
        let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.context.span_id).collect();
        assert_eq!(ids.len(), 5, "every span its own id");
    }

    #[test]
    fn nothing_is_built_without_an_exporting_tracer_or_randomness() {
        let e = Envelope::new(order(), &TestClock::at(7), None).unwrap();
        let d = [delivery(e.to_bytes(), 1)];
        let tracer = RecordingTracer { invocation: None, ..RecordingTracer::exporting() };
        let tracing = Tracing { tracer: &tracer, group: "g", system: TEST_SYSTEM, max_deliveries: 5 };
        assert!(tracing.begin(None, &TestClock::at(7), &d).is_none());
        let exporting = RecordingTracer::exporting();
        let tracing = Tracing { tracer: &exporting, group: "g", system: TEST_SYSTEM, max_deliveries: 5 };
        assert!(tracing.begin(exporting.invocation.as_ref(), &NoRandomness, &d).is_none());
        assert!(tracer.calls.borrow().is_empty() && exporting.calls.borrow().is_empty());
    }
}
