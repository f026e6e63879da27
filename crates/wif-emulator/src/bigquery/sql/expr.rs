//! Planned expressions and their evaluation: names already resolved to row slots, types already
//! checked, parameters and literals already constants. What is left to fail at run time is
//! arithmetic overflow in aggregates.

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::bigquery::cell::{Cell, Grouped, NUMERIC_SCALE, Type, numeric_to_f64};

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::NotEq => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::LtEq => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::GtEq => o != Ordering::Less,
        }
    }
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AggFn {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

/// One aggregate call of the query.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Aggregate {
    pub(crate) func: AggFn,
    pub(crate) distinct: bool,
    /// The argument (none for `COUNT(*)`), evaluated per input row.
    pub(crate) arg: Option<Expr>,
    /// The argument's type, which picks the arithmetic.
    pub(crate) arg_type: Option<Type>,
}

/// A planned expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    /// A literal, a parameter, `CURRENT_TIMESTAMP()`.
    Const(Cell),
    /// A slot of the source row (a table column, an UNNEST element or offset).
    Column(usize),
    /// Field `index` of a STRUCT.
    Field(Box<Expr>, usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>),
    InList(Box<Expr>, Vec<Expr>),
    InArray(Box<Expr>, Box<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    Like(Box<Expr>, Box<Expr>),
    /// An aggregate call, while planning; replaced by [`Expr::Agg`] when the query is lifted
    /// into its grouped form.
    Call(Box<Aggregate>),
    /// The value of group key `i`, in a grouped query's output.
    Key(usize),
    /// The value of aggregate `i`, in a grouped query's output.
    Agg(usize),
}

/// What an expression reads: the source row, or a group's keys and aggregates.
pub(crate) struct Ctx<'a> {
    pub(crate) row: &'a [Cell],
    pub(crate) keys: &'a [Cell],
    pub(crate) aggs: &'a [Cell],
}

fn truth(c: &Cell) -> Option<bool> {
    match c {
        Cell::Bool(b) => Some(*b),
        _ => None,
    }
}

fn from_truth(b: Option<bool>) -> Cell {
    b.map_or(Cell::Null, Cell::Bool)
}

/// `a AND b` (`wins` false) or `a OR b` (`wins` true) in three-valued logic: `wins` on either
/// side decides (`b` is not evaluated when `a` does), both the other value give it, anything
/// else is NULL.
fn connective(a: &Expr, b: &Expr, wins: bool, ctx: &Ctx<'_>) -> Result<Cell, String> {
    let a = truth(&a.eval(ctx)?);
    if a == Some(wins) {
        return Ok(Cell::Bool(wins));
    }
    let b = truth(&b.eval(ctx)?);
    Ok(match (a, b) {
        (_, Some(v)) if v == wins => Cell::Bool(wins),
        (Some(x), Some(y)) if x != wins && y != wins => Cell::Bool(!wins),
        _ => Cell::Null,
    })
}

impl Expr {
    pub(crate) fn boxed(self) -> Box<Expr> {
        Box::new(self)
    }

