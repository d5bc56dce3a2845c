//! The README as a newcomer follows it, under the real `spin up`: `scripts/run` in one
//! terminal; in a second, in the checkout, the walkthrough, the reads with the API key
//! from `.env`, and `scripts/orders`. Spin's habit, `spin build && spin up`: the build
//! says first which command serves the app, and the bare `spin up` still cannot (if a
//! Spin ever finds the runtime config by itself, this fails, and the docs change). And
//! every `spin` command in the docs' shell blocks uses only subcommands and flags this
//! CLI has (the plugins' are checked in `e2e/docs.rs`).

use std::collections::BTreeSet;

use spin_test_host::docs;

use super::walkthrough::run_walkthrough_at;
use super::wirings::ScriptsRun;
use super::*;

#[test]
fn the_readme_blocks_run_as_written_under_scripts_run() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let dir = scratch("readme-blocks");
    let run = ScriptsRun::start(spin, &redis, &dir);
    let base = format!("http://{}", run.addr);
    // The line the README shows once the app is ready, for this address.
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let ready =
        readme.lines().find(|l| l.starts_with("ready: http://127.0.0.1:3000")).expect("the README's ready line");
    let ready = ready.replace("http://127.0.0.1:3000", &base);
    eventually(Duration::from_secs(30), "scripts/run to print the README's ready line", || {
        run.output().lines().any(|l| l == ready)
    });
    // The second terminal, in the checkout: its `.env` is the one scripts/run keeps.
    let checkout = workspace_root();
    run_walkthrough_at(&base, &checkout);
    let _ = std::fs::remove_file(checkout.join("order.json"));

    let reads = docs::block("readme-reads");
    let out = spin_test_host::bash(&reads.replace("http://127.0.0.1:3000", &base), &checkout);
    docs::assert_shows(&reads, &out);
    let answers = docs::json_objects(&out);
    assert_eq!(answers.len(), 2, "the order and the account's newest invoice: {out}");
    assert_eq!(answers[0]["order"]["accountid"], "a0", "{out}");
    assert!(answers[1]["url"].as_str().is_some_and(|u| u.contains("/invoice/download")), "{out}");

    // As written, with ORDERS_URL pointing at this run (its port is not 3000).
    let orders = docs::block("readme-orders");
    let out = spin_test_host::bash(&format!("export ORDERS_URL={base}\n{orders}"), &checkout);
    assert!(out.contains("accepted   10000"), "post -n 10000: {out}");
    let answers = docs::json_objects(&out);
    assert!(
        answers.iter().any(|a| a["order"]["accountid"] == "a0" && a["order"]["vendorid"] == "v0"),
        "get-order: {out}"
    );
    assert!(
        answers.iter().any(|a| a["order_ref"] == "a0#v0" && a["total"] == "14.85"),
        "get-invoice --download: {out}"
    );
    for component in ["order-api", "order-writer", "invoice-writer"] {
        assert!(out.contains(component), "trace: no {component} in {out}");
    }
}

#[test]
fn spin_build_says_first_which_command_serves_the_app_that_a_bare_spin_up_cannot() {
    let (spin, _one) = spin_or_skip!();
    let build = Command::new(&spin.path).arg("build").current_dir(workspace_root()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&build.stdout), String::from_utf8_lossy(&build.stderr));
    assert!(build.status.success(), "{text}");
    let hint = text.find("serve this app with `scripts/run`, not a bare `spin up`").expect(&text);
    let cargo = text.find("Running build step 2/2").expect(&text);
    assert!(hint < cargo, "the word comes before the build: {text}");
    assert!(text.contains("spin up --runtime-config-file runtime-config.toml"), "{text}");

    // Spin's habit, in a copy of the checkout's manifest and builds.
    let dir = scratch("bare-spin-up");
    std::fs::copy(workspace_root().join("spin.toml"), dir.join("spin.toml")).unwrap();
    std::os::unix::fs::symlink(workspace_root().join("target"), dir.join("target")).unwrap();
    let mut up = Command::new(&spin.path)
        .args(["up", "--listen", &format!("127.0.0.1:{}", free_port())])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while up.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = up.kill();
            panic!("a bare `spin up` served this app: the docs and scripts/lib/serve-hint say it cannot");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = up.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(text.contains("unknown key_value_stores label \"orders\""), "{text}");
}

/// `spin <subcommand …> --help`'s text, run in the checkout.
fn help(spin: &Spin, path: &[&str]) -> String {
    let out = Command::new(&spin.path).args(path).arg("--help").current_dir(workspace_root()).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The subcommands a `--help` lists (clap 3's `SUBCOMMANDS:`, clap 4's `Commands:`).
fn subcommands(help: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut listing = false;
    for line in help.lines() {
        if line.starts_with("SUBCOMMANDS:") || line.starts_with("Commands:") {
            listing = true;
        } else if listing && line.starts_with("  ") {
            names.extend(line.split_whitespace().next().map(str::to_owned));
        } else if listing && !line.trim().is_empty() {
            listing = false;
        }
    }
    names
}

#[test]
fn the_docs_use_only_spin_subcommands_and_flags_the_cli_has() {
    let (spin, _one) = spin_or_skip!();
    let plugins = ["cloud", "aka", "kube"];
    let (mut checked, mut wrong) = (0, vec![]);
    for block in docs::blocks() {
        for words in docs::commands(&block.text) {
            if words.len() < 2 || words[0] != "spin" || plugins.contains(&words[1].as_str()) {
                continue;
            }
            let mut path: Vec<&str> = vec![];
            for word in &words[1..] {
                if word.starts_with('-') || !subcommands(&help(spin, &path)).contains(word.as_str()) {
                    break;
                }
                path.push(word);
            }
            if path.is_empty() {
                wrong.push(format!("{}: `spin {}` is no subcommand of this CLI", block.at(), words[1]));
                continue;
            }
            let text = help(spin, &path);
            for flag in words.iter().filter(|w| w.starts_with('-')).map(|w| w.split('=').next().unwrap()) {
                checked += 1;
                let listed = text.match_indices(flag).any(|(i, _)| {
                    let next = text[i + flag.len()..].chars().next();
                    let before = text[..i].chars().last();
                    !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                });
                if !listed {
                    wrong.push(format!("{}: `spin {}` has no `{flag}`", block.at(), path.join(" ")));
                }
            }
        }
    }
    assert!(checked >= 3, "only {checked} flags checked: is the scan broken?");
    assert!(wrong.is_empty(), "the docs' spin commands against {}:\n{}", spin.path.display(), wrong.join("\n"));
}
