//! The SQL subset as a table: each supported construct with the rows it gives, each
//! unsupported one with the `invalidQuery` message that refuses it by name and position.

use serde_json::{Value, json};

use super::*;
use crate::bigquery::TableField;
use crate::bigquery::cell::{Row, Type};
use crate::bigquery::values::{canonical_json, logical_bytes, normalize_schema, typed_row};

const NOW: i64 = 1_800_000_000_000_000;

fn fields() -> Vec<TableField> {
    normalize_schema(&[
        TableField::new("id", "INT64"),
        TableField::new("name", "STRING"),
        TableField::new("score", "FLOAT64"),
        TableField::new("ok", "BOOL"),
        TableField::new("at", "TIMESTAMP"),
        TableField::new("day", "DATE"),
        TableField::new("tags", "STRING").repeated(),
        TableField::new("amount", "NUMERIC"),
        TableField::record(
            "meta",
            vec![
                TableField::new("n", "INT64"),
                TableField::new("label", "STRING"),
            ],
        ),
        TableField::record(
            "items",
            vec![
                TableField::new("sku", "STRING"),
                TableField::new("qty", "INT64"),
            ],
        )
        .repeated(),
    ])
    .expect("schema")
}

fn rows(fields: &[TableField]) -> Vec<Row> {
    [
        json!({"id": 1, "name": "alice", "score": 1.5, "ok": true, "at": "2026-01-01T00:00:00Z",
               "day": "2026-01-01", "tags": ["a", "b"], "amount": "10.25", "meta": {"n": 7, "label": "x"},
               "items": [{"sku": "s1", "qty": 2}, {"sku": "s2", "qty": 3}]}),
        json!({"id": 2, "name": "bob", "score": 2.0, "ok": false, "day": "2026-02-01", "tags": ["b"],
               "amount": "0.5", "meta": {"n": 8, "label": "y"}}),
        json!({"id": 3, "name": null, "score": null, "ok": null, "tags": [], "meta": null}),
        json!({"id": 4, "name": "alison", "score": 4.0, "ok": true, "at": "2026-03-01T00:00:00Z",
               "amount": "1", "items": [{"sku": "s1", "qty": 1}]}),
    ]
    .iter()
    .map(|r| Row::from(typed_row(fields, r, false).expect("valid row")))
    .collect()
}

fn parameters() -> params::Params {
    params(
        &[
            json!({"name": "id", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "2"}}),
            json!({"name": "ids", "parameterType": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
                   "parameterValue": {"arrayValues": [{"value": "1"}, {"value": "4"}]}}),
            json!({"name": "s", "parameterType": {"type": "STRUCT", "structTypes": [
                       {"name": "lo", "type": {"type": "INT64"}}, {"name": "who", "type": {"type": "STRING"}}]},
                   "parameterValue": {"structValues": {"lo": {"value": "2"}, "who": {"value": "bob"}}}}),
            json!({"name": "when", "parameterType": {"type": "TIMESTAMP"},
                   "parameterValue": {"value": "2026-01-01 00:00:00.000000+00:00"}}),
        ],
        Some("NAMED"),
    )
    .expect("parameters")
}

/// Runs `sql` over the test table (`t`, `d.t` or `p.d.t`): the schema's names and the rows,
/// each as canonical JSON.
fn run_with(sql: &str, params: &params::Params) -> Result<(Vec<String>, Vec<Value>), SqlError> {
    let fields = fields();
    let rows = rows(&fields);
    let types: Vec<Type> = fields.iter().map(Type::of_field).collect();
    let column_bytes: Vec<u64> = (0..fields.len())
        .map(|i| rows.iter().map(|r| logical_bytes(&types[i], &r[i])).sum())
        .collect();
    let query = parse(sql)?;
    let mut resolve = |path: &[String], pos: Pos| {
        if path.last().map(String::as_str) == Some("t") {
            Ok(TableSource {
                fields: &fields,
                rows: &rows,
                column_bytes: &column_bytes,
            })
        } else {
            Err(not_found(format!(
                "Not found: Table {} at {pos}",
                path.join(".")
            )))
        }
    };
    let plan = plan(&query, params, NOW, &mut resolve)?;
    let out = execute(&plan)?;
    let names = out.schema.iter().map(|(n, _)| n.clone()).collect();
    let rows = out
        .rows
        .iter()
        .map(|r| {
            Value::Array(
                out.schema
                    .iter()
                    .zip(r.iter())
                    .map(|((_, ty), c)| canonical_json(ty, c))
                    .collect(),
            )
        })
        .collect();
    Ok((names, rows))
}

