//! `scripts/bench`: what the pipeline costs, on the test host with a real Redis, as
//! ratios against baselines measured in the same run (so the figures hold on a noisy
//! machine). Baselines (`crates/bench/fixtures`, wired by `crates/bench/spin.toml`):
//! an HTTP component that only answers 202, one that only publishes the body to Redis,
//! and a consumer that writes each message to key-value, one message per invocation.
//!
//! `BENCH_ORDERS` (default 10000) and `BENCH_CONCURRENCY` (default 32) size the runs;
//! `BENCH_ORDER_BATCH`, `BENCH_INVOICE_BATCH`, `BENCH_DRAIN_BUDGET_MS` and
//! `BENCH_LINGER_MS` override the
//! consumers' settings (by default, `spin.toml`'s).

#[cfg(target_family = "wasm")]
fn main() {}

/// `scripts/bench [spin|test-host|invoice-stores|ingest]`: with no argument, both when a
/// Spin CLI is found (`SPIN_CLI`, else `spin` on `PATH`): the real CLI's figures first,
/// then the test host's, which profile where the time goes. `ingest` is the real CLI's
/// first table alone; `invoice-stores` the invoice bucket against the key-value store;
/// `tracing` the app with tracing off, with Spin's spans, and with one trace per order;
/// `durability` what each durability level costs order-api; `variables` Spin's static
/// provider against its environment provider, for the floor and order-api.
#[cfg(not(target_family = "wasm"))]
fn main() -> anyhow::Result<()> {
    let which = std::env::args().nth(1).unwrap_or_default();
    let spin = spin_test_host::spin_cli::find();
    anyhow::ensure!(
        matches!(
            which.as_str(),
            "" | "spin"
                | "test-host"
                | "invoice-stores"
                | "ingest"
                | "tracing"
                | "durability"
                | "variables"
                | "partitions"
        ),
        "usage: scripts/bench [spin|test-host|invoice-stores|ingest|tracing|durability|variables|partitions]"
    );
    if matches!(which.as_str(), "invoice-stores" | "ingest" | "tracing" | "durability" | "variables" | "partitions") {
        let spin = spin.ok_or_else(|| anyhow::anyhow!("no Spin CLI: set SPIN_CLI or put `spin` on PATH"))?;
        spin_test_host::build_components();
        if which != "invoice-stores" {
            spin_test_host::build_wasm(bench::FIXTURES);
        }
        let report = match which.as_str() {
            "ingest" => real_spin::run(&spin, false)?,
            "tracing" => real_spin::tracing(&spin)?,
            "durability" => real_spin::durability(&spin)?,
            "variables" => real_spin::variables(&spin)?,
            "partitions" => real_spin::partitions(&spin)?,
            _ => real_spin::invoice_stores(&spin)?,
        };
        println!("{report}");
        return Ok(());
    }
    if which != "test-host" {
        match &spin {
            Some(spin) => {
                spin_test_host::build_components();
                spin_test_host::build_wasm(bench::FIXTURES);
                println!("{}", real_spin::run(spin, true)?);
                println!("{}", real_spin::invoice_stores(spin)?);
            }
            None if which == "spin" => anyhow::bail!("no Spin CLI: set SPIN_CLI or put `spin` on PATH"),
            None => eprintln!("no Spin CLI (SPIN_CLI or PATH): the test host's figures only"),
        }
    }
    if which == "spin" {
        return Ok(());
    }
    println!("## On the test host (where the time goes)\n");
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(bench::run())
}

#[cfg(not(target_family = "wasm"))]
mod real_spin;

#[cfg(not(target_family = "wasm"))]
mod bench {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use anyhow::{ensure, Result};
    use order_cli::{post, Client};
    use spin_test_host::redis_server::RedisServer;
    use spin_test_host::Answers::Unchecked;
    use spin_test_host::{workspace_root, App, Options, Stats};

    pub const FIXTURES: &[&str] =
        &["bench-answer-202", "bench-publish-only", "bench-durable-floor", "bench-kv-consumer"];
    pub const ADMIN: &str = "bench-admin-token-0123456789";

