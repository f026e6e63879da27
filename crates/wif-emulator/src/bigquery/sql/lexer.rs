//! The lexer of the SQL subset: tokens with their `[line:column]` positions.

use std::fmt;

use super::{SqlError, invalid};

/// A position in the query text, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    line: usize,
    col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}:{}]", self.line, self.col)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Int(i64),
    Float(f64),
    Param(String),
    Positional,
    Sym(char),
    Eof,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: Pos,
}

const RESERVED: [&str; 20] = [
    "SELECT", "FROM", "WHERE", "LIMIT", "AND", "OR", "AS", "IS", "NOT", "NULL", "TRUE", "FALSE",
    "ORDER", "GROUP", "BY", "JOIN", "HAVING", "UNION", "ON", "DISTINCT",
];

pub(super) fn is_keyword(tok: &Tok, kw: &str) -> bool {
    matches!(tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

pub(super) fn is_reserved(tok: &Tok) -> bool {
    RESERVED.iter().any(|kw| is_keyword(tok, kw))
}

pub(super) fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) if is_reserved(tok) => format!("keyword {}", s.to_ascii_uppercase()),
        Tok::Ident(s) | Tok::Quoted(s) => format!("identifier \"{s}\""),
        Tok::Str(_) => "string literal".into(),
        Tok::Int(i) => format!("integer literal \"{i}\""),
        Tok::Float(f) => format!("floating point literal \"{f}\""),
        Tok::Param(p) => format!("query parameter @{p}"),
        Tok::Positional => "\"?\"".into(),
        Tok::Sym(c) => format!("\"{c}\""),
        Tok::Eof => "end of input".into(),
    }
}

pub(super) fn tokenize(sql: &str) -> Result<Vec<Token>, SqlError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut line_start) = (0, 1, 0);
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos {
            line,
            col: i - line_start + 1,
        };
        if c == '\n' {
            line += 1;
            line_start = i + 1;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-'))
            {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c == '@' {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            if i == start + 1 {
                return Err(invalid(format!("Syntax error: Unexpected \"@\" at {pos}")));
            }
            Tok::Param(chars[start + 1..i].iter().collect())
        } else if c == '`' || c == '\'' || c == '"' {
            let (text, next) = quoted(&chars, i, c).ok_or_else(|| {
                let what = if c == '`' { "identifier" } else { "string" };
                invalid(format!("Syntax error: Unclosed {what} literal at {pos}"))
            })?;
            i = next;
            if c == '`' {
                Tok::Quoted(text)
            } else {
                Tok::Str(text)
            }
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
            let mut float = false;
            while i < chars.len() {
                let d = chars[i];
                if d.is_ascii_digit() {
                    i += 1;
                } else if (d == '.' || d == 'e' || d == 'E') && !float {
                    float = true;
                    i += 1;
                    if matches!(chars.get(i), Some('+' | '-')) && d != '.' {
                        i += 1;
                    }
                } else if (d == 'e' || d == 'E') && float {
                    i += 1;
                    if matches!(chars.get(i), Some('+' | '-')) {
                        i += 1;
                    }
                } else {
                    break;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let bad = || invalid(format!("Syntax error: Invalid number \"{text}\" at {pos}"));
            if float {
                Tok::Float(text.parse().map_err(|_| bad())?)
            } else {
                Tok::Int(text.parse().map_err(|_| bad())?)
            }
        } else if matches!(
            c,
            '*' | ',' | '.' | '=' | '(' | ')' | ';' | '<' | '>' | '!' | '+' | '/'
        ) {
            i += 1;
            Tok::Sym(c)
        } else if c == '?' {
            i += 1;
            Tok::Positional
        } else {
            return Err(invalid(format!(
                "Syntax error: Illegal input character \"{c}\" at {pos}"
            )));
        };
        out.push(Token { tok, pos });
    }
    let pos = Pos {
        line,
        col: chars.len() - line_start + 1,
    };
    out.push(Token { tok: Tok::Eof, pos });
    Ok(out)
}

/// A quoted run from `chars[start]` (the quote) with backslash escapes; the text and the index
/// after the closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let e = *chars.get(i + 1)?;
                text.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
                i += 2;
            }
            c if c == quote => return Some((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    None
}
