//! The emulated BigQuery's values: GoogleSQL types ([`Type`]) and typed cells ([`Cell`]), as
//! stored rows hold them and as queries compute with them.
//!
//! Cells are typed once, when a row is inserted, so a query compares integers as integers and
//! never re-parses strings per row. The text types (STRING, BYTES as base64, DATE, TIME,
//! DATETIME, GEOGRAPHY, JSON, BIGNUMERIC) share one variant and are told apart by their column's
//! type; DATE, TIME and DATETIME are kept in their fixed-width canonical forms, so their text
//! order is their time order.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::TableField;
use super::values::is_repeated;

/// A GoogleSQL type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Type {
    Bool,
    Int64,
    Float64,
    Numeric,
    BigNumeric,
    String,
    Bytes,
    Timestamp,
    Date,
    Time,
    DateTime,
    Geography,
    Json,
    Array(Box<Type>),
    Struct(Vec<(String, Type)>),
}

impl Type {
    /// The type of a scalar named `name` (standard or legacy spelling), if there is one.
    pub(crate) fn scalar(name: &str) -> Option<Type> {
        Some(match name.to_ascii_uppercase().as_str() {
            "BOOL" | "BOOLEAN" => Type::Bool,
            "INT64" | "INTEGER" => Type::Int64,
            "FLOAT64" | "FLOAT" => Type::Float64,
            "NUMERIC" | "DECIMAL" => Type::Numeric,
            "BIGNUMERIC" | "BIGDECIMAL" => Type::BigNumeric,
            "STRING" => Type::String,
            "BYTES" => Type::Bytes,
            "TIMESTAMP" => Type::Timestamp,
            "DATE" => Type::Date,
            "TIME" => Type::Time,
            "DATETIME" => Type::DateTime,
            "GEOGRAPHY" => Type::Geography,
            "JSON" => Type::Json,
            _ => return None,
        })
    }

    /// The type of a (normalized) schema field, REPEATED making it an ARRAY.
    pub(crate) fn of_field(field: &TableField) -> Type {
        let base = if field.field_type == "RECORD" {
            Type::Struct(
                field
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), Type::of_field(f)))
                    .collect(),
            )
        } else {
            Type::scalar(&field.field_type).unwrap_or(Type::String)
        };
        if is_repeated(field) {
            Type::Array(Box::new(base))
        } else {
            base
        }
    }

    /// The schema field a result column of this type is reported as (legacy type names, as
    /// BigQuery's `schema` uses; an ARRAY is a REPEATED field of its element type).
    pub(crate) fn to_field(&self, name: &str) -> TableField {
        let (element, mode) = match self {
            Type::Array(element) => (element.as_ref(), "REPEATED"),
            other => (other, "NULLABLE"),
        };
        let mut field = TableField::new(name, element.legacy_name()).with_mode(mode);
        if let Type::Struct(fields) = element {
            field.fields = fields.iter().map(|(n, t)| t.to_field(n)).collect();
        }
        field
    }

    fn legacy_name(&self) -> &'static str {
        match self {
            Type::Bool => "BOOLEAN",
            Type::Int64 => "INTEGER",
            Type::Float64 => "FLOAT",
            Type::Numeric => "NUMERIC",
            Type::BigNumeric => "BIGNUMERIC",
            Type::String => "STRING",
            Type::Bytes => "BYTES",
            Type::Timestamp => "TIMESTAMP",
            Type::Date => "DATE",
            Type::Time => "TIME",
            Type::DateTime => "DATETIME",
            Type::Geography => "GEOGRAPHY",
            Type::Json => "JSON",
            Type::Array(_) => "ARRAY",
            Type::Struct(_) => "RECORD",
        }
    }

    pub(crate) fn is_numeric(&self) -> bool {
        matches!(
            self,
            Type::Int64 | Type::Float64 | Type::Numeric | Type::BigNumeric
        )
    }

    /// DATE, TIME, DATETIME, TIMESTAMP: the types a string literal or parameter coerces to.
    pub(crate) fn is_temporal(&self) -> bool {
        matches!(
            self,
            Type::Date | Type::Time | Type::DateTime | Type::Timestamp
        )
    }

    /// Whether values of this type can be ordered and compared (`<`, `MIN`, `ORDER BY`).
    pub(crate) fn is_orderable(&self) -> bool {
        !matches!(
            self,
            Type::Array(_) | Type::Struct(_) | Type::Json | Type::Geography
        )
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Array(element) => write!(f, "ARRAY<{element}>"),
            Type::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name} {ty}")?;
                }
                f.write_str(">")
            }
            Type::Bool => f.write_str("BOOL"),
            Type::Int64 => f.write_str("INT64"),
            Type::Float64 => f.write_str("FLOAT64"),
            other => f.write_str(other.legacy_name()),
        }
    }
}

