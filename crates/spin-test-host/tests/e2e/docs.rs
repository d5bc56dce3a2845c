//! The docs stay true: every relative link and anchor in `README.md` and `docs/`
//! resolves; `docs/configuration.md`'s table is the manifests, column by column; every
//! shell block is run by a test or says why it cannot be, and is checked as far as it
//! can be either way; the examples of `docs/http-api.md` and `docs/operating.md` run
//! against the app (the README's run under the real `spin up`: `spin_cli/docs.rs`).

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
    let table = page.split("| variable | default | read by | meaning |").nth(1).expect("the variables table");
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

/// The examples of `docs/http-api.md` and `docs/operating.md`, in one shell in page
/// order (a later one may use what an earlier one set, as a reader's shell would),
/// against the app with the walkthrough's order stored, a dead letter in order-writer's
/// group whose cause was then fixed (operating.md's redrive begins "after fixing what
/// made messages fail"), and a `.env` as `scripts/run` writes it. Each block exits 0, and
/// each answer it shows comes back, every field it shows with its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_and_operating_examples_run_as_written() {
    let redis = RedisServer::start();
    let app = load(Options {
        variables: vars(&redis, &[("max_deliveries", "3"), ("visibility_timeout_ms", "100")]),
        ..Options::default()
    });
    let _trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    // The order store refuses a13's order until the cause is fixed (healed, below).
    app.kv.poison_keys("orders", "a13#v13");
    assert_eq!(post_order(&app, &order_body(13)).await.status, 202);
    let dead_letters = || -> u64 {
        let mut conn = redis.client().get_connection().unwrap();
        redis::cmd("XLEN").arg("orders:stream:dead:order-writer").query(&mut conn).unwrap_or(0)
    };
    eventually(Duration::from_secs(10), "a0/v0 stored and a13/v13 dead-lettered", || {
        stored(&app, "orders", "a0#v0").is_some() && dead_letters() == 1
    })
    .await;
    app.kv.heal();
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
    let ids = ["http-api-bad-order", "operating-status", "operating-redrive", "operating-doorbell"];
    let blocks: Vec<String> = ids.iter().map(|id| spin_test_host::docs::block(id)).collect();
    let script: String = ids
        .iter()
        .zip(&blocks)
        .map(|(id, block)| format!("echo '::block {id}'\n{block}\necho\n"))
        .collect::<String>()
        .replace("http://127.0.0.1:3000", &format!("http://{addr}"));
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || spin_test_host::bash(&script, &dir)
    })
    .await
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    for (id, block) in ids.iter().zip(&blocks) {
        let printed = out.split(&format!("::block {id}\n")).nth(1).unwrap().split("::block ").next().unwrap();
        spin_test_host::docs::assert_shows(block, printed);
    }
    let status = out.split("::block operating-status\n").nth(1).unwrap();
    assert!(status.contains("\"groups\""), "GET /pipeline: {status}");
    // The redriven message is stored this time.
    eventually(Duration::from_secs(10), "a13/v13, redriven, stored", || stored(&app, "orders", "a13#v13").is_some())
        .await;
}

