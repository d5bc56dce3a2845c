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

/// The times in an example: each message id's (a UUIDv7's first 48 bits, shown as
/// `01a21f73-9c7b-…`), each signed token's expiry (`v2.<kid>.<seconds>.`), each stream
/// entry id's (`<ms>-<seq>`) and each RFC 3339 time stamp, as Unix milliseconds, each
/// with the text it was read from.
fn example_times(text: &str) -> Vec<(i128, String)> {
    let mut times = Vec::new();
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':')));
    for word in words {
        let word = word.trim_matches(|c: char| c == '.' || c == ':' || c == '-');
        let hex = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
        // A message id: 8 hex digits, `-`, 4 more (the rest is elided in the docs).
        if let [a, b, ..] = word.split('-').collect::<Vec<_>>()[..] {
            if hex(a) && a.starts_with("01") && b.len() == 4 && b.bytes().all(|x| x.is_ascii_hexdigit()) {
                times.push((i128::from_str_radix(&format!("{a}{b}"), 16).unwrap(), word.to_owned()));
                continue;
            }
        }
        // A token: v2.<kid>.<expiry seconds>.<kind>.
        if let Some(rest) = word.strip_prefix("v2.") {
            if let Some(secs) = rest.split('.').nth(1).and_then(|s| s.parse::<i128>().ok()) {
                times.push((secs * 1000, word.to_owned()));
                continue;
            }
        }
        // A stream entry id: 13 digits of ms, `-`, a sequence number.
        if let Some((ms, seq)) = word.split_once('-') {
            if ms.len() == 13 && ms.bytes().all(|b| b.is_ascii_digit()) && seq.bytes().all(|b| b.is_ascii_digit()) {
                times.push((ms.parse().unwrap(), word.to_owned()));
                continue;
            }
        }
        if word.len() >= 20 && word.as_bytes()[10] == b'T' && word.ends_with('Z') {
            let format = time::format_description::well_known::Rfc3339;
            let t = time::OffsetDateTime::parse(word, &format).unwrap_or_else(|e| panic!("{word}: {e}"));
            times.push((t.unix_timestamp_nanos() / 1_000_000, word.to_owned()));
        }
    }
    times
}

/// The examples tell one story: every message id, token expiry, stream entry and time
/// stamp on the pages (outside the benchmarks' run dates) lies within two days of the
/// others, so a reader can match an answer's ids and times with its log lines; and each
/// answer's `urls_expire_at` is its tokens' expiry.
#[test]
fn example_times_agree_with_each_other() {
    let mut times = Vec::new();
    for page in pages().into_iter().filter(|p| !p.ends_with("BENCHMARKS.md")) {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        times.extend(example_times(&text).into_iter().map(|(ms, word)| (ms, format!("{name}: {word}"))));
    }
    assert!(times.len() >= 8, "only {times:?}: is the scan broken?");
    times.sort();
    let (first, last) = (&times[0], &times[times.len() - 1]);
    assert!(last.0 - first.0 <= 2 * 86_400_000, "{} and {} are more than two days apart", first.1, last.1);
    assert!(example_times("01a21f73-9c7b-7… 1795824000124-0 v2.k1.1795910400.read-order.x").len() == 3);

    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let answer = readme.split("\"urls_expire_at\": \"").nth(1).expect("the README's example answer");
    let expires = &example_times(&answer[..answer.find('"').unwrap()])[0];
    let tokens: Vec<_> = example_times(readme.split("\"urls_expire_at\"").next().unwrap())
        .into_iter()
        .filter(|(_, w)| w.starts_with("v2."))
        .collect();
    assert!(!tokens.is_empty());
    for (ms, word) in tokens {
        assert_eq!(ms, expires.0, "{word} does not expire at urls_expire_at {}", expires.1);
    }
}

