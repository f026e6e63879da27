//! Compiling one expression: names to slots and fields, literals and parameters to typed
//! constants (string constants coerced to DATE/TIME/DATETIME/TIMESTAMP where compared with
//! one), operators type-checked with BigQuery's "No matching signature" errors, and every other
//! construct refused by name.

use sqlparser::ast;

use super::{Planner, unsupported};
use crate::bigquery::cell::{Cell, Type};
use crate::bigquery::sql::expr::{AggFn, Aggregate, CmpOp, Expr};
use crate::bigquery::sql::{Pos, SqlError, invalid};
use crate::bigquery::values::scalar_cell;

/// A compiled expression and its type (`None` for an untyped `NULL`).
type Typed = (Expr, Option<Type>);

/// Where aggregate calls may appear.
#[derive(Clone, Copy, PartialEq)]
enum Calls {
    /// Not here (WHERE, GROUP BY, FROM, LIMIT): the clause names itself in the error.
    Refused(&'static str),
    /// Here (the select list, HAVING, ORDER BY), but not inside another call.
    Allowed,
}

fn type_name(t: &Option<Type>) -> String {
    t.as_ref().map_or("NULL".to_owned(), Type::to_string)
}

fn no_signature(op: &str, types: &[&Option<Type>], pos: Pos) -> SqlError {
    let types: Vec<String> = types.iter().map(|t| type_name(t)).collect();
    invalid(format!(
        "No matching signature for operator {op} for argument types: {} at {pos}",
        types.join(", ")
    ))
}

impl Planner<'_> {
    /// A value (no aggregate calls).
    pub(super) fn value(&mut self, e: &ast::Expr) -> Result<Typed, SqlError> {
        self.expr(e, Calls::Refused("this clause"))
    }

    /// A value that may contain aggregate calls (select list, ORDER BY).
    pub(super) fn value_with_calls(&mut self, e: &ast::Expr) -> Result<Typed, SqlError> {
        self.expr(e, Calls::Allowed)
    }

    /// A BOOL condition of `clause` (WHERE): no aggregate calls.
    pub(super) fn condition(
        &mut self,
        e: &ast::Expr,
        clause: &'static str,
    ) -> Result<Expr, SqlError> {
        let typed = self.expr(e, Calls::Refused(clause))?;
        boolean(typed, clause, Pos::at(e))
    }

    /// A BOOL condition that may aggregate (HAVING).
    pub(super) fn condition_with_calls(
        &mut self,
        e: &ast::Expr,
        clause: &'static str,
    ) -> Result<Expr, SqlError> {
        let typed = self.expr(e, Calls::Allowed)?;
        boolean(typed, clause, Pos::at(e))
    }

