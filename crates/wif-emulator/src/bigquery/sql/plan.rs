//! Planning a parsed query: the FROM clause becomes row slots, every name is resolved and every
//! expression type-checked and compiled ([`compile`]), a grouped query is lifted into keys and
//! aggregates, and anything outside the subset is refused by name and position — all before a
//! single row is read.

mod compile;

use sqlparser::ast;

use super::expr::{Aggregate, Expr};
use super::params::Params;
use super::{Pos, SqlError, invalid};
use crate::bigquery::TableField;
use crate::bigquery::cell::{Cell, Row, Type};

/// The table a query reads, as the store holds it.
#[derive(Clone, Copy)]
pub(crate) struct TableSource<'a> {
    pub(crate) fields: &'a [TableField],
    pub(crate) rows: &'a [Row],
    /// Logical bytes per top-level column (what a query reading it "processes").
    pub(crate) column_bytes: &'a [u64],
}

/// Finds a table by its path (`project.dataset.table` split, fewer parts when less qualified).
pub(crate) type Resolve<'r, 'a> =
    dyn FnMut(&[String], Pos) -> Result<TableSource<'a>, SqlError> + 'r;

/// `UNNEST(array)` in FROM: its array per source row, and whether `WITH OFFSET` adds a slot.
pub(crate) struct Unnest {
    pub(crate) array: Expr,
    pub(crate) with_offset: bool,
}

/// A grouped query's keys, aggregates and `HAVING`.
pub(crate) struct Grouping {
    pub(crate) keys: Vec<Expr>,
    pub(crate) aggregates: Vec<Aggregate>,
    pub(crate) having: Option<Expr>,
}

/// One `ORDER BY` key: an output column (by alias or ordinal) or an expression.
pub(crate) enum OrderKey {
    Output(usize),
    Expr(Expr),
}

/// A query ready to run.
pub(crate) struct Plan<'a> {
    pub(crate) table: Option<TableSource<'a>>,
    pub(crate) unnests: Vec<Unnest>,
    pub(crate) filter: Option<Expr>,
    pub(crate) grouping: Option<Grouping>,
    pub(crate) select: Vec<Expr>,
    /// Keys with `true` for `DESC`.
    pub(crate) order: Vec<(OrderKey, bool)>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: usize,
    /// The result's columns.
    pub(crate) schema: Vec<(String, Type)>,
    /// Bytes of the columns the query reads.
    pub(crate) bytes_processed: u64,
}

/// One slot of the source row: a table column, an UNNEST element or its offset.
struct Slot {
    /// The table's alias or name, for `t.column`; none for UNNEST slots.
    qualifier: Option<String>,
    name: String,
    ty: Type,
}

pub(super) struct Planner<'p> {
    params: &'p Params,
    next_positional: usize,
    now_micros: i64,
    slots: Vec<Slot>,
    /// Slots holding STRUCT elements of an UNNEST, whose fields are columns too.
    value_tables: Vec<usize>,
    table_columns: usize,
    referenced: Vec<bool>,
}

/// `construct` is outside the subset: the error every refusal shares.
pub(super) fn unsupported(construct: &str, pos: Pos) -> SqlError {
    invalid(format!(
        "{construct} is not supported by the wif-rs emulator at {pos}"
    ))
}

