//! Running a plan: source rows (the table's, each expanded by its UNNESTs), the filter,
//! grouping and aggregates, ordering, then OFFSET and LIMIT. One pass over the table; a query
//! without ORDER BY or aggregates stops as soon as its LIMIT is filled.

use std::collections::HashMap;
use std::sync::Arc;

use super::expr::{Ctx, Expr, Running};
use super::plan::{OrderKey, Plan};
use super::{SqlError, invalid};
use crate::bigquery::cell::{Cell, Grouped, Row, Type};

/// What a query produced.
#[derive(Debug)]
pub(crate) struct ResultSet {
    pub(crate) schema: Vec<(String, Type)>,
    pub(crate) rows: Vec<Row>,
    pub(crate) bytes_processed: u64,
}

fn failed(message: String) -> SqlError {
    invalid(format!("Query error: {message}"))
}

/// Calls `each` with every source row of `plan` that passes its filter.
fn scan(
    plan: &Plan<'_>,
    each: &mut dyn FnMut(&[Cell]) -> Result<bool, SqlError>,
) -> Result<(), SqlError> {
    let empty: Row = Arc::from([]);
    let rows: &[Row] = match &plan.table {
        Some(t) => t.rows,
        None => std::slice::from_ref(&empty),
    };
    let mut expanded: Vec<Cell> = Vec::new();
    for row in rows {
        if plan.unnests.is_empty() {
            if passes(plan, row)? && !each(row)? {
                return Ok(());
            }
            continue;
        }
        expanded.clear();
        expanded.extend(row.iter().cloned());
        if !unnest(plan, 0, &mut expanded, each)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Expands UNNEST number `i` and the ones after it (a cross join with each element); false
/// once `each` asked to stop.
fn unnest(
    plan: &Plan<'_>,
    i: usize,
    row: &mut Vec<Cell>,
    each: &mut dyn FnMut(&[Cell]) -> Result<bool, SqlError>,
) -> Result<bool, SqlError> {
    let Some(u) = plan.unnests.get(i) else {
        return Ok(!passes(plan, row)? || each(row)?);
    };
    let ctx = Ctx {
        row,
        keys: &[],
        aggs: &[],
    };
    let items = match u.array.eval(&ctx).map_err(failed)? {
        Cell::Array(items) => items,
        _ => return Ok(true),
    };
    let base = row.len();
    for (offset, item) in items.iter().enumerate() {
        row.truncate(base);
        row.push(item.clone());
        if u.with_offset {
            row.push(Cell::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        }
        if !unnest(plan, i + 1, row, each)? {
            return Ok(false);
        }
    }
    row.truncate(base);
    Ok(true)
}

fn passes(plan: &Plan<'_>, row: &[Cell]) -> Result<bool, SqlError> {
    let Some(filter) = &plan.filter else {
        return Ok(true);
    };
    let ctx = Ctx {
        row,
        keys: &[],
        aggs: &[],
    };
    Ok(filter.eval(&ctx).map_err(failed)? == Cell::Bool(true))
}

fn eval_all(exprs: &[Expr], ctx: &Ctx<'_>) -> Result<Vec<Cell>, SqlError> {
    exprs.iter().map(|e| e.eval(ctx).map_err(failed)).collect()
}

/// An output row and its ORDER BY values.
struct Output {
    row: Vec<Cell>,
    sort: Vec<Cell>,
}

fn output(plan: &Plan<'_>, ctx: &Ctx<'_>) -> Result<Output, SqlError> {
    let row = eval_all(&plan.select, ctx)?;
    let sort = plan
        .order
        .iter()
        .map(|(key, _)| match key {
            OrderKey::Output(i) => Ok(row.get(*i).cloned().unwrap_or(Cell::Null)),
            OrderKey::Expr(e) => e.eval(ctx).map_err(failed),
        })
        .collect::<Result<_, _>>()?;
    Ok(Output { row, sort })
}

/// Runs `plan` to completion.
pub(crate) fn execute(plan: &Plan<'_>) -> Result<ResultSet, SqlError> {
    let wanted = plan
        .limit
        .map_or(usize::MAX, |l| l.saturating_add(plan.offset));
    let mut outputs: Vec<Output> = Vec::new();
    match &plan.grouping {
        None => {
            // Without ORDER BY, the first `offset + limit` rows are the answer.
            let can_stop = plan.order.is_empty();
            scan(plan, &mut |row| {
                if can_stop && outputs.len() >= wanted {
                    return Ok(false);
                }
                let ctx = Ctx {
                    row,
                    keys: &[],
                    aggs: &[],
                };
                outputs.push(output(plan, &ctx)?);
                Ok(!can_stop || outputs.len() < wanted)
            })?;
        }
        Some(grouping) => {
            let mut index: HashMap<Vec<Grouped>, usize> = HashMap::new();
            let mut groups: Vec<(Vec<Cell>, Vec<Running>)> = Vec::new();
            scan(plan, &mut |row| {
                let ctx = Ctx {
                    row,
                    keys: &[],
                    aggs: &[],
                };
                let keys = eval_all(&grouping.keys, &ctx)?;
                let grouped: Vec<Grouped> = keys.iter().cloned().map(Grouped).collect();
                let g = *index.entry(grouped).or_insert_with(|| {
                    groups.push((keys, grouping.aggregates.iter().map(Running::new).collect()));
                    groups.len() - 1
                });
                for (running, agg) in groups[g].1.iter_mut().zip(&grouping.aggregates) {
                    let v = match &agg.arg {
                        None => Cell::Bool(true),
                        Some(arg) => arg.eval(&ctx).map_err(failed)?,
                    };
                    running.feed(v).map_err(failed)?;
                }
                Ok(true)
            })?;
            // Aggregates without GROUP BY make one row even from no input.
            if groups.is_empty() && grouping.keys.is_empty() {
                groups.push((
                    Vec::new(),
                    grouping.aggregates.iter().map(Running::new).collect(),
                ));
            }
            for (keys, running) in groups {
                let aggs: Vec<Cell> = running.into_iter().map(Running::finish).collect();
                let ctx = Ctx {
                    row: &[],
                    keys: &keys,
                    aggs: &aggs,
                };
                if let Some(having) = &grouping.having
                    && having.eval(&ctx).map_err(failed)? != Cell::Bool(true)
                {
                    continue;
                }
                outputs.push(output(plan, &ctx)?);
            }
        }
    }
    if !plan.order.is_empty() {
        // A stable sort: rows equal on every key keep their scan order.
        outputs.sort_by(|a, b| {
            for ((x, y), (_, desc)) in a.sort.iter().zip(&b.sort).zip(&plan.order) {
                let o = x.sort_order(y);
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let rows = outputs
        .into_iter()
        .skip(plan.offset)
        .take(plan.limit.unwrap_or(usize::MAX))
        .map(|o| Row::from(o.row))
        .collect();
    Ok(ResultSet {
        schema: plan.schema.clone(),
        rows,
        bytes_processed: plan.bytes_processed,
    })
}