/// Every shell block of `README.md` and `docs/` is run by a test (marked `runs: <id>`,
/// and some test fetches it with `docs::block("<id>")`), or says right above it why it
/// cannot run here (`not run here: …`). Every block is also checked as far as it can
/// be without running it: each repository file it names exists, each `spin cloud`,
/// `spin aka` and `spin kube` subcommand and flag is in the plugin's reference
/// (`plugin-flags.toml`, beside this test), and each that acts on a deployed app names
/// it. (Spin's own subcommands and flags are checked against the CLI's `--help` in the
/// real-Spin tier: `spin_cli/docs.rs`.)
#[test]
fn every_shell_block_is_run_or_says_why() {
    use spin_test_host::docs::{blocks, commands, Marker};
    let blocks = blocks();
    assert!(blocks.len() >= 15, "only {} shell blocks: is the scan broken?", blocks.len());
    let tests = test_sources();
    let plugins: toml::Table = toml::from_str(include_str!("plugin-flags.toml")).unwrap();
    let mut wrong = vec![];
    let mut ids = BTreeSet::new();
    for block in &blocks {
        let at = block.at();
        match &block.marker {
            Marker::Missing(above) => wrong.push(format!(
                "{at}: no `<!-- runs: <id> -->` or `<!-- not run here: <why> -->` right above it (the line above: {above:?})"
            )),
            Marker::Runs(id) => {
                if !ids.insert(id.clone()) {
                    wrong.push(format!("{at}: a second block marked `runs: {id}`"));
                }
                let fetched = tests.contains(&format!("\"{id}\""));
                if !fetched {
                    wrong.push(format!("{at}: marked `runs: {id}`, but no test names \"{id}\" to fetch it"));
                }
            }
            Marker::NotRun(why) if why.len() < 20 => wrong.push(format!("{at}: `not run here: {why}` says too little")),
            Marker::NotRun(_) => {}
        }
        let created: BTreeSet<String> = block
            .text
            .split('>')
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next())
            .map(|w| w.trim_matches(|c| c == ')' || c == '(').to_owned())
            .collect();
        for words in commands(&block.text) {
            for word in &words {
                let path = word.split_once('=').map_or(word.as_str(), |(_, v)| v);
                if names_a_repository_file(path) && !created.contains(path) && !root().join(path).exists() {
                    wrong.push(format!("{at}: `{path}` does not exist"));
                }
            }
            if words.len() > 1 && words[0] == "spin" {
                if let Some(plugin) = plugins.get(&words[1]).and_then(|p| p.as_table()) {
                    check_plugin_command(&at, plugin, &words[1], &words[2..], &mut wrong);
                }
                check_spin_command(&at, &words[1..], &mut wrong);
            }
        }
    }
    assert!(wrong.is_empty(), "shell blocks:\n{}", wrong.join("\n"));
}

/// `spin up` and `spin registry push` name what Spin does not find by itself: the
/// runtime config of a manifest whose stores only a runtime config defines (Spin reads
/// none unless it is named), and the manifest to push (the deployed ones are not
/// `./spin.toml`).
fn check_spin_command(at: &str, args: &[String], wrong: &mut Vec<String>) {
    let flag = |names: &[&str]| -> Option<String> {
        args.iter().position(|a| names.contains(&a.split('=').next().unwrap())).map(|i| {
            args[i]
                .split_once('=')
                .map(|(_, v)| v.to_owned())
                .unwrap_or_else(|| args.get(i + 1).cloned().unwrap_or_default())
        })
    };
    match args.first().map(String::as_str) {
        Some("up") => {
            let manifest = flag(&["-f", "--from"]).unwrap_or_else(|| "spin.toml".to_owned());
            let Ok(text) = std::fs::read_to_string(root().join(&manifest)) else { return };
            let doc: toml::Value = toml::from_str(&text).unwrap();
            let labels: BTreeSet<String> = doc["component"]
                .as_table()
                .unwrap()
                .values()
                .filter_map(|c| c.get("key_value_stores").and_then(|s| s.as_array()))
                .flatten()
                .map(|l| l.as_str().unwrap().to_owned())
                .filter(|l| l != "default")
                .collect();
            if !labels.is_empty() && flag(&["--runtime-config-file"]).is_none() {
                wrong.push(format!(
                    "{at}: `spin up` on {manifest} without --runtime-config-file: Spin stops with `unknown key_value_stores label` ({labels:?})"
                ));
            }
        }
        Some("registry") if args.get(1).map(String::as_str) == Some("push") && flag(&["-f", "--from"]).is_none() => {
            wrong.push(format!("{at}: `spin registry push` without -f pushes ./spin.toml, not a deployed manifest"));
        }
        _ => {}
    }
}

