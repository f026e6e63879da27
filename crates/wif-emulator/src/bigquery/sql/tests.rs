//! Table tests of the SQL subset: what parses, what runs, and BigQuery-like errors for the rest.

use serde_json::json;

use super::*;
use crate::bigquery::values::normalize_schema;

fn fields() -> Vec<TableField> {
    normalize_schema(&[
        TableField::new("id", "INT64"),
        TableField::new("name", "STRING"),
        TableField::new("score", "FLOAT64"),
        TableField::new("ok", "BOOL"),
        TableField::new("at", "TIMESTAMP"),
        TableField::new("day", "DATE"),
        TableField::new("tags", "STRING").repeated(),
    ])
    .expect("schema")
}

fn rows() -> Vec<Value> {
    vec![
        json!({"id": "1", "name": "alice", "score": "1.5", "ok": "true", "at": "1767225600000000", "day": "2026-01-01", "tags": ["a"]}),
        json!({"id": "2", "name": "bob", "score": "2.0", "ok": "false", "at": null, "day": null, "tags": []}),
        json!({"id": "3", "name": null, "score": null, "ok": null, "at": null, "day": null, "tags": []}),
    ]
}

fn run(sql: &str, params: &Params) -> Result<Output, SqlError> {
    let q = parse(sql)?;
    execute(&q, &fields(), &rows(), params)
}

fn ids(out: &Output) -> Vec<Value> {
    let i = out
        .0
        .iter()
        .position(|f| f.name == "id")
        .expect("id column");
    out.1.iter().map(|r| r[i].clone()).collect()
}

#[test]
fn parses_table_paths() {
    let table: &[(&str, &[&str])] = &[
        ("SELECT * FROM `p.d.t`", &["p", "d", "t"]),
        ("select * from p.d.t", &["p", "d", "t"]),
        ("SELECT * FROM `my-project`.d.t", &["my-project", "d", "t"]),
        ("SELECT * FROM my-project.d.t;", &["my-project", "d", "t"]),
        ("SELECT * FROM d.t", &["d", "t"]),
        ("SELECT * FROM `t`", &["t"]),
    ];
    for (sql, want) in table {
        let q = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        assert_eq!(q.table, *want, "{sql}");
    }
}

#[test]
fn runs_the_subset() {
    let none = Params::default();
    let table: &[(&str, Vec<Value>)] = &[
        ("SELECT * FROM t", vec![json!("1"), json!("2"), json!("3")]),
        ("SELECT id FROM t WHERE name = 'bob'", vec![json!("2")]),
        ("SELECT id FROM t WHERE name = \"alice\"", vec![json!("1")]),
        ("SELECT id FROM t WHERE id = 3", vec![json!("3")]),
        ("SELECT id FROM t WHERE score = 2", vec![json!("2")]),
        ("SELECT id FROM t WHERE score = 1.5", vec![json!("1")]),
        ("SELECT id FROM t WHERE ok = TRUE", vec![json!("1")]),
        (
            "SELECT id FROM t WHERE at = '2026-01-01 00:00:00 UTC'",
            vec![json!("1")],
        ),
        (
            "SELECT id FROM t WHERE day = '2026-01-01'",
            vec![json!("1")],
        ),
        ("SELECT id FROM t WHERE name IS NULL", vec![json!("3")]),
        (
            "SELECT id FROM t WHERE name IS NOT NULL AND ok = false",
            vec![json!("2")],
        ),
        ("SELECT id FROM t WHERE name = NULL", vec![]),
        ("SELECT id FROM t LIMIT 2", vec![json!("1"), json!("2")]),
        ("SELECT id FROM t -- trailing comment\nLIMIT 0", vec![]),
    ];
    for (sql, want) in table {
        let out = run(sql, &none).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        assert_eq!(&ids(&out), want, "{sql}");
    }
}

