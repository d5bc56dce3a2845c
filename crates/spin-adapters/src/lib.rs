//! order-core's ports implemented on Spin, shared by every component: each component is then only
//! "read the trigger's input, call the core, answer".
//!
//! | module | what |
//! |---|---|
//! | [`http`] | requests in, answers out, and each request's log line |
//! | [`kv`] | Spin's key-value stores (`wasi:keyvalue`) |
//! | [`store`] | the order and invoice stores: Spin's key-value stores, or hashes on Redis that replicas share |
//! | [`redis`] | Redis behind one seam, [`redis::Redis`]: Spin's outbound Redis in the components, a native client in the tests |
//! | [`topic`] | the orders topic on Redis: its publisher, a group's queue, the operations, the durability levels, what it needs of the server |
//! | [`wake`] | how the consumers are woken: the Redis channel (and what a message on it means, [`wake::reason`]), or their drain endpoints over HTTP |
//! | [`consumer`] | the one consumer adapter both consumers use, for the Redis trigger and the drain endpoint |
//! | [`objects`] | the invoice bucket over outbound HTTP |
//! | [`address`] | the topic's Redis address, never shown with its credentials |
//! | [`otel`] | the pipeline's spans through `wasi:otel` (the `otel` build only) |

pub mod address;
pub mod consumer;
pub mod http;
pub mod kv;
pub mod objects;
pub mod otel;
pub mod redis;
pub mod store;
pub mod topic;
pub mod wake;

use order_core::ports::settings::Misconfigured;

pub use otel::tracer;

/// Writes one log line to stdout (Spin keeps it in `.spin/logs/<component>_stdout.txt`).
/// A failing stdout is ignored: a log line must never fail the work it reports.
pub fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Writes lines that each end with a newline, in one write (see [`log`]).
pub fn log_lines(lines: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(lines.as_bytes());
}

/// A component variable, or why it cannot be had, naming it.
pub fn variable(name: &str) -> Result<String, Misconfigured> {
    spin_sdk::variables::get(name).map_err(|e| Misconfigured(format!("variable `{name}`: {e}")))
}

/// The read credentials (`GET /order`, `GET /invoice`), from the variables
/// `read_api_keys`, `url_signing_keys`, `read_url_ttl_seconds` and `public_base_url`.
pub fn read_access() -> Result<order_core::access::read_access::ReadAccess, Misconfigured> {
    order_core::access::read_access::ReadAccess::from_variables(
        &variable("read_api_keys")?,
        &variable("url_signing_keys")?,
        &variable("read_url_ttl_seconds")?,
        &variable("public_base_url")?,
    )
}
