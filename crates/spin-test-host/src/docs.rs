//! The shell blocks of `README.md` and `docs/`, as the tests read them.
//!
//! Every fenced shell block (```` ```sh ````) carries a marker on the line right above
//! it:
//! - `<!-- runs: <id> -->`: a test runs it, fetching it with [`block`]`("<id>")`;
//! - `<!-- not run here: <why> -->`: it needs what a test machine lacks (an account, a
//!   cluster, a container engine), and is checked as far as it can be (its files, its
//!   Spin and plugin flags).
//!
//! A block shows what it answers in comments below its command: `# {…}`, a JSON object
//! (continued on `#  …` lines), compared with what the command printed by [`assert_shows`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::workspace_root;

/// One fenced shell block.
#[derive(Debug, Clone)]
pub struct Block {
    /// The page, relative to the workspace root (`docs/operating.md`).
    pub page: String,
    /// The fence's line, 1-based.
    pub line: usize,
    pub marker: Marker,
    /// The lines between the fences.
    pub text: String,
}

/// What the line above a block says of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Marker {
    Runs(String),
    NotRun(String),
    /// No marker: a defect the docs test names.
    Missing(String),
}

impl Block {
    /// `page:line`, for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.page, self.line)
    }
}

/// `README.md` and every page in `docs/`, relative to the workspace root.
pub fn pages() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(&root).unwrap().to_owned())
        .collect();
    docs.sort();
    let mut pages = vec![PathBuf::from("README.md")];
    pages.extend(docs);
    pages
}

/// The shell blocks of `page` (relative to the workspace root).
pub fn blocks_of(page: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(workspace_root().join(page)).expect("the page");
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = vec![];
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            let end = (i + 1..lines.len()).find(|&j| lines[j].trim_start().starts_with("```")).unwrap_or(lines.len());
            if matches!(info.trim(), "sh" | "bash" | "shell" | "console") {
                let above = if i > 0 { lines[i - 1].trim() } else { "" };
                let marker = if let Some(id) = comment(above, "runs:") {
                    Marker::Runs(id)
                } else if let Some(why) = comment(above, "not run here:") {
                    Marker::NotRun(why)
                } else {
                    Marker::Missing(above.to_owned())
                };
                let body = lines[i + 1..end].join("\n");
                blocks.push(Block { page: page.display().to_string(), line: i + 1, marker, text: body });
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    blocks
}

/// Every shell block of every page.
pub fn blocks() -> Vec<Block> {
    pages().iter().flat_map(|p| blocks_of(p)).collect()
}

/// The text of the block marked `<!-- runs: <id> -->`.
pub fn block(id: &str) -> String {
    let found: Vec<Block> = blocks().into_iter().filter(|b| b.marker == Marker::Runs(id.to_owned())).collect();
    assert_eq!(found.len(), 1, "one block marked `runs: {id}`, not {}", found.len());
    found[0].text.clone()
}

/// `<!-- <key> value -->` → `value`.
fn comment(line: &str, key: &str) -> Option<String> {
    let inner = line.strip_prefix("<!--")?.strip_suffix("-->")?.trim();
    Some(inner.strip_prefix(key)?.trim().to_owned())
}

/// The block's commands, each as its words: comments dropped, `\`-continued lines
/// joined, split at `&&`, `||`, `|` and `;`, quotes removed (no expansion).
pub fn commands(text: &str) -> Vec<Vec<String>> {
    let joined = text.replace("\\\n", " ");
    let mut commands = vec![];
    for line in joined.lines() {
        let mut words: Vec<String> = vec![];
        let mut word = String::new();
        let (mut quote, mut in_word) = (None::<char>, false);
        let mut chars = line.chars().peekable();
        let flush = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
            if *in_word {
                words.push(std::mem::take(word));
                *in_word = false;
            }
        };
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, '#') if !in_word => break,
                (None, ' ' | '\t') => flush(&mut words, &mut word, &mut in_word),
                (None, ';') => {
                    flush(&mut words, &mut word, &mut in_word);
                    commands.push(std::mem::take(&mut words));
                }
                (None, '|' | '&') => {
                    flush(&mut words, &mut word, &mut in_word);
                    if chars.peek() == Some(&c) {
                        chars.next();
                    }
                    commands.push(std::mem::take(&mut words));
                }
                (None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        flush(&mut words, &mut word, &mut in_word);
        commands.push(words);
    }
    // A command substitution's inside is a command too: `$(spin cloud apps info …)`.
    let mut all = vec![];
    for words in commands.into_iter().filter(|w| !w.is_empty()) {
        let mut current = vec![];
        for w in words {
            if let Some((before, inner)) = w.split_once("$(") {
                if !before.is_empty() {
                    current.push(before.to_owned());
                }
                all.push(std::mem::take(&mut current));
                if !inner.is_empty() {
                    current.push(inner.to_owned());
                }
            } else {
                current.push(w.trim_end_matches(')').to_owned());
            }
        }
        all.push(current);
    }
    all.into_iter()
        .map(|w| {
            w.into_iter().skip_while(|w| w.contains('=') && !w.starts_with('-') || w == "(" || w == "export").collect()
        })
        .filter(|w: &Vec<String>| !w.is_empty())
        .collect()
}

