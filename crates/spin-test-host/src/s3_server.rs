//! A real S3 API on a free loopback port for one test: `s3s-fs` (objects as files in a
//! temporary directory) behind `s3s`, which checks every request's SigV4 signature and
//! a presigned URL's expiry itself, as AWS S3 does. It can be stopped (the store down:
//! connections refused) and started again on the same port with the same objects.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

/// The key pair the server accepts; anything else is refused (`InvalidAccessKeyId`,
/// `SignatureDoesNotMatch`).
pub const ACCESS_KEY_ID: &str = "test-invoices-writer";
pub const SECRET_ACCESS_KEY: &str = "test-secret-0123456789abcdef0123456789";
/// The bucket the server starts with.
pub const BUCKET: &str = "invoices";

pub struct S3Server {
    pub port: u16,
    root: PathBuf,
    /// Added to every answer: a bucket across a network (the benchmark's).
    latency: std::time::Duration,
    /// While set, every request is answered `503 SlowDown`, as S3 throttles.
    throttled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// A server with one empty bucket, [`BUCKET`].
    pub fn start() -> S3Server {
        S3Server::start_with_latency(std::time::Duration::ZERO)
    }

    /// [`S3Server::start`], every answer `latency` late, as a bucket across a network.
    pub fn start_with_latency(latency: std::time::Duration) -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let root = std::env::temp_dir().join(format!("spin-test-s3-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let throttled = Default::default();
        let mut server = S3Server { port, root, latency, throttled, stop: None, thread: None };
        server.restart();
        server
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The app's variables that put the invoices in this server's bucket.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("invoice_store", "s3".into()),
            ("s3_endpoint", self.endpoint()),
            ("s3_allowed_host", self.endpoint()),
            ("s3_region", "us-east-1".into()),
            ("s3_bucket", BUCKET.into()),
            ("s3_url_style", "path".into()),
            ("s3_access_key_id", ACCESS_KEY_ID.into()),
            ("s3_secret_access_key", SECRET_ACCESS_KEY.into()),
        ]
    }

    /// The keys of the objects in [`BUCKET`] (below `prefix`), as files on disk.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else if let Ok(rel) = path.strip_prefix(base) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        let mut keys = Vec::new();
        let bucket = self.root.join(BUCKET);
        walk(&bucket, &bucket, &mut keys);
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        keys
    }

    /// While `on`, every request is answered `503 SlowDown` (S3's throttling).
    pub fn throttle(&self, on: bool) {
        self.throttled.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stops answering: every connection is refused until [`S3Server::restart`].
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Starts (again) on the same port, with the objects kept so far.
    pub fn restart(&mut self) {
        self.stop();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let access = AsS3Does { root: self.root.clone(), latency: self.latency, throttled: self.throttled.clone() };
        let port = self.port;
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            rt.block_on(serve(access, SocketAddr::from(([127, 0, 0, 1], port)), rx, ready_tx));
        });
        ready_rx.recv().expect("the S3 server started");
        self.stop = Some(tx);
        self.thread = Some(thread);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What a plain `GET` of `url` gets (a client downloading a presigned URL): the status,
/// the `Content-Type` and `Content-Disposition`, and the body.
pub fn download(url: &str) -> (u16, String, String, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut resp = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    let status = resp.status().as_u16();
    (status, content_type, disposition, resp.body_mut().read_to_vec().unwrap())
}

/// Refuses what S3 refuses and `s3s-fs` alone would not: an anonymous request, and a
/// request for an object of a bucket that does not exist (`s3s-fs` would make its
/// directory on a `PUT`; S3 answers `NoSuchBucket`); and, while throttled, everything
/// (`503 SlowDown`).
struct AsS3Does {
    root: PathBuf,
    latency: std::time::Duration,
    throttled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl s3s::access::S3Access for AsS3Does {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        tokio::time::sleep(self.latency).await;
        if self.throttled.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(s3s::s3_error!(SlowDown, "Please reduce your request rate."));
        }
        if cx.credentials().is_none() {
            return Err(s3s::s3_error!(AccessDenied, "Signature is required"));
        }
        if let s3s::path::S3Path::Object { bucket, .. } = cx.s3_path() {
            if !self.root.join(&**bucket).is_dir() {
                return Err(s3s::s3_error!(NoSuchBucket, "The specified bucket does not exist"));
            }
        }
        Ok(())
    }
}

async fn serve(
    access: AsS3Does,
    addr: SocketAddr,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    ready: std::sync::mpsc::Sender<()>,
) {
    let fs = s3s_fs::FileSystem::new(&access.root).expect("s3s-fs over a temporary directory");
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
    builder.set_access(access);
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(addr).await.expect("the S3 server's port is free");
    ready.send(()).unwrap();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let service = service.clone();
                connections.spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(socket);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
            _ = &mut stop => break,
        }
    }
    // Down means down: open connections are cut too.
    connections.abort_all();
}
