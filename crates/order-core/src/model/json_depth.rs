//! How deep a JSON text nests, checked before it is parsed, so the parser's recursion
//! never depends on the client.

/// Deepest nesting of arrays and objects accepted in a body or a message; the order itself nests 3
/// deep, so unknown fields have room. Checked by a linear scan before the body is
/// parsed, so the parser's recursion never depends on the client (serde_json's own
/// limit, 128, costs far more stack on the way).
pub const MAX_JSON_DEPTH: usize = 32;

/// Whether the JSON text `bytes` nests arrays and objects at most `max` deep: one pass,
/// no recursion, brackets inside strings skipped. Says nothing else about the text; the
/// parser judges that.
pub fn nesting_within(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings_only() {
        assert!(nesting_within(b"[[{}]]", 3) && !nesting_within(b"[[{}]]", 2));
        assert!(nesting_within(br#"["[[[[", "\"[[[["]"#, 1), "brackets in strings, escaped quotes too");
        assert!(nesting_within(b"]]]]", 0), "closing brackets never go below zero");
    }
}