/// The answers a block shows: each `# {…}` comment (with its `#  …` continuation lines)
/// parsed as JSON.
pub fn shown_answers(text: &str) -> Vec<Value> {
    let mut answers = vec![];
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        match (line.strip_prefix("# {"), current.as_mut()) {
            (Some(rest), _) => {
                if let Some(done) = current.take() {
                    answers.push(done);
                }
                current = Some(format!("{{{rest}"));
            }
            (None, Some(json)) if line.starts_with("#  ") => json.push_str(&line[1..]),
            (None, Some(_)) => answers.push(current.take().unwrap()),
            (None, None) => {}
        }
    }
    answers.extend(current);
    answers
        .iter()
        .map(|json| serde_json::from_str(json).unwrap_or_else(|e| panic!("a shown answer is not JSON ({e}): {json}")))
        .collect()
}

/// Every JSON object in `out`, at any place (pretty or compact, among other text).
pub fn json_objects(out: &str) -> Vec<Value> {
    let mut objects = vec![];
    let mut at = 0;
    while let Some(start) = out[at..].find('{').map(|i| at + i) {
        let mut stream = serde_json::Deserializer::from_str(&out[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                objects.push(value);
                at = start + stream.byte_offset();
            }
            _ => at = start + 1,
        }
    }
    objects
}

/// Whether `actual` is what `shown` shows: every field shown is there with the same
/// value; a string shown with `…` matches one that starts with what comes before it.
pub fn matches(shown: &Value, actual: &Value) -> bool {
    match (shown, actual) {
        (Value::Object(s), Value::Object(a)) => s.iter().all(|(k, v)| a.get(k).is_some_and(|av| matches(v, av))),
        (Value::Array(s), Value::Array(a)) => s.len() == a.len() && s.iter().zip(a).all(|(s, a)| matches(s, a)),
        (Value::String(s), Value::String(a)) => match s.split_once('…') {
            Some((prefix, _)) => a.starts_with(prefix),
            None => s == a,
        },
        (s, a) => s == a,
    }
}

/// Each answer `block` shows is among what it printed (`out`), and nothing it printed
/// is an error the block does not show.
pub fn assert_shows(block: &str, out: &str) {
    let printed = json_objects(out);
    let shown = shown_answers(block);
    for answer in &shown {
        assert!(
            printed.iter().any(|p| matches(answer, p)),
            "the block shows {answer}, but printed:\n{out}\n-- block:\n{block}"
        );
    }
    for p in &printed {
        let status = p.get("status").and_then(Value::as_u64).unwrap_or(0);
        if p.get("type").is_some() && status >= 400 {
            assert!(shown.iter().any(|s| matches(s, p)), "an error the block does not show: {p}\n-- block:\n{block}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_as_a_shell_would() {
        let text = "set -a && . ./hosted.env && set +a   # load\nspin aka deploy -f x.toml \\\n  --variable a=\"$B\"\nexport U=$(spin cloud apps info app --format json | jq -r .url)";
        let words: Vec<String> = commands(text).iter().map(|w| w.join(" ")).collect();
        assert_eq!(
            words,
            [
                "set -a",
                ". ./hosted.env",
                "set +a",
                "spin aka deploy -f x.toml --variable a=$B",
                "spin cloud apps info app --format json",
                "jq -r .url"
            ]
        );
    }

    #[test]
    fn a_shown_answer_matches_with_its_elisions() {
        let block = "curl -s x\n# {\"group\":\"order-writer\",\"redriven\":1,\n#  \"id\":\"01a2…\"}";
        let shown = shown_answers(block);
        assert_eq!(shown.len(), 1);
        assert!(matches(
            &shown[0],
            &serde_json::json!({"group": "order-writer", "redriven": 1, "id": "01a2ff", "x": 2})
        ));
        assert!(!matches(&shown[0], &serde_json::json!({"group": "order-writer", "redriven": 0, "id": "01a2ff"})));
        assert!(!matches(&shown[0], &serde_json::json!({"group": "order-writer", "redriven": 1, "id": "02"})));
        let printed = json_objects("HTTP/1.1 200 OK\n\n{\"a\": {\"b\": 1}}\n{\"c\":2}");
        assert_eq!(printed, vec![serde_json::json!({"a": {"b": 1}}), serde_json::json!({"c": 2})]);
    }
}
