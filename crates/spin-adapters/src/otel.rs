//! The pipeline's spans through `wasi:otel/tracing` (Spin 3.6 and 4.x, under
//! `spin up --experimental-wasi-otel` with an `OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! Only in the `otel` build (`--features spin-adapters/otel`): Spin refuses to start a
//! component that imports `wasi:otel` without the flag, and the default build must run
//! everywhere (SpinKube's shim and the hosted platforms never pass it), so without the
//! feature [`tracer`] is [`NoTracer`] and nothing here is compiled in.
//!
//! Spin's caveats this adapter keeps: ids it returns are unpadded hex (padded here);
//! attribute values must be JSON text (the host panics otherwise); ending a span that was
//! not started traps (so [`order_core::ports::tracer::Tracer::end`] starts it first); unsampled spans are dropped.

#[cfg(not(feature = "otel"))]
use order_core::ports::tracer::NoTracer;

/// The tracer of this invocation: none in the default build.
#[cfg(not(feature = "otel"))]
pub fn tracer() -> NoTracer {
    NoTracer
}

/// The tracer of this invocation: `wasi:otel`.
#[cfg(feature = "otel")]
pub fn tracer() -> SpinTracer {
    SpinTracer
}

#[cfg(feature = "otel")]
pub use wasi_otel::SpinTracer;

#[cfg(feature = "otel")]
mod wasi_otel {
    use order_core::model::span::{Span, SpanKind, SpanStatus, Value};
    use order_core::model::trace::{hex, TraceParent};
    use order_core::ports::tracer::Tracer;

    mod bindings {
        spin_sdk::wit_bindgen::generate!({
            world: "coffee-orders:components/otel-tracing",
            path: "../../wit",
            runtime_path: "::spin_sdk::wit_bindgen::rt",
            generate_all,
        });
    }

    use bindings::wasi::otel::tracing as otel;
    use bindings::wasi::otel::types::{InstrumentationScope, KeyValue};

    /// `wasi:otel/tracing`.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct SpinTracer;

    impl Tracer for SpinTracer {
        fn invocation(&self) -> Option<TraceParent> {
            let c = otel::outer_span_context();
            let flags = u8::from(c.trace_flags.contains(otel::TraceFlags::SAMPLED));
            TraceParent::parse(&format!("00-{:0>32}-{:0>16}-{flags:02x}", c.trace_id, c.span_id))
        }

        fn open(&self, context: &TraceParent) {
            otel::on_start(&span_context(context));
        }

        fn end(&self, span: Span) {
            otel::on_end(&span_data(span));
        }

        fn record(&self, span: Span) {
            otel::on_start(&span_context(&span.context));
            otel::on_end(&span_data(span));
        }
    }

    fn span_context(c: &TraceParent) -> otel::SpanContext {
        otel::SpanContext {
            trace_id: hex(&c.trace_id),
            span_id: hex(&c.span_id),
            trace_flags: if c.flags & 1 == 1 { otel::TraceFlags::SAMPLED } else { otel::TraceFlags::empty() },
            is_remote: false,
            trace_state: Vec::new(),
        }
    }

    fn span_data(s: Span) -> otel::SpanData {
        let attributes =
            s.attributes.into_iter().map(|(k, v)| KeyValue { key: k.to_owned(), value: json(&v) }).collect();
        otel::SpanData {
            span_context: span_context(&s.context),
            parent_span_id: s.parent_span_id.map(|id| hex(&id)).unwrap_or_default(),
            span_kind: match s.kind {
                SpanKind::Producer => otel::SpanKind::Producer,
                SpanKind::Consumer => otel::SpanKind::Consumer,
                SpanKind::Internal => otel::SpanKind::Internal,
            },
            name: s.name,
            start_time: datetime(s.start_ns),
            end_time: datetime(s.end_ns),
            attributes,
            events: Vec::new(),
            links: s
                .links
                .iter()
                .map(|l| otel::Link { span_context: span_context(l), attributes: Vec::new() })
                .collect(),
            status: match s.status {
                SpanStatus::Unset => otel::Status::Unset,
                SpanStatus::Ok => otel::Status::Ok,
                SpanStatus::Error(why) => otel::Status::Error(why),
            },
            instrumentation_scope: InstrumentationScope {
                name: "coffee-orders".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
                schema_url: None,
                attributes: Vec::new(),
            },
            dropped_attributes: 0,
            dropped_events: 0,
            dropped_links: 0,
        }
    }

    /// An attribute value as the JSON text the host parses.
    fn json(v: &Value) -> String {
        match v {
            Value::Text(t) => serde_json::to_string(t).expect("a string serializes"),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }

    fn datetime(ns: u64) -> otel::Datetime {
        otel::Datetime { seconds: ns / 1_000_000_000, nanoseconds: (ns % 1_000_000_000) as u32 }
    }
}