    /// The value for `ctx`.
    pub(crate) fn eval(&self, ctx: &Ctx<'_>) -> Result<Cell, String> {
        Ok(match self {
            Expr::Const(c) => c.clone(),
            Expr::Column(i) => ctx.row.get(*i).cloned().unwrap_or(Cell::Null),
            Expr::Key(i) => ctx.keys.get(*i).cloned().unwrap_or(Cell::Null),
            Expr::Agg(i) => ctx.aggs.get(*i).cloned().unwrap_or(Cell::Null),
            Expr::Field(e, i) => match e.eval(ctx)? {
                Cell::Struct(fields) => fields.get(*i).cloned().unwrap_or(Cell::Null),
                _ => Cell::Null,
            },
            Expr::Not(e) => from_truth(truth(&e.eval(ctx)?).map(|b| !b)),
            Expr::Neg(e) => match e.eval(ctx)? {
                Cell::Int(i) => Cell::Int(
                    i.checked_neg()
                        .ok_or_else(|| format!("Int64 overflow: -{i}"))?,
                ),
                Cell::Float(f) => Cell::Float(-f),
                Cell::Numeric(n) => Cell::Numeric(-n),
                other => other,
            },
            // FALSE wins over NULL for AND, TRUE for OR, as in SQL's three-valued logic.
            Expr::And(a, b) => connective(a, b, false, ctx)?,
            Expr::Or(a, b) => connective(a, b, true, ctx)?,
            Expr::Compare(op, a, b) => {
                let (a, b) = (a.eval(ctx)?, b.eval(ctx)?);
                if a.is_null() || b.is_null() {
                    Cell::Null
                } else {
                    // Unordered (NaN) compares false, except `!=`.
                    Cell::Bool(a.compare(&b).map_or(*op == CmpOp::NotEq, |o| op.holds(o)))
                }
            }
            Expr::IsNull(e) => Cell::Bool(e.eval(ctx)?.is_null()),
            Expr::InList(e, list) => {
                let v = e.eval(ctx)?;
                let items = list
                    .iter()
                    .map(|x| x.eval(ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                membership(&v, items.iter())
            }
            Expr::InArray(e, array) => {
                let v = e.eval(ctx)?;
                match array.eval(ctx)? {
                    Cell::Array(items) => membership(&v, items.iter()),
                    // `x IN UNNEST(NULL)` is an empty array: false.
                    _ => Cell::Bool(false),
                }
            }
            Expr::Between(e, low, high) => {
                let (v, low, high) = (e.eval(ctx)?, low.eval(ctx)?, high.eval(ctx)?);
                let ge = v.compare(&low).map(|o| o != Ordering::Less);
                let le = v.compare(&high).map(|o| o != Ordering::Greater);
                match (ge, le) {
                    (Some(false), _) | (_, Some(false)) => Cell::Bool(false),
                    (Some(true), Some(true)) => Cell::Bool(true),
                    _ => Cell::Null,
                }
            }
            Expr::Like(e, pattern) => match (e.eval(ctx)?, pattern.eval(ctx)?) {
                (Cell::Text(s), Cell::Text(p)) => Cell::Bool(like(&s, &p)),
                _ => Cell::Null,
            },
            Expr::Call(_) => return Err("aggregate evaluated outside its group".into()),
        })
    }

    /// Whether any aggregate call is inside.
    pub(crate) fn has_call(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e, Expr::Call(_)));
        found
    }

    /// Calls `f` on this expression and every sub-expression.
    pub(crate) fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Const(_) | Expr::Column(_) | Expr::Key(_) | Expr::Agg(_) => {}
            Expr::Field(e, _) | Expr::Not(e) | Expr::Neg(e) | Expr::IsNull(e) => e.visit(f),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Compare(_, a, b)
            | Expr::InArray(a, b)
            | Expr::Like(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::InList(e, list) => {
                e.visit(f);
                for x in list {
                    x.visit(f);
                }
            }
            Expr::Between(a, b, c) => {
                a.visit(f);
                b.visit(f);
                c.visit(f);
            }
            Expr::Call(call) => {
                if let Some(arg) = &call.arg {
                    arg.visit(f);
                }
            }
        }
    }
}

/// `v IN (items)`: TRUE on a match; else NULL if `v` or an item is NULL; else FALSE.
fn membership<'a>(v: &Cell, items: impl Iterator<Item = &'a Cell>) -> Cell {
    if v.is_null() {
        return Cell::Null;
    }
    let mut saw_null = false;
    for item in items {
        match v.compare(item) {
            Some(Ordering::Equal) => return Cell::Bool(true),
            None if item.is_null() => saw_null = true,
            _ => {}
        }
    }
    if saw_null {
        Cell::Null
    } else {
        Cell::Bool(false)
    }
}