    fn expr(&mut self, e: &ast::Expr, calls: Calls) -> Result<Typed, SqlError> {
        let pos = Pos::at(e);
        match e {
            ast::Expr::Identifier(ident) => self.name(std::slice::from_ref(ident), pos),
            ast::Expr::CompoundIdentifier(parts) => self.name(parts, pos),
            ast::Expr::CompoundFieldAccess { root, access_chain } => {
                let mut typed = self.expr(root, calls)?;
                for access in access_chain {
                    match access {
                        ast::AccessExpr::Dot(ast::Expr::Identifier(field)) => {
                            typed = field_of(typed, &field.value, Pos::of_span(field.span))?;
                        }
                        other => {
                            return Err(unsupported(
                                "Array subscripts and computed fields",
                                Pos::at(other),
                            ));
                        }
                    }
                }
                Ok(typed)
            }
            ast::Expr::Nested(inner) => self.expr(inner, calls),
            ast::Expr::Value(v) => self.literal(&v.value, pos),
            ast::Expr::TypedString(ts) => {
                let name = ts.data_type.to_string();
                let ty = Type::scalar(&name)
                    .filter(|t| {
                        t.is_temporal()
                            || matches!(t, Type::Numeric | Type::BigNumeric | Type::Json)
                    })
                    .ok_or_else(|| unsupported(&format!("A {name} literal"), pos))?;
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s,
                    _ => return Err(unsupported("This typed literal", pos)),
                };
                let cell = scalar_cell(&ty, &serde_json::Value::String(text.clone())).ok_or_else(
                    || {
                        invalid(format!(
                            "Could not cast literal \"{text}\" to type {ty} at {pos}"
                        ))
                    },
                )?;
                Ok((Expr::Const(cell), Some(ty)))
            }
            ast::Expr::UnaryOp { op, expr } => {
                let typed = self.expr(expr, calls)?;
                match op {
                    ast::UnaryOperator::Not => Ok((
                        Expr::Not(boolean(typed, "NOT", pos)?.boxed()),
                        Some(Type::Bool),
                    )),
                    ast::UnaryOperator::Plus if typed.1.as_ref().is_none_or(Type::is_numeric) => {
                        Ok(typed)
                    }
                    ast::UnaryOperator::Minus if typed.1.as_ref().is_none_or(Type::is_numeric) => {
                        let ty = typed.1.clone();
                        // Fold negative literals, so `LIMIT -1` and `x > -5` see constants.
                        let expr = match typed.0 {
                            Expr::Const(Cell::Int(i)) => {
                                Expr::Const(Cell::Int(i.checked_neg().ok_or_else(|| {
                                    invalid(format!("Int64 overflow: -{i} at {pos}"))
                                })?))
                            }
                            Expr::Const(Cell::Float(f)) => Expr::Const(Cell::Float(-f)),
                            Expr::Const(Cell::Numeric(n)) => Expr::Const(Cell::Numeric(-n)),
                            other => Expr::Neg(other.boxed()),
                        };
                        Ok((expr, ty))
                    }
                    ast::UnaryOperator::Plus | ast::UnaryOperator::Minus => {
                        Err(no_signature(&format!("unary {op}"), &[&typed.1], pos))
                    }
                    other => Err(unsupported(&format!("Operator {other}"), pos)),
                }
            }
            ast::Expr::BinaryOp { left, op, right } => {
                let cmp = match op {
                    ast::BinaryOperator::And | ast::BinaryOperator::Or => {
                        let name = if *op == ast::BinaryOperator::And {
                            "AND"
                        } else {
                            "OR"
                        };
                        let (l, r) = (self.expr(left, calls)?, self.expr(right, calls)?);
                        if !matches!(l.1, None | Some(Type::Bool))
                            || !matches!(r.1, None | Some(Type::Bool))
                        {
                            return Err(no_signature(name, &[&l.1, &r.1], pos));
                        }
                        let (l, r) = (l.0.boxed(), r.0.boxed());
                        let expr = if name == "AND" {
                            Expr::And(l, r)
                        } else {
                            Expr::Or(l, r)
                        };
                        return Ok((expr, Some(Type::Bool)));
                    }
                    ast::BinaryOperator::Eq => CmpOp::Eq,
                    ast::BinaryOperator::NotEq => CmpOp::NotEq,
                    ast::BinaryOperator::Lt => CmpOp::Lt,
                    ast::BinaryOperator::LtEq => CmpOp::LtEq,
                    ast::BinaryOperator::Gt => CmpOp::Gt,
                    ast::BinaryOperator::GtEq => CmpOp::GtEq,
                    other => return Err(unsupported(&format!("Operator {other}"), pos)),
                };
                let (l, r) = (self.expr(left, calls)?, self.expr(right, calls)?);
                let (l, r) = comparable(
                    l,
                    r,
                    &op.to_string(),
                    cmp != CmpOp::Eq && cmp != CmpOp::NotEq,
                    pos,
                )?;
                Ok((
                    Expr::Compare(cmp, l.0.boxed(), r.0.boxed()),
                    Some(Type::Bool),
                ))
            }
            ast::Expr::IsNull(inner) | ast::Expr::IsNotNull(inner) => {
                let (x, _) = self.expr(inner, calls)?;
                let test = Expr::IsNull(x.boxed());
                let expr = if matches!(e, ast::Expr::IsNull(_)) {
                    test
                } else {
                    Expr::Not(test.boxed())
                };
                Ok((expr, Some(Type::Bool)))
            }
            ast::Expr::In {
                expr,
                target,
                negated,
                ..
            } => {
                let value = self.expr(expr, calls)?;
                let test = match target {
                    ast::InTarget::List(list) => {
                        let mut items = Vec::with_capacity(list.len());
                        let mut value = value;
                        for item in list {
                            let item = self.expr(item, calls)?;
                            let (v, i) = comparable(value, item, "IN", false, pos)?;
                            value = v;
                            items.push(i.0);
                        }
                        Expr::InList(value.0.boxed(), items)
                    }
                    ast::InTarget::Unnest(array) => {
                        let (array, ty) = self.expr(array, calls)?;
                        let element = match ty {
                            Some(Type::Array(element)) => Some(*element),
                            None => None,
                            other => {
                                return Err(no_signature("IN UNNEST", &[&value.1, &other], pos));
                            }
                        };
                        let (value, _) = comparable(
                            value,
                            (Expr::Const(Cell::Null), element),
                            "IN UNNEST",
                            false,
                            pos,
                        )?;
                        Expr::InArray(value.0.boxed(), array.boxed())
                    }
                    ast::InTarget::Subquery(_) => return Err(unsupported("IN (subquery)", pos)),
                    _ => return Err(unsupported("IN of a table", pos)),
                };
                Ok((negate(test, *negated), Some(Type::Bool)))
            }
            ast::Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let value = self.expr(expr, calls)?;
                let (value, low) = comparable(value, self.expr(low, calls)?, "BETWEEN", true, pos)?;
                let (value, high) =
                    comparable(value, self.expr(high, calls)?, "BETWEEN", true, pos)?;
                let test = Expr::Between(value.0.boxed(), low.0.boxed(), high.0.boxed());
                Ok((negate(test, *negated), Some(Type::Bool)))
            }
            ast::Expr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    return Err(unsupported("LIKE ANY or LIKE … ESCAPE", pos));
                }
                let (value, pattern) = (self.expr(expr, calls)?, self.expr(pattern, calls)?);
                let texts = |t: &Option<Type>| matches!(t, None | Some(Type::String));
                if !texts(&value.1) || !texts(&pattern.1) {
                    return Err(no_signature("LIKE", &[&value.1, &pattern.1], pos));
                }
                Ok((
                    negate(Expr::Like(value.0.boxed(), pattern.0.boxed()), *negated),
                    Some(Type::Bool),
                ))
            }
            ast::Expr::Function(f) => self.function(f, calls, pos),
            other => Err(unsupported(&construct(other), pos)),
        }
    }

    /// A name: a parameter (`@p`, `@s.field`), a column (`c`, `t.c`), an UNNEST element, a
    /// field of a STRUCT element, then any further fields.
    fn name(&mut self, parts: &[ast::Ident], pos: Pos) -> Result<Typed, SqlError> {
        let first = &parts[0];
        if first.value.starts_with("@@") {
            return Err(unsupported(
                &format!("System variable {}", first.value),
                pos,
            ));
        }
        let (mut typed, rest) = if let Some(name) = first.value.strip_prefix('@') {
            let (ty, cell) = self
                .params
                .named
                .get(&name.to_ascii_lowercase())
                .ok_or_else(|| invalid(format!("Query parameter '{name}' not found at {pos}")))?;
            ((Expr::Const(cell.clone()), Some(ty.clone())), &parts[1..])
        } else if let Some((slot, rest)) = self.qualified(parts) {
            (self.column(slot), rest)
        } else {
            let matches: Vec<usize> = (0..self.slots.len())
                .filter(|i| self.slots[*i].name.eq_ignore_ascii_case(&first.value))
                .collect();
            match matches.as_slice() {
                [slot] => (self.column(*slot), &parts[1..]),
                [] => match self.value_table_field(&first.value) {
                    Some(typed) => (typed, &parts[1..]),
                    None => {
                        let is_table = self.slots.iter().any(|s| {
                            s.qualifier
                                .as_deref()
                                .is_some_and(|q| q.eq_ignore_ascii_case(&first.value))
                        });
                        return Err(if is_table {
                            unsupported(&format!("A whole row as a value ({})", first.value), pos)
                        } else {
                            invalid(format!("Unrecognized name: {} at {pos}", first.value))
                        });
                    }
                },
                _ => {
                    return Err(invalid(format!(
                        "Column name {} is ambiguous at {pos}",
                        first.value
                    )));
                }
            }
        };
        for field in rest {
            typed = field_of(typed, &field.value, Pos::of_span(field.span))?;
        }
        Ok(typed)
    }

    /// `t.column…`: the slot of `column` in table `t`, and the parts after it.
    fn qualified<'n>(&self, parts: &'n [ast::Ident]) -> Option<(usize, &'n [ast::Ident])> {
        let [qualifier, column, rest @ ..] = parts else {
            return None;
        };
        let slot = self.slots.iter().position(|s| {
            s.qualifier
                .as_deref()
                .is_some_and(|q| q.eq_ignore_ascii_case(&qualifier.value))
                && s.name.eq_ignore_ascii_case(&column.value)
        })?;
        Some((slot, rest))
    }

    /// A field of an UNNEST's STRUCT element, addressed like a column.
    fn value_table_field(&self, name: &str) -> Option<Typed> {
        self.value_tables.iter().find_map(|slot| {
            let Type::Struct(fields) = &self.slots[*slot].ty else {
                return None;
            };
            let i = fields
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
            Some((
                Expr::Field(Expr::Column(*slot).boxed(), i),
                Some(fields[i].1.clone()),
            ))
        })
    }

    fn column(&mut self, slot: usize) -> Typed {
        if slot < self.table_columns {
            self.referenced[slot] = true;
        }
        (Expr::Column(slot), Some(self.slots[slot].ty.clone()))
    }

    fn literal(&mut self, v: &ast::Value, pos: Pos) -> Result<Typed, SqlError> {
        Ok(match v {
            ast::Value::Number(text, _) => {
                let integral = text.bytes().all(|b| b.is_ascii_digit());
                if integral {
                    let i = text.parse::<i64>().map_err(|_| {
                        invalid(format!("Invalid integer literal: {text} at {pos}"))
                    })?;
                    (Expr::Const(Cell::Int(i)), Some(Type::Int64))
                } else {
                    let f = text
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .ok_or_else(|| {
                            invalid(format!("Invalid floating point literal: {text} at {pos}"))
                        })?;
                    (Expr::Const(Cell::Float(f)), Some(Type::Float64))
                }
            }
            ast::Value::SingleQuotedString(s)
            | ast::Value::DoubleQuotedString(s)
            | ast::Value::TripleSingleQuotedString(s)
            | ast::Value::TripleDoubleQuotedString(s) => {
                (Expr::Const(Cell::text(s.as_str())), Some(Type::String))
            }
            ast::Value::Boolean(b) => (Expr::Const(Cell::Bool(*b)), Some(Type::Bool)),
            ast::Value::Null => (Expr::Const(Cell::Null), None),
            ast::Value::Placeholder(p) if p == "?" => {
                let i = self.next_positional;
                self.next_positional += 1;
                let (ty, cell) = self.params.positional.get(i).ok_or_else(|| {
                    invalid(format!(
                        "Query has at least {} positional parameters but {} were provided at {pos}",
                        i + 1,
                        self.params.positional.len()
                    ))
                })?;
                (Expr::Const(cell.clone()), Some(ty.clone()))
            }
            ast::Value::Placeholder(p) => {
                return Err(unsupported(&format!("Placeholder {p}"), pos));
            }
            other => {
                let debug = format!("{other:?}");
                let kind = debug.split(['(', ' ', '{']).next().unwrap_or("This");
                return Err(unsupported(&format!("Literal {kind}"), pos));
            }
        })
    }

    fn function(&mut self, f: &ast::Function, calls: Calls, pos: Pos) -> Result<Typed, SqlError> {
        let name = f.name.to_string().to_ascii_uppercase();
        if f.over.is_some() {
            return Err(unsupported(&format!("Window function {name} … OVER"), pos));
        }
        if f.filter.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
            return Err(unsupported(
                &format!("FILTER, IGNORE NULLS or WITHIN GROUP in {name}"),
                pos,
            ));
        }
        if !matches!(f.parameters, ast::FunctionArguments::None) {
            return Err(unsupported(&format!("Parameterized function {name}"), pos));
        }
        let list = match &f.args {
            ast::FunctionArguments::None => None,
            ast::FunctionArguments::List(list) => Some(list),
            ast::FunctionArguments::Subquery(_) => {
                return Err(unsupported(&format!("A subquery argument of {name}"), pos));
            }
        };
        let args: &[ast::FunctionArg] = list.map_or(&[], |l| l.args.as_slice());
        if name == "CURRENT_TIMESTAMP" {
            if !args.is_empty() {
                return Err(invalid(format!(
                    "CURRENT_TIMESTAMP takes no arguments at {pos}"
                )));
            }
            return Ok((
                Expr::Const(Cell::Timestamp(self.now_micros)),
                Some(Type::Timestamp),
            ));
        }
        let func = match name.as_str() {
            "COUNT" => AggFn::Count,
            "SUM" => AggFn::Sum,
            "AVG" => AggFn::Avg,
            "MIN" => AggFn::Min,
            "MAX" => AggFn::Max,
            _ => return Err(unsupported(&format!("Function {name}"), pos)),
        };
        if let Calls::Refused(clause) = calls {
            return Err(invalid(format!(
                "Aggregate function {name} not allowed in {clause} at {pos}"
            )));
        }
        let list = list.ok_or_else(|| invalid(format!("{name} needs an argument at {pos}")))?;
        if let Some(clause) = list.clauses.first() {
            return Err(unsupported(&format!("{clause} inside {name}"), pos));
        }
        let distinct = matches!(
            list.duplicate_treatment,
            Some(ast::DuplicateTreatment::Distinct)
        );
        let arg = match args {
            [ast::FunctionArg::Unnamed(arg)] => arg,
            _ => {
                return Err(invalid(format!(
                    "{name} takes exactly one argument at {pos}"
                )));
            }
        };
        let (func, arg) = match arg {
            ast::FunctionArgExpr::Wildcard if func == AggFn::Count && !distinct => {
                (AggFn::CountStar, None)
            }
            ast::FunctionArgExpr::Expr(e) => {
                let typed = self.expr(e, Calls::Refused("another aggregate"))?;
                if typed.0.has_call() {
                    return Err(invalid(format!(
                        "Aggregations of aggregations are not allowed at {pos}"
                    )));
                }
                (func, Some(typed))
            }
            _ => {
                return Err(invalid(format!(
                    "{name} does not take this argument at {pos}"
                )));
            }
        };
        let arg_type = arg.as_ref().and_then(|(_, t)| t.clone());
        let result = match (func, &arg_type) {
            (AggFn::CountStar | AggFn::Count, t) => {
                if distinct && !t.as_ref().is_none_or(Type::is_orderable) {
                    return Err(no_signature(
                        "aggregate function COUNT(DISTINCT)",
                        &[t],
                        pos,
                    ));
                }
                Type::Int64
            }
            (AggFn::Sum, Some(t @ (Type::Int64 | Type::Float64 | Type::Numeric))) => t.clone(),
            (AggFn::Avg, Some(Type::Int64 | Type::Float64)) => Type::Float64,
            (AggFn::Avg, Some(Type::Numeric)) => Type::Numeric,
            (AggFn::Min | AggFn::Max, Some(t)) if t.is_orderable() => t.clone(),
            (AggFn::Sum | AggFn::Avg | AggFn::Min | AggFn::Max, None) => Type::Int64,
            (_, t) => {
                return Err(invalid(format!(
                    "No matching signature for aggregate function {name} for argument types: {} at {pos}",
                    type_name(t)
                )));
            }
        };
        let call = Aggregate {
            func,
            distinct,
            arg: arg.map(|(e, _)| e),
            arg_type,
        };
        Ok((Expr::Call(Box::new(call)), Some(result)))
    }
}

