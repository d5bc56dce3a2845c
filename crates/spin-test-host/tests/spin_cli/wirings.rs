//! Each documented wiring under the real `spin up`, with its fault: `scripts/run` (two
//! processes and a supervisor) through a Redis restart, the hosted manifest draining a
//! burst with no Redis trigger, and two replicas of the Kubernetes manifest on a Redis
//! with a password, one killed mid-burst and started again.

use std::os::unix::process::CommandExt;

use super::*;

/// `scripts/run`, as the README starts it, in its own process group (killed whole when
/// dropped, as a Ctrl-C in the user's terminal would).
pub struct ScriptsRun {
    child: Child,
    out: PathBuf,
    pub addr: String,
}

/// The variables scripts/run keeps in `.env`.
const SECRETS: [&str; 3] = ["url_signing_keys", "admin_token", "read_api_keys"];

impl ScriptsRun {
    pub fn start(spin: &Spin, redis: &RedisServer, dir: &Path) -> ScriptsRun {
        ScriptsRun::start_with(spin, redis, dir, &[])
    }

    /// With other environment variables (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    fn start_with(spin: &Spin, redis: &RedisServer, dir: &Path, env: &[(&str, &str)]) -> ScriptsRun {
        let addr = format!("127.0.0.1:{}", free_port());
        let out = dir.join("scripts-run.out");
        let log = std::fs::File::create(&out).unwrap();
        let path = format!("{}:{}", spin.path.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new("bash");
        cmd.arg(workspace_root().join("scripts/run"))
            .args(["--listen", &addr])
            .env("PATH", path)
            // A runtime config of the test's own, so its SQLite files are the test's.
            .env("RUNTIME_CONFIG_FILE", repo_runtime_config(dir))
            // The secrets are the checkout's `.env`, as a user's are: scripts/run writes
            // them there the first time, and reads them from there after.
            .envs(spin_cli::variable_env(
                &required_vars(redis, &redis.url())
                    .into_iter()
                    .filter(|(k, _)| !SECRETS.contains(&k.as_str()))
                    .collect::<Vec<_>>(),
            ))
            .env("SPIN_VARIABLE_VISIBILITY_TIMEOUT_MS", "5000")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().expect("bash");
        let run = ScriptsRun { child, out, addr };
        eventually(Duration::from_secs(300), "scripts/run to serve and its consumers to subscribe", || {
            let out = run.output();
            assert!(!out.contains("exited"), "scripts/run: {out}");
            out.contains("Serving http://") && spin_cli::subscribers(&redis.url(), "orders") == 1
        });
        run
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn client(&self) -> Client {
        checked(
            Client::new(&format!("http://{}", self.addr), Duration::from_secs(30)).with_api_key(Some(self.read_key())),
        )
    }

    /// The read API key scripts/run keeps in the checkout's `.env` (its first).
    fn read_key(&self) -> String {
        let env = std::fs::read_to_string(workspace_root().join(".env")).expect("scripts/run writes .env");
        let keys = env.lines().rev().find_map(|l| l.strip_prefix("SPIN_VARIABLE_READ_API_KEYS=")).expect("a read key");
        let first = keys.split(',').next().unwrap();
        first.split_once(':').map_or(first, |(_, key)| key).to_owned()
    }
}

impl Drop for ScriptsRun {
    fn drop(&mut self) {
        kill_group(&self.child);
        let _ = self.child.wait();
    }
}

/// `scripts/run` through a Redis crash mid-burst: Redis SIGKILLed with 800 of 3,000
/// orders answered, then started again from its own files, with the settings
/// `scripts/run` and `deploy/kubernetes/redis.yaml` ship (append-only file, fsync every
/// second) at the default durability level, `process`. The consumers' `spin up` exits
/// when Redis drops it, the supervisor starts it again and rings once, and every order
/// answered `202` before, during and after is stored, order and invoice, with no
/// further traffic.
#[test]
fn scripts_run_stores_every_accepted_order_through_a_redis_crash() {
    let (spin, _one) = spin_or_skip!();
    let mut redis = RedisServer::start();
    let dir = scratch("scripts-run");
    let run = ScriptsRun::start(spin, &redis, &dir);

    let burst = Burst::start(&[format!("http://{}", run.addr)], "sr-", 3_000, 16);
    burst.wait_accepted(800, Duration::from_secs(60));
    redis.restart();
    let accepted = burst.finish();
    assert!(accepted.len() > 800, "orders were accepted after the restart too: {}", accepted.len());
    eventually(Duration::from_secs(30), "the supervisor to start the consumers again", || {
        run.output().contains("the consumers' spin up exited")
    });

    let client = run.client();
    let (status, took) = settled(&client, accepted.len() as u64, Duration::from_secs(60));
    assert_all_stored(&client, "sr-", &accepted);
    assert!(status["groups"].as_array().unwrap().iter().all(|g| g["dead_letters"] == 0), "{status}");
    let _ =
        writeln!(std::io::stderr(), "scripts/run: {} accepted, all stored {took:?} after the burst", accepted.len());
}

/// A machine crash at the `machine` level, as Jepsen simulates one: Redis's files on
/// LazyFS, Redis SIGKILLed with 800 of 3,000 orders answered and everything it had
/// written but not fsynced dropped, then started again from what was left. With
/// `appendfsync always`, every order answered `202` is stored, order and invoice.
#[test]
fn scripts_run_at_the_machine_level_loses_nothing_to_a_machine_crash() {
    let (spin, _one) = spin_or_skip!();
    let dir = scratch("machine-crash");
    let Some(disk) = spin_test_host::lazyfs::LazyFs::mount(&dir.join("lazyfs")) else { return };
    let data = disk.mount.display().to_string();
    let mut redis = RedisServer::start_with(&["--appendfsync", "always", "--dir", &data]);
    let run = ScriptsRun::start_with(spin, &redis, &dir, &[("SPIN_VARIABLE_DURABILITY", "machine")]);

    let burst = Burst::start(&[format!("http://{}", run.addr)], "mc-", 3_000, 16);
    burst.wait_accepted(800, Duration::from_secs(120));
    redis.kill();
    disk.crash();
    redis.restart();
    let accepted = burst.finish();
    assert!(accepted.len() > 800, "orders were accepted after the crash too: {}", accepted.len());

    let client = run.client();
    let status = pipeline(&client);
    assert_eq!(status["durability"]["confirmed_by"], "settings", "{status}");
    let (_, took) = settled(&client, accepted.len() as u64, Duration::from_secs(120));
    assert_all_stored(&client, "mc-", &accepted);
    let _ = writeln!(
        std::io::stderr(),
        "machine crash at `machine`: {} accepted, all stored {took:?} after the burst",
        accepted.len()
    );
}

/// `scripts/run` with an OTLP endpoint: each order is one trace there, from Spin's span
/// of the `POST` through `accept order` to each consumer's `process` span.
#[test]
fn scripts_run_with_an_otlp_endpoint_makes_each_order_one_trace() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let receiver = spin_test_host::otlp::OtlpReceiver::start();
    let dir = scratch("scripts-run-otel");
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100")];
    let run = ScriptsRun::start_with(spin, &redis, &dir, &env);
    assert!(run.output().contains(&format!("tracing to {}", receiver.endpoint)), "{}", run.output());
    let client = run.client();
    let order = order_cli::post::order("otel-", 0, &mut rand::rng());
    let answer = client.post_json("/order", &serde_json::to_vec(&order).unwrap()).unwrap();
    assert_eq!(answer.status, 202);
    let trace_id = answer.json("202").unwrap()["trace_id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(30), "the order's trace", || {
        let spans = receiver.trace(&trace_id);
        let span = |name: &str| spans.iter().find(|s| s.name == name).map(|s| s.span_id.clone());
        let accept = spans.iter().find(|s| s.name == "accept order");
        accept.is_some_and(|a| {
            spans.iter().any(|s| s.span_id == a.parent_span_id && s.name == "execute_wasm_component order-api")
        }) && ["order-writer process", "invoice-writer process"]
            .iter()
            .all(|n| spans.iter().any(|s| s.name == *n && Some(&s.parent_span_id) == span("accept order").as_ref()))
    });
}

