//! The benchmark on the real Spin CLI: the app as `scripts/run` runs it (the HTTP front
//! and the consumers as two `spin up` processes, SQLite stores from the runtime config)
//! beside the baselines of `crates/bench/spin.toml` under their own `spin up`, each
//! loaded in turn by `wrk` (HTTP/1.1 keep-alive, the notebook's order as the body, a new
//! account per request), in rounds, so every ratio compares runs minutes apart.
//!
//! `BENCH_ROUNDS` (default 2), `BENCH_SECONDS` (default 10) and `BENCH_CONCURRENCY`
//! (default 32, wrk's connections) size it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use order_cli::Client;
use spin_test_host::redis_server::RedisServer;
use spin_test_host::spin_cli::{self, SpinUp, Up, Variables};
use spin_test_host::workspace_root;

/// wrk's Lua: POST the notebook's order, a fresh account and vendor per request.
const WRK_SCRIPT: &str = r#"
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"order":{"accountid":"w%d-a%d","vendorid":"w%d-v%d","orderdate":"2026-11-27 23:06:44.123456","city":"Perth","eventtype":["new_order"],"details":{"coffeetype":"Latte","coffeesize":"Large","unitprice":"4.5","quantity":3}}}', tid, n, tid, n)
  return wrk.format("POST", nil, {["content-type"] = "application/json"}, body)
end
"#;

/// What one `wrk` run measured, and the CPU time the `spin up` serving it and its Redis
/// spent per request meanwhile.
#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    not_2xx: u64,
    requests: u64,
    spin_us: f64,
    redis_us: f64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `wrk --latency` against `url` for `seconds` with `connections`.
fn wrk(url: &str, seconds: usize, connections: usize, script: &Path) -> Result<Load> {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk (Debian's `wrk` package) for the real-Spin benchmark")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(out.status.success(), "wrk {url}: {text}{}", String::from_utf8_lossy(&out.stderr));
    parse_wrk(&text).ok_or_else(|| anyhow!("cannot read wrk's report for {url}:\n{text}"))
}

/// The figures of a `wrk --latency` report (its CPU fields zero, for the caller).
fn parse_wrk(text: &str) -> Option<Load> {
    let ms = |v: &str| -> Option<f64> {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = n.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => return None,
        })
    };
    let field = |prefix: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix)).map(str::trim);
    Some(Load {
        rps: field("Requests/sec:")?.parse().ok()?,
        p50_ms: ms(field("50%")?)?,
        p99_ms: ms(field("99%")?)?,
        not_2xx: field("Non-2xx or 3xx responses:").map_or(Some(0), |n| n.parse().ok())?,
        requests: text.lines().find_map(|l| l.trim().split_once(" requests in")?.0.parse().ok())?,
        spin_us: 0.0,
        redis_us: 0.0,
    })
}

/// `GET /pipeline` of the front.
fn pipeline(client: &Client) -> Result<serde_json::Value> {
    let a = client.get("/pipeline")?;
    ensure!(a.status == 200, "GET /pipeline answered {}", a.status);
    a.json("GET /pipeline")
}

