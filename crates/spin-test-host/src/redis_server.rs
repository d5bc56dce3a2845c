//! A real `redis-server`, started on a free loopback port for one test and killed when
//! dropped. A missing `redis-server` is a clear failure, never a skip.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    /// The server binary: `redis-server`, or a Valkey's ([`RedisServer::valkey_with`]).
    binary: String,
    child: Option<Child>,
    /// Extra `redis-server` arguments, kept for a restart.
    args: Vec<String>,
    dir: PathBuf,
}

impl RedisServer {
    /// A server as every wiring ships it: its append-only file on (`appendfsync
    /// everysec`, what the default durability level `process` needs), no snapshots, and
    /// otherwise the defaults (no keyspace notifications: the app turns on what it needs).
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A server with extra arguments after those of [`RedisServer::start`], which they
    /// override (`--appendonly no`, `--rename-command CONFIG ""`, ...).
    pub fn start_with(args: &[&str]) -> RedisServer {
        RedisServer::start_binary("redis-server", args)
    }

    /// A Valkey 7.2 or later (`WAITAOF`): `$VALKEY_SERVER`, else `valkey-server` on
    /// `PATH`. `None`, saying so on stderr, where there is none; with `CI=true` a missing
    /// one fails the test.
    pub fn valkey_with(args: &[&str]) -> Option<RedisServer> {
        let binary = std::env::var("VALKEY_SERVER").unwrap_or_else(|_| "valkey-server".into());
        if Command::new(&binary).arg("--version").output().is_err() {
            let why = format!(
                "no Valkey server ({binary}): set VALKEY_SERVER to a valkey-server 7.2 or later (.ci/run does), or \
                 put one on PATH"
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipped: {why}");
            return None;
        }
        Some(RedisServer::start_binary(&binary, args))
    }

    /// A replica of this server, started with `args` and `--replicaof` it, returned once
    /// it has linked (the primary's `WAIT 1` counts it).
    pub fn replica(&self, args: &[&str]) -> RedisServer {
        let port = self.port.to_string();
        let replica = RedisServer::start_binary(&self.binary, &[args, &["--replicaof", "127.0.0.1", &port]].concat());
        let mut conn = self.client().get_connection().unwrap();
        let started = Instant::now();
        while redis::cmd("WAIT").arg(1).arg(100).query::<i64>(&mut conn).unwrap() < 1 {
            assert!(started.elapsed() < Duration::from_secs(10), "the replica of port {port} never linked");
        }
        replica
    }

    fn start_binary(binary: &str, args: &[&str]) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("spin-test-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer {
            port,
            binary: binary.to_owned(),
            child: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(&self.dir)
            .args(["--save", "", "--appendonly", "yes"])
            .args(&self.args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {} ({e}): install it (apt-get install redis-server); .ci/run does", self.binary)
            });
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (as a crash would: no shutdown save).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops it with SIGSTOP (a server that hangs: its connections stay open, nothing
    /// answers), or lets it go on with SIGCONT.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let signal = if paused { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts it again on the same port, with the same arguments and data directory
    /// (with `--appendonly yes`, the same data).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Counts the messages published on `channel` from now on, as an independent
    /// subscriber (the count stops when the returned task is dropped with the runtime).
    pub async fn count_published(
        &self,
        channel: &str,
    ) -> redis::RedisResult<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        use futures::StreamExt;
        let mut pubsub = self.client().get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = n.clone();
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while messages.next().await.is_some() {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        Ok(n)
    }

    /// `host:port`, as the `redis_host` variable takes it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The address with credentials: `redis://user:password@127.0.0.1:port`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("redis://{user}:{password}@127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap()
    }

    /// CPU time (user and system) the server has spent so far, as its `INFO cpu` says.
    pub fn cpu(&self) -> std::time::Duration {
        let info: String = redis::cmd("INFO").arg("cpu").query(&mut self.client().get_connection().unwrap()).unwrap();
        let field = |name: &str| -> f64 {
            info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok()).unwrap_or(0.0)
        };
        std::time::Duration::from_secs_f64(field("used_cpu_user") + field("used_cpu_sys"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
