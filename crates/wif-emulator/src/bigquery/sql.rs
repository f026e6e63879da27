//! The emulator's SQL subset: parsing, parameter binding and execution over one table.
//!
//! ```text
//! query     := SELECT select FROM table [WHERE condition {AND condition}] [LIMIT integer] [;]
//! select    := * | COUNT(*) [[AS] alias] | column [[AS] alias] {, column [[AS] alias]}
//! table     := `project.dataset.table` | `dataset.table` | table  (backticks optional, per part too)
//! condition := column = operand | column IS [NOT] NULL
//! operand   := 'string' | "string" | integer | float | TRUE | FALSE | NULL | @name | ?
//! ```
//!
//! Keywords are case-insensitive; `--` starts a comment. Errors read like BigQuery's
//! (`Syntax error: … at [line:column]`, `Unrecognized name: …`, `No matching signature for
//! operator = …`) and map to reason `invalidQuery`.

use std::collections::HashMap;

use serde_json::Value;

use super::TableField;
use super::values::{is_repeated, timestamp_micros};
use lexer::{Pos, Tok, Token, describe, is_keyword, is_reserved, tokenize};

mod lexer;

/// A query that cannot run: BigQuery's message, and whether it is `notFound` (else `invalidQuery`).
#[derive(Debug, PartialEq)]
pub(crate) struct SqlError {
    pub(crate) not_found: bool,
    pub(crate) message: String,
}

fn invalid(message: impl Into<String>) -> SqlError {
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

/// A value a column is compared with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// A parameter of another type (`TIMESTAMP`, `DATE`, `NUMERIC`, `ARRAY`, …), as sent.
    Typed {
        ty: String,
        value: Option<String>,
    },
}

