//! The README's walkthrough, run verbatim with `curl` and `jq` against the real
//! `spin up`, on `spin.toml` with the repository's runtime config and on the hosted
//! manifest.

use super::*;

/// The walkthrough's commands against `app`, as one block pasted into a shell, with no
/// wait added between its steps: the block waits for the consumers itself.
pub fn run_walkthrough(app: &SpinUp, dir: &Path) {
    run_walkthrough_at(&app.base(), dir);
}

/// The walkthrough against the app at `base`, in `dir`.
pub fn run_walkthrough_at(base: &str, dir: &Path) {
    let script = spin_test_host::readme_walkthrough().replace("http://127.0.0.1:3000", base);
    let out = spin_test_host::bash(&script, dir);
    let answer: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("order.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(answer["location"], "/order?accountid=a0&vendorid=v0", "{answer}");
    assert!(answer["order_url"].as_str().unwrap().contains("&token="), "{answer}");
    assert!(out.contains("\"unitprice\": \"4.50\""), "step 2: {out}");
    assert!(out.contains("HTTP/1.1 200 OK"), "step 4: {out}");
    assert!(out.contains("content-disposition: attachment; filename=\"invoice-a0-v0-"), "step 4: {out}");
    assert!(out.contains("\"total\": \"14.85\""), "step 4: {out}");
}

/// `spin up --runtime-config-file runtime-config.toml`, as the README's set-up runs it
/// (SQLite stores), with the walkthrough's commands.
#[test]
fn the_readme_walkthrough_works_under_spin_up() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let dir = scratch("walkthrough");
    let app = local_app(&redis, &dir).runtime_config(repo_runtime_config(&dir)).start(&spin.path);
    run_walkthrough(&app, &dir);
    assert!(dir.join(".spin/orders.db").exists(), "the order store is the runtime config's SQLite file");
}

/// The hosted manifest (HTTP triggers only, as Fermyon Cloud and Akamai run it) under
/// `spin up`: the walkthrough works with no Redis trigger at all.
#[test]
fn the_readme_walkthrough_works_on_the_hosted_manifest() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let dir = scratch("hosted-walkthrough");
    let app = hosted_app(&redis, &dir).start(&spin.path);
    assert!(!app.output().contains("Active Channels"), "the hosted manifest has no Redis trigger: {}", app.output());
    run_walkthrough(&app, &dir);
}