/// Every `.rs` file of the tests, as one text.
fn test_sources() -> String {
    fn walk(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    // The tests, and the library's helpers they call (`readme_walkthrough`), without
    // this checker, whose own strings must not count as fetching a block.
    let mut text = String::new();
    walk(&root().join("crates/spin-test-host/tests"), &mut text);
    text.push_str(&std::fs::read_to_string(root().join("crates/spin-test-host/src/lib.rs")).unwrap());
    let checker = text.find("fn every_shell_block_is_run_or_says_why").unwrap();
    let end = checker + text[checker..].find("\n}\n").unwrap();
    text.replace_range(checker..end, "");
    text
}

/// Whether `word` names a file of this repository (a path under one of its folders, or
/// one of its top-level files), rather than a URL, an option or a value.
fn names_a_repository_file(word: &str) -> bool {
    let top = ["scripts/", "deploy/", "docs/", "crates/", "components/", "wit/", ".ci/"];
    let files = ["spin.toml", "runtime-config.toml", "Cargo.toml", "README.md"];
    (top.iter().any(|t| word.starts_with(t)) || files.contains(&word)) && !word.contains('$')
}

/// `spin <plugin> <rest…>` against the plugin's reference: its subcommand is there,
/// each flag it passes is one of that subcommand's, and it names the app it acts on.
fn check_plugin_command(at: &str, plugin: &toml::Table, name: &str, rest: &[String], wrong: &mut Vec<String>) {
    let commands = plugin["commands"].as_table().unwrap();
    let words: Vec<&str> = rest.iter().map(String::as_str).take_while(|w| !w.starts_with('-')).collect();
    let Some(sub) = (1..=words.len()).rev().map(|n| words[..n].join(" ")).find(|s| commands.contains_key(s)) else {
        wrong.push(format!("{at}: `spin {name} {}` is not a subcommand of the plugin's reference", rest.join(" ")));
        return;
    };
    let allowed: BTreeSet<&str> = commands[&sub].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    let given: Vec<&str> = rest.iter().filter(|w| w.starts_with('-')).map(|w| w.split('=').next().unwrap()).collect();
    for flag in &given {
        if !allowed.contains(flag) {
            wrong.push(format!(
                "{at}: `spin {name} {sub}` has no `{flag}` in the plugin's reference ({})",
                plugin["version"]
            ));
        }
    }
    if let Some(needs) = plugin.get("needs_app").and_then(|n| n.get(&sub)).and_then(|n| n.as_array()) {
        let needs: Vec<&str> = needs.iter().map(|n| n.as_str().unwrap()).collect();
        let positional = rest.len() > sub.split(' ').count() && !rest[sub.split(' ').count()].starts_with('-');
        let named = given.iter().any(|f| needs.contains(f)) || (needs.contains(&"positional") && positional);
        if !named {
            wrong.push(format!(
                "{at}: `spin {name} {sub}` names no app ({}): it would act on ./spin.toml, not the deployed manifest",
                needs.join(", ")
            ));
        }
    }
}

/// `docs/configuration.md`'s variables table is the manifests, on every column: each
/// variable's default (every distinct default a manifest gives, backticked, `empty` for
/// an empty one), whether it is required and secret, and which components read it (in
/// any manifest: its variables and its allowed hosts; "the Redis trigger" for the
/// trigger's address and channels).
#[test]
fn the_configuration_table_is_the_manifests_on_every_column() {
    let manifests = ["spin.toml", "deploy/fermyon-cloud/spin.toml", "deploy/kubernetes/spin.toml"];
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let table = page.split("| variable | default | read by | meaning |").nth(1).expect("the variables table");
    let order = ["order-api", "order-reader", "invoice-api", "pipeline-api", "order-writer", "invoice-writer"];
    let refs = |text: &str| -> BTreeSet<String> {
        text.split("{{").skip(1).filter_map(|r| r.split("}}").next()).map(|v| v.trim().to_owned()).collect()
    };
    let mut wrong = vec![];
    let mut rows = 0;
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        rows += 1;
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        let (names, default_cell, readers_cell) = (backticked(cells[0]), cells[1], cells[2]);
        let (mut defaults, mut required, mut secret, mut readers) =
            (BTreeSet::new(), false, false, BTreeSet::<String>::new());
        for manifest in manifests {
            let doc: toml::Value = toml::from_str(&std::fs::read_to_string(root().join(manifest)).unwrap()).unwrap();
            for name in &names {
                let Some(v) = doc["variables"].get(name) else { continue };
                if let Some(d) = v.get("default").and_then(|d| d.as_str()) {
                    defaults.insert(d.to_owned());
                }
                required |= v.get("required").and_then(|r| r.as_bool()) == Some(true);
                secret |= v.get("secret").and_then(|r| r.as_bool()) == Some(true);
                for (id, c) in doc["component"].as_table().unwrap() {
                    let text = format!("{:?}{:?}", c.get("variables"), c.get("allowed_outbound_hosts"));
                    if refs(&text).contains(name) {
                        readers.insert(id.clone());
                    }
                }
                let trigger =
                    format!("{:?}{:?}", doc.get("application"), doc.get("trigger").and_then(|t| t.get("redis")));
                if refs(&trigger).contains(name) {
                    readers.insert("the Redis trigger".to_owned());
                }
            }
        }
        let shown: BTreeSet<String> = backticked(default_cell).into_iter().filter(|d| !d.ends_with(".toml")).collect();
        let non_empty: BTreeSet<String> = defaults.iter().filter(|d| !d.is_empty()).cloned().collect();
        let name = names.iter().cloned().collect::<Vec<_>>().join(", ");
        if shown != non_empty {
            wrong.push(format!("{name}: the default column shows {shown:?}, the manifests give {non_empty:?}"));
        }
        if defaults.contains("") != default_cell.contains("empty") {
            wrong.push(format!(
                "{name}: an empty default is {}shown as `empty`",
                if defaults.contains("") { "not " } else { "wrongly " }
            ));
        }
        if required != default_cell.contains("required") {
            wrong.push(format!("{name}: required in a manifest: {required}; the table says otherwise"));
        }
        if secret != default_cell.contains("secret") {
            wrong.push(format!("{name}: secret in a manifest: {secret}; the table says otherwise"));
        }
        let mut shown_readers: BTreeSet<String> =
            backticked(readers_cell).into_iter().filter(|c| order.contains(&c.as_str())).collect();
        if readers_cell.contains("the Redis trigger") {
            shown_readers.insert("the Redis trigger".to_owned());
        }
        if shown_readers != readers {
            wrong.push(format!("{name}: read by {readers:?}, the table says {shown_readers:?}"));
        }
    }
    assert!(rows >= 25, "only {rows} rows: is the scan broken?");
    assert!(wrong.is_empty(), "docs/configuration.md against the manifests:\n{}", wrong.join("\n"));
}