impl Literal {
    fn type_name(&self) -> &str {
        match self {
            Literal::Null => "NULL",
            Literal::Int(_) => "INT64",
            Literal::Float(_) => "FLOAT64",
            Literal::Str(_) => "STRING",
            Literal::Bool(_) => "BOOL",
            Literal::Typed { ty, .. } => ty,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Operand {
    Literal(Literal),
    Named(String),
    Positional(usize),
}

#[derive(Debug, PartialEq)]
enum Test {
    Eq(Operand),
    IsNull(bool),
}

#[derive(Debug, PartialEq)]
struct Condition {
    column: String,
    pos: Pos,
    test: Test,
}

#[derive(Debug, PartialEq)]
enum Select {
    All,
    Count(Option<String>),
    Columns(Vec<(String, Option<String>, Pos)>),
}

/// A parsed query.
#[derive(Debug, PartialEq)]
pub(crate) struct Query {
    select: Select,
    /// The table path's parts (`project`, `dataset`, `table`; fewer when qualified less).
    pub(crate) table: Vec<String>,
    conditions: Vec<Condition>,
    limit: Option<u64>,
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    positional: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self, expected: &str) -> SqlError {
        let t = self.peek();
        invalid(format!(
            "Syntax error: Expected {expected} but got {} at {}",
            describe(&t.tok),
            t.pos
        ))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if is_keyword(&self.peek().tok, kw) {
            self.bump();
            return true;
        }
        false
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("keyword {kw}")))
        }
    }

    fn eat_sym(&mut self, c: char) -> bool {
        if self.peek().tok == Tok::Sym(c) {
            self.bump();
            return true;
        }
        false
    }

    /// A column or alias name (reserved words need backticks).
    fn name(&mut self, what: &str) -> Result<(String, Pos), SqlError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Ident(ref s) if !is_reserved(&t.tok) => {
                self.bump();
                Ok((s.clone(), t.pos))
            }
            Tok::Quoted(s) => {
                self.bump();
                Ok((s, t.pos))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn alias(&mut self) -> Result<Option<String>, SqlError> {
        if self.eat_keyword("AS") {
            return self.name("an alias").map(|(n, _)| Some(n));
        }
        match &self.peek().tok {
            t @ (Tok::Ident(_) | Tok::Quoted(_)) if !is_reserved(t) => {
                self.name("an alias").map(|(n, _)| Some(n))
            }
            _ => Ok(None),
        }
    }

    fn select(&mut self) -> Result<Select, SqlError> {
        if self.eat_sym('*') {
            return Ok(Select::All);
        }
        if is_keyword(&self.peek().tok, "COUNT")
            && self
                .toks
                .get(self.i + 1)
                .is_some_and(|t| t.tok == Tok::Sym('('))
        {
            self.bump();
            self.bump();
            if !self.eat_sym('*') {
                return Err(self.unexpected("\"*\" (only COUNT(*) is supported)"));
            }
            if !self.eat_sym(')') {
                return Err(self.unexpected("\")\""));
            }
            return Ok(Select::Count(self.alias()?));
        }
        let mut columns = Vec::new();
        loop {
            let (name, pos) = self.name("a column name, \"*\" or COUNT(*)")?;
            if self.peek().tok == Tok::Sym('(') {
                return Err(invalid(format!(
                    "Function not found: {name} at {pos} (the wif-rs emulator supports only COUNT(*))"
                )));
            }
            columns.push((name, self.alias()?, pos));
            if !self.eat_sym(',') {
                return Ok(Select::Columns(columns));
            }
        }
    }

    fn table(&mut self) -> Result<Vec<String>, SqlError> {
        let mut parts = Vec::new();
        loop {
            let t = self.bump();
            match t.tok {
                Tok::Quoted(s) => parts.extend(s.split('.').map(str::to_owned)),
                Tok::Ident(s) if !is_reserved(&Tok::Ident(s.clone())) => parts.push(s),
                other => {
                    return Err(invalid(format!(
                        "Syntax error: Expected a table name but got {} at {}",
                        describe(&other),
                        t.pos
                    )));
                }
            }
            if !self.eat_sym('.') {
                break;
            }
        }
        if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(invalid(format!("Invalid table name: {}", parts.join("."))));
        }
        Ok(parts)
    }

    fn operand(&mut self) -> Result<Operand, SqlError> {
        let t = self.bump();
        Ok(Operand::Literal(match t.tok {
            Tok::Str(s) => Literal::Str(s),
            Tok::Int(i) => Literal::Int(i),
            Tok::Float(f) => Literal::Float(f),
            ref k if is_keyword(k, "TRUE") => Literal::Bool(true),
            ref k if is_keyword(k, "FALSE") => Literal::Bool(false),
            ref k if is_keyword(k, "NULL") => Literal::Null,
            Tok::Param(name) => return Ok(Operand::Named(name)),
            Tok::Positional => {
                self.positional += 1;
                return Ok(Operand::Positional(self.positional - 1));
            }
            other => {
                return Err(invalid(format!(
                    "Syntax error: Unexpected {} at {}",
                    describe(&other),
                    t.pos
                )));
            }
        }))
    }

    fn condition(&mut self) -> Result<Condition, SqlError> {
        let (column, pos) = self.name("a column name")?;
        let test = if self.eat_sym('=') {
            Test::Eq(self.operand()?)
        } else if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("NULL")?;
            Test::IsNull(!negated)
        } else {
            return Err(self.unexpected("\"=\" or IS (the wif-rs emulator supports only equality)"));
        };
        Ok(Condition { column, pos, test })
    }

    fn query(&mut self) -> Result<Query, SqlError> {
        self.expect_keyword("SELECT")?;
        let select = self.select()?;
        self.expect_keyword("FROM")?;
        let table = self.table()?;
        let mut conditions = Vec::new();
        if self.eat_keyword("WHERE") {
            conditions.push(self.condition()?);
            while self.eat_keyword("AND") {
                conditions.push(self.condition()?);
            }
        }
        let mut limit = None;
        if self.eat_keyword("LIMIT") {
            let t = self.bump();
            match t.tok {
                Tok::Int(n) if n >= 0 => limit = Some(n as u64),
                other => {
                    return Err(invalid(format!(
                        "Syntax error: Expected a non-negative integer after LIMIT but got {} at {}",
                        describe(&other),
                        t.pos
                    )));
                }
            }
        }
        self.eat_sym(';');
        if self.peek().tok != Tok::Eof {
            return Err(self.unexpected("end of input"));
        }
        Ok(Query {
            select,
            table,
            conditions,
            limit,
        })
    }
}

/// Parses `sql` into a [`Query`] of the subset.
pub(crate) fn parse(sql: &str) -> Result<Query, SqlError> {
    Parser {
        toks: tokenize(sql)?,
        i: 0,
        positional: 0,
    }
    .query()
}