#[test]
fn count_and_aliases() {
    let out = run(
        "SELECT COUNT(*) FROM t WHERE ok IS NOT NULL",
        &Params::default(),
    )
    .expect("count");
    assert_eq!(out.0[0].name, "f0_");
    assert_eq!(out.0[0].field_type, "INTEGER");
    assert_eq!(out.1, vec![vec![json!("2")]]);
    let out = run("SELECT count(*) AS n FROM t", &Params::default()).expect("count");
    assert_eq!(out.0[0].name, "n");
    let out = run("SELECT name AS who, id FROM t LIMIT 1", &Params::default()).expect("alias");
    assert_eq!(
        out.0.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["who", "id"]
    );
    assert_eq!(out.1, vec![vec![json!("alice"), json!("1")]]);
}

#[test]
fn binds_named_and_positional_parameters() {
    let named = params(&[
        json!({"name": "ID", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "2"}}),
        json!({"name": "when", "parameterType": {"type": "TIMESTAMP"}, "parameterValue": {"value": "2026-01-01 00:00:00.000000+00:00"}}),
    ])
    .expect("params");
    let out = run("SELECT id FROM t WHERE id = @id", &named).expect("named");
    assert_eq!(ids(&out), vec![json!("2")]);
    let out = run("SELECT id FROM t WHERE at = @when", &named).expect("timestamp param");
    assert_eq!(ids(&out), vec![json!("1")]);

    let positional = params(&[
        json!({"parameterType": {"type": "STRING"}, "parameterValue": {"value": "alice"}}),
        json!({"parameterType": {"type": "BOOL"}, "parameterValue": {"value": "true"}}),
    ])
    .expect("params");
    let out = run("SELECT id FROM t WHERE name = ? AND ok = ?", &positional).expect("positional");
    assert_eq!(ids(&out), vec![json!("1")]);
}

#[test]
fn errors_read_like_bigquery() {
    let none = Params::default();
    let table: &[(&str, &str)] = &[
        (
            "SELEC * FROM t",
            "Syntax error: Expected keyword SELECT but got identifier \"SELEC\" at [1:1]",
        ),
        (
            "SELECT * t",
            "Syntax error: Expected keyword FROM but got identifier \"t\" at [1:10]",
        ),
        (
            "SELECT * FROM",
            "Syntax error: Expected a table name but got end of input at [1:14]",
        ),
        ("SELECT nope FROM t", "Unrecognized name: nope at [1:8]"),
        (
            "SELECT * FROM t WHERE nope = 1",
            "Unrecognized name: nope at [1:23]",
        ),
        (
            "SELECT * FROM t WHERE id = 'x'",
            "No matching signature for operator = for argument types: INT64, STRING.",
        ),
        (
            "SELECT * FROM t WHERE tags = 'a'",
            "Equality is not defined for arguments of type ARRAY<STRING>",
        ),
        (
            "SELECT * FROM t WHERE id = @missing",
            "Query parameter 'missing' not found at [1:23]",
        ),
        ("SELECT * FROM t WHERE id = ?", "positional parameters"),
        (
            "SELECT * FROM t WHERE id > 1",
            "Syntax error: Expected \"=\" or IS",
        ),
        (
            "SELECT * FROM t WHERE id = 1 OR id = 2",
            "Syntax error: Expected end of input but got keyword OR at [1:30]",
        ),
        (
            "SELECT * FROM t ORDER BY id",
            "Syntax error: Expected end of input but got keyword ORDER at [1:17]",
        ),
        ("SELECT MAX(id) FROM t", "Function not found: MAX"),
        (
            "SELECT * FROM t WHERE name = 'open",
            "Syntax error: Unclosed string literal at [1:30]",
        ),
        (
            "SELECT * FROM t LIMIT -1",
            "Expected a non-negative integer after LIMIT",
        ),
        (
            "SELECT * FROM t WHERE at = 'yesterday'",
            "Could not cast literal \"yesterday\" to type TIMESTAMP",
        ),
        (
            "SELECT * FROM t\nWHERE id = $",
            "Illegal input character \"$\" at [2:12]",
        ),
    ];
    for (sql, want) in table {
        let err = run(sql, &none).expect_err(sql);
        assert!(!err.not_found, "{sql}");
        assert!(
            err.message.contains(want),
            "{sql}: got {:?}, want {want:?}",
            err.message
        );
    }
}