/// Plans `query`; `resolve` finds a table by its path (`project.dataset.table` split, fewer
/// parts when less qualified), `now_micros` is `CURRENT_TIMESTAMP()`.
pub(crate) fn plan<'a>(
    query: &ast::Query,
    params: &Params,
    now_micros: i64,
    resolve: &mut Resolve<'_, 'a>,
) -> Result<Plan<'a>, SqlError> {
    let query_pos = Pos::at(query);
    if let Some(with) = &query.with {
        return Err(unsupported("WITH clause", Pos::at(with)));
    }
    if query.fetch.is_some() || !query.locks.is_empty() || query.for_clause.is_some() {
        return Err(unsupported("FETCH, FOR or locking clause", query_pos));
    }
    if query.settings.is_some() || query.format_clause.is_some() || !query.pipe_operators.is_empty()
    {
        return Err(unsupported("SETTINGS, FORMAT or pipe syntax", query_pos));
    }
    let select = match query.body.as_ref() {
        ast::SetExpr::Select(select) => select.as_ref(),
        ast::SetExpr::SetOperation { op, .. } => {
            return Err(unsupported(
                &format!("Set operation {op}"),
                Pos::at(query.body.as_ref()),
            ));
        }
        ast::SetExpr::Query(_) => {
            return Err(unsupported(
                "A parenthesized query",
                Pos::at(query.body.as_ref()),
            ));
        }
        other => {
            let name = format!("{other:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or("This query");
            return Err(unsupported(name, Pos::at(other)));
        }
    };
    refuse_select_clauses(select)?;
    let mut planner = Planner {
        params,
        next_positional: 0,
        now_micros,
        slots: Vec::new(),
        value_tables: Vec::new(),
        table_columns: 0,
        referenced: Vec::new(),
    };
    let (table, unnests) = planner.from(&select.from, resolve)?;
    let filter = match &select.selection {
        None => None,
        Some(e) => Some(planner.condition(e, "WHERE")?),
    };

    // The select list, in the row context (aggregate calls still inline).
    let mut items: Vec<(Expr, Type, Option<String>, Pos)> = Vec::new();
    for item in &select.projection {
        planner.select_item(item, &mut items)?;
    }
    let (limit, offset) = planner.limit_offset(query.limit_clause.as_ref())?;

    let group_exprs: &[ast::Expr] = match &select.group_by {
        ast::GroupByExpr::Expressions(exprs, modifiers) => {
            if let Some(m) = modifiers.first() {
                return Err(unsupported(&format!("GROUP BY {m}"), Pos::at(select)));
            }
            exprs
        }
        ast::GroupByExpr::All(_) => return Err(unsupported("GROUP BY ALL", Pos::at(select))),
    };
    let order_by: &[ast::OrderByExpr] = match &query.order_by {
        None => &[],
        Some(o) => match &o.kind {
            ast::OrderByKind::Expressions(exprs) => exprs,
            ast::OrderByKind::All(_) => return Err(unsupported("ORDER BY ALL", Pos::at(o))),
        },
    };
    let having = match &select.having {
        None => None,
        Some(h) => Some((planner.condition_with_calls(h, "HAVING")?, Pos::at(h))),
    };
    let mut order = Vec::with_capacity(order_by.len());
    for o in order_by {
        if o.options.nulls_first.is_some() || o.with_fill.is_some() {
            return Err(unsupported("NULLS FIRST/LAST or WITH FILL", Pos::at(o)));
        }
        let desc = match &o.options.sort {
            None => false,
            Some(ast::OrderBySort::Asc) => false,
            Some(ast::OrderBySort::Desc) => true,
            Some(_) => return Err(unsupported("ORDER BY … USING", Pos::at(o))),
        };
        let key = match planner.output_reference(&o.expr, &items, true)? {
            Some(i) => OrderKey::Output(i),
            None => {
                let (e, ty) = planner.value_with_calls(&o.expr)?;
                if !ty.as_ref().is_none_or(Type::is_orderable) {
                    return Err(invalid(format!(
                        "ORDER BY does not support expressions of type {} at {}",
                        ty.map(|t| t.to_string()).unwrap_or_default(),
                        Pos::at(&o.expr)
                    )));
                }
                OrderKey::Expr(e)
            }
        };
        order.push(((key, Pos::at(&o.expr)), desc));
    }

    let grouped = !group_exprs.is_empty()
        || items.iter().any(|(e, ..)| e.has_call())
        || having.is_some()
        || order
            .iter()
            .any(|((k, _), _)| matches!(k, OrderKey::Expr(e) if e.has_call()));
    let mut grouping = None;
    if grouped {
        let mut keys = Vec::with_capacity(group_exprs.len());
        for g in group_exprs {
            let (key, ty) = match planner.output_reference(g, &items, false)? {
                Some(i) => (items[i].0.clone(), Some(items[i].1.clone())),
                None => planner.value(g)?,
            };
            if let Some(t @ Type::Array(_)) = &ty {
                return Err(invalid(format!(
                    "Grouping by expressions of type {t} is not allowed at {}",
                    Pos::at(g)
                )));
            }
            if key.has_call() {
                return Err(invalid(format!(
                    "Aggregate function not allowed in GROUP BY at {}",
                    Pos::at(g)
                )));
            }
            keys.push(key);
        }
        let mut aggregates = Vec::new();
        for (e, _, _, pos) in &mut items {
            *e = planner.lift(
                std::mem::replace(e, Expr::Const(Cell::Null)),
                &keys,
                &mut aggregates,
                *pos,
            )?;
        }
        let having = match having {
            None => None,
            Some((h, pos)) => Some(planner.lift(h, &keys, &mut aggregates, pos)?),
        };
        for ((key, pos), _) in &mut order {
            if let OrderKey::Expr(e) = key {
                *e = planner.lift(
                    std::mem::replace(e, Expr::Const(Cell::Null)),
                    &keys,
                    &mut aggregates,
                    *pos,
                )?;
            }
        }
        grouping = Some(Grouping {
            keys,
            aggregates,
            having,
        });
    }

    let schema = output_names(&items)?;
    let bytes_processed = table.map_or(0, |t| {
        t.column_bytes
            .iter()
            .zip(&planner.referenced)
            .filter(|(_, used)| **used)
            .map(|(b, _)| *b)
            .sum()
    });
    Ok(Plan {
        table,
        unnests,
        filter,
        grouping,
        select: items.into_iter().map(|(e, ..)| e).collect(),
        order: order.into_iter().map(|((k, _), desc)| (k, desc)).collect(),
        limit,
        offset,
        schema,
        bytes_processed,
    })
}

