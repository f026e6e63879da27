//! The emulated BigQuery's GoogleSQL: parsed by `sqlparser`'s BigQuery dialect, then planned
//! (names resolved, types checked, parameters bound) and run over one table's stored rows.
//!
//! The subset that runs:
//!
//! ```text
//! SELECT [*, t.*,] expr [[AS] alias], …
//! [FROM table [[AS] t] [, | CROSS JOIN | JOIN] [UNNEST(repeated) [[AS] x] [WITH OFFSET [[AS] o]]]]
//! [WHERE condition] [GROUP BY expr|alias|ordinal, …] [HAVING condition]
//! [ORDER BY expr|alias|ordinal [ASC|DESC], …] [LIMIT n [OFFSET m]]
//!
//! expr := column | t.column | record.field | @name | @struct.field | ? | literal
//!       | DATE/TIMESTAMP/DATETIME/TIME/NUMERIC 'literal' | -expr | (expr)
//!       | NOT/AND/OR | = != <> < <= > >= | [NOT] IN (…) | [NOT] IN UNNEST(array)
//!       | [NOT] BETWEEN | [NOT] LIKE | IS [NOT] NULL | CURRENT_TIMESTAMP()
//!       | COUNT(*) | COUNT([DISTINCT] e) | SUM/AVG/MIN/MAX([DISTINCT] e)
//! ```
//!
//! Everything else — joins of tables, subqueries, `WITH`, `CASE`, casts, arithmetic, other
//! functions, window functions, scripts, DML — is refused with `invalidQuery`, naming the
//! construct and its `[line:column]`, before any row is read: the emulator never answers a
//! query it does not fully understand.

mod exec;
mod expr;
mod params;
mod plan;

use std::fmt;

use sqlparser::ast::Spanned;
use sqlparser::dialect::BigQueryDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span};

pub(crate) use exec::{ResultSet, execute};
pub(crate) use params::params;
pub(crate) use plan::{TableSource, plan};

/// A query that cannot run: BigQuery's message, and whether it is `notFound` (else
/// `invalidQuery`).
#[derive(Debug, PartialEq)]
pub(crate) struct SqlError {
    pub(crate) not_found: bool,
    pub(crate) message: String,
}

pub(crate) fn invalid(message: impl Into<String>) -> SqlError {
    SqlError {
        not_found: false,
        message: message.into(),
    }
}

pub(crate) fn not_found(message: impl Into<String>) -> SqlError {
    SqlError {
        not_found: true,
        message: message.into(),
    }
}

/// Where in the query text: BigQuery's `[line:column]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    line: u64,
    column: u64,
}

impl Pos {
    fn of(location: Location) -> Pos {
        Pos {
            line: location.line.max(1),
            column: location.column.max(1),
        }
    }

    /// Where `node` starts (the statement's start when the parser recorded no span for it).
    pub(crate) fn at(node: &impl Spanned) -> Pos {
        Pos::of_span(node.span())
    }

    pub(crate) fn of_span(span: Span) -> Pos {
        Pos::of(span.start)
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}:{}]", self.line, self.column)
    }
}

/// The line and column just past the end of `sql`, where "found: EOF" errors point.
fn end_of(sql: &str) -> Pos {
    let line = sql.lines().count().max(1);
    let last = sql.rsplit('\n').next().unwrap_or("");
    Pos {
        line: line as u64,
        column: last.chars().count() as u64 + 1,
    }
}

/// Parses `sql` into exactly one query statement.
pub(crate) fn parse(sql: &str) -> Result<sqlparser::ast::Query, SqlError> {
    let statements = Parser::new(&BigQueryDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| syntax_error(sql, e))?;
    let mut statements = statements.into_iter();
    let Some(first) = statements.next() else {
        return Err(invalid(format!(
            "Syntax error: Unexpected end of script at {}",
            end_of(sql)
        )));
    };
    if let Some(second) = statements.next() {
        return Err(invalid(format!(
            "Multi-statement queries (scripts) are not supported by the wif-rs emulator at {}",
            Pos::at(&second)
        )));
    }
    match first {
        sqlparser::ast::Statement::Query(query) => Ok(*query),
        other => {
            let what = other.to_string();
            let keyword: String = what
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            Err(invalid(format!(
                "Statement {keyword} is not supported by the wif-rs emulator (only SELECT queries run) at {}",
                Pos::at(&other)
            )))
        }
    }
}

/// sqlparser's message, with its "at Line: L, Column: C" spelled as BigQuery's `[L:C]` (and
/// the end of the text where the parser ran out of input).
fn syntax_error(sql: &str, e: ParserError) -> SqlError {
    let text = match e {
        ParserError::RecursionLimitExceeded => {
            return invalid("Syntax error: the query nests too deeply");
        }
        ParserError::TokenizerError(t) | ParserError::ParserError(t) => t,
    };
    let message = match text.rsplit_once(" at Line: ") {
        Some((head, at)) => {
            let (line, column) = at.split_once(", Column: ").unwrap_or((at, "1"));
            format!("{head} at [{}:{}]", line.trim(), column.trim())
        }
        None => format!("{text} at {}", end_of(sql)),
    };
    invalid(format!("Syntax error: {message}"))
}

#[cfg(test)]
mod tests;
