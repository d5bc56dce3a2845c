//! A tracer that records what it was given, in order, and checks the port's contract:
//! a context is opened at most once, ended only if opened, and recorded only if not.

use std::cell::RefCell;

use crate::model::span::Span;
use crate::model::trace::TraceParent;
use crate::ports::tracer::Tracer;

/// One call of the tracer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traced {
    Opened(TraceParent),
    Ended(Span),
}

/// Records spans for an invocation whose own span is `invocation`.
pub struct RecordingTracer {
    pub invocation: Option<TraceParent>,
    pub calls: RefCell<Vec<Traced>>,
}

impl RecordingTracer {
    /// A tracer exporting, under the invocation span `00-aa…aa-bb…bb-01`.
    pub fn exporting() -> RecordingTracer {
        RecordingTracer {
            invocation: Some(TraceParent { trace_id: [0xaa; 16], span_id: [0xbb; 8], flags: 1 }),
            calls: RefCell::new(Vec::new()),
        }
    }

    /// The spans ended, in order.
    pub fn spans(&self) -> Vec<Span> {
        self.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Traced::Ended(s) => Some(s.clone()),
                Traced::Opened(_) => None,
            })
            .collect()
    }

    /// Contexts opened and not ended.
    pub fn unended(&self) -> Vec<TraceParent> {
        let calls = self.calls.borrow();
        calls
            .iter()
            .filter_map(|c| match c {
                Traced::Opened(o) => Some(o.clone()),
                Traced::Ended(_) => None,
            })
            .filter(|o| !calls.iter().any(|c| matches!(c, Traced::Ended(s) if s.context == *o)))
            .collect()
    }
}

impl Tracer for RecordingTracer {
    fn invocation(&self) -> Option<TraceParent> {
        self.invocation.clone()
    }
    fn open(&self, context: &TraceParent) {
        let mut calls = self.calls.borrow_mut();
        assert!(!calls.contains(&Traced::Opened(context.clone())), "{context} opened twice");
        calls.push(Traced::Opened(context.clone()));
    }
    fn end(&self, span: Span) {
        let mut calls = self.calls.borrow_mut();
        assert!(calls.contains(&Traced::Opened(span.context.clone())), "{} ended, never opened", span.context);
        calls.push(Traced::Ended(span));
    }
    fn record(&self, span: Span) {
        let mut calls = self.calls.borrow_mut();
        assert!(!calls.contains(&Traced::Opened(span.context.clone())), "{} recorded, but opened", span.context);
        calls.push(Traced::Ended(span));
    }
}

/// The messaging system the tests' topics run on.
pub const TEST_SYSTEM: crate::model::span::MessagingSystem =
    crate::model::span::MessagingSystem { name: "test-topic", entry_id_attribute: "messaging.test-topic.entry_id" };
