//! The hosted wiring (`deploy/fermyon-cloud/spin.toml`): the same `.wasm` files, HTTP
//! triggers only, on the test host as the hosted platforms run it: no Redis trigger at
//! all, stores by label, self-requests to the app's own routes. Consumers are woken
//! only by calls of their drain endpoints: order-api's after an order, a drain's
//! handover, and, where a test needs one, a scheduler calling them as Akamai's cron
//! would (`spin aka cron create --schedule ... --path-and-query /drain/<group>`).

use std::sync::atomic::Ordering;

use super::*;
use spin_test_host::Platform;

pub const DRAIN: &str = "drain-0123456789abcdef";

pub fn hosted_manifest() -> std::path::PathBuf {
    spin_test_host::workspace_root().join("deploy/fermyon-cloud/spin.toml")
}

pub fn hosted_vars(redis: &RedisServer, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut v = vars(redis, &[("drain_token", DRAIN)]);
    v.extend(extra.iter().map(|(k, val)| (k.to_string(), val.to_string())));
    v
}

pub fn hosted_app(redis: &RedisServer, extra: &[(&str, &str)]) -> Arc<App> {
    load(Options {
        variables: hosted_vars(redis, extra),
        manifest: Some(hosted_manifest()),
        platform: Platform::Hosted,
        ..Options::default()
    })
}

/// Calls a group's drain endpoint with the drain token, as a scheduler does.
async fn call_drain(app: &Arc<App>, group: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    call(app, "POST", &format!("/drain/{group}"), &headers, Bytes::new()).await
}

/// A scheduler calling both drain endpoints every `every` until dropped: what an
/// operator sets up on Akamai Functions (`spin aka cron`) or any cron.
struct Scheduler(tokio::task::JoinHandle<()>);