/// GoogleSQL `LIKE`: `%` any run, `_` one character, `\` escapes the next character.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Char(char),
        One,
        Many,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            '%' => P::Many,
            '_' => P::One,
            c => P::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // The classic wildcard match: remember the last `%` and retry from one character further.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(P::Many) => {
                star = Some((p, t));
                p += 1;
            }
            Some(P::One) => {
                t += 1;
                p += 1;
            }
            Some(P::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|x| *x == P::Many)
}

/// A running aggregate over one group.
#[derive(Debug)]
pub(crate) enum Accumulator {
    Count(i64),
    SumInt(Option<i64>),
    SumFloat(Option<f64>),
    SumNumeric(Option<i128>),
    Avg { sum: f64, n: i64 },
    AvgNumeric { sum: i128, n: i64 },
    Extreme { max: bool, best: Option<Cell> },
}

/// An accumulator and, for `DISTINCT`, the values already fed.
#[derive(Debug)]
pub(crate) struct Running {
    acc: Accumulator,
    seen: Option<HashSet<Grouped>>,
}

impl Running {
    pub(crate) fn new(a: &Aggregate) -> Running {
        let acc = match (a.func, &a.arg_type) {
            (AggFn::CountStar | AggFn::Count, _) => Accumulator::Count(0),
            (AggFn::Sum, Some(Type::Int64)) => Accumulator::SumInt(None),
            (AggFn::Sum, Some(Type::Numeric)) => Accumulator::SumNumeric(None),
            (AggFn::Sum, _) => Accumulator::SumFloat(None),
            (AggFn::Avg, Some(Type::Numeric)) => Accumulator::AvgNumeric { sum: 0, n: 0 },
            (AggFn::Avg, _) => Accumulator::Avg { sum: 0.0, n: 0 },
            (AggFn::Min, _) => Accumulator::Extreme {
                max: false,
                best: None,
            },
            (AggFn::Max, _) => Accumulator::Extreme {
                max: true,
                best: None,
            },
        };
        Running {
            acc,
            seen: a.distinct.then(HashSet::new),
        }
    }

    /// Feeds one input row's argument (`COUNT(*)` feeds `Bool(true)` for every row).
    pub(crate) fn feed(&mut self, v: Cell) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        if let Some(seen) = &mut self.seen
            && !seen.insert(Grouped(v.clone()))
        {
            return Ok(());
        }
        match (&mut self.acc, v) {
            (Accumulator::Count(n), _) => *n += 1,
            (Accumulator::SumInt(sum), Cell::Int(i)) => {
                let before = sum.unwrap_or(0);
                *sum = Some(
                    before
                        .checked_add(i)
                        .ok_or_else(|| format!("Int64 overflow: {before} + {i}"))?,
                );
            }
            (Accumulator::SumFloat(sum), v) => *sum = Some(sum.unwrap_or(0.0) + as_f64(&v)),
            (Accumulator::SumNumeric(sum), v) => {
                *sum = Some(
                    sum.unwrap_or(0)
                        .checked_add(as_numeric(&v))
                        .ok_or("numeric overflow in SUM")?,
                );
            }
            (Accumulator::Avg { sum, n }, v) => {
                *sum += as_f64(&v);
                *n += 1;
            }
            (Accumulator::AvgNumeric { sum, n }, v) => {
                *sum = sum
                    .checked_add(as_numeric(&v))
                    .ok_or("numeric overflow in AVG")?;
                *n += 1;
            }
            (Accumulator::Extreme { max, best }, v) => {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let o = v.sort_order(b);
                        if *max {
                            o == Ordering::Greater
                        } else {
                            o == Ordering::Less
                        }
                    }
                };
                if better {
                    *best = Some(v);
                }
            }
            (Accumulator::SumInt(_), _) => return Err("SUM of a non-integer in INT64".into()),
        }
        Ok(())
    }

    /// The aggregate's value.
    pub(crate) fn finish(self) -> Cell {
        match self.acc {
            Accumulator::Count(n) => Cell::Int(n),
            Accumulator::SumInt(s) => s.map_or(Cell::Null, Cell::Int),
            Accumulator::SumFloat(s) => s.map_or(Cell::Null, Cell::Float),
            Accumulator::SumNumeric(s) => s.map_or(Cell::Null, Cell::Numeric),
            Accumulator::Avg { n: 0, .. } | Accumulator::AvgNumeric { n: 0, .. } => Cell::Null,
            Accumulator::Avg { sum, n } => Cell::Float(sum / n as f64),
            Accumulator::AvgNumeric { sum, n } => {
                let n = i128::from(n);
                // Round half away from zero, as NUMERIC division does.
                let (q, r) = (sum / n, sum % n);
                Cell::Numeric(if (r * 2).abs() >= n {
                    q + sum.signum()
                } else {
                    q
                })
            }
            Accumulator::Extreme { best, .. } => best.unwrap_or(Cell::Null),
        }
    }
}

