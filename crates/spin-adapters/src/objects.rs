//! The invoice object store on Spin: an S3-compatible bucket reached over Spin's
//! outbound HTTP, when the component's `invoice_store` variable is `s3`. The requests
//! are signed by the `object-store` crate; the bucket's host must be in the
//! component's `allowed_outbound_hosts` (variable `s3_allowed_host`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use order_core::ports::{Object, ObjectStore, PortError};
use spin_sdk::http::{Method, Request, Response};

use crate::variable;

/// How many `PUT`s of one batch are in flight at once: chosen with
/// `scripts/bench invoice-stores` against a bucket answering 20 ms late, where 64 drained
/// 10,000 invoices in 14-15 s, 16 in 25 s and 128 in 16-17 s (docs/BENCHMARKS.md).
const PARALLEL_PUTS: usize = 64;

/// How long one request to the bucket may take, connection to last byte. A store that
/// hangs must not hold the invocation: the Redis trigger handles one message at a time,
/// so a stuck invoice-writer would stop order-writer too. Past this, the message fails
/// and is retried on the retry clock.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The object store of the `invoice_store` variable: `None` for `kv` (the documents stay
/// in the `invoices` key-value store), the bucket of the `s3_*` variables for `s3`. The
/// error names the variable, never a secret.
pub fn open() -> Result<Option<S3Objects>, PortError> {
    match variable("invoice_store")?.trim() {
        "kv" => Ok(None),
        "s3" => {
            let v = |name: &str| variable(name).map_err(PortError::from);
            let store = object_store::ObjectStore::new(
                &v("s3_endpoint")?,
                &v("s3_region")?,
                &v("s3_bucket")?,
                &v("s3_access_key_id")?,
                &v("s3_secret_access_key")?,
                &v("s3_url_style")?,
            )
            .map_err(|e| PortError::misconfigured(format!("the invoice object store is misconfigured: {e}")))?;
            Ok(Some(S3Objects { store }))
        }
        other => Err(PortError::misconfigured(format!("invoice_store: `kv` or `s3`, not `{other}`"))),
    }
}

/// A bucket, over Spin's outbound HTTP.
pub struct S3Objects {
    store: object_store::ObjectStore,
}

impl S3Objects {
    /// A failure, naming the bucket (never a URL: it carries a signature).
    fn error(&self, why: impl std::fmt::Display) -> PortError {
        PortError::unavailable(format!("object store {}: {why}", self.store.shown()))
    }

    async fn send(&self, req: object_store::Request, body: Vec<u8>) -> Result<(u16, Vec<u8>), PortError> {
        let method = match req.method {
            "PUT" => Method::Put,
            "HEAD" => Method::Head,
            _ => Method::Get,
        };
        let mut builder = Request::builder();
        builder.method(method).uri(req.url);
        for (name, value) in req.headers {
            builder.header(name, value);
        }
        let send = std::pin::pin!(spin_sdk::http::send::<_, Response>(builder.body(body).build()));
        match futures::future::select(send, Timer::after(REQUEST_TIMEOUT)).await {
            futures::future::Either::Left((sent, _)) => {
                let resp = sent.map_err(|e| self.error(e))?;
                Ok((*resp.status(), resp.into_body()))
            }
            futures::future::Either::Right(_) => {
                Err(self.error(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())))
            }
        }
    }

    async fn put(&self, object: &Object, now_s: u64) -> Result<(), PortError> {
        let req = self.store.put(&object.key, object.content_type, &object.content_disposition, now_s);
        let (status, body) = self.send(req, object.body.clone()).await?;
        object_store::put_outcome(status, &body).map_err(|e| self.error(e))
    }
}

/// Ready once the monotonic clock reaches its instant: a `wasi:clocks` timer on Spin's
/// executor.
struct Timer(u64);

impl Timer {
    fn after(d: Duration) -> Timer {
        Timer(wasi::clocks::monotonic_clock::now().saturating_add(d.as_nanos() as u64))
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if wasi::clocks::monotonic_clock::now() >= self.0 {
            return Poll::Ready(());
        }
        spin_executor::push_waker(wasi::clocks::monotonic_clock::subscribe_instant(self.0), cx.waker().clone());
        Poll::Pending
    }
}

fn now_s() -> u64 {
    use order_core::model::clock::{Clock, SystemClock};
    SystemClock.now_ms() / 1000
}

/// Blocking calls, as the core's ports are: each runs Spin's executor until its requests
/// are answered. Called from a Redis handler (no executor running) or from an HTTP
/// handler's synchronous part, after its request body is read (nothing else pending).
impl ObjectStore for S3Objects {
    fn put_objects(&self, objects: &[Object]) -> Vec<Result<(), PortError>> {
        let now = now_s();
        spin_sdk::http::run(
            futures::stream::iter(objects.iter().map(|o| self.put(o, now))).buffered(PARALLEL_PUTS).collect(),
        )
    }

    fn exists(&self, key: &str) -> Result<bool, PortError> {
        let (status, _) = spin_sdk::http::run(self.send(self.store.head(key, now_s()), Vec::new()))?;
        object_store::head_outcome(status).map_err(|e| self.error(e))
    }

    fn presigned_get(&self, key: &str, ttl_seconds: u64, now_ms: u64) -> String {
        self.store.presigned_get(key, ttl_seconds, now_ms / 1000)
    }
}