impl Scheduler {
    fn start(app: &Arc<App>, every: Duration) -> Scheduler {
        let app = app.clone();
        Scheduler(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                for g in ["order-writer", "invoice-writer"] {
                    assert_eq!(call_drain(&app, g, Some(DRAIN)).await.status, 202);
                }
            }
        }))
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The messages a consumer handled (its drain endpoint's request lines left out).
fn messages(app: &App, component: &str) -> Vec<serde_json::Value> {
    log_lines(app, component).into_iter().filter(|l| l["event"] == "message").collect()
}

fn denials(app: &App) -> Vec<String> {
    app.stats.denials.lock().unwrap().clone()
}

#[test]
fn the_hosted_manifest_passes_the_platform_rules_and_spin_toml_does_not() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[]);
    assert!(app.manifest.redis_subscriptions.is_empty() && app.manifest.trigger_types == ["http"]);

    let refused = |manifest: std::path::PathBuf| {
        App::load(Options {
            variables: hosted_vars(&redis, &[]),
            manifest: Some(manifest),
            platform: Platform::Hosted,
            ..Options::default()
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
    };
    assert_eq!(
        refused(spin_test_host::workspace_root().join("spin.toml")),
        "Non-HTTP triggers are not supported - app uses 'redis'"
    );
    let hosted_text = std::fs::read_to_string(hosted_manifest()).unwrap();
    let edited = |edit: &dyn Fn(&str) -> String| {
        let dir = std::env::temp_dir().join(format!("hosted-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = spin_test_host::workspace_root();
        let text = hosted_text.replace("source = \"../../target/", &format!("source = \"{}/target/", root.display()));
        std::fs::write(dir.join("spin.toml"), edit(&text)).unwrap();
        dir.join("spin.toml")
    };
    let chaining = edited(&|t| t.replacen(r#""http://self"]"#, r#""http://order-reader.spin.internal"]"#, 1));
    assert_eq!(
        refused(chaining),
        "This app requires features that are not yet available on Fermyon Cloud: local_service_chaining"
    );
    let duplicate = edited(&|t| t.replace("route = \"/drain/invoice-writer\"", "route = \"/drain/order-writer\""));
    assert!(refused(duplicate).contains("duplicate routes"));
    let with_runtime_config = edited(&|t| t.to_owned());
    std::fs::write(with_runtime_config.with_file_name("runtime-config.toml"), "").unwrap();
    assert!(refused(with_runtime_config).contains("no runtime config"));
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The hosted wiring runs the very files `spin build` makes for `spin.toml`, lists every
/// variable it needs, and the deploy commands (`docs/deploying.md`) set every required one.
#[test]
fn the_hosted_manifest_wires_the_same_builds_and_documents_its_variables() {
    let root = spin_test_host::workspace_root();
    let doc = |p: &std::path::Path| -> toml::Value { toml::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (local, hosted) = (doc(&root.join("spin.toml")), doc(&hosted_manifest()));
    for (id, c) in hosted["component"].as_table().unwrap() {
        assert!(c.get("build").is_none(), "{id}: the hosted manifest builds nothing of its own");
        let source = hosted_manifest().parent().unwrap().join(c["source"].as_str().unwrap());
        let local_source = root.join(local["component"][id]["source"].as_str().unwrap());
        assert_eq!(
            source.canonicalize().unwrap(),
            local_source.canonicalize().unwrap(),
            "{id}: the same .wasm as spin.toml's"
        );
    }
    let text = std::fs::read_to_string(hosted_manifest()).unwrap();
    let page = std::fs::read_to_string(root.join("docs/deploying.md")).unwrap();
    let deploy = page
        .split("\n## Fermyon Cloud and Akamai Functions")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/deploying.md has the hosted section");
    for (id, c) in hosted["component"].as_table().unwrap() {
        for label in c.get("key_value_stores").and_then(|l| l.as_array()).into_iter().flatten() {
            let label = label.as_str().unwrap();
            assert!(
                deploy.contains(&format!("--link kv:{label}=")),
                "the deploy commands do not link `{label}` ({id})"
            );
        }
    }
    // Every deploy command (each platform's, and each step's), with its continued lines.
    let commands: Vec<String> = ["spin cloud deploy -f", "spin aka deploy -f"]
        .iter()
        .flat_map(|start| deploy.match_indices(start).map(|(i, _)| i))
        .map(|i| {
            let mut command = String::new();
            for line in deploy[i..].lines() {
                command.push_str(line);
                command.push('\n');
                if !line.trim_end().ends_with('\\') {
                    break;
                }
            }
            command
        })
        .collect();
    assert!(commands.len() >= 3, "{commands:?}");
    for (name, spec) in hosted["variables"].as_table().unwrap() {
        assert!(text.contains(&format!("{{{{ {name} }}}}")), "variable `{name}` is declared but no component uses it");
        if spec.get("default").is_none() {
            for command in &commands {
                assert!(command.contains(&format!("--variable {name}=")), "{command}\ndoes not set `{name}`");
            }
        }
        let line = text.lines().position(|l| l.starts_with(&format!("{name} ="))).unwrap();
        let previous = text.lines().nth(line - 1).unwrap();
        assert!(
            previous.starts_with('#') || spec.get("default").is_some(),
            "required variable `{name}` has no comment saying what it is for"
        );
    }
}

/// The README's walkthrough, verbatim, against the hosted wiring, with no Redis trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_walkthrough_works_as_written() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[]);
    super::readme::run_walkthrough(&app).await;
    // The live page is there too, and shows the schedule in place of the retry clock.
    let page = call(&app, "GET", "/", &[], Bytes::new()).await;
    assert_eq!((page.status, page.header("content-type")), (200, Some("text/html; charset=utf-8")));
    assert_eq!(get(&app, "/pipeline").await.json()["retry_clock"]["state"], "scheduled");
    assert_eq!(denials(&app), Vec::<String>::new(), "every store and host a component used is declared");
    assert!(app.stats.self_requests.load(Ordering::Relaxed) >= 2, "order-api rang both groups over HTTP");
    assert_no_secrets(&app, &[DRAIN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_endpoints_are_closed() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[]);
    let refusals = [
        call_drain(&app, "order-writer", None).await,
        call_drain(&app, "order-writer", Some("wrong-0123456789abcdef")).await,
        call_drain(&app, "invoice-writer", Some(&format!("{DRAIN}x"))).await,
        call(&app, "POST", "/drain/order-writer", &[("authorization", &format!("Basic {DRAIN}"))], Bytes::new()).await,
    ];
    for r in &refusals {
        assert_problem(r, 401, None, "a drain call without the drain token");
        assert_eq!(r.body, refusals[0].body, "every failure gets the same answer");
    }
    let put = call(&app, "PUT", "/drain/order-writer", &[("authorization", &format!("Bearer {DRAIN}"))], "").await;
    assert_problem(&put, 405, None, "PUT /drain");
    let by_query = call(&app, "GET", &format!("/drain/order-writer?token={DRAIN}"), &[], "").await;
    assert_eq!(by_query.status, 202, "a scheduler that sets only a path and query: {}", by_query.text());
    let big =
        call(&app, "POST", "/drain/order-writer", &[("authorization", &format!("Bearer {DRAIN}"))], vec![b'x'; 70_000])
            .await;
    assert_problem(&big, 413, None, "an oversize body");
    // No token configured: the same 401 as a wrong one, never a drain.
    let unset = hosted_app(&redis, &[("drain_token", "short")]);
    let r = call_drain(&unset, "order-writer", Some("short")).await;
    assert_eq!((r.status, &r.body), (401, &refusals[0].body));
    assert_no_secrets(&app, &[DRAIN]);
}

/// 10,000 orders through the listener with no Redis trigger: every one in both stores,
/// once, and the doorbell over HTTP cost a handful of self-requests, not 10,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_ten_thousand_orders_none_lost_none_duplicated() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[]);
    let (addr, _listener) = app.listen(0).await.unwrap();

    let report = super::burst::post_all(addr, super::burst::ORDERS, true).await;
    eprintln!("hosted: orders post -n {} --verify:\n{report}", super::burst::ORDERS);
    assert!(report.complete(), "{report}");

    let mut orders = store_keys(&app, "orders");
    orders.sort();
    let mut expected: Vec<String> = (0..super::burst::ORDERS).map(|i| format!("b-a{i}#b-v{i}")).collect();
    expected.sort();
    assert_eq!(orders, expected, "every order, each once");
    assert_eq!(invoice_documents(&app), super::burst::ORDERS);
    for (c, outcome) in [("order-writer", "stored"), ("invoice-writer", "invoiced")] {
        eventually(Duration::from_secs(10), "the log lines", || messages(&app, c).len() >= super::burst::ORDERS).await;
        let lines = messages(&app, c);
        assert_eq!(lines.len(), super::burst::ORDERS, "{c}: one delivery per order");
        assert!(lines.iter().all(|l| l["outcome"] == outcome && l["deliveries"] == 1), "{c}");
    }
    let self_requests = app.stats.self_requests.load(Ordering::Relaxed);
    eprintln!("hosted: {self_requests} self-requests for {} orders", super::burst::ORDERS);
    assert!(self_requests <= 100, "{self_requests} self-requests: the doorbell is not coalesced");
    assert_eq!(app.stats.handler_failures.load(Ordering::Relaxed), 0);
    assert_eq!(denials(&app), Vec::<String>::new());
}

/// A store write that fails twice is retried with no new order: the scheduled call of
/// the drain endpoint brings it back once its visibility timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_consumer_that_fails_twice_recovers_on_the_schedule() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[("visibility_timeout_ms", "300")]);
    app.kv.poison_keys_times("orders", "a0#v0", 2);
    let _scheduler = Scheduler::start(&app, Duration::from_millis(200));
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "the order stored after two failures", || {
        messages(&app, "order-writer").iter().any(|l| l["outcome"] == "stored")
    })
    .await;
    assert!(stored(&app, "orders", "a0#v0").is_some());
    let outcomes: Vec<_> =
        messages(&app, "order-writer").iter().map(|l| l["outcome"].as_str().unwrap().to_owned()).collect();
    assert_eq!(outcomes, ["will-retry", "will-retry", "stored"]);
    eventually(Duration::from_secs(5), "its invoice", || invoice_documents(&app) == 1).await;
}

/// Orders keep being accepted while the order store fails; none is lost or
/// dead-lettered, and all are stored once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_orders_posted_while_draining_fails_are_all_stored() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[("visibility_timeout_ms", "300"), ("max_deliveries", "100")]);
    app.kv.poison_keys("orders", "#");
    for i in 0..50 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    eventually(Duration::from_secs(10), "every invoice (that store is fine)", || invoice_documents(&app) == 50).await;
    assert_eq!(store_count(&app, "orders", ""), 0);
    app.kv.heal();
    let _scheduler = Scheduler::start(&app, Duration::from_millis(200));
    let stored = || messages(&app, "order-writer").iter().filter(|l| l["outcome"] == "stored").count();
    eventually(Duration::from_secs(10), "every order stored", || stored() >= 50).await;
    assert_eq!(store_count(&app, "orders", ""), 50);
    let status = get(&app, "/pipeline").await.json();
    for g in status["groups"].as_array().unwrap() {
        assert_eq!(g["dead_letters"], 0, "{status}");
    }
    assert_eq!(stored(), 50, "each order stored once");
}

/// A dead letter redriven on the hosted wiring is stored: pipeline-api rings the
/// group's drain endpoint itself. `GET /pipeline` says how retries come there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_redrive_and_doorbell_call_the_drain_endpoints() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[("max_deliveries", "1"), ("visibility_timeout_ms", "100")]);
    app.kv.poison_keys_times("orders", "a0#v0", 1);
    let scheduler = Scheduler::start(&app, Duration::from_millis(200));
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    let dead = || async {
        let status = get(&app, "/pipeline").await.json();
        let groups = status["groups"].as_array().cloned().unwrap_or_default();
        groups.iter().find(|g| g["group"] == "order-writer").and_then(|g| g["dead_letters"].as_u64()).unwrap_or(0)
    };
    let start = Instant::now();
    while dead().await != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the order never reached the dead letters: {}\n{}",
            get(&app, "/pipeline").await.text(),
            app.logs("order-writer")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(scheduler);
    let status = get(&app, "/pipeline").await.json();
    assert_eq!(status["retry_clock"]["state"], "scheduled", "{status}");
    let auth = format!("Bearer {ADMIN}");
    let redrive = call(&app, "POST", "/pipeline/redrive?group=order-writer", &[("authorization", &auth)], "").await;
    assert_eq!(redrive.json()["redriven"], 1);
    eventually(Duration::from_secs(10), "the redriven order stored", || {
        messages(&app, "order-writer").iter().any(|l| l["outcome"] == "stored")
    })
    .await;
    let rings = all_log_lines(&app, "pipeline-api").into_iter().filter(|l| l["event"] == "doorbell").count();
    assert_eq!(rings, 1, "pipeline-api rang order-writer's drain endpoint once");

    let doorbell = call(&app, "POST", "/pipeline/doorbell", &[("authorization", &auth)], "").await;
    assert_eq!(doorbell.status, 202, "{}", doorbell.text());
    assert_eq!(doorbell.json()["rung"], serde_json::json!(["order-writer", "invoice-writer"]));
    eventually(Duration::from_secs(5), "both drain endpoints called", || {
        all_log_lines(&app, "pipeline-api").iter().filter(|l| l["event"] == "doorbell" && l["outcome"] == "ok").count()
            == 3
    })
    .await;
}

/// A drain that spends its budget hands over to a fresh invocation by calling its own
/// endpoint, and nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_drain_hands_over_when_its_budget_is_spent() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[("drain_budget_ms", "5"), ("order_writer_batch_size", "10")]);
    let (addr, _listener) = app.listen(0).await.unwrap();
    let report = super::burst::post_all(addr, 2_000, true).await;
    assert!(report.complete(), "{report}");
    assert_eq!(store_count(&app, "orders", ""), 2_000);
    let handovers = all_log_lines(&app, "order-writer")
        .into_iter()
        .filter(|l| l["event"] == "doorbell" && l["outcome"] == "ok")
        .count();
    assert!(handovers > 0, "no drain handed over");
    assert_eq!(app.stats.handler_failures.load(Ordering::Relaxed), 0);
}

/// One scheduled call of `GET /pipeline/tick` (no token: it reveals and changes
/// nothing but a wake-up) replaces the two scheduled drain calls: pipeline-api calls the
/// drain endpoint of each group with work waiting, and of no other, so an idle app
/// spends no outbound request on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_tick_calls_only_the_drain_endpoints_of_groups_with_work() {
    let redis = RedisServer::start();
    let app = hosted_app(&redis, &[("visibility_timeout_ms", "300")]);
    let rings = || all_log_lines(&app, "pipeline-api").into_iter().filter(|l| l["event"] == "doorbell").count();
    app.kv.poison_keys_times("orders", "a0#v0", 2);
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(5), "the invoice, and the order's first failure", || {
        invoice_documents(&app) == 1 && messages(&app, "order-writer").len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(stored(&app, "orders", "a0#v0").is_none(), "nothing retries it but a call");
    // The cron: `spin aka cron create --schedule ... --path-and-query /pipeline/tick`.
    let cron = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1_100)).await;
                assert_eq!(call(&app, "GET", "/pipeline/tick", &[], Bytes::new()).await.status, 200);
            }
        })
    };
    eventually(Duration::from_secs(10), "the order stored after two failures", || {
        stored(&app, "orders", "a0#v0").is_some()
    })
    .await;
    let called = all_log_lines(&app, "pipeline-api")
        .into_iter()
        .filter(|l| l["event"] == "doorbell")
        .map(|l| l["group"].as_str().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(called.into_iter().collect::<Vec<_>>(), ["order-writer"], "the invoice group had no work");
    // Caught up: the ticks go on, and call nothing.
    let settled = rings();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    cron.abort();
    assert_eq!(rings(), settled, "an idle app's ticks make no self-request");
}