/// Bound query parameters.
#[derive(Debug, Default)]
pub(crate) struct Params {
    named: HashMap<String, Literal>,
    positional: Vec<Literal>,
}

/// Reads `queryParameters` (the API's `QueryParameter` objects).
pub(crate) fn params(list: &[Value]) -> Result<Params, SqlError> {
    let mut out = Params::default();
    for p in list {
        let ty = p
            .pointer("/parameterType/type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Query parameter has no parameterType.type"))?
            .to_ascii_uppercase();
        let value = p.pointer("/parameterValue/value").and_then(Value::as_str);
        let name = p.get("name").and_then(Value::as_str);
        let bad = || {
            invalid(format!(
                "Invalid value for query parameter {} of type {ty}",
                name.unwrap_or("?")
            ))
        };
        let literal = match (ty.as_str(), value) {
            (_, None) if !matches!(ty.as_str(), "ARRAY" | "STRUCT") => Literal::Null,
            ("INT64" | "INTEGER", Some(v)) => Literal::Int(v.trim().parse().map_err(|_| bad())?),
            ("FLOAT64" | "FLOAT", Some(v)) => Literal::Float(v.trim().parse().map_err(|_| bad())?),
            ("BOOL" | "BOOLEAN", Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                _ => return Err(bad()),
            },
            ("STRING", Some(v)) => Literal::Str(v.to_owned()),
            (_, v) => Literal::Typed {
                ty: ty.clone(),
                value: v.map(str::to_owned),
            },
        };
        match name {
            Some(n) => {
                out.named.insert(n.to_ascii_lowercase(), literal);
            }
            None => out.positional.push(literal),
        }
    }
    Ok(out)
}

/// The standard-SQL spelling of a (legacy) column type, for messages.
fn standard_type(f: &TableField) -> String {
    let base = match f.field_type.as_str() {
        "INTEGER" => "INT64",
        "FLOAT" => "FLOAT64",
        "BOOLEAN" => "BOOL",
        "RECORD" => "STRUCT",
        other => other,
    };
    if is_repeated(f) {
        format!("ARRAY<{base}>")
    } else {
        base.to_owned()
    }
}

fn column<'a>(fields: &'a [TableField], name: &str, pos: Pos) -> Result<&'a TableField, SqlError> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| invalid(format!("Unrecognized name: {name} at {pos}")))
}

/// Whether `cell` (canonical) of column `f` equals `lit`; a type mismatch is a query error.
fn equals(f: &TableField, cell: &Value, lit: &Literal, pos: Pos) -> Result<bool, SqlError> {
    let col_type = standard_type(f);
    let mismatch = || {
        invalid(format!(
            "No matching signature for operator = for argument types: {col_type}, {}. Supported signature: ANY = ANY at {pos}",
            lit.type_name()
        ))
    };
    if is_repeated(f) || matches!(f.field_type.as_str(), "RECORD" | "JSON" | "GEOGRAPHY") {
        return Err(invalid(format!(
            "Equality is not defined for arguments of type {col_type} at {pos}"
        )));
    }
    let text = cell.as_str();
    let num = |t: Option<&str>| t.and_then(|s| s.parse::<f64>().ok());
    let ok = match (f.field_type.as_str(), lit) {
        (_, Literal::Null) => return Ok(false),
        ("INTEGER", Literal::Int(i)) => text.and_then(|s| s.parse::<i64>().ok()) == Some(*i),
        ("FLOAT" | "NUMERIC" | "BIGNUMERIC", Literal::Int(i)) => num(text) == Some(*i as f64),
        ("INTEGER" | "FLOAT" | "NUMERIC" | "BIGNUMERIC", Literal::Float(x)) => {
            num(text) == Some(*x)
        }
        ("NUMERIC" | "BIGNUMERIC", Literal::Typed { ty, value }) if ty.contains("NUMERIC") => {
            num(text).is_some() && num(text) == num(value.as_deref())
        }
        ("BOOLEAN", Literal::Bool(b)) => text == Some(if *b { "true" } else { "false" }),
        ("STRING", Literal::Str(s)) => text == Some(s.as_str()),
        ("TIMESTAMP", Literal::Str(s)) | ("TIMESTAMP", Literal::Typed { value: Some(s), .. }) => {
            if let Literal::Typed { ty, .. } = lit
                && ty != "TIMESTAMP"
            {
                return Err(mismatch());
            }
            let want = timestamp_micros(&Value::String(s.clone())).ok_or_else(|| {
                invalid(format!(
                    "Could not cast literal \"{s}\" to type TIMESTAMP at {pos}"
                ))
            })?;
            text.and_then(|t| t.parse::<i64>().ok()) == Some(want)
        }
        ("DATE" | "DATETIME" | "TIME", Literal::Str(s)) => text == Some(s.as_str()),
        (_, Literal::Typed { value: None, .. }) => return Ok(false),
        (
            ty,
            Literal::Typed {
                ty: lit_ty,
                value: Some(v),
            },
        ) if standard_type(f) == *lit_ty || ty == lit_ty.as_str() => text == Some(v.as_str()),
        _ => return Err(mismatch()),
    };
    Ok(ok && !cell.is_null())
}