    fn env_usize(name: &str, default: usize) -> usize {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// Host-side time counters at one moment.
    #[derive(Clone, Copy, Default)]
    struct Snap {
        invocations: u64,
        invocation: u64,
        instantiate: u64,
        redis_open: u64,
        redis_command: u64,
        kv: u64,
    }

    impl Snap {
        fn of(s: &Stats) -> Snap {
            let l = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            Snap {
                invocations: l(&s.invocations),
                invocation: l(&s.invocation_ns),
                instantiate: l(&s.instantiate_ns),
                redis_open: l(&s.redis_open_ns),
                redis_command: l(&s.redis_command_ns),
                kv: l(&s.kv_ns),
            }
        }

        fn since(self, before: Snap) -> Snap {
            Snap {
                invocations: self.invocations - before.invocations,
                invocation: self.invocation - before.invocation,
                instantiate: self.instantiate - before.instantiate,
                redis_open: self.redis_open - before.redis_open,
                redis_command: self.redis_command - before.redis_command,
                kv: self.kv - before.kv,
            }
        }

        /// Where the time of `per` units (requests, messages) went, per unit.
        fn breakdown(&self, per: usize, unit: &str) -> String {
            let ms = |ns: u64| ns as f64 / 1e6 / per as f64;
            let share = |ns: u64| 100.0 * ns as f64 / self.invocation.max(1) as f64;
            let other =
                self.invocation.saturating_sub(self.instantiate + self.redis_open + self.redis_command + self.kv);
            let mut out = format!(
                "| per {unit} | ms | share of invocation time |\n|---|---|---|\n| invocations | {:.2} | |\n",
                self.invocations as f64 / per as f64
            );
            for (what, ns) in [
                ("whole invocations", self.invocation),
                ("instantiation", self.instantiate),
                ("Redis `Connection::open`", self.redis_open),
                ("Redis commands (EVAL, PUBLISH)", self.redis_command),
                ("key-value calls", self.kv),
                ("the guest's own work and the rest", other),
            ] {
                out.push_str(&format!("| {what} | {:.3} | {:.0} % |\n", ms(ns), share(ns)));
            }
            out
        }
    }

    async fn post_n(addr: SocketAddr, path: &str, n: usize, concurrency: usize, prefix: &str) -> post::Report {
        let client = Client::new(&format!("http://{addr}"), Duration::from_secs(60));
        let opts = post::Options {
            path: path.into(),
            count: n,
            concurrency,
            prefix: prefix.into(),
            verify: false,
            deadline: Duration::ZERO,
            progress: false,
        };
        tokio::task::spawn_blocking(move || post::run(&client, &opts)).await.expect("the load generator")
    }

    /// `n` GETs of `path`, one after another as one viewer makes them; their latencies,
    /// sorted.
    async fn get_n(addr: SocketAddr, path: &str, n: usize) -> Result<Vec<Duration>> {
        let client = Client::new(&format!("http://{addr}"), Duration::from_secs(10));
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let started = Instant::now();
                let answer = client.get(&path)?;
                ensure!(answer.status < 300, "GET {path} answered {}", answer.status);
                times.push(started.elapsed());
            }
            times.sort();
            Ok(times)
        })
        .await?
    }

    async fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Result<Duration> {
        let start = Instant::now();
        while !done() {
            ensure!(start.elapsed() < limit, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(start.elapsed())
    }

    /// Waits until both consumer groups of the topic on `redis` have acknowledged
    /// everything (nothing new, nothing pending): a message is acknowledged only once it
    /// is stored, so this is "both stores complete", read in O(1) without scanning them.
    /// Then checks the stores on Redis (`kv:<label>:*`) hold `orders` orders and
    /// `orders` invoice documents.
    async fn wait_for_redis_stores(redis: &RedisServer, orders: usize, what: &str) -> Result<Duration> {
        let mut conn = redis.client().get_multiplexed_async_connection().await?;
        let start = Instant::now();
        loop {
            let groups: Vec<HashMap<String, redis::Value>> =
                redis::cmd("XINFO").arg("GROUPS").arg("orders:stream").query_async(&mut conn).await.unwrap_or_default();
            let int = |g: &HashMap<String, redis::Value>, k: &str| match g.get(k) {
                Some(redis::Value::Int(i)) => *i,
                _ => -1,
            };
            if groups.len() == 2 && groups.iter().all(|g| int(g, "lag") == 0 && int(g, "pending") == 0) {
                let elapsed = start.elapsed();
                let count = |pattern: &str| {
                    let mut conn = conn.clone();
                    let pattern = pattern.to_owned();
                    async move {
                        let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await?;
                        Ok::<_, redis::RedisError>(keys.len())
                    }
                };
                let (o, i) = (count("kv:orders:*").await?, count("kv:invoices:invoice/*").await?);
                if o == orders && i == orders {
                    return Ok(elapsed);
                }
            }
            ensure!(start.elapsed() < Duration::from_secs(600), "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The app's variables for a Redis of its own.
    pub fn app_variables(redis: &RedisServer) -> HashMap<String, String> {
        HashMap::from([
            ("redis_address".to_owned(), redis.url()),
            ("redis_host".to_owned(), redis.host()),
            ("url_signing_keys".to_owned(), "k1:bench-bench-bench-bench-bench-bench".to_owned()),
            ("admin_token".to_owned(), ADMIN.to_owned()),
            ("read_api_keys".to_owned(), "bench:bench-read-key-0123456789".to_owned()),
            ("drain_token".to_owned(), "bench-drain-token-0123456789".to_owned()),
        ])
    }

    /// `POST /pipeline/doorbell` with the admin token, once.
    async fn ring(app: &std::sync::Arc<App>) -> Result<()> {
        let ring = spin_test_host::http_trigger::request("POST", "/pipeline/doorbell")
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))?;
        ensure!(app.call(ring).await?.status == 202, "the doorbell did not ring");
        Ok(())
    }

    fn invoices(app: &App) -> usize {
        app.kv.count("invoices", "invoice/")
    }

    fn row(name: &str, r: &post::Report, base: &post::Report) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "| {name} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {} |",
            r.throughput(),
            r.throughput() / base.throughput(),
            ms(r.percentile(0.5)),
            ms(r.percentile(0.9)),
            ms(r.percentile(0.99)),
            ms(r.latencies.last().copied().unwrap_or_default()),
            r.percentile(0.99).as_secs_f64() / base.percentile(0.99).as_secs_f64(),
            r.posted - r.accepted,
        )
    }

    pub async fn run() -> Result<()> {
        let n = env_usize("BENCH_ORDERS", 10_000);
        let conc = env_usize("BENCH_CONCURRENCY", 32);
        eprintln!("building the components and the baselines ...");
        spin_test_host::build_components();
        spin_test_host::build_wasm(FIXTURES);
        let redis = RedisServer::start();
        let base = App::load(Options {
            manifest: Some(workspace_root().join("crates/bench/spin.toml")),
            variables: HashMap::from([("redis_address".into(), redis.url())]),
            answers: Unchecked,
            ..Options::default()
        })?;
        let mut variables = app_variables(&redis);
        for (env, var) in [
            ("BENCH_ORDER_BATCH", "order_writer_batch_size"),
            ("BENCH_INVOICE_BATCH", "invoice_writer_batch_size"),
            ("BENCH_DRAIN_BUDGET_MS", "drain_budget_ms"),
            ("BENCH_LINGER_MS", "batch_linger_ms"),
        ] {
            if let Ok(v) = std::env::var(env) {
                variables.insert(var.to_owned(), v);
            }
        }
        let app = App::load(Options { variables, answers: Unchecked, ..Options::default() })?;
        let setting = |var: &str| app.manifest.components["order-writer"].variables.get(var).cloned();
        let order_batch = setting("batch_size").unwrap_or_default();
        let invoice_batch =
            app.manifest.components["invoice-writer"].variables.get("batch_size").cloned().unwrap_or_default();
        let budget = setting("drain_budget_ms").unwrap_or_default();
        let linger = setting("batch_linger_ms").unwrap_or_default();
        let (base_addr, _l1) = base.listen(0).await?;
        let (app_addr, _l2) = app.listen(0).await?;

        eprintln!("warming up ...");
        for (addr, path) in [(base_addr, "/answer"), (base_addr, "/publish"), (app_addr, "/order")] {
            post_n(addr, path, 500, conc, "w-").await;
        }
        let warm = app.kv.count("orders", "");
        ensure!(warm == 0, "the consumers are not running yet");

        eprintln!("ingest: {n} requests each, {conc} connections ...");
        let answer = post_n(base_addr, "/answer", n, conc, "x-").await;
        let publish = post_n(base_addr, "/publish", n, conc, "x-").await;
        let before = Snap::of(&app.stats);
        let ours = post_n(app_addr, "/order", n, conc, "i-").await;
        let ingest_breakdown = Snap::of(&app.stats).since(before);
        ensure!(ours.complete(), "orders were refused: {ours}");

        eprintln!("drain: our two consumers over a backlog of {n} (plus the warm-up's 500) ...");
        let backlog = n + 500;
        let before = Snap::of(&app.stats);
        let trigger = app.start_redis_trigger().await?;
        let started = Instant::now();
        ring(&app).await?;
        wait_for(Duration::from_secs(600), "our consumers", || {
            app.kv.count("orders", "") == backlog && invoices(&app) == backlog
        })
        .await?;
        let ours_drain = started.elapsed();
        let drain_breakdown = Snap::of(&app.stats).since(before);

        eprintln!("drain: the one-message-per-invocation consumer over {n} messages ...");
        let template = app.kv.get("orders", "i-a0#i-v0").map_err(anyhow::Error::msg)?.expect("a stored order");
        let template: serde_json::Value = serde_json::from_slice(&template)?;
        let _base_trigger = base.start_redis_trigger().await?;
        let mut conn = redis.client().get_multiplexed_async_connection().await?;
        let before = Snap::of(&base.stats);
        let started = Instant::now();
        let mut pipe = redis::pipe();
        for i in 0..n {
            let mut e = serde_json::json!({"version": 1, "id": format!("m{i}"), "published_at": template["published_at"],
                "traceparent": template["traceparent"], "order": template["order"]});
            e["order"]["accountid"] = format!("b-a{i}").into();
            pipe.publish("bench-kv", serde_json::to_vec(&e)?).ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        wait_for(Duration::from_secs(600), "the baseline consumer", || base.kv.count("default", "") == n).await?;
        let base_drain = started.elapsed();
        let base_breakdown = Snap::of(&base.stats).since(before);

        eprintln!("end to end: {n} orders with the consumers running ...");
        let doorbells = redis.count_published("orders").await?;
        let messages_before = app.stats.redis_messages.load(Ordering::Relaxed);
        let started = Instant::now();
        let e2e = post_n(app_addr, "/order", n, conc, "e-").await;
        let last_202 = started.elapsed();
        wait_for(Duration::from_secs(600), "end to end", || {
            app.kv.count("orders", "") == backlog + n && invoices(&app) == backlog + n
        })
        .await?;
        let e2e_drain = started.elapsed();
        let rung = doorbells.load(Ordering::Relaxed);
        let trigger_messages = app.stats.redis_messages.load(Ordering::Relaxed) - messages_before;
        ensure!(trigger.is_running() && app.stats.handler_failures.load(Ordering::Relaxed) == 0, "a handler failed");

        eprintln!("hosted wiring: {n} orders, no Redis trigger, drains called over HTTP ...");
        let hosted_redis = RedisServer::start();
        let mut hosted_vars = app_variables(&hosted_redis);
        if let Ok(v) = std::env::var("BENCH_HOSTED_DRAIN_BUDGET_MS") {
            hosted_vars.insert("drain_budget_ms".to_owned(), v);
        }
        let hosted = App::load(Options {
            variables: hosted_vars,
            manifest: Some(workspace_root().join("deploy/fermyon-cloud/spin.toml")),
            platform: spin_test_host::Platform::Hosted,
            answers: Unchecked,
            ..Options::default()
        })?;
        let hosted_budget = hosted.manifest.components["order-writer"].variables["drain_budget_ms"].clone();
        let (hosted_addr, _l3) = hosted.listen(0).await?;
        post_n(hosted_addr, "/order", 500, conc, "w-").await;
        wait_for_redis_stores(&hosted_redis, 500, "the hosted warm-up").await?;
        // The warm-up's drains end (caught up, bells released), so the burst rings anew.
        wait_for(Duration::from_secs(60), "the warm-up's drains to end", || {
            hosted.stats.running_after_answer.load(Ordering::SeqCst) == 0
        })
        .await?;
        let self_before = hosted.stats.self_requests.load(Ordering::Relaxed);
        let started = Instant::now();
        let hosted_e2e = post_n(hosted_addr, "/order", n, conc, "h-").await;
        let hosted_last_202 = started.elapsed();
        wait_for_redis_stores(&hosted_redis, 500 + n, "the hosted wiring").await?;
        let hosted_drain = started.elapsed();
        let self_requests = hosted.stats.self_requests.load(Ordering::Relaxed) - self_before;
        ensure!(hosted_e2e.complete(), "the hosted wiring refused orders: {hosted_e2e}");
        ensure!(hosted.stats.handler_failures.load(Ordering::Relaxed) == 0, "a hosted handler failed");

        eprintln!("stores on Redis (deploy/kubernetes/spin.toml): our consumers over a backlog of {n} ...");
        let shared_redis = RedisServer::start();
        let shared = App::load(Options {
            variables: app_variables(&shared_redis),
            manifest: Some(workspace_root().join("deploy/kubernetes/spin.toml")),
            answers: Unchecked,
            ..Options::default()
        })?;
        let (shared_addr, _l4) = shared.listen(0).await?;
        ensure!(post_n(shared_addr, "/order", n, conc, "s-").await.complete(), "the replicas' wiring refused orders");
        let _shared_trigger = shared.start_redis_trigger().await?;
        let started = Instant::now();
        ring(&shared).await?;
        wait_for_redis_stores(&shared_redis, n, "the stores on Redis").await?;
        let shared_drain = started.elapsed();

        eprintln!("instantiation ...");
        let mut sizes = Vec::new();
        for (a, ids) in [
            (&app, vec!["order-api", "order-reader", "order-writer", "invoice-writer", "invoice-api", "pipeline-api"]),
            (&base, vec!["answer-accepted", "publish-only", "kv-consumer"]),
        ] {
            for id in ids {
                let bytes = std::fs::metadata(&a.manifest.components[id].source)?.len();
                let t = a.mean_instantiation(id, 200).await?;
                sizes.push((id, bytes, t));
            }
        }

        eprintln!("the live page: what one viewer asks of the app ...");
        const VIEWS: usize = 1_000;
        let page_baseline = get_n(base_addr, "/answer", VIEWS).await?;
        let page = get_n(app_addr, "/", VIEWS).await?;
        let page_status = get_n(app_addr, "/pipeline", VIEWS).await?;

        // ---- report ----
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_default();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        let rate = |count: usize, d: Duration| count as f64 / d.as_secs_f64();
        println!(
            "### Run: {n} orders, {conc} connections, batches {order_batch} (orders) / {invoice_batch} (invoices), drain budget {budget} ms, linger {linger} ms, {cores} cores ({cpu})\n"
        );
        println!("#### Ingest (HTTP -> Redis), consumers stopped\n");
        println!(
            "| component | req/s | x publish-only | p50 ms | p90 ms | p99 ms | max ms | p99 x publish-only | not 202 |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        println!("{}", row("answer-202 (baseline)", &answer, &publish));
        println!("{}", row("publish-only (baseline)", &publish, &publish));
        println!("{}", row("order-api (ours)", &ours, &publish));
        println!(
            "\nTargets: ingest >= 0.8 x publish-only: **{:.2}**; p99 <= 1.5 x publish-only: **{:.2}**.\n",
            ours.throughput() / publish.throughput(),
            ours.percentile(0.99).as_secs_f64() / publish.percentile(0.99).as_secs_f64()
        );
        println!(
            "Where an order-api request's time goes (host-side timers):\n\n{}",
            ingest_breakdown.breakdown(n, "request")
        );
        println!("#### Drain (Redis -> key-value)\n");
        println!("| consumer | messages | seconds | messages/s | x baseline |\n|---|---|---|---|---|");
        let base_rate = rate(n, base_drain);
        println!(
            "| kv-consumer, one message per invocation (baseline, 1 store) | {n} | {:.2} | {:.0} | 1.00 |",
            base_drain.as_secs_f64(),
            base_rate
        );
        println!(
            "| order-writer + invoice-writer (ours, both stores complete) | {backlog} | {:.2} | {:.0} | {:.2} |",
            ours_drain.as_secs_f64(),
            rate(backlog, ours_drain),
            rate(backlog, ours_drain) / base_rate
        );
        println!(
            "| order-writer + invoice-writer, stores on Redis (`deploy/kubernetes/spin.toml`, for replicas) | {n} | {:.2} | {:.0} | {:.2} |",
            shared_drain.as_secs_f64(),
            rate(n, shared_drain),
            rate(n, shared_drain) / base_rate
        );
        println!(
            "\nTarget: both stores complete at >= 2 x the baseline's rate: **{:.2}**.\n",
            rate(backlog, ours_drain) / base_rate
        );
        println!(
            "Where our consumers' time goes, per message (both consumers together):\n\n{}",
            drain_breakdown.breakdown(backlog, "message")
        );
        println!("The baseline consumer, per message:\n\n{}", base_breakdown.breakdown(n, "message"));
        println!("#### End to end, consumers running\n");
        println!(
            "{n} orders posted at {:.0} req/s (p99 {:.1} ms); the last `202` {:.2} s after the first post; both stores complete {:.2} s after the first post ({:.0} orders/s end to end), none lost.\n",
            e2e.throughput(),
            e2e.percentile(0.99).as_secs_f64() * 1000.0,
            last_202.as_secs_f64(),
            e2e_drain.as_secs_f64(),
            rate(n, e2e_drain)
        );
        println!("| target | reached |\n|---|---|");
        println!(
            "| both stores complete within 0.5 s of the last `202` | **{:.2} s** after it |",
            e2e_drain.saturating_sub(last_202).as_secs_f64()
        );
        println!(
            "| doorbells published per {n} orders: at most {} | **{rung}** ({trigger_messages} messages reached the consumers' trigger, retry clock included) |",
            n / 100
        );
        println!(
            "| ingest with the consumers running >= 0.9 x publish-only | **{:.2}** (p99 {:.2} x) |\n",
            e2e.throughput() / publish.throughput(),
            e2e.percentile(0.99).as_secs_f64() / publish.percentile(0.99).as_secs_f64()
        );
        println!(
            "### The hosted wiring (`deploy/fermyon-cloud/spin.toml`), beside the local one\n\nNo Redis trigger: order-api rings the drain endpoints over HTTP after its `202`; drain budget {hosted_budget} ms.\n"
        );
        println!(
            "| wiring | req/s | x publish-only | p99 ms | both stores complete after the last `202` | wake-ups per {n} orders |\n|---|---|---|---|---|---|"
        );
        println!(
            "| local (`spin.toml`, Redis trigger) | {:.0} | {:.2} | {:.1} | {:.2} s | {rung} doorbells published |",
            e2e.throughput(),
            e2e.throughput() / publish.throughput(),
            e2e.percentile(0.99).as_secs_f64() * 1000.0,
            e2e_drain.saturating_sub(last_202).as_secs_f64()
        );
        println!(
            "| hosted (HTTP only) | {:.0} | {:.2} | {:.1} | {:.2} s | self-requests: **{self_requests}** (target: at most 100) |\n",
            hosted_e2e.throughput(),
            hosted_e2e.throughput() / publish.throughput(),
            hosted_e2e.percentile(0.99).as_secs_f64() * 1000.0,
            hosted_drain.saturating_sub(hosted_last_202).as_secs_f64()
        );
        let mean = |t: &[Duration]| t.iter().sum::<Duration>().as_secs_f64() * 1000.0 / t.len() as f64;
        let p99 = |t: &[Duration]| t[t.len() * 99 / 100].as_secs_f64() * 1000.0;
        println!(
            "#### The live page\n\nOne viewer's requests, {VIEWS} of each one after another over one connection pool; the page loads `/` once and reads `/pipeline` every second.\n\n| request | mean ms | p99 ms | mean x answer-202 |\n|---|---|---|---|"
        );
        for (what, t) in [
            ("GET on answer-202 (baseline: Spin's ceiling)", &page_baseline),
            ("`GET /` (the page, from the component's memory)", &page),
            ("`GET /pipeline` (what the page reads every second)", &page_status),
        ] {
            println!("| {what} | {:.3} | {:.3} | {:.2} |", mean(t), p99(t), mean(t) / mean(&page_baseline));
        }
        println!(
            "\nAn open page costs the app one `GET /pipeline` a second, **{:.2} ms** each: at most {:.2} % of one core (a request's time bounds the CPU it takes).\n",
            mean(&page_status),
            mean(&page_status) / 10.0
        );
        println!("#### Components\n\n| component | .wasm bytes | mean instantiation µs |\n|---|---|---|");
        for (id, bytes, t) in sizes {
            println!("| {id} | {bytes} | {:.0} |", t.as_secs_f64() * 1e6);
        }
        Ok(())
    }
}