/// The names between backticks in a table cell.
fn backticked(cell: &str) -> BTreeSet<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The capability tables of `docs/architecture.md` are each manifest's grants exactly:
/// per component, its key-value stores, its outbound hosts and its variables (a group
/// in italics stands for the variables the page's group table gives it).
#[test]
fn the_capability_tables_are_the_manifests_grants() {
    let page = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let rows = |table: &str| -> Vec<Vec<String>> {
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().to_owned()).collect())
            .collect()
    };
    let groups: std::collections::BTreeMap<String, BTreeSet<String>> =
        rows(page.split("| group | variables |").nth(1).expect("the variable groups"))
            .into_iter()
            .map(|r| (r[0].trim_matches('*').to_owned(), backticked(&r[1])))
            .collect();
    assert!(groups.len() >= 4, "{groups:?}");
    for manifest in ["spin.toml", "deploy/kubernetes/spin.toml", "deploy/fermyon-cloud/spin.toml"] {
        let doc: toml::Value = toml::from_str(&std::fs::read_to_string(root().join(manifest)).unwrap()).unwrap();
        let section = page
            .split(&format!("#### `{manifest}`"))
            .nth(1)
            .unwrap_or_else(|| panic!("no table for {manifest}"))
            .split("\n#### ")
            .next()
            .unwrap();
        let table = section.split("| component | trigger | key-value stores | outbound hosts | variables |").nth(1);
        let rows = rows(table.unwrap_or_else(|| panic!("no table for {manifest}")));
        let components = doc["component"].as_table().unwrap();
        let shown: BTreeSet<String> = rows.iter().flat_map(|r| backticked(&r[0])).collect();
        assert_eq!(shown, components.keys().cloned().collect(), "{manifest}: the components");
        for row in rows {
            let id = backticked(&row[0]).into_iter().next().unwrap();
            let c = &components[&id];
            let list = |key: &str| -> BTreeSet<String> {
                c.get(key)
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect()
            };
            assert_eq!(backticked(&row[2]), list("key_value_stores"), "{manifest}: {id}'s key-value stores");
            assert_eq!(backticked(&row[3]), list("allowed_outbound_hosts"), "{manifest}: {id}'s outbound hosts");
            let mut variables = backticked(&row[4]);
            for group in row[4].split('*').skip(1).step_by(2) {
                variables.extend(groups.get(group).unwrap_or_else(|| panic!("no group `{group}`")).iter().cloned());
            }
            let granted: BTreeSet<String> =
                c.get("variables").and_then(|v| v.as_table()).into_iter().flatten().map(|(k, _)| k.clone()).collect();
            assert_eq!(variables, granted, "{manifest}: {id}'s variables");
        }
    }
}

/// What `deploy/`, `scripts/` and `.ci/` point a reader to in the docs exists:
/// every `README.md` or `docs/<page>.md` they name, and the anchor after its `#`.
#[test]
fn the_deploy_files_and_scripts_point_to_docs_that_exist() {
    fn files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    for dir in ["deploy", "scripts", ".ci"] {
        files(&root().join(dir), &mut paths);
    }
    let (mut checked, mut broken) = (0, Vec::new());
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        for (i, _) in text.match_indices(".md") {
            let start = text[..i].rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')));
            let page = &text[start.map_or(0, |s| s + 1)..i + 3];
            let page = page.trim_start_matches("../").trim_start_matches("./");
            if !(page == "README.md" || page.starts_with("docs/")) {
                continue;
            }
            checked += 1;
            let rest = &text[i + 3..];
            let anchor = rest
                .strip_prefix('#')
                .map(|a| a.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).next().unwrap());
            let Ok(target) = std::fs::read_to_string(root().join(page)) else {
                broken.push(format!("{name}: {page} (no such page)"));
                continue;
            };
            if let Some(anchor) = anchor {
                if !anchors(&target).contains(anchor) {
                    broken.push(format!("{name}: {page}#{anchor} (no such anchor)"));
                }
            } else if rest.trim_start_matches([',', ' ', '\n', '#', '(']).starts_with('"') {
                broken.push(format!("{name}: {page} names a section by its title: link its anchor instead"));
            }
        }
    }
    assert!(checked >= 5, "only {checked} references: is the scan broken?");
    assert!(broken.is_empty(), "references to docs that do not exist:\n{}", broken.join("\n"));
}
