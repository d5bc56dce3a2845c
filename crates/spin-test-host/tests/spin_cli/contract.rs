//! Schemathesis (PyPI `schemathesis`, which `scripts/test` installs into `.tools/venv`)
//! against the real `spin up`, reading the document the app serves at
//! `GET /openapi.json`, with every check it has: no 5xx; every answer keeps the document
//! (status, headers, media type, body schema); a request the document allows is not
//! refused, one it forbids is refused; a method no operation names is `405` with `Allow`;
//! an operation with a security scheme refuses requests without its credential; and,
//! statefully, the links: `POST /order`, then `GET /order` and `GET /invoice` of its ids.
//!
//! Its settings are `tests/schemathesis.toml` (the statuses that count as a refusal and
//! as an acceptance, and where its credentials come from, each with why). A fixed seed
//! makes a run repeatable; `SCHEMATHESIS_SEED=<n>` runs another, and
//! `SCHEMATHESIS_MAX_EXAMPLES=<n>` a longer one.

use std::process::Command;

use super::*;

/// A password on Redis, as the managed ones have.
const PASS: &str = "redis-pass-0123456789";

/// Cases per operation and phase: about 1,150 cases in the local wiring and 700 in the
/// hosted one, 20 s and 13 s on a 2-core machine. Runs of 3,600 cases found nothing more.
const MAX_EXAMPLES: &str = "50";

#[test]
fn schemathesis_finds_nothing_against_spin_up() {
    let (spin, _one) = spin_or_skip!();
    let Some(schemathesis) = schemathesis() else { return };
    let redis = RedisServer::start_with(&["--save", "", "--appendonly", "yes", "--requirepass", PASS]);
    let address = redis.url_as("default", PASS);

    // The local wiring: every endpoint but the hosted wiring's drains, which it has no
    // route for (Spin answers those paths 404 itself).
    let dir = scratch("schemathesis-local");
    let local = Up::new("spin.toml", &dir, required_vars(&redis, &address))
        .runtime_config(repo_runtime_config(&dir))
        .subscribed(&address, "orders", 1)
        .start(&spin.path);
    let summary = run(&schemathesis, &local.base(), &dir, &["--exclude-tag", "consumers"]);
    eprintln!("Schemathesis, the local wiring: {summary}");
    drop(local);

    // The hosted wiring (HTTP only): the drains, and the orders, which order-api reads
    // itself there (no order-reader behind it).
    let dir = scratch("schemathesis-hosted");
    let hosted = Up::new("deploy/fermyon-cloud/spin.toml", &dir, required_vars(&redis, &address)).start(&spin.path);
    let summary = run(&schemathesis, &hosted.base(), &dir, &["--include-tag", "consumers", "--include-tag", "orders"]);
    eprintln!("Schemathesis, the hosted wiring: {summary}");
}

/// A run that cannot pass is reported as one: the document with the `202`'s `trace_id`
/// one hex digit short, and the walkthrough's example order, the first case Schemathesis
/// sends. Proves the runs above see the app's answers.
#[test]
fn schemathesis_reports_an_answer_that_breaks_the_document() {
    let (spin, _one) = spin_or_skip!();
    let Some(schemathesis) = schemathesis() else { return };
    let redis = RedisServer::start();
    let dir = scratch("schemathesis-broken");
    let app = local_app(&redis, &dir).runtime_config(repo_runtime_config(&dir)).start(&spin.path);
    let mut document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace_root().join("docs/openapi.json")).unwrap()).unwrap();
    document["components"]["schemas"]["TraceId"]["pattern"] = "^[0-9a-f]{31}$".into();
    let broken = dir.join("broken-openapi.json");
    std::fs::write(&broken, serde_json::to_vec(&document).unwrap()).unwrap();
    let out = schemathesis_command(&schemathesis, &dir)
        .arg(&broken)
        .args(["--url", &app.base(), "--phases", "examples", "--include-operation-id", "postOrder"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "Schemathesis passed an answer that breaks the document:\n{text}");
    assert!(text.contains("Response violates schema") && text.contains("trace_id"), "{text}");
}

/// The Schemathesis `scripts/test` installs, or `None` (saying so) without one; under
/// `CI=true`, a failure.
fn schemathesis() -> Option<PathBuf> {
    let found = spin_test_host::python_tool("schemathesis");
    if found.is_none() {
        let why = "no schemathesis: scripts/test installs it into .tools/venv";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        let _ = writeln!(std::io::stderr(), "real-Spin tier: the Schemathesis tests skipped: {why}");
    }
    found
}

/// Schemathesis with the repository's settings, its credentials and its working files in
/// `dir` (none in the checkout).
fn schemathesis_command(schemathesis: &Path, dir: &Path) -> Command {
    let mut c = Command::new(schemathesis);
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COFFEE_ORDERS_READ_API_KEY", READ_KEY)
        .env("COFFEE_ORDERS_ADMIN_TOKEN", ADMIN)
        .env("COFFEE_ORDERS_DRAIN_TOKEN", DRAIN)
        .arg("--config-file")
        .arg(workspace_root().join("crates/spin-test-host/tests/schemathesis.toml"))
        .arg("run");
    c
}

/// Runs Schemathesis against the app at `base` (the document it serves) and asserts it
/// found nothing; returns its summary (cases, time).
fn run(schemathesis: &Path, base: &str, dir: &Path, filters: &[&str]) -> String {
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "36".to_owned());
    let examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned());
    let out = schemathesis_command(schemathesis, dir)
        .arg(format!("{base}/openapi.json"))
        .args(["--max-examples", &examples, "--seed", &seed, "--generation-database", "none"])
        .args(filters)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Schemathesis found what breaks the document (seed {seed}):\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let find = |needle: &str| {
        text.lines().find(|l| l.contains(needle)).unwrap_or("").trim().trim_matches('=').trim().to_owned()
    };
    format!(
        "{}; {}; stateful links: {}; seed {seed}",
        find(" generated,"),
        find("No issues found in"),
        find("API Links:")
    )
}
