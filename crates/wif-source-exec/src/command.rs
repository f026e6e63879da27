//! Splitting `credential_source.executable.command` into a program and its arguments.
//!
//! Python's google-auth runs `shlex.split(command)` (POSIX mode, no comments) and Go's x/oauth2
//! `strings.Fields`. We follow Python, byte for byte, because it is the stricter of the two and
//! gcloud-written configurations are tested against it: quotes group words, a backslash escapes
//! the next character outside quotes and only `"` or `\` inside double quotes, and `#` is an
//! ordinary character (a shell would start a comment; Python's `shlex.split` does not, and
//! silently dropping arguments would be worse).
//!
//! No shell is involved: there is no variable expansion, globbing, redirection or piping.

use std::fmt;

/// Why a command line could not be split. The messages are Python's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// A `'` or `"` was opened and never closed.
    NoClosingQuotation,
    /// The command ends with a lone backslash.
    NoEscapedCharacter,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitError::NoClosingQuotation => "no closing quotation",
            SplitError::NoEscapedCharacter => "no escaped character after the final backslash",
        })
    }
}

/// What the splitter is in the middle of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between words.
    Between,
    /// Inside an unquoted part of a word.
    Word,
    /// Inside `'…'` (no escapes at all).
    Single,
    /// Inside `"…"` (a backslash escapes only `"` and `\`).
    Double,
}

/// Splits `command` as Python's `shlex.split(command)` does.
pub(crate) fn split(command: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word that had quotes is kept even when empty (`x "" y` has three words).
    let mut in_word = false;
    let mut state = State::Between;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Between | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                    state = State::Between;
                }
                '\'' => {
                    in_word = true;
                    state = State::Single;
                }
                '"' => {
                    in_word = true;
                    state = State::Double;
                }
                '\\' => {
                    // Outside quotes the backslash escapes anything, a newline included.
                    word.push(chars.next().ok_or(SplitError::NoEscapedCharacter)?);
                    in_word = true;
                    state = State::Word;
                }
                c => {
                    word.push(c);
                    in_word = true;
                    state = State::Word;
                }
            },
            State::Single => match c {
                '\'' => state = State::Word,
                c => word.push(c),
            },
            State::Double => match c {
                '"' => state = State::Word,
                '\\' => {
                    let next = chars.next().ok_or(SplitError::NoEscapedCharacter)?;
                    // POSIX: inside double quotes the backslash stays unless it escapes `"` or `\`.
                    if next != '"' && next != '\\' {
                        word.push('\\');
                    }
                    word.push(next);
                }
                c => word.push(c),
            },
        }
    }
    if matches!(state, State::Single | State::Double) {
        return Err(SplitError::NoClosingQuotation);
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors produced by running Python 3's `shlex.split` on each input.
    #[test]
    fn splits_like_python_shlex() {
        let table: &[(&str, &[&str])] = &[
            ("a b c", &["a", "b", "c"]),
            ("  a   b  ", &["a", "b"]),
            ("", &[]),
            ("   ", &[]),
            ("/bin/tool --aud=\"a b\"", &["/bin/tool", "--aud=a b"]),
            ("x 'a b' \"c d\"", &["x", "a b", "c d"]),
            ("x \"\" y", &["x", "", "y"]),
            ("x '' y", &["x", "", "y"]),
            ("a\\ b", &["a b"]),
            ("a\\\\b", &["a\\b"]),
            ("\"a\\\"b\"", &["a\"b"]),
            ("\"a\\$b\"", &["a\\$b"]),
            ("\"a\\nb\"", &["a\\nb"]),
            ("'a\\b'", &["a\\b"]),
            ("a\"b c\"d", &["ab cd"]),
            ("x #y", &["x", "#y"]),
            ("x\ty\nz", &["x", "y", "z"]),
            ("x\ry", &["x", "y"]),
            ("\"it's\"", &["it's"]),
            ("'say \"hi\"'", &["say \"hi\""]),
            ("a\\\"b", &["a\"b"]),
            ("\"a\\\\b\"", &["a\\b"]),
            ("--k=v\\=w", &["--k=v=w"]),
            ("ünï \"cödé x\"", &["ünï", "cödé x"]),
            ("$HOME *.txt a|b >out", &["$HOME", "*.txt", "a|b", ">out"]),
        ];
        for (input, want) in table {
            let got = split(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(&got, want, "split({input:?})");
        }
    }

    #[test]
    fn unbalanced_input_is_an_error() {
        assert_eq!(split("\"abc"), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("'abc"), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("abc\\"), Err(SplitError::NoEscapedCharacter));
        assert_eq!(split("\"abc\\"), Err(SplitError::NoEscapedCharacter));
    }
}