/// Clauses of a SELECT the subset has no use for, refused up front.
fn refuse_select_clauses(select: &ast::Select) -> Result<(), SqlError> {
    let at = Pos::at(select);
    let refused: &[(bool, &str)] = &[
        (select.distinct.is_some(), "SELECT DISTINCT"),
        (select.top.is_some(), "TOP"),
        (select.into.is_some(), "SELECT INTO"),
        (select.exclude.is_some(), "EXCLUDE"),
        (!select.lateral_views.is_empty(), "LATERAL VIEW"),
        (select.prewhere.is_some(), "PREWHERE"),
        (!select.connect_by.is_empty(), "CONNECT BY"),
        (
            !select.cluster_by.is_empty()
                || !select.distribute_by.is_empty()
                || !select.sort_by.is_empty(),
            "CLUSTER/DISTRIBUTE/SORT BY",
        ),
        (!select.named_window.is_empty(), "WINDOW clause"),
        (select.qualify.is_some(), "QUALIFY"),
        (select.value_table_mode.is_some(), "SELECT AS STRUCT/VALUE"),
    ];
    match refused.iter().find(|(present, _)| *present) {
        Some((_, name)) => Err(unsupported(name, at)),
        None => Ok(()),
    }
}

/// The result's column names: aliases, else the column or field name, else `f0_`, `f1_`, …
/// counting the unnamed columns, as BigQuery names them. Duplicates are refused, as BigQuery
/// refuses them in a query's result table.
fn output_names(
    items: &[(Expr, Type, Option<String>, Pos)],
) -> Result<Vec<(String, Type)>, SqlError> {
    let mut unnamed = 0;
    let mut out: Vec<(String, Type)> = Vec::with_capacity(items.len());
    for (_, ty, name, pos) in items {
        let name = match name {
            Some(n) => n.clone(),
            None => {
                unnamed += 1;
                format!("f{}_", unnamed - 1)
            }
        };
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            return Err(invalid(format!(
                "Duplicate column names in the result are not supported. Found duplicate(s): {name} at {pos}"
            )));
        }
        out.push((name, ty.clone()));
    }
    Ok(out)
}

