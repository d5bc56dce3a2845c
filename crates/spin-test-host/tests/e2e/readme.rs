//! The README's walkthrough, run verbatim with `curl` and `jq` against the listener, so
//! the documented commands and answers cannot drift from the code.

use super::*;

fn walkthrough_script() -> String {
    let readme = std::fs::read_to_string(spin_test_host::workspace_root().join("README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- walkthrough:end -->").next())
        .expect("README.md has a walkthrough block");
    block.trim().trim_start_matches("```sh").trim_end_matches("```").to_owned()
}

fn bash(script: &str) -> String {
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .expect("bash, curl and jq are needed for this test (.ci/run installs them)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{script}\n-> {text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walkthrough_works_as_written() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    let script = walkthrough_script().replace("http://127.0.0.1:3000", &format!("http://{addr}"));
    let (post, rest) = script.split_once("# 2.").expect("step 2 in the walkthrough");

    let posted = tokio::task::spawn_blocking({
        let post = post.to_owned();
        move || bash(&post)
    })
    .await
    .unwrap();
    assert!(posted.starts_with("HTTP/1.1 202 Accepted"), "{posted}");
    assert!(posted.contains("location: /order?accountid=a0&vendorid=v0"), "{posted}");
    eventually(Duration::from_secs(10), "the order in both stores", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some() && invoice_documents(&app) == 1
    })
    .await;

    let rest = format!("# 2.{rest}");
    let out = tokio::task::spawn_blocking(move || bash(&rest)).await.unwrap();
    assert!(out.contains("\"unitprice\": \"4.50\""), "step 2: {out}");
    assert!(out.contains("HTTP/1.1 200 OK"), "step 4: {out}");
    assert!(out.contains("content-disposition: attachment; filename=\"invoice-a0-v0-"), "step 4: {out}");
    assert!(out.contains("\"total\": \"14.85\""), "step 4: {out}");
}
