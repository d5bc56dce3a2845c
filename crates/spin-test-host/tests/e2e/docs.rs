//! The docs stay true: every relative link and anchor in `README.md` and `docs/`
//! resolves; every variable of every manifest is in `docs/configuration.md`, and nothing
//! documented there is missing from the manifests; and every shell example that calls
//! the local app runs against it (the walkthrough has its own test, `readme.rs`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::*;

fn root() -> PathBuf {
    spin_test_host::workspace_root()
}

/// `README.md` and every page in `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The page's text outside fenced code blocks.
fn prose(text: &str) -> String {
    text.split("```").step_by(2).collect::<Vec<_>>().join("\n")
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a page offers: its headings' slugs and its `<a id="...">`s.
fn anchors(text: &str) -> BTreeSet<String> {
    let prose = prose(text);
    let mut set: BTreeSet<String> =
        prose.lines().filter_map(|l| l.strip_prefix('#')).map(|h| slug(h.trim_start_matches('#'))).collect();
    set.extend(prose.split("<a id=\"").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned));
    set
}

/// The targets of the page's markdown links, outside code.
fn links(text: &str) -> Vec<String> {
    prose(text)
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|t| t.split_whitespace().next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = vec![];
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let fences = text.lines().filter(|l| l.trim_start().starts_with("```")).count();
        assert!(fences % 2 == 0, "{}: a code block is left open", page.display());
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = link.split_once('#').map_or((link.as_str(), None), |(p, a)| (p, Some(a)));
            let target = if path.is_empty() { page.clone() } else { page.parent().unwrap().join(path) };
            let shown = format!("{}: {link}", page.strip_prefix(root()).unwrap().display());
            if !target.exists() {
                broken.push(format!("{shown} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let offered = anchors(&std::fs::read_to_string(&target).unwrap_or_default());
                if !offered.contains(anchor) {
                    broken.push(format!("{shown} (no such anchor)"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links: is the scan broken?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The application variables a manifest declares (`[variables]`).
fn manifest_variables(path: &str) -> BTreeSet<String> {
    let doc: toml::Value = toml::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap();
    doc["variables"].as_table().unwrap().keys().cloned().collect()
}

#[test]
fn every_manifest_variable_is_documented_and_nothing_more() {
    let manifests = ["spin.toml", "deploy/fermyon-cloud/spin.toml", "deploy/kubernetes/spin.toml"];
    let declared: BTreeSet<String> = manifests.iter().flat_map(|m| manifest_variables(m)).collect();
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let table = page.split("| variable | default | meaning |").nth(1).expect("the variables table");
    let documented: BTreeSet<String> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|row| {
            let first = row.split('|').nth(1).unwrap_or_default().to_owned();
            first.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&declared).collect();
    assert!(undocumented.is_empty(), "variables no page documents: {undocumented:?}");
    assert!(unknown.is_empty(), "documented variables no manifest has: {unknown:?}");
}

/// Every ```sh block of `text` that calls the local app with curl, outside the
/// walkthrough.
fn local_examples(text: &str) -> Vec<String> {
    let text = match text.split_once("<!-- walkthrough:begin -->") {
        Some((before, rest)) => format!("{before}{}", rest.split_once("<!-- walkthrough:end -->").unwrap().1),
        None => text.to_owned(),
    };
    text.split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .filter(|block| block.contains("http://127.0.0.1:3000") && block.contains("curl "))
        .map(str::to_owned)
        .collect()
}

/// The examples of each page, in order in one shell (a later one may use what an
/// earlier one set, as a reader's shell would), against the app with the walkthrough's
/// order stored and a `.env` as `scripts/run` writes it. Each `# {...}` answer a page
/// shows must come back with every field it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_local_shell_example_runs_as_written() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "a0/v0 in both stores", || {
        stored(&app, "orders", "a0#v0").is_some() && invoice_documents(&app) == 1
    })
    .await;
    let dir = std::env::temp_dir().join(format!("doc-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env"),
        format!(
            "SPIN_VARIABLE_URL_SIGNING_KEYS={KEYS}\nSPIN_VARIABLE_ADMIN_TOKEN={ADMIN}\n\
             SPIN_VARIABLE_READ_API_KEYS=tests:{READ_KEY}\n"
        ),
    )
    .unwrap();
    let mut ran = 0;
    for page in pages() {
        let examples = local_examples(&std::fs::read_to_string(&page).unwrap());
        if examples.is_empty() {
            continue;
        }
        ran += examples.len();
        let script = examples.join("\n").replace("http://127.0.0.1:3000", &format!("http://{addr}"));
        let out = tokio::task::spawn_blocking({
            let (script, dir) = (script.clone(), dir.clone());
            move || spin_test_host::bash(&script, &dir)
        })
        .await
        .unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for shown in script.lines().filter_map(|l| l.trim().strip_prefix("# {")) {
            for field in shown.split('"').skip(1).step_by(2).filter(|f| shown.contains(&format!("\"{f}\":"))) {
                assert!(out.contains(&format!("\"{field}\"")), "{name}: no `{field}` in the answers:\n{out}");
            }
        }
        assert!(!out.contains("\"status\":5") && !out.contains("\"status\": 5"), "{name}: a 5xx:\n{out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(ran >= 4, "only {ran} examples found: is the scan broken?");
}