fn run(sql: &str) -> Result<(Vec<String>, Vec<Value>), SqlError> {
    run_with(sql, &parameters())
}

#[test]
fn supported_constructs_give_their_rows() {
    let table: &[(&str, Value)] = &[
        // Projection, aliases, *.
        ("SELECT id FROM t", json!([["1"], ["2"], ["3"], ["4"]])),
        (
            "SELECT id AS n, name who FROM `p.d.t` WHERE id = 1",
            json!([["1", "alice"]]),
        ),
        (
            "SELECT * FROM d.t WHERE id = 2",
            json!([["2", "bob", "2.0", "false", null, "2026-02-01", ["b"], "0.5", {"n": "8", "label": "y"}, []]]),
        ),
        (
            "SELECT t.* FROM my-project.d.t AS t WHERE id = 3",
            json!([["3", null, null, null, null, null, [], null, null, []]]),
        ),
        // WHERE: AND, OR, NOT, comparisons.
        (
            "SELECT id FROM t WHERE id > 1 AND id <= 3",
            json!([["2"], ["3"]]),
        ),
        (
            "SELECT id FROM t WHERE id < 2 OR name = 'bob'",
            json!([["1"], ["2"]]),
        ),
        ("SELECT id FROM t WHERE NOT ok", json!([["2"]])),
        (
            "SELECT id FROM t WHERE id != 1 AND id <> 2",
            json!([["3"], ["4"]]),
        ),
        ("SELECT id FROM t WHERE score >= 2", json!([["2"], ["4"]])),
        ("SELECT id FROM t WHERE amount > 1", json!([["1"]])),
        ("SELECT id FROM t WHERE amount = 1", json!([["4"]])),
        ("SELECT id FROM t WHERE at < '2026-02-01'", json!([["1"]])),
        (
            "SELECT id FROM t WHERE at = TIMESTAMP '2026-03-01 00:00:00 UTC'",
            json!([["4"]]),
        ),
        (
            "SELECT id FROM t WHERE day = DATE '2026-02-01'",
            json!([["2"]]),
        ),
        ("SELECT id FROM t WHERE id = -(-2)", json!([["2"]])),
        (
            "SELECT id FROM t WHERE score > -1.5 AND id > 3",
            json!([["4"]]),
        ),
        // Three-valued logic: NULL comparisons drop the row, NOT of NULL too.
        (
            "SELECT id FROM t WHERE NOT (name = 'alice')",
            json!([["2"], ["4"]]),
        ),
        ("SELECT id FROM t WHERE name = NULL", json!([])),
        // IN, BETWEEN, LIKE, IS [NOT] NULL.
        (
            "SELECT id FROM t WHERE id IN (1, 3, 5)",
            json!([["1"], ["3"]]),
        ),
        (
            "SELECT id FROM t WHERE id NOT IN (1, 3)",
            json!([["2"], ["4"]]),
        ),
        ("SELECT id FROM t WHERE id NOT IN (1, NULL)", json!([])),
        (
            "SELECT id FROM t WHERE id IN UNNEST(@ids)",
            json!([["1"], ["4"]]),
        ),
        (
            "SELECT id FROM t WHERE 'b' IN UNNEST(tags)",
            json!([["1"], ["2"]]),
        ),
        (
            "SELECT id FROM t WHERE id BETWEEN 2 AND 3",
            json!([["2"], ["3"]]),
        ),
        (
            "SELECT id FROM t WHERE id NOT BETWEEN 2 AND 3",
            json!([["1"], ["4"]]),
        ),
        (
            "SELECT id FROM t WHERE name LIKE 'ali%'",
            json!([["1"], ["4"]]),
        ),
        ("SELECT id FROM t WHERE name LIKE '_ob'", json!([["2"]])),
        (
            "SELECT id FROM t WHERE name NOT LIKE '%e'",
            json!([["2"], ["4"]]),
        ),
        ("SELECT id FROM t WHERE name IS NULL", json!([["3"]])),
        (
            "SELECT id FROM t WHERE at IS NOT NULL",
            json!([["1"], ["4"]]),
        ),
        // ORDER BY several keys, ASC/DESC (NULLs first ascending), by alias and ordinal; LIMIT/OFFSET.
        (
            "SELECT id FROM t ORDER BY id DESC",
            json!([["4"], ["3"], ["2"], ["1"]]),
        ),
        (
            "SELECT id, ok FROM t ORDER BY ok DESC, id",
            json!([["1", "true"], ["4", "true"], ["2", "false"], ["3", null]]),
        ),
        (
            "SELECT id, score FROM t ORDER BY score",
            json!([["3", null], ["1", "1.5"], ["2", "2.0"], ["4", "4.0"]]),
        ),
        (
            "SELECT id AS k FROM t ORDER BY k DESC LIMIT 2",
            json!([["4"], ["3"]]),
        ),
        (
            "SELECT name, id FROM t ORDER BY 2 LIMIT 2 OFFSET 1",
            json!([["bob", "2"], [null, "3"]]),
        ),
        ("SELECT id FROM t LIMIT 1 OFFSET 2", json!([["3"]])),
        ("SELECT id FROM t LIMIT 0", json!([])),
        ("SELECT id FROM t ORDER BY name LIMIT 1", json!([["3"]])),
        // GROUP BY and aggregates.
        ("SELECT COUNT(*) FROM t", json!([["4"]])),
        ("SELECT COUNT(*) AS n FROM t WHERE id > 10", json!([["0"]])),
        (
            "SELECT COUNT(name), COUNT(DISTINCT ok), SUM(id), MIN(name), MAX(at) FROM t",
            json!([["3", "2", "10", "alice", "1772323200000000"]]),
        ),
        (
            "SELECT AVG(score), SUM(score), AVG(amount), SUM(amount) FROM t",
            json!([["2.5", "7.5", "3.916666667", "11.75"]]),
        ),
        (
            "SELECT ok, COUNT(*) AS n, SUM(id) FROM t GROUP BY ok ORDER BY n DESC, ok",
            json!([["true", "2", "5"], [null, "1", "3"], ["false", "1", "2"]]),
        ),
        (
            "SELECT ok, MAX(id) FROM t GROUP BY 1 HAVING COUNT(*) > 1",
            json!([["true", "4"]]),
        ),
        (
            "SELECT ok AS flag, COUNT(*) FROM t GROUP BY flag ORDER BY flag",
            json!([[null, "1"], ["false", "1"], ["true", "2"]]),
        ),
        (
            "SELECT meta.label, COUNT(*) FROM t WHERE meta.n > 7 GROUP BY meta.label",
            json!([["y", "1"]]),
        ),
        (
            "SELECT COUNT(DISTINCT tag) FROM t, UNNEST(tags) AS tag",
            json!([["2"]]),
        ),
        (
            "SELECT ok FROM t GROUP BY ok HAVING MIN(id) = 1",
            json!([["true"]]),
        ),
        (
            "SELECT COUNT(*) FROM t GROUP BY ok ORDER BY COUNT(*) DESC LIMIT 1",
            json!([["2"]]),
        ),
        // CURRENT_TIMESTAMP(), UNNEST in FROM, STRUCT field access.
        (
            "SELECT CURRENT_TIMESTAMP() AS now",
            json!([["1800000000000000"]]),
        ),
        (
            "SELECT id FROM t WHERE at < CURRENT_TIMESTAMP() ORDER BY id",
            json!([["1"], ["4"]]),
        ),
        (
            "SELECT id, tag FROM t, UNNEST(tags) AS tag ORDER BY tag, id",
            json!([["1", "a"], ["1", "b"], ["2", "b"]]),
        ),
        (
            "SELECT id, tag, pos FROM t CROSS JOIN UNNEST(t.tags) tag WITH OFFSET AS pos WHERE id = 1",
            json!([["1", "a", "0"], ["1", "b", "1"]]),
        ),
        (
            "SELECT id, i.sku, qty FROM t, UNNEST(items) AS i WHERE qty > 1",
            json!([["1", "s1", "2"], ["1", "s2", "3"]]),
        ),
        (
            "SELECT sku, SUM(qty) AS total FROM t JOIN UNNEST(items) GROUP BY sku ORDER BY sku",
            json!([["s1", "3"], ["s2", "3"]]),
        ),
        (
            "SELECT meta.n, t.meta.label AS l, meta FROM t WHERE id = 1",
            json!([["7", "x", {"n": "7", "label": "x"}]]),
        ),
        ("SELECT (meta).n FROM t WHERE id = 2", json!([["8"]])),
        // Parameters: named, STRUCT fields, ARRAY, TIMESTAMP.
        ("SELECT name FROM t WHERE id = @id", json!([["bob"]])),
        (
            "SELECT id FROM t WHERE id >= @s.lo AND name = @S.WHO",
            json!([["2"]]),
        ),
        ("SELECT id FROM t WHERE at = @when", json!([["1"]])),
        (
            "SELECT @id AS p, @ids AS a, @s AS s",
            json!([["2", ["1", "4"], {"lo": "2", "who": "bob"}]]),
        ),
        // Literals.
        (
            "SELECT 1, 'x', 2.5, TRUE, NULL, NUMERIC '1.50'",
            json!([["1", "x", "2.5", "true", null, "1.5"]]),
        ),
    ];
    let mut wrong = Vec::new();
    for (sql, want) in table {
        match run(sql) {
            Ok((_, rows)) if Value::Array(rows.clone()) == *want => {}
            Ok((_, rows)) => {
                wrong.push(format!("{sql}:\n got {}\nwant {want}", Value::Array(rows)))
            }
            Err(e) => wrong.push(format!("{sql}: {}", e.message)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn results_are_typed_and_named_like_bigquery() {
    let (names, _) =
        run("SELECT id, name AS who, COUNT(*), meta.n, 1, @id FROM t GROUP BY id, name, meta.n")
            .expect("runs");
    assert_eq!(names, ["id", "who", "f0_", "n", "f1_", "f2_"]);
    let fields = fields();
    let rows = rows(&fields);
    let types: Vec<Type> = fields.iter().map(Type::of_field).collect();
    let column_bytes: Vec<u64> = (0..fields.len())
        .map(|i| rows.iter().map(|r| logical_bytes(&types[i], &r[i])).sum())
        .collect();
    let query = parse("SELECT id, AVG(score) AS a, tags FROM t GROUP BY id, tags").expect("parses");
    let err = plan(&query, &parameters(), NOW, &mut |_: &[String], _| {
        Ok(TableSource {
            fields: &fields,
            rows: &rows,
            column_bytes: &column_bytes,
        })
    })
    .err()
    .expect("arrays cannot be grouped");
    assert!(err.message.contains("ARRAY"), "{}", err.message);
    let query = parse("SELECT id, AVG(score) AS a, meta FROM t GROUP BY id, meta").expect("parses");
    let p = plan(&query, &parameters(), NOW, &mut |_: &[String], _| {
        Ok(TableSource {
            fields: &fields,
            rows: &rows,
            column_bytes: &column_bytes,
        })
    })
    .expect("plans");
    let schema: Vec<TableField> = p.schema.iter().map(|(n, t)| t.to_field(n)).collect();
    assert_eq!(
        serde_json::to_value(&schema).expect("json"),
        json!([
            {"name": "id", "type": "INTEGER", "mode": "NULLABLE"},
            {"name": "a", "type": "FLOAT", "mode": "NULLABLE"},
            {"name": "meta", "type": "RECORD", "mode": "NULLABLE", "fields": [
                {"name": "n", "type": "INTEGER", "mode": "NULLABLE"},
                {"name": "label", "type": "STRING", "mode": "NULLABLE"}]},
        ])
    );
    assert_eq!(
        p.bytes_processed,
        column_bytes[0] + column_bytes[2] + column_bytes[8],
        "bytes of the columns read"
    );
}

#[test]
fn unsupported_constructs_are_refused_by_name_and_position() {
    let table: &[(&str, &str)] = &[
        // Syntax errors, with BigQuery's [line:column].
        (
            "SELEC * FROM t",
            "Syntax error: Expected: an SQL statement, found: SELEC at [1:1]",
        ),
        (
            "SELECT * FROM t WHERE",
            "Syntax error: Expected: an expression, found: EOF at [1:22]",
        ),
        (
            "SELECT * FROM t WHERE name = 'open",
            "Syntax error: Unterminated string literal at [1:31]",
        ),
        (
            "SELECT 1; SELECT 2",
            "Multi-statement queries (scripts) are not supported by the wif-rs emulator at [1:11]",
        ),
        // Names and types.
        ("SELECT nope FROM t", "Unrecognized name: nope at [1:8]"),
        (
            "SELECT id FROM t WHERE\n  nope = 1",
            "Unrecognized name: nope at [2:3]",
        ),
        (
            "SELECT id FROM t WHERE id = 'x'",
            "No matching signature for operator = for argument types: INT64, STRING at [1:24]",
        ),
        (
            "SELECT id FROM t WHERE tags = tags",
            "Equality is not defined for arguments of type ARRAY<STRING> at [1:24]",
        ),
        (
            "SELECT id FROM t WHERE at = 'yesterday'",
            "Could not cast literal \"yesterday\" to type TIMESTAMP at [1:24]",
        ),
        (
            "SELECT id FROM t WHERE id",
            "WHERE expects BOOL, but the expression has type INT64 at [1:24]",
        ),
        (
            "SELECT id FROM t WHERE id = @missing",
            "Query parameter 'missing' not found at [1:29]",
        ),
        (
            "SELECT id FROM t WHERE id = ?",
            "Query has at least 1 positional parameters but 0 were provided at [1:29]",
        ),
        (
            "SELECT meta.nope FROM t",
            "Field name nope does not exist in STRUCT<n INT64, label STRING> at [1:13]",
        ),
        (
            "SELECT id.x FROM t",
            "Cannot access field x on a value with type INT64 at [1:11]",
        ),
        (
            "SELECT SUM(name) FROM t",
            "No matching signature for aggregate function SUM for argument types: STRING at [1:8]",
        ),
        (
            "SELECT name, COUNT(*) FROM t",
            "SELECT list expression references column name which is neither grouped nor aggregated at [1:8]",
        ),
        (
            "SELECT id FROM t WHERE COUNT(*) > 1",
            "Aggregate function COUNT not allowed in WHERE at [1:24]",
        ),
        (
            "SELECT SUM(COUNT(*)) FROM t",
            "Aggregate function COUNT not allowed in another aggregate at [1:12]",
        ),
        (
            "SELECT id FROM t ORDER BY 3",
            "Ordinal 3 out of range for the 1 select list items at [1:27]",
        ),
        (
            "SELECT id, id FROM t",
            "Duplicate column names in the result are not supported. Found duplicate(s): id at [1:12]",
        ),
        (
            "SELECT id FROM t LIMIT -1",
            "LIMIT expects a non-negative integer literal or parameter at [1:25]",
        ),
        ("SELECT * FROM events", "Not found: Table events"),
        // Constructs outside the subset, by name.
        (
            "SELECT id + 1 FROM t",
            "Operator + is not supported by the wif-rs emulator at [1:8]",
        ),
        (
            "SELECT CASE WHEN ok THEN 1 END FROM t",
            "CASE expression is not supported by the wif-rs emulator at [1:8]",
        ),
        (
            "SELECT CAST(id AS STRING) FROM t",
            "CAST is not supported by the wif-rs emulator at [1:13]",
        ),
        (
            "SELECT UPPER(name) FROM t",
            "Function UPPER is not supported by the wif-rs emulator at [1:8]",
        ),
        (
            "SELECT COUNT(*) OVER () FROM t",
            "Window function COUNT … OVER is not supported by the wif-rs emulator at [1:8]",
        ),
        (
            "SELECT DISTINCT id FROM t",
            "SELECT DISTINCT is not supported by the wif-rs emulator at [1:1]",
        ),
        (
            "SELECT * EXCEPT (id) FROM t",
            "SELECT * EXCEPT/REPLACE is not supported by the wif-rs emulator at [1:8]",
        ),
        (
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "WITH clause is not supported by the wif-rs emulator at [1:1]",
        ),
        (
            "SELECT id FROM t UNION ALL SELECT id FROM t",
            "Set operation UNION is not supported by the wif-rs emulator at [1:1]",
        ),
        (
            "SELECT id FROM (SELECT id FROM t)",
            "A subquery in FROM is not supported by the wif-rs emulator at [1:17]",
        ),
        (
            "SELECT a.id FROM t AS a JOIN t AS b ON a.id = b.id",
            "A JOIN other than a cross join with UNNEST is not supported by the wif-rs emulator at [1:30]",
        ),
        (
            "SELECT id FROM t WHERE id IN (SELECT id FROM t)",
            "IN (subquery) is not supported by the wif-rs emulator at [1:24]",
        ),
        (
            "SELECT id FROM t WHERE EXISTS (SELECT 1)",
            "EXISTS is not supported by the wif-rs emulator at [1:32]",
        ),
        (
            "SELECT tags[OFFSET(0)] FROM t",
            "Array subscripts and computed fields is not supported by the wif-rs emulator",
        ),
        (
            "SELECT ARRAY[1, 2]",
            "An ARRAY constructor is not supported by the wif-rs emulator at [1:14]",
        ),
        (
            "SELECT id FROM t WHERE name LIKE 'a!%' ESCAPE '!'",
            "LIKE ANY or LIKE … ESCAPE is not supported by the wif-rs emulator at [1:24]",
        ),
        (
            "SELECT id FROM t QUALIFY id > 1",
            "QUALIFY is not supported by the wif-rs emulator at [1:1]",
        ),
        (
            "SELECT id FROM t WHERE @@project_id = 'x'",
            "System variable @@project_id is not supported by the wif-rs emulator at [1:24]",
        ),
        (
            "INSERT INTO t (id) VALUES (1)",
            "Statement INSERT INTO is not supported by the wif-rs emulator (only SELECT queries run) at [1:1]",
        ),
        (
            "DELETE FROM t WHERE true",
            "Statement DELETE FROM is not supported by the wif-rs emulator (only SELECT queries run) at [1:1]",
        ),
        (
            "SELECT * FROM t, UNNEST(items)",
            "SELECT * over an UNNEST of STRUCTs (name the fields instead) is not supported by the wif-rs emulator at [1:8]",
        ),
    ];
    let mut wrong = Vec::new();
    for (sql, want) in table {
        match run(sql) {
            Ok(_) => wrong.push(format!("{sql}: ran, but must be refused")),
            Err(e) if !e.message.contains(want) => {
                wrong.push(format!("{sql}:\n got {:?}\nwant {want:?}", e.message));
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn positional_parameters_bind_in_order() {
    let p = params(
        &[
            json!({"parameterType": {"type": "STRING"}, "parameterValue": {"value": "alice"}}),
            json!({"parameterType": {"type": "BOOL"}, "parameterValue": {"value": "true"}}),
        ],
        Some("POSITIONAL"),
    )
    .expect("params");
    let (_, rows) = run_with("SELECT id FROM t WHERE name = ? AND ok = ?", &p).expect("runs");
    assert_eq!(rows, [json!(["1"])]);
}
