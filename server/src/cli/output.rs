//! Printing results for people (aligned text) or machines (`--json`).

use serde::Serialize;
use std::io::Write;

#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as one JSON document with `--json`, else the text `human` gives.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let text = if self.json {
            serde_json::to_string_pretty(value).expect("output values serialize")
        } else {
            human()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", text.trim_end());
        let _ = stdout.flush();
    }
}

impl Output {
    /// Prints one event as a single line (compact JSON with `--json`), for streams that
    /// scripts read line by line.
    pub fn line<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let text = if self.json {
            serde_json::to_string(value).expect("output values serialize")
        } else {
            human()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }
}

/// Left-aligned columns under a header; an empty list says so.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "(none)".into();
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// An error and its causes as one line, like `{error:#}`, but without a cause whose text the
/// message already ends with: errors that quote their source (`invalid record: {0}`) would
/// otherwise print it twice (`invalid record: 2 invalid fields: …: 2 invalid fields: …`).
pub fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.ends_with(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[derive(Debug, thiserror::Error)]
    #[error("2 invalid fields: sex: unknown code")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("invalid record: {0}")]
    struct Quoting(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("invalid record")]
    struct Plain(#[source] Inner);

    #[test]
    fn a_cause_is_printed_once() {
        let quoted = anyhow::Error::new(Quoting(Inner)).context("importing line 3");
        assert_eq!(
            error_message(&quoted),
            "importing line 3: invalid record: 2 invalid fields: sex: unknown code"
        );
        // A cause the message does not quote is still shown.
        let plain = anyhow::Error::new(Plain(Inner));
        assert_eq!(
            error_message(&plain),
            "invalid record: 2 invalid fields: sex: unknown code"
        );
    }
}
