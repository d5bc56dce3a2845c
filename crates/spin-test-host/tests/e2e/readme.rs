//! The README's walkthrough, run verbatim with `curl` and `jq` against the listener, so
//! the documented commands and answers cannot drift from the code.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walkthrough_works_as_written() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    run_walkthrough(&app).await;
}

/// The walkthrough's commands against `app`'s listener, as one block pasted into a
/// shell, with no wait added between its steps: the block waits for the consumers itself.
pub async fn run_walkthrough(app: &Arc<App>) {
    let (addr, _listener) = app.listen(0).await.unwrap();
    let script = spin_test_host::readme_walkthrough().replace("http://127.0.0.1:3000", &format!("http://{addr}"));
    let dir = std::env::temp_dir().join(format!("walkthrough-{}-{}", std::process::id(), addr.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || spin_test_host::bash(&script, &dir)
    })
    .await
    .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("order.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(answer["location"], "/order?accountid=a0&vendorid=v0", "{answer}");
    assert!(answer["order_url"].as_str().unwrap().contains("&token="), "{answer}");
    assert!(out.contains("\"unitprice\": \"4.50\""), "step 2: {out}");
    assert!(out.contains("HTTP/1.1 200 OK"), "step 4: {out}");
    assert!(out.contains("content-disposition: attachment; filename=\"invoice-a0-v0-"), "step 4: {out}");
    assert!(out.contains("\"total\": \"14.85\""), "step 4: {out}");
}

/// Pasted while no consumer runs, the block says so after its 10 s, and step 4 does not
/// go on with no URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_says_why_when_nothing_stores_the_order() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let (addr, _listener) = app.listen(0).await.unwrap();
    let script = spin_test_host::readme_walkthrough().replace("http://127.0.0.1:3000", &format!("http://{addr}"));
    let dir = std::env::temp_dir().join(format!("walkthrough-stuck-{}-{}", std::process::id(), addr.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || std::process::Command::new("bash").current_dir(dir).args(["-c", &script]).output().expect("bash")
    })
    .await
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no answer but 404 after 10 s from /order?accountid=a0"), "{stderr}");
    assert!(stderr.contains("is scripts/run running?"), "{stderr}");
    assert!(stderr.contains("step 3 gave no URL"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("<!doctype html>"), "step 4 fetched the live page");
}

/// `orders get-order` and `orders get-invoice --download` against the listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lookup_commands_work_against_the_listener() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "the order in both stores", || {
        app.kv.count("orders", "") == 1 && invoice_documents(&app) == 1
    })
    .await;
    let (order, invoice, missing) = tokio::task::spawn_blocking(move || {
        let client = order_cli::Client::new(&format!("http://{addr}"), Duration::from_secs(10))
            .with_api_key(Some(READ_KEY.to_owned()));
        let order = order_cli::get_order(&client, "a0", "v0").unwrap();
        let issued = order_cli::get_invoice(&client, "a0", Some("v0")).unwrap();
        let url = format!("http://{addr}{}", issued["url"].as_str().unwrap());
        let invoice = order_cli::download(&client, &url).unwrap();
        let missing = order_cli::get_order(&client, "a9", "v9").unwrap_err().to_string();
        (order, invoice, missing)
    })
    .await
    .unwrap();
    assert_eq!(order["order"]["accountid"], "a0");
    assert_eq!(invoice["total"], "14.85");
    assert!(missing.contains("404") && missing.contains("no order for accountid `a9`"), "{missing}");
    assert!(order_cli::pretty(&order).contains("a0"));
}