/// The hosted manifest (HTTP triggers only) drains a burst through its drain endpoints,
/// woken by order-api's self-requests: no Redis trigger, no scheduler.
#[test]
fn the_hosted_manifest_stores_a_burst_with_no_redis_trigger() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &scratch("hosted")).start(&spin.path);
    let accepted = Burst::start(&[app.base()], "h-", 2_000, 16).finish();
    assert_eq!(accepted.len(), 2_000);
    let client = app.client();
    settled(&client, 2_000, Duration::from_secs(60));
    assert_all_stored(&client, "h-", &accepted);
}

const PASS: &str = "replica-pass-0123";

/// Two replicas of `deploy/kubernetes/spin.toml` (stores on Redis) on one Redis with a
/// password; one is SIGKILLed mid-burst and started again, as Kubernetes restarts a
/// pod. Every order either accepted is stored, with its invoice, and the newest order
/// of a key wins whichever replica took it.
#[test]
fn replicas_on_a_redis_with_a_password_lose_nothing_when_one_is_killed() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start_with(&["--save", "", "--appendonly", "yes", "--requirepass", PASS]);
    let dir_a = scratch("replica-a");
    let dir_b = scratch("replica-b");
    let vars = required_vars(&redis, &redis.url_as("default", PASS));
    let url = redis.url_as("default", PASS);
    let replica = |dir: &Path, nth: usize| {
        Up::new("deploy/kubernetes/spin.toml", dir, vars.clone())
            .var("visibility_timeout_ms", "3000")
            .subscribed(&url, "orders", nth)
            .start(&spin.path)
    };
    let a = replica(&dir_a, 1);
    let mut b = replica(&dir_b, 2);

    let burst = Burst::start(&[a.base(), b.base()], "rp-", 10_000, 16);
    burst.wait_accepted(1_000, Duration::from_secs(60));
    b.kill();
    // Its clients see connection errors, as they would for a dead pod.
    std::thread::sleep(Duration::from_secs(1));
    b.restart();
    let accepted = burst.finish();
    assert!(accepted.len() >= 1_500, "{} accepted", accepted.len());

    let client = a.client();
    settled(&client, accepted.len() as u64, Duration::from_secs(60));
    assert_all_stored(&client, "rp-", &accepted);
    for (i, log) in [a.logs("order-api"), b.logs("order-api")].iter().enumerate() {
        assert!(!log.contains(PASS), "replica {i}'s log shows the password");
    }

    // Newest wins across replicas: ten orders of one key, posted in turn to each.
    let mut last = String::new();
    for q in 1..=10 {
        let base = if q % 2 == 0 { a.base() } else { b.base() };
        let mut body = order_cli::post::order("nw-", 0, &mut rand::rng());
        body["order"]["details"]["quantity"] = q.into();
        let answer = checked(Client::new(&base, Duration::from_secs(10)))
            .post_json("/order", &serde_json::to_vec(&body).unwrap())
            .unwrap();
        assert_eq!(answer.status, 202);
        last = answer.json("202").unwrap()["message_id"].as_str().unwrap().to_owned();
    }
    eventually(Duration::from_secs(20), "the tenth order to be the stored one", || {
        let a = client.get("/order?accountid=nw-a0&vendorid=nw-v0").unwrap();
        a.status == 200 && a.json("order").unwrap()["message_id"] == last.as_str()
    });
    let stored = client.get("/order?accountid=nw-a0&vendorid=nw-v0").unwrap().json("order").unwrap();
    assert_eq!(stored["order"]["details"]["quantity"], 10, "{stored}");
}

