//! Least privilege: each component against a capability `spin.toml` does not give it,
//! and each built `.wasm` against its capability contract in `wit/`.

use super::*;
use spin_test_host::edited_manifest;

fn app_with(redis: &RedisServer, edit: impl FnOnce(String) -> String) -> Arc<App> {
    load(Options { variables: vars(redis, &[]), manifest: Some(edited_manifest(edit)), ..Options::default() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_api_without_outbound_redis_accepts_nothing() {
    let redis = RedisServer::start();
    let app = app_with(&redis, |m| {
        m.replace(
            r#"allowed_outbound_hosts = ["redis://{{ redis_host }}", "rediss://{{ redis_host }}", "#,
            "allowed_outbound_hosts = [",
        )
    });
    assert_problem(&post_order(&app, &order_body(0)).await, 503, None, "no outbound redis");
    assert_eq!(app.stats.redis_connections.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_api_cannot_reach_a_component_it_does_not_list() {
    let redis = RedisServer::start();
    let app = app_with(&redis, |m| m.replace(r#", "http://order-reader.spin.internal"]"#, "]"));
    assert_problem(&get(&app, "/order?accountid=a0&vendorid=v0").await, 503, None, "no chaining");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_and_writers_only_open_their_own_store() {
    let redis = RedisServer::start();
    // order-reader given the invoices store instead of orders: AccessDenied -> 503.
    let app = app_with(&redis, |m| {
        m.replace(
            "key_value_stores = [\"orders\"]\n[component.order-reader.variables]",
            "key_value_stores = [\"invoices\"]\n[component.order-reader.variables]",
        )
    });
    app.kv.set("orders", "a0#v0", b"{}".to_vec()).unwrap();
    let a = get(&app, "/order?accountid=a0&vendorid=v0").await;
    assert_problem(&a, 503, None, "reader without its store");
    assert!(a.json()["detail"].as_str().unwrap().contains("access denied"), "{}", a.text());

    // invoice-writer without any store: every message fails, nothing is written.
    let app = app_with(&redis, |m| {
        m.replace("invoice_writer.wasm\"\nkey_value_stores = [\"invoices\"]\n", "invoice_writer.wasm\"\n")
    });
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "order-writer", || app.kv.get("orders", "a0#v0").unwrap().is_some()).await;
    eventually(Duration::from_secs(10), "invoice-writer's failure", || {
        app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed) == 1
    })
    .await;
    assert!(app.kv.keys("invoices").is_empty());
    assert!(app.logs("invoice-writer").contains("access denied"), "{}", app.logs("invoice-writer"));
}

/// A consumer whose store will not open pauses its group before failing, so the retry
/// clock is set: it tries again by itself, with no order posted and no ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_will_not_open_is_retried_on_the_clock() {
    let redis = RedisServer::start();
    let app = load(Options {
        variables: vars(&redis, &[("visibility_timeout_ms", "200")]),
        manifest: Some(spin_test_host::edited_manifest(|m| {
            m.replace("invoice_writer.wasm\"\nkey_value_stores = [\"invoices\"]\n", "invoice_writer.wasm\"\n")
        })),
        ..Options::default()
    });
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    // The first failure comes from the order's doorbell; the next ones only from the clock.
    eventually(Duration::from_secs(10), "three failed wakes of invoice-writer", || {
        app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed) >= 3
    })
    .await;
    assert!(app.kv.keys("invoices").is_empty());
}

/// `stores` set to a backend we do not have: reads are 503s that say what to set, and an
/// accepted order waits on the topic for both groups, neither stored nor dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_stores_value_is_a_503_that_names_the_fix_and_loses_nothing() {
    let redis = RedisServer::start();
    let app = app_with(&redis, |m| m.replace("stores = \"kv\"", "stores = \"dynamo\""));
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    let fix = "variable `stores` must be `kv` or `redis`, not `dynamo`";
    for path in ["/order?accountid=a0&vendorid=v0", "/invoice?accountid=a0"] {
        let a = get(&app, path).await;
        assert_problem(&a, 503, None, path);
        assert!(a.json()["detail"].as_str().unwrap().contains(fix), "{path}: {}", a.text());
    }
    eventually(Duration::from_secs(10), "both consumers saying what to set", || {
        ["order-writer", "invoice-writer"].iter().all(|c| app.logs(c).contains(fix))
    })
    .await;
    let status = get(&app, "/pipeline").await.json();
    for g in status["groups"].as_array().unwrap() {
        let waiting = g["lag"].as_u64().unwrap() + g["pending"].as_u64().unwrap();
        assert_eq!((waiting, g["acked"].as_u64(), g["dead_letters"].as_u64()), (1, Some(0), Some(0)), "{g}");
    }
    assert!(app.kv.keys("orders").is_empty() && app.kv.keys("invoices").is_empty());
}

/// `doorbell` set to neither wiring: the topic's users refuse to run on a guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_doorbell_value_is_a_503_that_names_the_fix() {
    let redis = RedisServer::start();
    let app = app_with(&redis, |m| m.replace("doorbell = \"redis\"", "doorbell = \"pigeon\""));
    let fix = "variable `doorbell` must be `redis` or `http`, not `pigeon`";
    for a in [post_order(&app, &order_body(0)).await, get(&app, "/pipeline").await] {
        assert_problem(&a, 503, None, "doorbell = pigeon");
        assert!(a.json()["detail"].as_str().unwrap().contains(fix), "{}", a.text());
    }
    // The page still loads, to show the banner.
    assert_eq!(call(&app, "GET", "/", &[], Bytes::new()).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_api_without_its_signing_keys_is_503() {
    let redis = RedisServer::start();
    let app = app_with(&redis, |m| m.replace("url_signing_keys = \"{{ url_signing_keys }}\"\n", ""));
    let a = get(&app, "/invoice?accountid=a0").await;
    assert_problem(&a, 503, None, "no signing keys variable");
    assert!(a.json()["detail"].as_str().unwrap().contains("url_signing_keys"));
}

/// Component ids are kebab-case words that each start with a letter, as Spin's manifest
/// parser takes them (`crates/serde/src/id.rs`): `answer-202` fails `spin up` with
/// "'-'-separated words must start with an ASCII letter; got '2'", and so it fails here.
#[test]
fn a_component_id_spin_refuses_fails_at_start_like_spin_up() {
    let redis = RedisServer::start();
    spin_test_host::build_components();
    for (id, refusal) in [
        ("answer-202", "'-'-separated words must start with an ASCII letter; got '2'"),
        ("order_api", "words must be separated with '-', not '_'"),
        ("order--api", "'-'-separated words must not be empty"),
        ("order.api", "'-'-separated words may only contain alphanumeric ASCII; got '.'"),
        ("order-Api", "'-'-separated words must be all lowercase or all UPPERCASE; got \"Api\""),
    ] {
        let m = edited_manifest(|m| {
            m.replace("\"order-api\"", &format!("\"{id}\""))
                .replace("component.order-api", &format!("component.\"{id}\""))
        });
        let e = App::load(Options { variables: vars(&redis, &[]), manifest: Some(m), ..Options::default() }).err();
        let e = format!("{:#}", e.unwrap_or_else(|| panic!("`{id}` was taken")));
        assert!(e.contains(refusal), "{id}: {e}");
    }
}

#[test]
fn unknown_store_label_or_missing_secret_fails_at_start_like_spin_up() {
    let redis = RedisServer::start();
    spin_test_host::build_components();
    let m = edited_manifest(|m| m.replacen("key_value_stores = [\"orders\"]", "key_value_stores = [\"ledger\"]", 1));
    let e = App::load(Options { variables: vars(&redis, &[]), manifest: Some(m), ..Options::default() }).err().unwrap();
    assert!(e.to_string().contains("unknown key_value_stores label `ledger`"), "{e}");
    // A runtime config naming a store type Spin does not know fails at start too.
    let m = edited_manifest(|m| m.replace("admin_token = { required", "admin_token = {  required"));
    let rc = m.with_file_name("runtime-config.toml");
    std::fs::write(&rc, std::fs::read_to_string(&rc).unwrap().replacen("type = \"spin\"", "type = \"dynamo\"", 1))
        .unwrap();
    let e = App::load(Options { variables: vars(&redis, &[]), manifest: Some(m), ..Options::default() }).err().unwrap();
    assert_eq!(
        e.to_string(),
        "could not configure key-value store with label 'orders': the store type 'dynamo' was not registered with \
         the config resolver"
    );
    // So does a Redis store whose URL does not parse; a `{{ variable }}` in it is not
    // expanded (Spin expands none in a runtime config).
    for url in ["not a url", "{{ redis_address }}"] {
        let m = edited_manifest(|m| m.replace("admin_token = { required", "admin_token = {  required"));
        std::fs::write(
            m.with_file_name("runtime-config.toml"),
            format!("[key_value_store.orders]\ntype = \"redis\"\nurl = \"{url}\"\n"),
        )
        .unwrap();
        let e =
            App::load(Options { variables: vars(&redis, &[]), manifest: Some(m), ..Options::default() }).err().unwrap();
        assert!(format!("{e:#}").contains("key-value store `orders`: Invalid Redis URL"), "{url}: {e:#}");
    }
    // And a DynamoDB store without the table Spin's provider requires.
    let m = edited_manifest(|m| m.replace("admin_token = { required", "admin_token = {  required"));
    std::fs::write(
        m.with_file_name("runtime-config.toml"),
        "[key_value_store.orders]\ntype = \"aws_dynamo\"\nregion = \"us-east-1\"\n",
    )
    .unwrap();
    let e = App::load(Options { variables: vars(&redis, &[]), manifest: Some(m), ..Options::default() }).err().unwrap();
    assert!(format!("{e:#}").contains("missing field `table`"), "{e:#}");
    let mut no_key = vars(&redis, &[]);
    no_key.remove("url_signing_keys");
    // A copy of the manifest, away from any .env a developer's scripts/run left.
    let m = edited_manifest(|m| {
        m.replace("invoice_url_ttl_seconds = { default = \"3600\" }", "invoice_url_ttl_seconds = { default = \"60\" }")
    });
    let e = App::load(Options { variables: no_key, manifest: Some(m), ..Options::default() }).err().unwrap();
    assert!(e.to_string().contains("url_signing_keys"), "{e}");
}

/// Each built component imports nothing beyond its world in `wit/components.wit`.
#[test]
fn components_import_only_what_their_world_names() {
    spin_test_host::build_components();
    let root = spin_test_host::workspace_root();
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(root.join("wit")).unwrap();
    let engine = wasmtime::Engine::default();
    for name in spin_test_host::COMPONENT_PACKAGES {
        let world = resolve.select_world(&[pkg], Some(name)).unwrap();
        let allowed: Vec<String> =
            resolve.worlds[world].imports.keys().map(|k| unpatched(&resolve.name_world_key(k))).collect();
        // The readers can reach Redis only where the stores are on it: `spin.toml` grants
        // order-reader no outbound host at all, and invoice-api only the invoice bucket's
        // (`s3_allowed_host`, the same for invoice-writer).
        if *name == "order-reader" || *name == "invoice-api" {
            let app = spin_test_host::Manifest::load(
                &root.join("spin.toml"),
                spin_test_host::manifest::Stores::RuntimeConfig(Some(&root.join("runtime-config.toml"))),
                &HashMap::from([
                    ("url_signing_keys".to_owned(), KEYS.to_owned()),
                    ("admin_token".to_owned(), ADMIN.to_owned()),
                    ("read_api_keys".to_owned(), format!("tests:{READ_KEY}")),
                ]),
            )
            .unwrap();
            let bucket = if *name == "invoice-api" { vec!["http://127.0.0.1:9000".to_owned()] } else { vec![] };
            assert_eq!(app.components[*name].allowed_outbound_hosts, bucket, "{name}");
            let writer = &app.components["invoice-writer"].allowed_outbound_hosts;
            assert_eq!(writer.last(), Some(&"http://127.0.0.1:9000".to_owned()), "invoice-writer: {writer:?}");
        }
        let wasm = root.join(format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_")));
        let component = wasmtime::component::Component::from_file(&engine, &wasm).unwrap();
        let ty = component.component_type();
        for (import, _) in ty.imports(&engine) {
            assert!(
                allowed.contains(&unpatched(import)),
                "{name} imports {import}, which its world in wit/components.wit does not name"
            );
        }
        assert!(ty.exports(&engine).count() >= 1, "{name} exports nothing");
    }
}

/// The `otel` builds (`scripts/run` with an OTLP endpoint) import their world and
/// `wasi:otel/tracing` (with its types), nothing more; the default builds do not import
/// `wasi:otel` at all, since Spin refuses to start them without
/// `--experimental-wasi-otel`, which SpinKube and the hosted platforms never pass.
#[test]
fn only_the_otel_builds_import_wasi_otel() {
    spin_test_host::build_components();
    let root = spin_test_host::workspace_root();
    spin_test_host::otel_manifest();
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(root.join("wit")).unwrap();
    let engine = wasmtime::Engine::default();
    let imports = |wasm: &str| -> Vec<String> {
        let component = wasmtime::component::Component::from_file(&engine, root.join(wasm)).unwrap();
        component.component_type().imports(&engine).map(|(i, _)| unpatched(i)).collect()
    };
    for name in spin_test_host::COMPONENT_PACKAGES {
        let file = format!("wasm32-wasip2/release/{}.wasm", name.replace('-', "_"));
        assert!(!imports(&format!("target/{file}")).iter().any(|i| i.starts_with("wasi:otel/")), "{name}");
        if !spin_test_host::OTEL_PACKAGES.contains(name) {
            continue;
        }
        let world = resolve.select_world(&[pkg], Some(name)).unwrap();
        let mut allowed: Vec<String> =
            resolve.worlds[world].imports.keys().map(|k| unpatched(&resolve.name_world_key(k))).collect();
        allowed.extend(["wasi:otel/tracing@0.2.0-rc", "wasi:otel/types@0.2.0-rc"].map(String::from));
        let otel = imports(&format!("target/otel/{file}"));
        assert!(otel.contains(&"wasi:otel/tracing@0.2.0-rc".to_owned()), "{name}: {otel:?}");
        for import in otel {
            assert!(allowed.contains(&import), "{name}'s otel build imports {import}");
        }
    }
}

/// `wasi:io/streams@0.2.12` -> `wasi:io/streams@0.2`: Spin links any 0.2.x.
fn unpatched(name: &str) -> String {
    match name.split_once('@') {
        Some((n, v)) => format!("{n}@{}", v.rsplit_once('.').map(|(mm, _)| mm).unwrap_or(v)),
        None => name.to_owned(),
    }
}
