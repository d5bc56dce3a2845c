//! The API's OpenAPI document, `docs/openapi.json`: valid OpenAPI 3.1 as the OpenAPI
//! Initiative's tooling reads it, served by the app byte for byte, its examples valid
//! against their own schemas, and `docs/http-api.md` telling the same endpoints,
//! statuses and headers. (Every answer of every other test is checked against it by the
//! test host, `spin_test_host::openapi`; Schemathesis runs against it under `spin up`,
//! `tests/spin_cli/contract.rs`.)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use spin_test_host::openapi::contract;
use spin_test_host::workspace_root;

use super::*;

fn document_bytes() -> Vec<u8> {
    std::fs::read(workspace_root().join("docs/openapi.json")).unwrap()
}

/// `openapi-spec-validator` (PyPI, the reference validator's command line), which
/// `scripts/test` installs into `.tools/venv`.
#[test]
fn the_document_is_valid_openapi_3_1() {
    let Some(validator) = spin_test_host::python_tool("openapi-spec-validator") else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "no openapi-spec-validator: scripts/test installs it");
        eprintln!("skipped: no openapi-spec-validator (scripts/test installs it into .tools/venv)");
        return;
    };
    let out = std::process::Command::new(validator)
        .arg(workspace_root().join("docs/openapi.json"))
        .output()
        .expect("openapi-spec-validator runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim_end().ends_with(": OK"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(contract().document()["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_app_serves_the_document_the_tests_hold_it_to() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let a = call(&app, "GET", "/openapi.json", &[], Bytes::new()).await;
    assert_eq!((a.status, a.header("content-type")), (200, Some("application/json")));
    assert!(a.body == document_bytes(), "GET /openapi.json is not docs/openapi.json");
    let head = call(&app, "HEAD", "/openapi.json", &[], Bytes::new()).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let post = call(&app, "POST", "/openapi.json", &[], Bytes::new()).await;
    assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD")));
    // With Redis gone, as the live page does.
    drop(redis);
    assert_eq!(call(&app, "GET", "/openapi.json", &[], Bytes::new()).await.status, 200);
}

/// Every example the document gives (a request's, an answer's, a parameter's, a
/// schema's) is valid against the schema beside it.
#[test]
fn every_example_keeps_its_schema() {
    let c = contract();
    let mut checked = 0;
    let mut broken = Vec::new();
    let mut visit = |pointer: &str, node: &Value| {
        let Some(obj) = node.as_object() else { return };
        let schema = format!("{pointer}/schema");
        let mut examples: Vec<(String, &Value)> = Vec::new();
        if obj.contains_key("schema") {
            if let Some(e) = obj.get("example") {
                examples.push((format!("{pointer}/example"), e));
            }
            for (name, e) in obj.get("examples").and_then(Value::as_object).into_iter().flatten() {
                examples.push((format!("{pointer}/examples/{name}"), &e["value"]));
            }
            for (at, example) in examples {
                checked += 1;
                if let Err(e) = c.validate(&format!("#{schema}"), example) {
                    broken.push(format!("{at}: {e}"));
                }
            }
        } else if pointer.contains("/schemas/") || pointer.ends_with("/schema") {
            for (i, e) in obj.get("examples").and_then(Value::as_array).into_iter().flatten().enumerate() {
                checked += 1;
                if let Err(e) = c.validate(&format!("#{pointer}"), e) {
                    broken.push(format!("{pointer}/examples/{i}: {e}"));
                }
            }
        }
    };
    walk("", c.document(), &mut visit);
    assert!(broken.is_empty(), "examples that break their schemas: {broken:#?}");
    assert!(checked >= 10, "only {checked} examples: is the walk broken?");
}

fn walk(pointer: &str, node: &Value, visit: &mut impl FnMut(&str, &Value)) {
    visit(pointer, node);
    match node {
        Value::Object(o) => o
            .iter()
            .for_each(|(k, v)| walk(&format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), v, visit)),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| walk(&format!("{pointer}/{i}"), v, visit)),
        _ => {}
    }
}