/// NUMERIC's scale: values are stored as integers of 10⁻⁹.
pub(crate) const NUMERIC_SCALE: i128 = 1_000_000_000;

/// One value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// NUMERIC, in units of 10⁻⁹ (BigQuery's precision: 29 integer and 9 fraction digits).
    Numeric(i128),
    /// Microseconds since the Unix epoch.
    Timestamp(i64),
    /// Every text-shaped type; the column's type says which.
    Text(Arc<str>),
    Array(Arc<[Cell]>),
    /// Fields in the struct type's order.
    Struct(Arc<[Cell]>),
}

/// A stored or computed row: cells in schema order, shared between a table and the results of
/// the queries that read it.
pub(crate) type Row = Arc<[Cell]>;

impl Cell {
    pub(crate) fn text(s: impl Into<Arc<str>>) -> Cell {
        Cell::Text(s.into())
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    /// Three-valued comparison for `=`, `<`, …: `None` when either side is NULL or the values
    /// are unordered (NaN).
    pub(crate) fn compare(&self, other: &Cell) -> Option<Ordering> {
        use Cell::*;
        match (self, other) {
            (Null, _) | (_, Null) => None,
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Float(a), Float(b)) => a.partial_cmp(b),
            (Int(a), Float(b)) => int_float(*a, *b),
            (Float(a), Int(b)) => int_float(*b, *a).map(Ordering::reverse),
            (Numeric(a), Numeric(b)) => Some(a.cmp(b)),
            (Int(a), Numeric(b)) => Some((i128::from(*a) * NUMERIC_SCALE).cmp(b)),
            (Numeric(a), Int(b)) => Some(a.cmp(&(i128::from(*b) * NUMERIC_SCALE))),
            (Numeric(a), Float(b)) => numeric_to_f64(*a).partial_cmp(b),
            (Float(a), Numeric(b)) => a.partial_cmp(&numeric_to_f64(*b)),
            (Timestamp(a), Timestamp(b)) => Some(a.cmp(b)),
            (Text(a), Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            _ => None,
        }
    }

    /// The total order of `ORDER BY` and `MIN`/`MAX`: NULL first, then NaN, then values.
    pub(crate) fn sort_order(&self, other: &Cell) -> Ordering {
        let rank = |c: &Cell| match c {
            Cell::Null => 0,
            Cell::Float(f) if f.is_nan() => 1,
            _ => 2,
        };
        match (rank(self), rank(other)) {
            (2, 2) => self.compare(other).unwrap_or(Ordering::Equal),
            (a, b) => a.cmp(&b),
        }
    }
}

/// `i` against `f` exactly (an i64 does not fit an f64's mantissa).
fn int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^63 is exactly representable; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let floor = f.floor();
    // In range, so the cast is exact.
    let whole = floor as i64;
    Some(match i.cmp(&whole) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    })
}

pub(crate) fn numeric_to_f64(n: i128) -> f64 {
    n as f64 / NUMERIC_SCALE as f64
}

/// A NUMERIC from its decimal text (`-12.5`, `3`, `1e3`): `None` when it is not a number or
/// does not fit NUMERIC's 29 integer and 9 fraction digits (extra fraction digits round half
/// away from zero, as BigQuery does).
pub(crate) fn parse_numeric(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (digits, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // All digits as one integer, and where the decimal point sits after the exponent.
    let all: String = format!("{int_part}{frac_part}");
    let all = all.trim_start_matches('0');
    let point = i32::try_from(frac_part.len()).ok()? - exponent;
    // Value = all * 10^-point; wanted: value * 10^9.
    let shift = 9 - point;
    if all.len() > 60 {
        return None;
    }
    let mut value: i128 = 0;
    for b in all.bytes() {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    let scaled = if shift >= 0 {
        value.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        let div = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        let (q, r) = (value / div, value % div);
        if r * 2 >= div { q + 1 } else { q }
    };
    const MAX: i128 = 100_000_000_000_000_000_000_000_000_000 * NUMERIC_SCALE;
    if scaled >= MAX {
        return None;
    }
    Some(if negative { -scaled } else { scaled })
}

/// NUMERIC's text: no trailing fraction zeros, no point for whole numbers.
pub(crate) fn numeric_text(n: i128) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let abs = n.unsigned_abs();
    let scale = NUMERIC_SCALE as u128;
    let (whole, frac) = (abs / scale, abs % scale);
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let frac = format!("{frac:09}");
    format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
}

/// A float as BigQuery prints it (`1.5`, `3.0`, `NaN`, `Infinity`).
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
}

