//! Text hygiene for notifications: causes are untrusted text (megabytes, control
//! characters, bidi overrides), while SNS subjects must be short printable ASCII.

/// Characters that reorder displayed text (the "Trojan Source" set): a cause could make
/// an e-mail show something other than what it says.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Whether `c` may appear in a message body line.
fn is_visible(c: char) -> bool {
    !c.is_control() && !is_bidi_control(c) && c != '\u{FEFF}'
}

/// Multi-line text without control characters (tabs and newlines kept, `\r\n` → `\n`).
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if is_visible(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// One line: whitespace runs (newlines included) become one space, invisible characters
/// go, and the result has at most `max_chars` characters (ending in `...` when cut).
/// Reads only as much of `s` as it needs, so a multi-megabyte cause costs nothing.
pub fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    let mut truncated = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if !is_visible(c) {
            continue;
        }
        let needed = if pending_space { 2 } else { 1 };
        if count + needed > max_chars {
            truncated = true;
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    if truncated {
        let keep = max_chars.saturating_sub(3);
        let cut: String = out.chars().take(keep).collect();
        return format!("{}...", cut.trim_end());
    }
    out
}

/// Printable ASCII for an SNS subject: whitespace → one space, other control characters
/// dropped, anything else outside ASCII → `?`. Trimmed.
pub fn ascii_line(s: &str) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        let mapped = match c {
            ' '..='~' => c,
            c if !is_visible(c) => continue,
            _ => '?',
        };
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(mapped);
    }
    out
}

/// The longest prefix of `s` of at most `max_bytes` bytes that ends on a char boundary.
pub fn prefix_bytes(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// An ASCII string cut to `max` bytes, ending in `...` when cut.
pub fn shorten_ascii(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    if max < 4 {
        return prefix_bytes(s, max).to_string();
    }
    format!("{}...", prefix_bytes(s, max - 3).trim_end())
}

/// `TrainSequenceModel` → `Train Sequence Model`; `SNSPublish` → `SNS Publish`;
/// underscores and dashes become spaces.
pub fn split_camel_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c.is_whitespace() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 && !out.ends_with(' ') {
            let prev = chars.get(i - 1).copied().unwrap_or(' ');
            let next = chars.get(i + 1).copied();
            let after_lower = prev.is_lowercase() || prev.is_ascii_digit();
            let acronym_end = prev.is_uppercase() && next.is_some_and(|n| n.is_lowercase());
            if after_lower || acronym_end {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

/// `Train Sequence Model` → `TrainSequenceModel`: the state key a display name maps to.
pub fn state_key(display: &str) -> String {
    display.chars().filter(|c| c.is_alphanumeric()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_splits_words_and_acronyms() {
        assert_eq!(
            split_camel_case("TrainSequenceModel"),
            "Train Sequence Model"
        );
        assert_eq!(split_camel_case("GenerateConfig"), "Generate Config");
        assert_eq!(split_camel_case("SNSPublish"), "SNS Publish");
        assert_eq!(split_camel_case("CopyS3Data"), "Copy S3 Data");
        assert_eq!(split_camel_case("notify_success"), "notify success");
        assert_eq!(split_camel_case("QualityGate"), "Quality Gate");
        assert_eq!(split_camel_case(""), "");
        assert_eq!(split_camel_case("Already Spaced"), "Already Spaced");
    }

    #[test]
    fn state_keys_drop_spaces() {
        assert_eq!(state_key("Train Sequence Model"), "TrainSequenceModel");
        assert_eq!(state_key("Base Model Inference"), "BaseModelInference");
    }

    #[test]
    fn one_line_collapses_and_truncates() {
        assert_eq!(one_line("  a\n\n b\t c  ", 100), "a b c");
        assert_eq!(one_line("abcdefghij", 6), "abc...");
        assert_eq!(one_line("a\u{202E}b\u{0}c", 10), "abc");
        let huge = "x".repeat(5_000_000);
        assert_eq!(one_line(&huge, 20).chars().count(), 20);
        assert_eq!(one_line("", 5), "");
    }

    #[test]
    fn clean_text_keeps_lines_and_drops_controls() {
        assert_eq!(clean_text("a\r\nb\u{7}\tc\u{202E}"), "a\nb\tc");
        assert_eq!(clean_text("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn ascii_line_replaces_non_ascii() {
        assert_eq!(ascii_line(" nächtlich\nlauf\u{7} "), "n?chtlich lauf");
        assert_eq!(ascii_line("\u{202E}evil"), "evil");
        assert!(ascii_line("训练-1")
            .chars()
            .all(|c| (' '..='~').contains(&c)));
    }

    #[test]
    fn prefixes_respect_char_boundaries() {
        assert_eq!(prefix_bytes("aé", 2), "a");
        assert_eq!(prefix_bytes("aé", 3), "aé");
        assert_eq!(shorten_ascii("abcdefgh", 6), "abc...");
        assert_eq!(shorten_ascii("abc", 6), "abc");
        assert_eq!(shorten_ascii("abcdef", 2), "ab");
    }
}