impl Planner<'_> {
    /// FROM: nothing (one empty row), a table, then any UNNESTs of its arrays.
    fn from<'a>(
        &mut self,
        from: &[ast::TableWithJoins],
        resolve: &mut Resolve<'_, 'a>,
    ) -> Result<(Option<TableSource<'a>>, Vec<Unnest>), SqlError> {
        // `a, b JOIN c` is a list of factors, each joined in; only cross joins are in the subset.
        let mut factors: Vec<&ast::TableFactor> = Vec::new();
        for twj in from {
            factors.push(&twj.relation);
            for join in &twj.joins {
                let cross = match &join.join_operator {
                    ast::JoinOperator::CrossJoin(ast::JoinConstraint::None)
                    | ast::JoinOperator::Join(ast::JoinConstraint::None)
                    | ast::JoinOperator::Inner(ast::JoinConstraint::None) => true,
                    ast::JoinOperator::Join(ast::JoinConstraint::On(on))
                    | ast::JoinOperator::Inner(ast::JoinConstraint::On(on)) => {
                        matches!(on, ast::Expr::Value(v) if v.value == ast::Value::Boolean(true))
                    }
                    _ => false,
                };
                if !cross || !matches!(join.relation, ast::TableFactor::UNNEST { .. }) {
                    return Err(unsupported(
                        "A JOIN other than a cross join with UNNEST",
                        Pos::at(join),
                    ));
                }
                factors.push(&join.relation);
            }
        }
        let mut table = None;
        let mut unnests = Vec::new();
        for (i, factor) in factors.into_iter().enumerate() {
            match factor {
                ast::TableFactor::Table {
                    name,
                    alias,
                    args,
                    with_hints,
                    version,
                    partitions,
                    sample,
                    ..
                } if i == 0 => {
                    if args.is_some()
                        || !with_hints.is_empty()
                        || version.is_some()
                        || !partitions.is_empty()
                        || sample.is_some()
                    {
                        return Err(unsupported(
                            "A table function, hint, FOR SYSTEM_TIME AS OF or TABLESAMPLE",
                            Pos::at(factor),
                        ));
                    }
                    let path = table_path(name)?;
                    let source = resolve(&path, Pos::at(name))?;
                    let qualifier = match alias {
                        Some(a) if !a.columns.is_empty() => {
                            return Err(unsupported("Column aliases on a table", Pos::at(a)));
                        }
                        Some(a) => a.name.value.clone(),
                        None => path.last().cloned().unwrap_or_default(),
                    };
                    for f in source.fields {
                        self.slots.push(Slot {
                            qualifier: Some(qualifier.clone()),
                            name: f.name.clone(),
                            ty: Type::of_field(f),
                        });
                    }
                    self.table_columns = source.fields.len();
                    self.referenced = vec![false; source.fields.len()];
                    table = Some(source);
                }
                ast::TableFactor::Table { .. } => {
                    return Err(unsupported("A join of two tables", Pos::at(factor)));
                }
                ast::TableFactor::UNNEST {
                    alias,
                    array_exprs,
                    with_offset,
                    with_offset_alias,
                    with_ordinality,
                } => {
                    let pos = Pos::at(factor);
                    let [array] = array_exprs.as_slice() else {
                        return Err(unsupported("UNNEST of several arrays", pos));
                    };
                    if *with_ordinality {
                        return Err(unsupported("WITH ORDINALITY", pos));
                    }
                    let (expr, ty) = self.value(array)?;
                    let Some(Type::Array(element)) = ty else {
                        return Err(invalid(format!(
                            "Values referenced in UNNEST must be arrays. UNNEST contains expression of type {} at {pos}",
                            ty.map_or("NULL".to_owned(), |t| t.to_string())
                        )));
                    };
                    let name = match alias {
                        Some(a) if !a.columns.is_empty() => {
                            return Err(unsupported("Column aliases on UNNEST", Pos::at(a)));
                        }
                        Some(a) => a.name.value.clone(),
                        // BigQuery names an unaliased UNNEST of a path after its last part.
                        None => implicit_name(array).unwrap_or_else(|| "f0_".to_owned()),
                    };
                    let is_struct = matches!(*element, Type::Struct(_));
                    self.slots.push(Slot {
                        qualifier: None,
                        name,
                        ty: *element,
                    });
                    if is_struct {
                        self.value_tables.push(self.slots.len() - 1);
                    }
                    if *with_offset {
                        self.slots.push(Slot {
                            qualifier: None,
                            name: with_offset_alias
                                .as_ref()
                                .map_or_else(|| "offset".to_owned(), |a| a.value.clone()),
                            ty: Type::Int64,
                        });
                    }
                    unnests.push(Unnest {
                        array: expr,
                        with_offset: *with_offset,
                    });
                }
                other => {
                    let name = match other {
                        ast::TableFactor::Derived { .. } => "A subquery in FROM".to_owned(),
                        _ => {
                            let debug = format!("{other:?}");
                            format!(
                                "FROM {}",
                                debug.split(['(', ' ', '{']).next().unwrap_or("item")
                            )
                        }
                    };
                    return Err(unsupported(&name, Pos::at(other)));
                }
            }
        }
        Ok((table, unnests))
    }

    /// LIMIT and OFFSET: non-negative integer literals or INT64 parameters.
    fn limit_offset(
        &mut self,
        clause: Option<&ast::LimitClause>,
    ) -> Result<(Option<usize>, usize), SqlError> {
        let (limit, offset) = match clause {
            None => return Ok((None, 0)),
            Some(ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                if let Some(e) = limit_by.first() {
                    return Err(unsupported("LIMIT BY", Pos::at(e)));
                }
                (limit.as_ref(), offset.as_ref().map(|o| &o.value))
            }
            Some(other @ ast::LimitClause::OffsetCommaLimit { .. }) => {
                return Err(unsupported("LIMIT offset, count", Pos::at(other)));
            }
        };
        let mut count = |e: &ast::Expr, what: &str| -> Result<usize, SqlError> {
            let (expr, _) = self.value(e)?;
            match expr {
                Expr::Const(Cell::Int(n)) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => Err(invalid(format!(
                    "{what} expects a non-negative integer literal or parameter at {}",
                    Pos::at(e)
                ))),
            }
        };
        let limit = limit.map(|e| count(e, "LIMIT")).transpose()?;
        let offset = offset.map(|e| count(e, "OFFSET")).transpose()?.unwrap_or(0);
        Ok((limit, offset))
    }

    /// Adds a select item's columns to `items`: `*` and `t.*` expand to the table's columns.
    fn select_item(
        &mut self,
        item: &ast::SelectItem,
        items: &mut Vec<(Expr, Type, Option<String>, Pos)>,
    ) -> Result<(), SqlError> {
        let pos = Pos::at(item);
        let (qualifier, options) = match item {
            ast::SelectItem::UnnamedExpr(e) => {
                let (expr, ty) = self.value_with_calls(e)?;
                items.push((expr, ty.unwrap_or(Type::Int64), implicit_name(e), pos));
                return Ok(());
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                let (e, ty) = self.value_with_calls(expr)?;
                items.push((e, ty.unwrap_or(Type::Int64), Some(alias.value.clone()), pos));
                return Ok(());
            }
            ast::SelectItem::ExprWithAliases { .. } => {
                return Err(unsupported("Several aliases for one expression", pos));
            }
            ast::SelectItem::Wildcard(options) => (None, options),
            ast::SelectItem::QualifiedWildcard(kind, options) => match kind {
                ast::SelectItemQualifiedWildcardKind::ObjectName(name) => {
                    (Some(table_path(name)?.join(".")), options)
                }
                ast::SelectItemQualifiedWildcardKind::Expr(_) => {
                    return Err(unsupported("expression.*", pos));
                }
            },
        };
        if options.opt_ilike.is_some()
            || options.opt_exclude.is_some()
            || options.opt_except.is_some()
            || options.opt_replace.is_some()
            || options.opt_rename.is_some()
            || options.opt_alias.is_some()
        {
            return Err(unsupported("SELECT * EXCEPT/REPLACE", pos));
        }
        if qualifier.is_none() && !self.value_tables.is_empty() {
            return Err(unsupported(
                "SELECT * over an UNNEST of STRUCTs (name the fields instead)",
                pos,
            ));
        }
        let mut any = false;
        for (i, slot) in self.slots.iter().enumerate() {
            let wanted = match &qualifier {
                None => true,
                Some(q) => slot
                    .qualifier
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(q)),
            };
            if wanted {
                any = true;
                items.push((
                    Expr::Column(i),
                    slot.ty.clone(),
                    Some(slot.name.clone()),
                    pos,
                ));
                if i < self.table_columns {
                    self.referenced[i] = true;
                }
            }
        }
        if !any {
            return Err(match qualifier {
                Some(q) => invalid(format!("Unrecognized name: {q} at {pos}")),
                None => invalid(format!("SELECT * must have a FROM clause at {pos}")),
            });
        }
        Ok(())
    }

    /// The select item an `ORDER BY` or `GROUP BY` expression names: an ordinal, or an alias
    /// (for ORDER BY, aliases win over columns; for GROUP BY, columns win).
    fn output_reference(
        &self,
        e: &ast::Expr,
        items: &[(Expr, Type, Option<String>, Pos)],
        alias_first: bool,
    ) -> Result<Option<usize>, SqlError> {
        match e {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => {
                    let i = n
                        .parse::<usize>()
                        .ok()
                        .filter(|i| (1..=items.len()).contains(i));
                    match i {
                        Some(i) => Ok(Some(i - 1)),
                        None => Err(invalid(format!(
                            "Ordinal {n} out of range for the {} select list items at {}",
                            items.len(),
                            Pos::at(e)
                        ))),
                    }
                }
                _ => Ok(None),
            },
            ast::Expr::Identifier(ident) if !ident.value.starts_with('@') => {
                let alias = items.iter().position(|(_, _, name, _)| {
                    name.as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&ident.value))
                });
                let is_column = self
                    .slots
                    .iter()
                    .any(|s| s.name.eq_ignore_ascii_case(&ident.value));
                Ok(alias.filter(|_| alias_first || !is_column))
            }
            _ => Ok(None),
        }
    }

    /// `e` in a grouped query's output: group keys become [`Expr::Key`], aggregate calls
    /// [`Expr::Agg`]; a column that is neither is an error.
    fn lift(
        &self,
        e: Expr,
        keys: &[Expr],
        aggregates: &mut Vec<Aggregate>,
        pos: Pos,
    ) -> Result<Expr, SqlError> {
        if let Some(i) = keys.iter().position(|k| *k == e) {
            return Ok(Expr::Key(i));
        }
        let mut lift = |x: Box<Expr>| self.lift(*x, keys, aggregates, pos).map(Box::new);
        Ok(match e {
            Expr::Call(call) => {
                let call = *call;
                let i = match aggregates.iter().position(|a| *a == call) {
                    Some(i) => i,
                    None => {
                        aggregates.push(call);
                        aggregates.len() - 1
                    }
                };
                Expr::Agg(i)
            }
            Expr::Column(i) => {
                let name = self.slots.get(i).map_or("?", |s| s.name.as_str());
                return Err(invalid(format!(
                    "SELECT list expression references column {name} which is neither grouped nor aggregated at {pos}"
                )));
            }
            e @ (Expr::Const(_) | Expr::Key(_) | Expr::Agg(_)) => e,
            Expr::Field(x, i) => Expr::Field(lift(x)?, i),
            Expr::Not(x) => Expr::Not(lift(x)?),
            Expr::Neg(x) => Expr::Neg(lift(x)?),
            Expr::IsNull(x) => Expr::IsNull(lift(x)?),
            Expr::And(a, b) => Expr::And(lift(a)?, lift(b)?),
            Expr::Or(a, b) => Expr::Or(lift(a)?, lift(b)?),
            Expr::Compare(op, a, b) => Expr::Compare(op, lift(a)?, lift(b)?),
            Expr::InArray(a, b) => Expr::InArray(lift(a)?, lift(b)?),
            Expr::Like(a, b) => Expr::Like(lift(a)?, lift(b)?),
            Expr::Between(a, b, c) => Expr::Between(lift(a)?, lift(b)?, lift(c)?),
            Expr::InList(x, list) => Expr::InList(
                lift(x)?,
                list.into_iter()
                    .map(|item| self.lift(item, keys, aggregates, pos))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// A table path's parts: backquoted parts may hold dots (`` `p.d.t` ``, `` `p`.d.t ``).
fn table_path(name: &ast::ObjectName) -> Result<Vec<String>, SqlError> {
    let mut parts = Vec::new();
    for part in &name.0 {
        let ident = part
            .as_ident()
            .ok_or_else(|| unsupported("A computed table name", Pos::at(name)))?;
        if ident.quote_style.is_some() {
            parts.extend(ident.value.split('.').map(str::to_owned));
        } else {
            parts.push(ident.value.clone());
        }
    }
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(format!(
            "Invalid table name: {} at {}",
            parts.join("."),
            Pos::at(name)
        )));
    }
    Ok(parts)
}

/// The name BigQuery gives an unaliased select item or UNNEST: a column's or field's own name.
fn implicit_name(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Identifier(i) if !i.value.starts_with('@') => Some(i.value.clone()),
        ast::Expr::CompoundIdentifier(parts) if !parts[0].value.starts_with('@') => {
            parts.last().map(|i| i.value.clone())
        }
        ast::Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
            Some(ast::AccessExpr::Dot(ast::Expr::Identifier(i))) => Some(i.value.clone()),
            _ => None,
        },
        ast::Expr::Nested(inner) => implicit_name(inner),
        _ => None,
    }
}