/// A cell under grouping equality (`GROUP BY`, `COUNT(DISTINCT)`): NULLs group together, as do
/// NaNs, and `-0.0` with `0.0`.
#[derive(Clone, Debug)]
pub(crate) struct Grouped(pub(crate) Cell);

impl Grouped {
    fn float_bits(f: f64) -> u64 {
        if f.is_nan() {
            f64::NAN.to_bits()
        } else if f == 0.0 {
            0
        } else {
            f.to_bits()
        }
    }
}

impl PartialEq for Grouped {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &Cell, b: &Cell) -> bool {
            match (a, b) {
                (Cell::Float(x), Cell::Float(y)) => {
                    Grouped::float_bits(*x) == Grouped::float_bits(*y)
                }
                (Cell::Array(x), Cell::Array(y)) | (Cell::Struct(x), Cell::Struct(y)) => {
                    x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b))
                }
                _ => a == b,
            }
        }
        same(&self.0, &other.0)
    }
}

impl Eq for Grouped {}

impl Hash for Grouped {
    fn hash<H: Hasher>(&self, state: &mut H) {
        fn feed<H: Hasher>(c: &Cell, state: &mut H) {
            std::mem::discriminant(c).hash(state);
            match c {
                Cell::Null => {}
                Cell::Bool(b) => b.hash(state),
                Cell::Int(i) | Cell::Timestamp(i) => i.hash(state),
                Cell::Float(f) => Grouped::float_bits(*f).hash(state),
                Cell::Numeric(n) => n.hash(state),
                Cell::Text(t) => t.hash(state),
                Cell::Array(items) | Cell::Struct(items) => {
                    items.len().hash(state);
                    for item in items.iter() {
                        feed(item, state);
                    }
                }
            }
        }
        feed(&self.0, state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_parse_round_and_print() {
        let table: &[(&str, Option<&str>)] = &[
            ("1.5", Some("1.5")),
            ("-0.000000001", Some("-0.000000001")),
            ("0.0000000005", Some("0.000000001")),
            ("12e2", Some("1200")),
            ("1.25E-1", Some("0.125")),
            (
                "99999999999999999999999999999.999999999",
                Some("99999999999999999999999999999.999999999"),
            ),
            ("100000000000000000000000000000", None),
            ("abc", None),
            ("", None),
            (".5", Some("0.5")),
        ];
        for (text, want) in table {
            assert_eq!(
                parse_numeric(text).map(numeric_text).as_deref(),
                *want,
                "{text}"
            );
        }
    }

    #[test]
    fn integers_and_floats_compare_exactly() {
        let big = i64::MAX;
        assert_eq!(
            Cell::Int(big).compare(&Cell::Float(9.223_372_036_854_776e18)),
            Some(Ordering::Less),
            "i64::MAX is below 2^63, which is what the float is"
        );
        assert_eq!(
            Cell::Int(2).compare(&Cell::Float(2.5)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Cell::Int(-3).compare(&Cell::Float(-3.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Cell::Int(3).compare(&Cell::Float(3.0)),
            Some(Ordering::Equal)
        );
        assert_eq!(Cell::Int(1).compare(&Cell::Null), None);
        assert_eq!(Cell::Float(f64::NAN).compare(&Cell::Float(1.0)), None);
        assert_eq!(
            Cell::Null.sort_order(&Cell::Float(f64::NAN)),
            Ordering::Less,
            "NULLs sort first, then NaN"
        );
        assert_eq!(
            Cell::Float(f64::NAN).sort_order(&Cell::Float(f64::NEG_INFINITY)),
            Ordering::Less
        );
    }

    #[test]
    fn types_print_and_map_to_fields() {
        let t = Type::Array(Box::new(Type::Struct(vec![("x".into(), Type::Int64)])));
        assert_eq!(t.to_string(), "ARRAY<STRUCT<x INT64>>");
        let f = t.to_field("s");
        assert_eq!(f.mode.as_deref(), Some("REPEATED"));
        assert_eq!(f.field_type, "RECORD");
        assert_eq!(f.fields[0].field_type, "INTEGER");
        assert_eq!(Type::of_field(&f), t);
    }
}