fn negate(e: Expr, negated: bool) -> Expr {
    if negated { Expr::Not(e.boxed()) } else { e }
}

/// `typed` as a BOOL condition of `clause`.
fn boolean(typed: Typed, clause: &str, pos: Pos) -> Result<Expr, SqlError> {
    match typed.1 {
        None | Some(Type::Bool) => Ok(typed.0),
        Some(other) => Err(invalid(format!(
            "{clause} expects BOOL, but the expression has type {other} at {pos}"
        ))),
    }
}

/// Field `name` of a STRUCT-typed value.
fn field_of(typed: Typed, name: &str, pos: Pos) -> Result<Typed, SqlError> {
    match &typed.1 {
        Some(Type::Struct(fields)) => {
            let i = fields
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    invalid(format!(
                        "Field name {name} does not exist in {} at {pos}",
                        type_name(&typed.1)
                    ))
                })?;
            let ty = fields[i].1.clone();
            Ok((Expr::Field(typed.0.boxed(), i), Some(ty)))
        }
        other => Err(invalid(format!(
            "Cannot access field {name} on a value with type {} at {pos}",
            type_name(other)
        ))),
    }
}

/// Checks that `a` and `b` compare (`ordered`: with `<`, not only `=`), coercing a STRING
/// constant to the other side's DATE/TIME/DATETIME/TIMESTAMP, as BigQuery coerces literals and
/// parameters.
fn comparable(
    a: Typed,
    b: Typed,
    op: &str,
    ordered: bool,
    pos: Pos,
) -> Result<(Typed, Typed), SqlError> {
    let a = coerce(a, &b.1, pos)?;
    let b = coerce(b, &a.1, pos)?;
    let ok = match (&a.1, &b.1) {
        (None, _) | (_, None) => true,
        (Some(x), Some(y)) if x.is_numeric() && y.is_numeric() => {
            !(matches!(x, Type::BigNumeric) ^ matches!(y, Type::BigNumeric))
        }
        (Some(x), Some(y)) => x == y,
    };
    if !ok {
        return Err(no_signature(op, &[&a.1, &b.1], pos));
    }
    if let Some(t) = a.1.as_ref().or(b.1.as_ref())
        && !t.is_orderable()
    {
        let what = if ordered { "Ordering" } else { "Equality" };
        return Err(invalid(format!(
            "{what} is not defined for arguments of type {t} at {pos}"
        )));
    }
    Ok((a, b))
}