/// What a query produced: the result schema and rows (cells in schema order).
pub(crate) type Output = (Vec<TableField>, Vec<Vec<Value>>);

/// Runs `q` over a table of `fields` and canonical `rows`.
pub(crate) fn execute(
    q: &Query,
    fields: &[TableField],
    rows: &[Value],
    params: &Params,
) -> Result<Output, SqlError> {
    // Resolve everything first, so errors come before any work and in query order.
    let mut filters = Vec::new();
    for c in &q.conditions {
        let f = column(fields, &c.column, c.pos)?;
        let test = match &c.test {
            Test::IsNull(want_null) => Err(*want_null),
            Test::Eq(Operand::Literal(l)) => Ok(l.clone()),
            Test::Eq(Operand::Named(n)) => Ok(params
                .named
                .get(&n.to_ascii_lowercase())
                .cloned()
                .ok_or_else(|| {
                invalid(format!("Query parameter '{n}' not found at {}", c.pos))
            })?),
            Test::Eq(Operand::Positional(i)) => {
                Ok(params.positional.get(*i).cloned().ok_or_else(|| {
                    invalid(format!(
                        "Query has {} positional parameters but {} were provided at {}",
                        i + 1,
                        params.positional.len(),
                        c.pos
                    ))
                })?)
            }
        };
        if let Ok(lit) = &test {
            // Type-check once even if the table is empty.
            equals(f, &Value::Null, lit, c.pos)?;
        }
        filters.push((f, test, c.pos));
    }
    let mut selected = Vec::new();
    for row in rows {
        let mut keep = true;
        for (f, test, pos) in &filters {
            let cell = row.get(&f.name).unwrap_or(&Value::Null);
            keep = match test {
                Err(want_null) => cell.is_null() == *want_null,
                Ok(lit) => equals(f, cell, lit, *pos)?,
            };
            if !keep {
                break;
            }
        }
        if keep {
            selected.push(row);
        }
    }
    let limit = q
        .limit
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let out = match &q.select {
        Select::Count(alias) => {
            let field = TableField::new(alias.clone().unwrap_or_else(|| "f0_".into()), "INTEGER")
                .with_mode("NULLABLE");
            let rows = if limit == 0 {
                vec![]
            } else {
                vec![vec![Value::String(selected.len().to_string())]]
            };
            (vec![field], rows)
        }
        Select::All => {
            let rows = selected
                .iter()
                .take(limit)
                .map(|r| {
                    fields
                        .iter()
                        .map(|f| r.get(&f.name).cloned().unwrap_or(Value::Null))
                        .collect()
                })
                .collect();
            (fields.to_vec(), rows)
        }
        Select::Columns(cols) => {
            let mut out_fields = Vec::new();
            for (name, alias, pos) in cols {
                let source = column(fields, name, *pos)?;
                let mut f = source.clone();
                if let Some(a) = alias {
                    f.name = a.clone();
                }
                out_fields.push((f, source.name.clone()));
            }
            let rows = selected
                .iter()
                .take(limit)
                .map(|r| {
                    out_fields
                        .iter()
                        .map(|(_, src)| r.get(src).cloned().unwrap_or(Value::Null))
                        .collect()
                })
                .collect();
            (out_fields.into_iter().map(|(f, _)| f).collect(), rows)
        }
    };
    Ok(out)
}

#[cfg(test)]
mod tests;