/// Waits until both groups have delivered and acknowledged everything; returns how long
/// that took, and checks every accepted order was acknowledged by both.
fn settle(client: &Client) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let status = pipeline(client)?;
        let groups = status["groups"].as_array().cloned().unwrap_or_default();
        if groups.len() == 2 && groups.iter().all(|g| g["lag"] == 0 && g["pending"] == 0) {
            let took = start.elapsed();
            let accepted = status["orders_accepted"].as_u64().unwrap_or(0);
            for g in &groups {
                ensure!(g["acked"].as_u64() == Some(accepted), "lost: {accepted} accepted, {g}");
                ensure!(g["dead_letters"] == 0, "dead letters: {g}");
            }
            return Ok(took);
        }
        ensure!(start.elapsed() < Duration::from_secs(120), "the pipeline did not settle: {status}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn scratch() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("pipeline-bench-spin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn vars(redis: &RedisServer) -> Vec<(String, String)> {
    super::bench::app_variables(redis).into_iter().collect()
}

/// The app as `scripts/run` runs it: the front, and the consumers in a second process,
/// on one runtime config.
fn start_app(spin: &Path, redis: &RedisServer, dir: &Path) -> Result<(SpinUp, SpinUp)> {
    start_app_with(spin, redis, dir, &[])
}

/// [`start_app`] with `extra` variables.
fn start_app_with(
    spin: &Path,
    redis: &RedisServer,
    dir: &Path,
    extra: &[(String, String)],
) -> Result<(SpinUp, SpinUp)> {
    start_traced(spin, redis, dir, extra, &Tracing::Off)
}

/// How an app under test is traced.
enum Tracing {
    /// The default build, no OTLP endpoint: what every platform runs out of the box.
    Off,
    /// The default build with an OTLP endpoint: Spin's own spans only (SpinKube's tracing).
    SpinSpans(String),
    /// The `otel` build under `--experimental-wasi-otel` with an endpoint: one trace per
    /// order (`scripts/run` with `OTEL_EXPORTER_OTLP_ENDPOINT`).
    Guest(String),
}

/// [`start_app_with`], traced as `tracing` says.
fn start_traced(
    spin: &Path,
    redis: &RedisServer,
    dir: &Path,
    extra: &[(String, String)],
    tracing: &Tracing,
) -> Result<(SpinUp, SpinUp)> {
    let vars = |redis: &RedisServer| -> Vec<(String, String)> {
        vars(redis).into_iter().chain(extra.iter().cloned()).collect()
    };
    std::fs::create_dir_all(dir)?;
    let rc = dir.join("runtime-config.toml");
    std::fs::copy(workspace_root().join("runtime-config.toml"), &rc)?;
    for d in ["front", "consumers"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let manifest = match tracing {
        Tracing::Guest(_) => spin_test_host::otel_manifest().display().to_string(),
        _ => "spin.toml".to_owned(),
    };
    let traced = |up: Up| match tracing {
        Tracing::Off => up,
        Tracing::SpinSpans(endpoint) => up.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        Tracing::Guest(endpoint) => up.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint).arg("--experimental-wasi-otel"),
    };
    let front = traced(Up::new(&manifest, &dir.join("front"), vars(redis)))
        .runtime_config(rc.clone())
        .components(&["order-api", "order-reader", "invoice-api", "pipeline-api"])
        .start(spin);
    let consumers = traced(Up::new(&manifest, &dir.join("consumers"), vars(redis)))
        .runtime_config(rc)
        .components(&["order-writer", "invoice-writer"])
        .consumers_only()
        .subscribed(&redis.url(), "orders", 1)
        .start(spin);
    Ok((front, consumers))
}

/// `crates/bench/spin.toml` (the baselines: answer-202, publish-only, the durable floor)
/// under its own `spin up` in `dir/baselines`, on a Redis of its own.
fn start_baselines(spin: &Path, dir: &Path) -> Result<(RedisServer, SpinUp)> {
    let redis = RedisServer::start();
    std::fs::create_dir_all(dir.join("baselines"))?;
    let up = Up::new("crates/bench/spin.toml", &dir.join("baselines"), vec![("redis_address".into(), redis.url())])
        .start(spin);
    Ok((redis, up))
}

/// CPU time spent over `requests`, in µs per request.
fn per_request(cpu: Duration, requests: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / requests.max(1) as f64
}

fn range(values: &[f64], digits: usize) -> String {
    let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if format!("{lo:.digits$}") == format!("{hi:.digits$}") {
        format!("{lo:.digits$}")
    } else {
        format!("{lo:.digits$}-{hi:.digits$}")
    }
}

/// `POST /pipeline/doorbell` with the admin token, as an operator (or `scripts/run`'s
/// supervisor after a start) rings it.
fn ring(front: &SpinUp) -> Result<()> {
    let out = Command::new("curl")
        .args(["-sf", "-X", "POST", "-H", &format!("authorization: Bearer {}", super::bench::ADMIN)])
        .arg(format!("{}/pipeline/doorbell", front.base()))
        .output()
        .context("curl")?;
    ensure!(out.status.success(), "the doorbell did not ring: {}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

/// What a run on the real CLI is: the CLI's version, its size (`BENCH_ROUNDS`,
/// `BENCH_SECONDS`, `BENCH_CONCURRENCY`), a scratch directory and wrk's script in it.
struct Run {
    version: String,
    rounds: usize,
    seconds: usize,
    connections: usize,
    dir: PathBuf,
    script: PathBuf,
}

impl Run {
    fn prepare(spin: &Path) -> Result<Run> {
        let version = spin_cli::version(spin).ok_or_else(|| anyhow!("{} is not a Spin CLI", spin.display()))?;
        let (rounds, seconds, connections) =
            (env_usize("BENCH_ROUNDS", 2), env_usize("BENCH_SECONDS", 10), env_usize("BENCH_CONCURRENCY", 32));
        ensure!(rounds > 0, "BENCH_ROUNDS must be at least 1");
        let dir = scratch()?;
        let script = dir.join("order.lua");
        std::fs::write(&script, WRK_SCRIPT)?;
        Ok(Run { version, rounds, seconds, connections, dir, script })
    }
}

/// The whole real-CLI section of the report, in Markdown; without `breakdown`, the
/// baselines and order-api only.
pub fn run(spin: &Path, breakdown: bool) -> Result<String> {
    let Run { version, rounds, seconds, connections, dir, script } = Run::prepare(spin)?;

    let (baseline_redis, baselines) = start_baselines(spin, &dir)?;
    let app_redis = RedisServer::start();
    let (front, mut consumers) = start_app(spin, &app_redis, &dir.join("app"))?;
    let client = Client::new(&front.base(), Duration::from_secs(30));
    let answer_bytes = {
        let a = client.post_json("/order", br#"{"order":{"accountid":"size","vendorid":"size","orderdate":"2026-11-27 23:06:44.123456","city":"Perth","details":{"coffeetype":"Latte","coffeesize":"Large","unitprice":"4.5","quantity":3}}}"#)?;
        ensure!(a.status == 202, "POST /order answered {}", a.status);
        a.body.len()
    };
    settle(&client)?;
    let log_bytes = front.logs("order-api").lines().map(str::len).max().unwrap_or(0);
    ensure!(log_bytes > 0, "order-api logged nothing for its first order");

    // Each target's URL; the breakdown's are the floor with one of order-api's costs.
    let base = baselines.base();
    // The publish script order-api sends with every `EVAL`.
    let script_len = spin_adapters::topic::PUBLISH.len();
    let mut targets: Vec<(String, String)> = vec![
        ("answer-202".into(), format!("{base}/answer")),
        ("publish-only".into(), format!("{base}/publish")),
        ("durable floor".into(), format!("{base}/floor")),
        ("order-api (POST /order)".into(), format!("{}/order", front.base())),
        ("floor + 9 variable reads".into(), format!("{base}/floor?vars=9")),
        (format!("floor + a {script_len}-byte script by EVAL"), format!("{base}/floor?script={script_len}")),
        (format!("floor + a {script_len}-byte script by EVALSHA"), format!("{base}/floor?script={script_len}&sha=1")),
        ("floor + 2 HMAC-SHA256 signatures".into(), format!("{base}/floor?sign=2")),
        (format!("floor + a {answer_bytes}-byte answer"), format!("{base}/floor?answer={answer_bytes}")),
        (format!("floor + a {log_bytes}-byte log line"), format!("{base}/floor?log={log_bytes}")),
        ("floor + order-api's publish script, two groups".into(), format!("{base}/floor?publish=1")),
    ];
    if !breakdown {
        targets.truncate(4);
    }
    let mut loads: Vec<Vec<Load>> = vec![Vec::new(); targets.len()];
    // Each breakdown row's own floor run, just before it: its ratio is to that run.
    let mut paired_floor: Vec<Vec<Load>> = vec![Vec::new(); targets.len()];
    let mut settles = Vec::new();
    let mut stopped = Vec::new();
    let (publish, floor, order) = (1, 2, 3);
    // The consumers' CPU time per order, from the start of each `/order` load until
    // both groups have acknowledged all of it.
    let mut consumers_us = Vec::new();
    let measure = |name: &str, url: &str, spin: &SpinUp, redis: &RedisServer| -> Result<Load> {
        eprintln!("{name} ...");
        let (spin_cpu, redis_cpu) = (spin.cpu(), redis.cpu());
        let mut load = wrk(url, seconds, connections, &script)?;
        ensure!(load.not_2xx == 0, "{name}: {} answers were not 2xx", load.not_2xx);
        load.spin_us = per_request(spin.cpu().saturating_sub(spin_cpu), load.requests);
        load.redis_us = per_request(redis.cpu().saturating_sub(redis_cpu), load.requests);
        Ok(load)
    };
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        for (i, (name, url)) in targets.iter().enumerate() {
            let (spin_up, redis) = if i == order { (&front, &app_redis) } else { (&baselines, &baseline_redis) };
            if i > order {
                paired_floor[i].push(measure(&targets[floor].0, &targets[floor].1, spin_up, redis)?);
            }
            let consumers_cpu = (i == order).then(|| consumers.cpu());
            loads[i].push(measure(name, url, spin_up, redis)?);
            if let Some(before) = consumers_cpu {
                settles.push(settle(&client)?);
                let requests = loads[i].last().expect("just measured").requests;
                consumers_us.push(per_request(consumers.cpu().saturating_sub(before), requests));
                // The same load with the consumers' process stopped: what order-api
                // costs on its own. Started again, rung once (as scripts/run's
                // supervisor does), they drain the backlog before the next target.
                consumers.kill();
                stopped.push(measure("order-api, consumers stopped", url, &front, &app_redis)?);
                consumers.restart();
                ring(&front)?;
                settle(&client)?;
            }
        }
    }
    let orders_accepted = pipeline(&client)?["orders_accepted"].as_u64().unwrap_or(0);

    let ratio = |i: usize, j: usize, f: fn(&Load) -> f64| -> Vec<f64> {
        loads[i].iter().zip(&loads[j]).map(|(a, b)| f(a) / f(b)).collect()
    };
    let mut out = format!(
        "## On the real Spin CLI\n\n{version}; `wrk -t2 -c{connections} -d{seconds}s`, {rounds} rounds, each \
         target in turn; the app as `scripts/run` runs it (front and consumers as two `spin up` \
         processes, SQLite stores), its consumers draining during the load.\n\n\
         | target | req/s | p50 ms | p99 ms | × publish-only (req/s) | × durable floor (req/s) | p99 × publish-only \
         | CPU µs per request: `spin up` | Redis |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    for (i, (name, _)) in targets.iter().enumerate().take(4) {
        let col = |f: fn(&Load) -> f64, digits: usize| range(&loads[i].iter().map(f).collect::<Vec<_>>(), digits);
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            col(|l| l.rps, 1),
            col(|l| l.p50_ms, 1),
            col(|l| l.p99_ms, 1),
            range(&ratio(i, publish, |l| l.rps), 2),
            range(&ratio(i, floor, |l| l.rps), 2),
            range(&ratio(i, publish, |l| l.p99_ms), 2),
            col(|l| l.spin_us, 0),
            col(|l| l.redis_us, 0),
        ));
    }
    let alone: Vec<f64> = stopped.iter().zip(&loads[publish]).map(|(a, b)| a.rps / b.rps).collect();
    let alone_floor: Vec<f64> = stopped.iter().zip(&loads[floor]).map(|(a, b)| a.rps / b.rps).collect();
    let alone_p99: Vec<f64> = stopped.iter().zip(&loads[publish]).map(|(a, b)| a.p99_ms / b.p99_ms).collect();
    let stopped_col = |f: fn(&Load) -> f64, digits: usize| range(&stopped.iter().map(f).collect::<Vec<_>>(), digits);
    out.push_str(&format!(
        "| order-api, consumers stopped | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        stopped_col(|l| l.rps, 1),
        stopped_col(|l| l.p50_ms, 1),
        stopped_col(|l| l.p99_ms, 1),
        range(&alone, 2),
        range(&alone_floor, 2),
        range(&alone_p99, 2),
        stopped_col(|l| l.spin_us, 0),
        stopped_col(|l| l.redis_us, 0),
    ));
    let settled: Vec<f64> = settles.iter().map(Duration::as_secs_f64).collect();
    out.push_str(&format!(
        "\nBoth stores complete {} s after each `/order` load ended ({} orders accepted in all, every one \
         acknowledged by both groups, no dead letter). order-api answers {answer_bytes} bytes. The \
         consumers' `spin up` spent {} µs of CPU per order, from the start of each `/order` load until \
         both groups had acknowledged it all.\n",
        range(&settled, 2),
        orders_accepted,
        range(&consumers_us, 0),
    ));
    if breakdown {
        out.push_str(
            "\n### Where an order's request spends what the floor does not\n\n\
             Each row is the durable floor with one of order-api's costs added, each run right after \
             a run of the floor itself, and compared with that run; the CPU is what `spin up` and Redis \
             spent per request beyond that run's:\n\n\
             | the floor with | req/s | × the floor run before it | + CPU µs per request: `spin up` | Redis |\n\
             |---|---|---|---|---|\n",
        );
        for (i, (name, _)) in targets.iter().enumerate().skip(4) {
            let over = |f: fn(&Load) -> f64| {
                range(&loads[i].iter().zip(&paired_floor[i]).map(|(a, b)| f(a) - f(b)).collect::<Vec<_>>(), 0)
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                name.trim_start_matches("floor + "),
                range(&loads[i].iter().map(|l| l.rps).collect::<Vec<_>>(), 1),
                range(&loads[i].iter().zip(&paired_floor[i]).map(|(a, b)| a.rps / b.rps).collect::<Vec<_>>(), 2),
                over(|l| l.spin_us),
                over(|l| l.redis_us),
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

/// `scripts/bench tracing`: the app three ways in the same run (tracing off; Spin's own
/// spans; one trace per order with the `otel` build), each its own front, consumers and
/// Redis, every `/order` load right after a load of the durable floor, in rounds. Spin
/// exports to an OTLP receiver in this process (it decodes every span, on the same two
/// cores, as a collector beside the app would).
pub fn tracing(spin: &Path) -> Result<String> {
    let Run { version, rounds, seconds, connections, dir, script } = Run::prepare(spin)?;
    let receiver = spin_test_host::otlp::OtlpReceiver::start();
    let (baseline_redis, baselines) = start_baselines(spin, &dir)?;
    let floor_url = format!("{}/floor", baselines.base());
    let variants = [
        ("off (the default build)", Tracing::Off),
        ("Spin's spans (the default build, an OTLP endpoint)", Tracing::SpinSpans(receiver.endpoint.clone())),
        ("one trace per order (the otel build, --experimental-wasi-otel)", Tracing::Guest(receiver.endpoint.clone())),
    ];
    let mut apps = Vec::new();
    for (i, (_, tracing)) in variants.iter().enumerate() {
        let redis = RedisServer::start();
        let (front, consumers) = start_traced(spin, &redis, &dir.join(format!("app-{i}")), &[], tracing)?;
        apps.push((redis, front, consumers));
    }
    /// One variant's round: order-api's load, the floor's just before it, the consumers'
    /// CPU µs per order, spans received per order.
    #[derive(Clone)]
    struct Round {
        load: Load,
        floor: Load,
        consumers_us: f64,
        spans: f64,
    }
    let mut runs: Vec<Vec<Round>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        for (i, (name, _)) in variants.iter().enumerate() {
            let (redis, front, consumers) = &apps[i];
            let client = Client::new(&front.base(), Duration::from_secs(30));
            eprintln!("floor, then {name} ...");
            let (spin_cpu, redis_cpu) = (baselines.cpu(), baseline_redis.cpu());
            let mut floor = wrk(&floor_url, seconds, connections, &script)?;
            floor.spin_us = per_request(baselines.cpu().saturating_sub(spin_cpu), floor.requests);
            floor.redis_us = per_request(baseline_redis.cpu().saturating_sub(redis_cpu), floor.requests);
            let spans_before = receiver.span_count();
            let (spin_cpu, redis_cpu, consumers_cpu) = (front.cpu(), redis.cpu(), consumers.cpu());
            let mut load = wrk(&format!("{}/order", front.base()), seconds, connections, &script)?;
            ensure!(load.not_2xx == 0, "{name}: {} answers were not 2xx", load.not_2xx);
            load.spin_us = per_request(front.cpu().saturating_sub(spin_cpu), load.requests);
            load.redis_us = per_request(redis.cpu().saturating_sub(redis_cpu), load.requests);
            settle(&client)?;
            let consumers_us = per_request(consumers.cpu().saturating_sub(consumers_cpu), load.requests);
            // Spin's exporter sends a batch every 5 s by default: wait it out.
            std::thread::sleep(Duration::from_secs(6));
            let spans = (receiver.span_count() - spans_before) as f64 / load.requests.max(1) as f64;
            runs[i].push(Round { load, floor, consumers_us, spans });
        }
    }
    let mut out = format!(
        "## Tracing on and off, on the real Spin CLI\n\n{version}; `wrk -t2 -c{connections} -d{seconds}s`, {rounds} \
         rounds; each variant is the app as `scripts/run` runs it (front and consumers as two `spin up` \
         processes, SQLite stores, its own Redis), its `/order` load right after a load of the durable floor, \
         its consumers draining meanwhile. Spin exports to an OTLP/HTTP receiver in the benchmark's process.\n\n\
         | tracing | order-api req/s | × the floor run before it | p99 ms (the floor's) | `spin up` CPU µs per `POST` | \
         the consumers' CPU µs per order | spans exported per order |\n|---|---|---|---|---|---|---|\n"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let r = &runs[i];
        let col = |f: fn(&Round) -> f64, digits: usize| range(&r.iter().map(f).collect::<Vec<_>>(), digits);
        out.push_str(&format!(
            "| {name} | {} | {} | {} ({}) | {} | {} | {} |\n",
            col(|x| x.load.rps, 0),
            col(|x| x.load.rps / x.floor.rps, 2),
            col(|x| x.load.p99_ms, 1),
            col(|x| x.floor.p99_ms, 1),
            col(|x| x.load.spin_us, 0),
            col(|x| x.consumers_us, 0),
            col(|x| x.spans, 1),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

/// One durability level as `scripts/bench durability` runs it: the level, and the Redis
/// it runs on (the server's arguments, a Valkey for `WAITAOF`, a replica).
struct LevelRun {
    level: &'static str,
    redis: &'static str,
    args: &'static [&'static str],
    valkey: bool,
    replica: bool,
}

/// A Redis for one variant: the server with `args`, and a linked replica when asked.
fn level_redis(run: &LevelRun) -> Result<(RedisServer, Option<RedisServer>)> {
    let primary = if run.valkey {
        RedisServer::valkey_with(run.args).ok_or_else(|| anyhow!("no Valkey server (VALKEY_SERVER)"))?
    } else {
        RedisServer::start_with(run.args)
    };
    let replica = run.replica.then(|| primary.replica(run.args));
    Ok((primary, replica))
}

/// `scripts/bench durability`: what each durability level costs order-api. Each level is
/// the app's HTTP front (`spin.toml`, its SQLite stores) on a Redis set up for it,
/// beside the durable floor on a second Redis set up the same way, each `/order` load
/// right after a load of its floor, in rounds; the consumers are not run, so the two
/// loads differ only by what order-api does. `WAITAOF` needs a Valkey
/// (`VALKEY_SERVER`); without one that row is left out, saying so.
pub fn durability(spin: &Path) -> Result<String> {
    let Run { version, rounds, seconds, connections, dir, script } = Run::prepare(spin)?;
    let valkey = RedisServer::valkey_with(&[]).is_some();
    let levels = [
        LevelRun {
            level: "memory",
            redis: "Redis 7.0, no AOF",
            args: &["--appendonly", "no"],
            valkey: false,
            replica: false,
        },
        LevelRun {
            level: "process",
            redis: "Redis 7.0, AOF fsync every second (as shipped)",
            args: &[],
            valkey: false,
            replica: false,
        },
        LevelRun {
            level: "machine",
            redis: "Redis 7.0, AOF `appendfsync always`",
            args: &["--appendfsync", "always"],
            valkey: false,
            replica: false,
        },
        LevelRun {
            level: "machine",
            redis: "Valkey 8.0, AOF fsync every second: WAITAOF",
            args: &[],
            valkey: true,
            replica: false,
        },
        LevelRun {
            level: "replicas:1",
            redis: "Redis 7.0, `appendfsync always`, one replica: WAIT",
            args: &["--appendfsync", "always"],
            valkey: false,
            replica: true,
        },
    ];
    let levels: Vec<&LevelRun> = levels.iter().filter(|l| valkey || !l.valkey).collect();
    let rc = dir.join("runtime-config.toml");
    std::fs::copy(workspace_root().join("runtime-config.toml"), &rc)?;
    let mut apps = Vec::new();
    for (i, l) in levels.iter().enumerate() {
        let (app_redis, app_replica) = level_redis(l)?;
        let (floor_redis, floor_replica) = level_redis(l)?;
        let d = dir.join(format!("level-{i}"));
        std::fs::create_dir_all(d.join("floor"))?;
        let floor =
            Up::new("crates/bench/spin.toml", &d.join("floor"), vec![("redis_address".into(), floor_redis.url())])
                .start(spin);
        let vars = vars(&app_redis).into_iter().chain([("durability".to_owned(), l.level.to_owned())]).collect();
        let front = Up::new("spin.toml", &d, vars)
            .runtime_config(rc.clone())
            .components(&["order-api", "order-reader", "invoice-api", "pipeline-api"])
            .start(spin);
        apps.push((front, floor, [app_redis, floor_redis], [app_replica, floor_replica]));
    }
    // Per level: (order-api, its floor) per round.
    let mut runs: Vec<Vec<(Load, Load)>> = vec![Vec::new(); levels.len()];
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        for (i, l) in levels.iter().enumerate() {
            let (front, floor, _, _) = &apps[i];
            eprintln!("{} on {}: the floor, then order-api ...", l.level, l.redis);
            let floor_load = wrk(&format!("{}/floor", floor.base()), seconds, connections, &script)?;
            let load = wrk(&format!("{}/order", front.base()), seconds, connections, &script)?;
            ensure!(load.not_2xx == 0, "{}: {} answers were not 2xx", l.level, load.not_2xx);
            runs[i].push((load, floor_load));
        }
    }
    let mut out = format!(
        "## What each durability level costs, on the real Spin CLI\n\n{version}; `wrk -t2 -c{connections} \
         -d{seconds}s`, {rounds} rounds; each level is the app's HTTP front on a Redis of its own, its `/order` \
         load right after a load of the durable floor on a second Redis set up the same way (no consumers \
         run){}.\n\n\
         | `durability` | Redis | order-api req/s | × its floor | p50 ms (the floor's) | p99 ms (the floor's) |\n\
         |---|---|---|---|---|---|\n",
        if valkey { "" } else { "; no Valkey (`VALKEY_SERVER`), so no `WAITAOF` row" }
    );
    for (i, l) in levels.iter().enumerate() {
        let r = &runs[i];
        let col = |f: fn(&(Load, Load)) -> f64, digits: usize| range(&r.iter().map(f).collect::<Vec<_>>(), digits);
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} ({}) | {} ({}) |\n",
            l.level,
            l.redis,
            col(|x| x.0.rps, 0),
            col(|x| x.0.rps / x.1.rps, 2),
            col(|x| x.0.p50_ms, 1),
            col(|x| x.1.p50_ms, 1),
            col(|x| x.0.p99_ms, 1),
            col(|x| x.1.p99_ms, 1),
        ));
    }
    drop(apps);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

/// Until both groups have acknowledged `n` orders with nothing waiting: how long each
/// took from now (invoice-writer, order-writer).
fn drained(client: &Client, n: u64) -> Result<(f64, f64)> {
    let start = Instant::now();
    let mut done: [Option<f64>; 2] = [None, None];
    loop {
        let status = pipeline(client)?;
        for (i, group) in ["invoice-writer", "order-writer"].iter().enumerate() {
            let g = status["groups"].as_array().and_then(|gs| gs.iter().find(|g| g["group"] == *group).cloned());
            if let Some(g) = g.filter(|g| g["lag"] == 0 && g["pending"] == 0 && g["acked"].as_u64() >= Some(n)) {
                ensure!(g["dead_letters"] == 0, "dead letters: {g}");
                done[i].get_or_insert(start.elapsed().as_secs_f64());
            }
        }
        if let [Some(invoices), Some(orders)] = done {
            return Ok((invoices, orders));
        }
        ensure!(start.elapsed() < Duration::from_secs(300), "the backlog did not drain: {status}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the invoice bucket costs invoice-writer against the key-value store: the same
/// backlog of `BENCH_INVOICE_ORDERS` (default 10,000) orders, posted with the consumers
/// stopped, drained once they are back and rung, with the invoices in `invoices`
/// (SQLite), in an S3 bucket (`s3s-fs` on loopback, SigV4 checked), and in that bucket
/// answering 20 ms late (a bucket across a network), in turn, in `BENCH_ROUNDS` rounds.
/// order-writer drains the same backlog beside it each time.
pub fn invoice_stores(spin: &Path) -> Result<String> {
    use spin_test_host::s3_server::S3Server;
    let version = spin_cli::version(spin).ok_or_else(|| anyhow!("{} is not a Spin CLI", spin.display()))?;
    let (rounds, n) = (env_usize("BENCH_ROUNDS", 2), env_usize("BENCH_INVOICE_ORDERS", 10_000));
    ensure!(rounds > 0 && n > 0, "BENCH_ROUNDS and BENCH_INVOICE_ORDERS must be at least 1");
    let dir = scratch()?;
    let mut times: [Vec<(f64, f64)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, store) in ["kv", "s3", "s3-20ms"].iter().enumerate() {
            eprintln!("round {} of {rounds}: invoices in {store} ...", round + 1);
            let redis = RedisServer::start();
            let latency = Duration::from_millis(if *store == "s3-20ms" { 20 } else { 0 });
            let s3 = S3Server::start_with_latency(latency);
            let extra: Vec<(String, String)> = match *store {
                "kv" => Vec::new(),
                _ => s3.variables().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            };
            let app_dir = dir.join(format!("{store}-{round}"));
            let (front, mut consumers) = start_app_with(spin, &redis, &app_dir, &extra)?;
            let client = Client::new(&front.base(), Duration::from_secs(30));
            consumers.kill();
            let opts = order_cli::post::Options {
                path: "/order".into(),
                count: n,
                concurrency: env_usize("BENCH_CONCURRENCY", 32),
                prefix: format!("{store}{round}-"),
                verify: false,
                deadline: Duration::from_secs(300),
                progress: false,
            };
            let report = order_cli::post::run(&client, &opts);
            ensure!(report.accepted == n, "{store}: {report}");
            consumers.restart();
            ring(&front)?;
            let (invoices, orders) = drained(&client, n as u64)?;
            if *store != "kv" {
                ensure!(s3.keys("invoices/").len() == n, "{} objects for {n} orders", s3.keys("invoices/").len());
            }
            times[i].push((invoices, orders));
            drop((front, consumers));
        }
    }
    let col = |i: usize, f: fn(&(f64, f64)) -> f64| range(&times[i].iter().map(f).collect::<Vec<_>>(), 2);
    let ratio = |i: usize| -> String {
        range(&times[i].iter().zip(&times[0]).map(|(s3, kv)| s3.0 / kv.0).collect::<Vec<_>>(), 2)
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "## The invoice bucket against the key-value store\n\n{version}; a backlog of {n} orders posted \
         with the consumers stopped, then drained from the ring, {rounds} rounds, the two stores in turn \
         (the app as `scripts/run` runs it; the bucket is `s3s-fs` on loopback, every request's SigV4 \
         checked).\n\n\
         | invoices in | invoice-writer drained (s) | order-writer drained (s) | invoice-writer × key-value |\n\
         |---|---|---|---|\n\
         | `invoices` key-value store (SQLite) | {} | {} | 1 |\n\
         | S3 bucket, loopback | {} | {} | {} |\n\
         | S3 bucket, every answer 20 ms late | {} | {} | {} |\n",
        col(0, |t| t.0),
        col(0, |t| t.1),
        col(1, |t| t.0),
        col(1, |t| t.1),
        ratio(1),
        col(2, |t| t.0),
        col(2, |t| t.1),
        ratio(2),
    ))
}

/// `variables`: the same app and floor given their variables two ways, in one run: in
/// the environment (`SPIN_VARIABLE_*`, Spin's environment provider, asked last) and
/// through Spin's static provider (`--variable @file` with every variable, asked first),
/// as every wiring now gives them. Per round and way: the durable floor, then order-api
/// with no consumer on these cores (consumers elsewhere); then, the static way, order-api
/// again with the consumers draining beside it.
pub fn variables(spin: &Path) -> Result<String> {
    let Run { version, rounds, seconds, connections, dir, script } = Run::prepare(spin)?;
    let rc = dir.join("runtime-config.toml");
    std::fs::copy(workspace_root().join("runtime-config.toml"), &rc)?;
    let ways = [
        (Variables::Environment, "in the environment (`SPIN_VARIABLE_*`)"),
        (Variables::StaticFile, "static provider (`--variable @file`)"),
    ];
    let front_components = ["order-api", "order-reader", "invoice-api", "pipeline-api"];
    let mut apps = Vec::new();
    for (i, (way, _)) in ways.iter().enumerate() {
        let (app_redis, floor_redis) = (RedisServer::start(), RedisServer::start());
        let d = dir.join(format!("way-{i}"));
        std::fs::create_dir_all(d.join("floor"))?;
        std::fs::create_dir_all(d.join("consumers"))?;
        let floor =
            Up::new("crates/bench/spin.toml", &d.join("floor"), vec![("redis_address".into(), floor_redis.url())])
                .variables(*way)
                .start(spin);
        let front = Up::new("spin.toml", &d, vars(&app_redis))
            .variables(*way)
            .runtime_config(rc.clone())
            .components(&front_components)
            .start(spin);
        apps.push((front, floor, app_redis, floor_redis, d));
    }
    // The static way's consumers, started for the draining load only.
    let (static_front, _, static_redis, _, static_dir) = &apps[1];
    let mut consumers = Up::new("spin.toml", &static_dir.join("consumers"), vars(static_redis))
        .runtime_config(rc.clone())
        .components(&["order-writer", "invoice-writer"])
        .consumers_only()
        .subscribed(&static_redis.url(), "orders", 1)
        .start(spin);
    consumers.kill();
    let client = Client::new(&static_front.base(), Duration::from_secs(30));
    // Per way and round: (the floor, order-api with no consumer); and the draining loads.
    let mut runs: Vec<Vec<(Load, Load)>> = vec![Vec::new(); ways.len()];
    let mut draining = Vec::new();
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        for (i, (_, name)) in ways.iter().enumerate() {
            let (front, floor, _, _, _) = &apps[i];
            eprintln!("variables {name}: the floor, then order-api ...");
            let floor_load = wrk(&format!("{}/floor", floor.base()), seconds, connections, &script)?;
            let load = wrk(&format!("{}/order", front.base()), seconds, connections, &script)?;
            ensure!(load.not_2xx == 0, "{name}: {} answers were not 2xx", load.not_2xx);
            runs[i].push((floor_load, load));
        }
        eprintln!("static provider: order-api with the consumers draining ...");
        consumers.restart();
        ring(static_front)?;
        settle(&client)?;
        let load = wrk(&format!("{}/order", static_front.base()), seconds, connections, &script)?;
        ensure!(load.not_2xx == 0, "draining: {} answers were not 2xx", load.not_2xx);
        draining.push(load);
        settle(&client)?;
        consumers.kill();
    }
    let col = |values: Vec<f64>, digits: usize| range(&values, digits);
    let mut out = format!(
        "## Variables through Spin's static provider, on the real Spin CLI\n\n{version}; `wrk -t2 -c{connections} \
         -d{seconds}s`, {rounds} rounds; each way is the durable floor and the app's HTTP front, each on a Redis of \
         its own, started with the same variables given that way; order-api with no consumer on these cores \
         (consumers elsewhere), then, the static way, with the consumers draining beside it.\n\n\
         | variables | the floor req/s | order-api req/s | × its floor | p50 ms (the floor's) | p99 ms (the floor's) |\n\
         |---|---|---|---|---|---|\n"
    );
    for (i, (_, name)) in ways.iter().enumerate() {
        let r = &runs[i];
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} ({}) | {} ({}) |\n",
            col(r.iter().map(|x| x.0.rps).collect(), 0),
            col(r.iter().map(|x| x.1.rps).collect(), 0),
            col(r.iter().map(|x| x.1.rps / x.0.rps).collect(), 2),
            col(r.iter().map(|x| x.1.p50_ms).collect(), 1),
            col(r.iter().map(|x| x.0.p50_ms).collect(), 1),
            col(r.iter().map(|x| x.1.p99_ms).collect(), 1),
            col(r.iter().map(|x| x.0.p99_ms).collect(), 1),
        ));
    }
    let s = &runs[1];
    out.push_str(&format!(
        "| static provider, consumers draining on the same cores | {} | {} | {} | {} ({}) | {} ({}) |\n\n",
        col(s.iter().map(|x| x.0.rps).collect(), 0),
        col(draining.iter().map(|l| l.rps).collect(), 0),
        col(draining.iter().zip(s).map(|(l, x)| l.rps / x.0.rps).collect(), 2),
        col(draining.iter().map(|l| l.p50_ms).collect(), 1),
        col(s.iter().map(|x| x.0.p50_ms).collect(), 1),
        col(draining.iter().map(|l| l.p99_ms).collect(), 1),
        col(s.iter().map(|x| x.0.p99_ms).collect(), 1),
    ));
    let (e, st) = (&runs[0], &runs[1]);
    out.push_str(&format!(
        "The static provider against the environment, per round: order-api (consumers elsewhere) {}× the req/s, \
         {}× the p99; the floor {}× the req/s.\n",
        col(st.iter().zip(e).map(|(s, e)| s.1.rps / e.1.rps).collect(), 2),
        col(st.iter().zip(e).map(|(s, e)| s.1.p99_ms / e.1.p99_ms).collect(), 2),
        col(st.iter().zip(e).map(|(s, e)| s.0.rps / e.0.rps).collect(), 2),
    ));
    Ok(out)
}

/// Whether every group on `server` has delivered and acknowledged everything (`XINFO
/// GROUPS`: lag 0, nothing pending), and how many orders it accepted.
fn partition_settled(server: &RedisServer) -> Result<(bool, u64)> {
    let mut conn = server.client().get_connection()?;
    let accepted: Option<u64> = redis::cmd("HGET").arg("orders:stream:stats").arg("accepted").query(&mut conn)?;
    let groups: Vec<HashMap<String, redis::Value>> =
        redis::cmd("XINFO").arg("GROUPS").arg("orders:stream").query(&mut conn).unwrap_or_default();
    let int = |g: &HashMap<String, redis::Value>, k: &str| match g.get(k) {
        Some(redis::Value::Int(n)) => Some(*n),
        _ => None,
    };
    let done = groups.len() == 2 && groups.iter().all(|g| int(g, "lag") == Some(0) && int(g, "pending") == Some(0));
    Ok((done || accepted.is_none(), accepted.unwrap_or(0)))
}

/// Waits until every partition on `servers` has delivered and acknowledged everything;
/// how long that took.
fn wait_settled(servers: &[RedisServer]) -> Result<Duration> {
    let started = Instant::now();
    while !servers.iter().map(partition_settled).collect::<Result<Vec<_>>>()?.iter().all(|(done, _)| *done) {
        ensure!(started.elapsed() < Duration::from_secs(120), "{} partition(s) did not settle", servers.len());
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(started.elapsed())
}

/// `scripts/bench partitions`: the app over one partition and over three (each its own
/// front, consumers and Redis servers), every `/order` load right after a load of the
/// durable floor, in rounds: what each costs Spin and each Redis, and how long the
/// consumers take to store a load after it ends.
pub fn partitions(spin: &Path) -> Result<String> {
    let Run { version, rounds, seconds, connections, dir, script } = Run::prepare(spin)?;
    let (baseline_redis, baselines) = start_baselines(spin, &dir)?;
    let floor_url = format!("{}/floor", baselines.base());
    let mut apps = Vec::new();
    for p in [1usize, 3] {
        let servers: Vec<RedisServer> = (0..p).map(|_| RedisServer::start()).collect();
        let mut extra = vec![(
            "partition_addresses".to_owned(),
            servers[1..].iter().map(RedisServer::url).collect::<Vec<_>>().join(","),
        )];
        extra.extend(servers.iter().enumerate().skip(1).map(|(i, s)| (format!("partition{i}_host"), s.host())));
        let (front, consumers) = start_app_with(spin, &servers[0], &dir.join(format!("app-{p}")), &extra)?;
        apps.push((p, servers, front, consumers));
    }
    /// One variant's round.
    #[derive(Clone)]
    struct Round {
        load: Load,
        floor: Load,
        /// Each partition's Redis CPU µs per order of the whole load.
        redis_us: Vec<f64>,
        consumers_us: f64,
        drained_s: f64,
        /// Each partition's Redis CPU µs per order of a load with the consumers stopped
        /// (the publish side), then of its drain once they are started again (the consume side).
        publish_us: Vec<f64>,
        consume_us: Vec<f64>,
    }
    let mut runs: Vec<Vec<Round>> = vec![Vec::new(); apps.len()];
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        for (i, (p, servers, front, consumers)) in apps.iter_mut().enumerate() {
            eprintln!("floor, then {p} partition(s) ...");
            let (spin_cpu, redis_cpu) = (baselines.cpu(), baseline_redis.cpu());
            let mut floor = wrk(&floor_url, seconds, connections, &script)?;
            floor.spin_us = per_request(baselines.cpu().saturating_sub(spin_cpu), floor.requests);
            floor.redis_us = per_request(baseline_redis.cpu().saturating_sub(redis_cpu), floor.requests);
            let before: Vec<Duration> = servers.iter().map(RedisServer::cpu).collect();
            let (spin_cpu, consumers_cpu) = (front.cpu(), consumers.cpu());
            let mut load = wrk(&format!("{}/order", front.base()), seconds, connections, &script)?;
            ensure!(load.not_2xx == 0, "{p} partition(s): {} answers were not 2xx", load.not_2xx);
            load.spin_us = per_request(front.cpu().saturating_sub(spin_cpu), load.requests);
            let drained_s = wait_settled(servers)?.as_secs_f64();
            let redis_us = servers
                .iter()
                .zip(&before)
                .map(|(s, b)| per_request(s.cpu().saturating_sub(*b), load.requests))
                .collect::<Vec<_>>();
            load.redis_us = redis_us.iter().sum();
            let consumers_us = per_request(consumers.cpu().saturating_sub(consumers_cpu), load.requests);
            // The two sides apart: a load with the consumers stopped, then its drain.
            eprintln!("{p} partition(s): publish, then consume ...");
            consumers.kill();
            let before: Vec<Duration> = servers.iter().map(RedisServer::cpu).collect();
            let publish = wrk(&format!("{}/order", front.base()), seconds, connections, &script)?;
            ensure!(publish.not_2xx == 0, "{p} partition(s): {} answers were not 2xx", publish.not_2xx);
            let cpu_per_order = |before: &[Duration]| -> Vec<f64> {
                servers
                    .iter()
                    .zip(before)
                    .map(|(s, b)| per_request(s.cpu().saturating_sub(*b), publish.requests))
                    .collect()
            };
            let publish_us = cpu_per_order(&before);
            consumers.restart();
            let before: Vec<Duration> = servers.iter().map(RedisServer::cpu).collect();
            ring(front)?;
            wait_settled(servers)?;
            let consume_us = cpu_per_order(&before);
            runs[i].push(Round { load, floor, redis_us, consumers_us, drained_s, publish_us, consume_us });
        }
    }
    let accepted: Vec<u64> = apps
        .iter()
        .map(|(_, servers, _, _)| servers.iter().map(|s| partition_settled(s).map(|(_, n)| n).unwrap_or(0)).sum())
        .collect();
    let mut out = format!(
        "## One partition and three, on the real Spin CLI\n\n{version}; `wrk -t2 -c{connections} -d{seconds}s`, \
         {rounds} rounds; each variant is the app as `scripts/run` runs it (front and consumers as two `spin up` \
         processes, SQLite stores), its topic on its own Redis server(s) (`partition_addresses`), its `/order` \
         load right after a load of the durable floor, its consumers draining meanwhile. Redis CPU is each \
         server's `INFO cpu`, per order of the whole load. Orders accepted in all: {} (one partition), {} \
         (three), every one acknowledged by both groups on every partition.\n\n\
         | partitions | order-api req/s | × the floor run before it | p99 ms (the floor's) | `spin up` CPU µs per \
         `POST` | Redis CPU µs per order, each partition | Redis CPU µs per order, all | the consumers' CPU µs \
         per order | all stored, s after the load |\n|---|---|---|---|---|---|---|---|---|\n",
        accepted[0], accepted[1]
    );
    for (i, (p, ..)) in apps.iter().enumerate() {
        let r = &runs[i];
        let col = |f: &dyn Fn(&Round) -> f64, digits: usize| range(&r.iter().map(f).collect::<Vec<_>>(), digits);
        let each = (0..*p).map(|k| col(&|x: &Round| x.redis_us[k], 0)).collect::<Vec<_>>().join(" / ");
        out.push_str(&format!(
            "| {p} | {} | {} | {} ({}) | {} | {each} | {} | {} | {} |\n",
            col(&|x| x.load.rps, 0),
            col(&|x| x.load.rps / x.floor.rps, 2),
            col(&|x| x.load.p99_ms, 1),
            col(&|x| x.floor.p99_ms, 1),
            col(&|x| x.load.spin_us, 0),
            col(&|x| x.load.redis_us, 0),
            col(&|x| x.consumers_us, 0),
            col(&|x| x.drained_s, 2),
        ));
    }
    out.push_str(
        "\nThe two sides apart, in the same rounds: each `/order` load again with the consumers' process \
         stopped (the publish side: order-api's script and its durability check), then its drain once they are \
         started again and rung (the consume side: claims, acknowledgements, bells, timers).\n\n\
         | partitions | publish: Redis CPU µs per order, each partition | consume: Redis CPU µs per order, each \
         partition | publish + consume, all partitions |\n|---|---|---|---|\n",
    );
    for (i, (p, ..)) in apps.iter().enumerate() {
        let r = &runs[i];
        let col = |f: &dyn Fn(&Round) -> f64| range(&r.iter().map(f).collect::<Vec<_>>(), 0);
        let each = |f: &dyn Fn(&Round, usize) -> f64| {
            (0..*p).map(|k| col(&|x: &Round| f(x, k))).collect::<Vec<_>>().join(" / ")
        };
        out.push_str(&format!(
            "| {p} | {} | {} | {} |\n",
            each(&|x, k| x.publish_us[k]),
            each(&|x, k| x.consume_us[k]),
            col(&|x| x.publish_us.iter().chain(&x.consume_us).sum()),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as `wrk -t2 -c32 -d10s --latency` prints it.
    const REPORT: &str = "Running 10s test @ http://127.0.0.1:3000/order
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    22.61ms    5.40ms  80.12ms   75.01%
    Req/Sec   711.49     60.22   840.00     71.00%
  Latency Distribution
     50%   21.94ms
     75%   24.80ms
     90%   28.51ms
     99%    1.02s
  14176 requests in 10.01s, 11.73MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1416.20
Transfer/sec:      1.17MB
";

    #[test]
    fn reads_a_wrk_report() {
        let load = parse_wrk(REPORT).unwrap();
        assert_eq!((load.rps, load.p50_ms, load.p99_ms), (1416.20, 21.94, 1020.0));
        assert_eq!((load.requests, load.not_2xx), (14176, 3));
    }

    #[test]
    fn a_report_without_its_request_count_is_not_read() {
        let cut: String = REPORT.lines().filter(|l| !l.contains("requests in")).map(|l| format!("{l}\n")).collect();
        assert!(parse_wrk(&cut).is_none());
    }

    #[test]
    fn cpu_per_request_in_microseconds() {
        assert_eq!(per_request(Duration::from_millis(900), 1000), 900.0);
        assert_eq!(per_request(Duration::from_millis(5), 0), 5000.0, "no request: the whole time, not a division by 0");
    }
}