fn coerce(x: Typed, target: &Option<Type>, pos: Pos) -> Result<Typed, SqlError> {
    match (&x, target) {
        ((Expr::Const(Cell::Text(s)), Some(Type::String)), Some(t)) if t.is_temporal() => {
            let cell =
                scalar_cell(t, &serde_json::Value::String(s.to_string())).ok_or_else(|| {
                    invalid(format!(
                        "Could not cast literal \"{s}\" to type {t} at {pos}"
                    ))
                })?;
            Ok((Expr::Const(cell), Some(t.clone())))
        }
        _ => Ok(x),
    }
}

/// What an expression outside the subset is called in the refusal.
fn construct(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Case { .. } => "CASE expression".into(),
        ast::Expr::Cast { .. } => "CAST".into(),
        ast::Expr::Subquery(_) => "A subquery".into(),
        ast::Expr::Exists { .. } => "EXISTS".into(),
        ast::Expr::Array(_) => "An ARRAY constructor".into(),
        ast::Expr::Struct { .. } => "A STRUCT constructor".into(),
        ast::Expr::Interval(_) => "INTERVAL".into(),
        ast::Expr::Extract { .. } => "EXTRACT".into(),
        ast::Expr::Tuple(_) => "A tuple".into(),
        ast::Expr::IsTrue(_)
        | ast::Expr::IsFalse(_)
        | ast::Expr::IsNotTrue(_)
        | ast::Expr::IsNotFalse(_) => "IS [NOT] TRUE/FALSE".into(),
        ast::Expr::IsDistinctFrom(..) | ast::Expr::IsNotDistinctFrom(..) => {
            "IS [NOT] DISTINCT FROM".into()
        }
        ast::Expr::ILike { .. } => "ILIKE".into(),
        ast::Expr::SimilarTo { .. } | ast::Expr::RLike { .. } => "SIMILAR TO / RLIKE".into(),
        other => {
            let debug = format!("{other:?}");
            format!(
                "Expression {}",
                debug.split(['(', ' ', '{']).next().unwrap_or("?")
            )
        }
    }
}