/// The Kubernetes wiring (`deploy/kubernetes/coffee-orders.yaml`: a front SpinApp and a
/// consumers SpinApp, the stores on Redis) on a Redis run as `redis.yaml` runs it (its
/// append-only file fsynced every second, a password, `notify-keyspace-events Kx`),
/// SIGKILLed with 800 of 3,000 orders answered and started again from its files. The
/// consumers' `spin up` exits with its Redis trigger and is started again, as the
/// kubelet restarts the pod; the front answers `503` meanwhile. Every order answered
/// `202` is stored, order and invoice, with no further traffic.
#[test]
fn the_kubernetes_wiring_stores_every_accepted_order_through_a_redis_crash() {
    let (spin, _one) = spin_or_skip!();
    let mut redis = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--requirepass",
        PASS,
        "--notify-keyspace-events",
        "Kx",
    ]);
    let url = redis.url_as("default", PASS);
    let (front_dir, consumers_dir) = (scratch("k8s-front"), scratch("k8s-consumers"));
    // The variables as the SpinApps get them: the runtime config Secret the deploy
    // commands write with scripts/variables, its static provider the only one with values.
    let rc = front_dir.join("runtime-config.toml");
    let manifest = workspace_root().join("deploy/kubernetes/spin.toml");
    std::fs::write(&rc, spin_cli::scripts_variables(&manifest, &required_vars(&redis, &url), true)).unwrap();
    let front = Up::new("deploy/kubernetes/spin.toml", &front_dir, vec![])
        .variables(spin_cli::Variables::Environment)
        .runtime_config(rc.clone())
        .components(&["order-api", "invoice-api", "pipeline-api"])
        .start(&spin.path);
    let mut consumers = Up::new("deploy/kubernetes/spin.toml", &consumers_dir, vec![])
        .variables(spin_cli::Variables::Environment)
        .runtime_config(rc)
        .components(&["order-writer", "invoice-writer"])
        .consumers_only()
        .subscribed(&url, "orders", 1)
        .start(&spin.path);

    let burst = Burst::start(&[front.base()], "kc-", 3_000, 16);
    burst.wait_accepted(800, Duration::from_secs(120));
    redis.kill();
    redis.restart();
    let accepted = burst.finish();
    // The pod, restarted once its trigger exited.
    eventually(Duration::from_secs(30), "the consumers' spin up to exit with its Redis trigger", || consumers.exited());
    consumers.restart();

    let client = front.client();
    let (_, took) = settled(&client, accepted.len() as u64, Duration::from_secs(120));
    assert_all_stored(&client, "kc-", &accepted);
    let _ = writeln!(
        std::io::stderr(),
        "Kubernetes wiring, Redis SIGKILLed: {} accepted, all stored {took:?} after the burst",
        accepted.len()
    );
}