fn as_f64(c: &Cell) -> f64 {
    match c {
        Cell::Int(i) => *i as f64,
        Cell::Float(f) => *f,
        Cell::Numeric(n) => numeric_to_f64(*n),
        _ => 0.0,
    }
}

fn as_numeric(c: &Cell) -> i128 {
    match c {
        Cell::Numeric(n) => *n,
        Cell::Int(i) => i128::from(*i) * NUMERIC_SCALE,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let table: &[(&str, &str, bool)] = &[
            ("alice", "a%", true),
            ("alice", "%ice", true),
            ("alice", "a_ice", true),
            ("alice", "a_ce", false),
            ("alice", "%l%c%", true),
            ("a%b", "a\\%b", true),
            ("axb", "a\\%b", false),
            ("", "%", true),
            ("", "_", false),
            ("héllo", "h_llo", true),
            ("aaa", "%%a", true),
        ];
        for (text, pattern, want) in table {
            assert_eq!(like(text, pattern), *want, "{text} LIKE {pattern}");
        }
    }

    #[test]
    fn three_valued_logic() {
        let ctx = Ctx {
            row: &[Cell::Null, Cell::Bool(false), Cell::Bool(true)],
            keys: &[],
            aggs: &[],
        };
        let and = |a, b| Expr::And(Expr::Column(a).boxed(), Expr::Column(b).boxed());
        let or = |a, b| Expr::Or(Expr::Column(a).boxed(), Expr::Column(b).boxed());
        assert_eq!(and(0, 1).eval(&ctx), Ok(Cell::Bool(false)));
        assert_eq!(and(0, 2).eval(&ctx), Ok(Cell::Null));
        assert_eq!(or(0, 2).eval(&ctx), Ok(Cell::Bool(true)));
        assert_eq!(or(0, 1).eval(&ctx), Ok(Cell::Null));
        let in_list = Expr::InList(
            Expr::Const(Cell::Int(1)).boxed(),
            vec![Expr::Const(Cell::Int(2)), Expr::Const(Cell::Null)],
        );
        assert_eq!(
            in_list.eval(&ctx),
            Ok(Cell::Null),
            "no match but a NULL item"
        );
    }

    /// `func` (over distinct values when `distinct`) of an argument of type `arg_type`, before
    /// its first value.
    fn running(func: AggFn, distinct: bool, arg_type: Type) -> Running {
        let aggregate = Aggregate {
            func,
            distinct,
            arg: None,
            arg_type: Some(arg_type),
        };
        Running::new(&aggregate)
    }

    #[test]
    fn sums_overflow_loudly_and_averages_round() {
        let mut r = running(AggFn::Sum, false, Type::Int64);
        r.feed(Cell::Int(i64::MAX)).expect("first");
        assert!(
            r.feed(Cell::Int(1))
                .expect_err("overflow")
                .contains("Int64 overflow")
        );
        let mut r = running(AggFn::Avg, true, Type::Numeric);
        for n in [1, 2, 2] {
            r.feed(Cell::Numeric(n)).expect("feed");
        }
        assert_eq!(
            r.finish(),
            Cell::Numeric(2),
            "DISTINCT: (1 + 2) / 2 = 1.5 rounds to 2"
        );
    }
}