/// `docs/http-api.md` gives every header cap the code enforces, with its size.
#[test]
fn the_http_api_gives_every_header_cap() {
    let page = std::fs::read_to_string(root().join("docs/http-api.md")).unwrap();
    let limits = page.split("**Bounded work.**").nth(1).unwrap().split("\n\n").next().unwrap().replace('\n', " ");
    for (name, bytes) in order_core::http::request::HEADER_LIMITS {
        let size = if bytes % 1024 == 0 { format!("{} KiB", bytes / 1024) } else { format!("{bytes} bytes") };
        let at = limits.find(&format!("`{name}`")).unwrap_or_else(|| panic!("no `{name}` in: {limits}"));
        assert!(limits[at..].contains(&size), "`{name}`'s cap, {size}, is not given after it: {limits}");
    }
}

/// `docs/architecture.md`'s list of handlers names every handler module.
#[test]
fn the_architecture_lists_every_handler() {
    let page = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let row = page.lines().find(|l| l.starts_with("| `handlers/` |")).expect("the handlers row");
    let named = backticked(row);
    let dir = root().join("crates/order-core/src/handlers");
    let mut missing = vec![];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect()
        } else {
            vec![path]
        };
        for file in files {
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            if !matches!(stem.as_str(), "mod" | "tests") && !named.contains(&stem) {
                missing.push(file.strip_prefix(&dir).unwrap().display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "handlers the architecture does not list: {missing:?}");
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
            let mut hosts = backticked(&row[3]);
            for group in row[3].split('*').skip(1).step_by(2) {
                hosts.extend(groups.get(group).unwrap_or_else(|| panic!("no group `{group}`")).iter().cloned());
            }
            assert_eq!(hosts, list("allowed_outbound_hosts"), "{manifest}: {id}'s outbound hosts");
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