/// `docs/http-api.md` and the document agree: the endpoint table names every
/// operation, and each row's statuses are its operations' (besides the four every
/// endpoint has); the status table lists every status the document gives, and no other;
/// every header the document names (a parameter's, a response's, `Authorization` for
/// its bearer schemes) is on the page.
#[test]
fn the_http_api_page_tells_what_the_document_says() {
    let page = std::fs::read_to_string(workspace_root().join("docs/http-api.md")).unwrap();
    let c = contract();
    let doc = c.document();
    let statuses_of = |method: &str, path: &str| -> BTreeSet<String> {
        doc["paths"][path][method.to_ascii_lowercase()]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("the document has no {method} {path}"))
            .keys()
            .cloned()
            .collect()
    };
    let every_endpoint: BTreeSet<String> = ["400", "413", "414", "431"].map(str::to_owned).into();

    let table = page.split("| endpoint | answers | statuses").nth(1).expect("the endpoint table");
    let mut listed = BTreeSet::new();
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        let ops: Vec<(String, String)> = cells[0]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|op| {
                let (method, target) = op.split_once(' ').unwrap_or_else(|| panic!("`{op}` is not `METHOD /path`"));
                let path = target.split('?').next().unwrap().replace("<group>", "{group}");
                (method.to_owned(), path)
            })
            .collect();
        assert!(!ops.is_empty(), "a row without an endpoint: {row}");
        let shown: BTreeSet<String> = cells.last().unwrap().split('`').skip(1).step_by(2).map(str::to_owned).collect();
        for (method, path) in ops {
            let documented = statuses_of(&method, &path);
            let expected: BTreeSet<String> = documented.difference(&every_endpoint).cloned().collect();
            assert!(every_endpoint.is_subset(&documented), "{method} {path} lacks one of {every_endpoint:?}");
            assert_eq!(shown, expected, "{method} {path}: the page's statuses and the document's");
            listed.insert((method, path));
        }
    }
    let operations: BTreeSet<(String, String)> = c.operations().into_iter().collect();
    assert_eq!(listed, operations, "the page's endpoints and the document's operations");

    // The status table: every status any operation answers, 405 (any path), no other.
    let mut all: BTreeSet<String> = BTreeSet::from(["405".to_owned()]);
    for (method, path) in &operations {
        all.extend(statuses_of(method, path));
    }
    let all: BTreeSet<String> = all.into_iter().filter(|s| s.starts_with(['4', '5'])).collect();
    let status_table = page.split("| status | when |").nth(1).expect("the status table");
    let shown: BTreeSet<String> = status_table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').next().unwrap().trim().to_owned())
        .collect();
    assert_eq!(shown, all, "the status table and the document's error statuses");

    // Headers: every one the document names, on the page (in backticks, any case).
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut visit = |pointer: &str, node: &Value| {
        if node["in"] == "header" {
            headers.insert(node["name"].as_str().unwrap().to_ascii_lowercase(), pointer.to_owned());
        }
        // A response's headers (`/components/headers` holds definitions by name, not headers).
        if pointer.ends_with("/headers") && pointer != "/components/headers" {
            for name in node.as_object().into_iter().flatten().map(|(k, _)| k) {
                headers.insert(name.to_ascii_lowercase(), pointer.to_owned());
            }
        }
        if node["scheme"] == "bearer" {
            headers.insert("authorization".to_owned(), pointer.to_owned());
        }
    };
    walk("", doc, &mut visit);
    let on_page: BTreeSet<String> =
        page.split('`').skip(1).step_by(2).map(|w| w.split(':').next().unwrap().trim().to_ascii_lowercase()).collect();
    let missing: Vec<_> = headers.iter().filter(|(h, _)| !on_page.contains(*h)).collect();
    assert!(missing.is_empty(), "headers the document names and docs/http-api.md does not: {missing:?}");
    assert!(headers.len() >= 12, "only {headers:?}: is the walk broken?");
}

/// The answer check fails the test that received an answer off the document: the app
/// with `/pipeline/...` moved to `/ops/...` (a route the document does not have) answers
/// `GET /ops` with its status, `200`. A call panics at once; a listener that served it
/// panics when the test drops it.
#[tokio::test]
async fn an_answer_off_the_document_fails_the_test_that_received_it() {
    use futures::FutureExt;
    let redis = RedisServer::start();
    let manifest = spin_test_host::edited_manifest(|m| m.replace("route = \"/pipeline/...\"", "route = \"/ops/...\""));
    let app = load(Options { variables: vars(&redis, &[]), manifest: Some(manifest), ..Options::default() });
    let call = std::panic::AssertUnwindSafe(call(&app, "GET", "/ops", &[], Bytes::new())).catch_unwind().await;
    let why = call.expect_err("a 200 off the document must fail the call");
    let why = why.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(why.contains("`/ops` is not in the document, yet it answered 200"), "{why}");

    let (addr, listener) = app.listen(0).await.unwrap();
    let status = tokio::task::spawn_blocking(move || {
        ureq::get(format!("http://{addr}/ops")).config().http_status_as_error(false).build().call().unwrap().status()
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "the listener still answers as the app did");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(listener)));
    let why = dropped.expect_err("the listener served an answer off the document");
    let why = why.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(why.contains("1 answers that break docs/openapi.json"), "{why}");
}
