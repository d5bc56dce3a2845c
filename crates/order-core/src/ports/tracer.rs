//! Where spans go: the platform's tracing, when it takes spans from components.
//!
//! Under Spin that is `wasi:otel/tracing` (`spin up --experimental-wasi-otel` with an
//! OTLP endpoint); everywhere else [`NoTracer`], and the trace id stays what it always
//! is, a field of every log line.

use crate::model::span::Span;
use crate::model::trace::TraceParent;

/// The platform's tracing, for one invocation.
pub trait Tracer {
    /// The platform's own span for this invocation (the HTTP request's, or the Redis
    /// message's), or `None` when the platform takes no spans: then none is built. (An
    /// unsampled invocation still has one; its spans are built and dropped by the
    /// platform.)
    fn invocation(&self) -> Option<TraceParent>;
    /// Opens `context`: the platform's spans for calls made until it is ended (Redis,
    /// outbound HTTP) become its children.
    fn open(&self, context: &TraceParent);
    /// Ends and exports `span`, which was opened. Every span opened must be ended.
    fn end(&self, span: Span);
    /// Exports `span`, which was never opened: the platform opens and ends it at once.
    fn record(&self, span: Span);
}

/// No tracing: every span is skipped.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTracer;

impl Tracer for NoTracer {
    fn invocation(&self) -> Option<TraceParent> {
        None
    }
    fn open(&self, _: &TraceParent) {}
    fn end(&self, _: Span) {}
    fn record(&self, _: Span) {}
}
