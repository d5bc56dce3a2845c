//! Spans: the timed steps of one order's trace (OpenTelemetry's data model, trimmed to
//! what the pipeline records). The domain builds them; a tracer (the port `ports::tracer`)
//! hands them to the platform, which exports them beside its own.
//!
//! An order's trace: `POST /order` (the platform's span) → `accept order` (order-api) →
//! one `process` span per delivery of the order's message in each consumer group, a
//! child of the acceptance through the message's `traceparent`, whatever batch, retry
//! or redelivery carried it.
//!
//! Attributes hold ids and outcomes, never a credential: no header, token, key or URL
//! with a signature goes into a span.

use crate::model::trace::TraceParent;

/// What a span describes (OpenTelemetry's span kinds the pipeline uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Handing a message to the topic (the acceptance).
    Producer,
    /// Handling a message from the topic.
    Consumer,
    /// Work inside an invocation (a consumer's batch).
    Internal,
}

/// How a span ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanStatus {
    /// Nothing to report (a refusal the client caused is not the server's error).
    Unset,
    Ok,
    /// Failed, and why.
    Error(String),
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

/// One finished span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Its own context: the trace it is in, its span id, its flags (unsampled spans are
    /// dropped by the exporter).
    pub context: TraceParent,
    /// The span it is a child of, if any (possibly in another process).
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    /// Nanoseconds since the Unix epoch.
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Vec<(&'static str, Value)>,
    pub status: SpanStatus,
    /// Spans in other traces this one relates to (a consumer's invocation, its batch).
    pub links: Vec<TraceParent>,
}

impl Span {
    /// A span named `name` with context `context`, child of `parent` (`None`: a root),
    /// started at `start_ns`; it ends when [`Span::end`] stamps it.
    pub fn start(
        name: impl Into<String>,
        kind: SpanKind,
        context: TraceParent,
        parent: Option<&TraceParent>,
        start_ns: u64,
    ) -> Span {
        Span {
            context,
            parent_span_id: parent.map(|p| p.span_id),
            name: name.into(),
            kind,
            start_ns,
            end_ns: start_ns,
            attributes: Vec::new(),
            status: SpanStatus::Unset,
            links: Vec::new(),
        }
    }

    /// Adds an attribute.
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Span {
        self.attributes.push((key, value.into()));
        self
    }

    /// Stamps the end and the status.
    pub fn end(mut self, end_ns: u64, status: SpanStatus) -> Span {
        self.end_ns = end_ns.max(self.start_ns);
        self.status = status;
        self
    }

    /// An attribute's value, if set.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// The messaging system a topic runs on, as its spans name it (OpenTelemetry's
/// `messaging.system`), and the attribute that carries an entry's id there. The adapter
/// that runs the topic names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessagingSystem {
    pub name: &'static str,
    /// The attribute of a delivered entry's id (`messaging.<system>.entry_id`).
    pub entry_id_attribute: &'static str,
}
