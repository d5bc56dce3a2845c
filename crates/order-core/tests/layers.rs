//! The core's folders import one way: each only from itself and the layers below it, in
//! the order `docs/architecture.md` draws on its `layers:` line (`model` at the bottom,
//! `handlers` at the top). Every `crate::<layer>` a file names outside its tests counts,
//! doc links too: a link up is a dependency a reader follows. `testing` (in-memory
//! ports, test clocks) sits above everything and only tests use it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The layers, bottom first, from `docs/architecture.md`.
fn layers() -> Vec<String> {
    let page = std::fs::read_to_string(root().join("../../docs/architecture.md")).unwrap();
    let line = page.lines().find(|l| l.starts_with("layers: ")).expect("architecture.md's `layers:` line");
    line["layers: ".len()..].split('<').map(|l| l.trim().trim_matches('`').to_owned()).collect()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's code without its tests: an inline `#[cfg(test)] mod tests { ... }` runs to
/// the end of its file; a `tests.rs` is all tests.
fn code(path: &Path) -> Option<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    Some(match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => text[..i].to_owned(),
        None => text,
    })
}

#[test]
fn every_folder_imports_only_from_the_layers_below_it() {
    let layers = layers();
    assert!(layers.len() >= 6 && layers[0] == "model" && layers.last().unwrap() == "handlers", "{layers:?}");
    let rank = |name: &str| layers.iter().position(|l| l == name);
    let src = root().join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let (mut checked, mut upward) = (0, Vec::new());
    for path in files {
        let relative = path.strip_prefix(&src).unwrap();
        let layer =
            relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        if layer == "lib" || layer == "testing" {
            continue;
        }
        let own = rank(&layer).unwrap_or_else(|| panic!("{} is in no layer of {layers:?}", relative.display()));
        let Some(code) = code(&path) else { continue };
        for (n, line) in code.lines().enumerate() {
            for (i, _) in line.match_indices("crate::") {
                if i > 0 && line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue; // `order_core::...`, another crate's path
                }
                let named: String =
                    line[i + "crate::".len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                checked += 1;
                let target = if named == "testing" { layers.len() } else { rank(&named).unwrap_or(own) };
                if target > own {
                    upward.push(format!(
                        "{}:{}: `{layer}` names `{named}`: {}",
                        relative.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} paths: is the scan broken?");
    assert!(upward.is_empty(), "imports from a layer above (layers: {}):\n{}", layers.join(" < "), upward.join("\n"));
}
