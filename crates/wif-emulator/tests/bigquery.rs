//! The emulated BigQuery over HTTP: the real API's request and response shapes, bearer checks,
//! insertAll semantics, the SQL subset, paging and polling.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{demo_events, error_status_and_message, http, reason, start_default, writer_token};
use wif_emulator::bigquery::{self, TableField};
use wif_emulator::{RunningEmulator, TokenKind};

struct Bq {
    emulator: RunningEmulator,
    http: reqwest::Client,
    token: String,
}

const P: &str = "wif-demo";

async fn start() -> Bq {
    let emulator = start_default().await;
    let token = writer_token(&emulator);
    bigquery::create_table(
        emulator.state(),
        P,
        "demo",
        "events",
        &[
            TableField::new("id", "INT64").required(),
            TableField::new("kind", "STRING"),
            TableField::new("at", "TIMESTAMP"),
            TableField::new("tags", "STRING").repeated(),
            TableField::record("meta", vec![TableField::new("n", "INTEGER")]),
        ],
    )
    .expect("schema is valid");
    Bq {
        emulator,
        http: http(),
        token,
    }
}

impl Bq {
    fn url(&self, path: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{P}/{path}",
            self.emulator.base_url()
        )
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// `insertAll` into `demo.events` with the request `body`.
    async fn insert_all(&self, body: Value) -> (u16, Value) {
        self.post("datasets/demo/tables/events/insertAll", body)
            .await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .query(query)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// The status of a GET of `url` with `bearer` (or none) in place of the writer's token.
    async fn status_as(&self, url: &str, bearer: Option<&str>) -> u16 {
        let mut request = self.http.get(url);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().await.expect("request").status().as_u16()
    }

    async fn insert(&self, rows: Value) -> Value {
        let (status, body) = self.insert_all(json!({"rows": rows})).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn query(&self, body: Value) -> (u16, Value) {
        self.post("queries", body).await
    }
}

fn sql(query: &str) -> Value {
    json!({"query": query, "useLegacySql": false})
}

#[tokio::test]
async fn every_call_needs_a_token_the_chain_issued() {
    let bq = start().await;
    let url = bq.url("datasets/demo");
    assert_eq!(bq.status_as(&url, None).await, 401);
    assert_eq!(
        bq.status_as(&url, Some("ya29.not-from-the-emulator")).await,
        401
    );
    let (fed, _) = bq.emulator.state().issue(
        TokenKind::Federated,
        "principal://x".into(),
        vec![],
        vec![],
        Duration::from_secs(60),
    );
    assert_eq!(
        bq.status_as(&url, Some(&fed)).await,
        200,
        "direct resource access works too"
    );
    bq.emulator.state().expire_all_tokens();
    let (status, _) = bq.get("datasets/demo", &[]).await;
    assert_eq!(status, 401, "expired tokens are refused");
}

#[tokio::test]
async fn datasets_and_tables_have_the_real_shapes() {
    let bq = start().await;
    let (status, ds) = bq
        .post(
            "datasets",
            json!({"datasetReference": {"projectId": P, "datasetId": "eu_data"}, "location": "EU"}),
        )
        .await;
    assert_eq!(status, 200, "{ds}");
    assert_eq!(ds["id"], "wif-demo:eu_data");
    assert_eq!(ds["location"], "EU");
    // Again, and a name BigQuery does not allow.
    for (dataset, want) in [
        ("eu_data", (409, "duplicate")),
        ("no-dashes", (400, "invalid")),
    ] {
        let body = json!({"datasetReference": {"datasetId": dataset}});
        let (status, refused) = bq.post("datasets", body).await;
        assert_eq!((status, reason(&refused)), want, "{dataset}: {refused}");
    }

    let table = json!({
        "tableReference": {"projectId": P, "datasetId": "eu_data", "tableId": "t"},
        "schema": {"fields": [{"name": "a", "type": "INT64"}, {"name": "r", "type": "STRUCT", "fields": [{"name": "b", "type": "BOOL"}]}]}
    });
    let (status, t) = bq.post("datasets/eu_data/tables", table.clone()).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        t["schema"]["fields"][0],
        json!({"name": "a", "type": "INTEGER", "mode": "NULLABLE"})
    );
    assert_eq!(t["schema"]["fields"][1]["type"], "RECORD");
    let (status, dup) = bq.post("datasets/eu_data/tables", table).await;
    assert_eq!((status, reason(&dup)), (409, "duplicate"));
    let (status, missing) = bq
        .post(
            "datasets/nope/tables",
            json!({"tableReference": {"tableId": "t"}, "schema": {"fields": []}}),
        )
        .await;
    assert_eq!((status, reason(&missing)), (404, "notFound"));
    let (status, bad) = bq
        .post("datasets/eu_data/tables", json!({"tableReference": {"tableId": "u"}, "schema": {"fields": [{"name": "x", "type": "NOPE"}]}}))
        .await;
    assert_eq!((status, reason(&bad)), (400, "invalid"), "{bad}");

    let (status, got) = bq.get("datasets/demo/tables/events", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(got["numRows"], "0");
    assert_eq!(got["tableReference"]["tableId"], "events");
    let (status, nf) = bq.get("datasets/demo/tables/nope", &[]).await;
    assert_eq!((status, reason(&nf)), (404, "notFound"));
    assert_eq!(
        error_status_and_message(&nf),
        ("NOT_FOUND", "Not found: Table wif-demo:demo.nope")
    );
}

#[tokio::test]
async fn insert_all_checks_rows_and_stops_the_valid_ones() {
    let bq = start().await;
    let out = bq
        .insert(json!([
            {"insertId": "a", "json": {"id": 1, "kind": "ok"}},
            {"insertId": "b", "json": {"id": "x"}},
            {"insertId": "c", "json": {"id": 3, "unknown": 1}},
        ]))
        .await;
    assert_eq!(
        out["insertErrors"],
        json!([
            {"index": 0, "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]},
            {"index": 1, "errors": [{"reason": "invalid", "location": "id", "debugInfo": "", "message": "Cannot convert value to integer (bad value): x."}]},
            {"index": 2, "errors": [{"reason": "invalid", "location": "unknown", "debugInfo": "", "message": "no such field: unknown."}]},
        ])
    );
    assert_eq!(
        bigquery::table_rows(bq.emulator.state(), P, "demo", "events").map(|r| r.len()),
        Some(0)
    );

    let (status, out) = bq
        .insert_all(
            json!({"skipInvalidRows": true, "ignoreUnknownValues": true, "rows": [
                {"insertId": "a", "json": {"id": 1, "kind": "ok", "extra": true}},
                {"insertId": "b", "json": {"kind": "no id"}},
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["insertErrors"][0]["index"], 1);
    assert_eq!(
        out["insertErrors"][0]["errors"][0]["message"],
        "Missing required field: id."
    );
    let rows = demo_events(&bq.emulator);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], "1");

    // A retried request with the same insertIds is acknowledged without duplicating rows.
    let out = bq
        .insert(json!([{"insertId": "a", "json": {"id": 1}}, {"insertId": "d", "json": {"id": 4}}]))
        .await;
    assert_eq!(out.get("insertErrors"), None, "{out}");
    let rows = demo_events(&bq.emulator);
    assert_eq!(
        rows.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(),
        [json!("1"), json!("4")]
    );

    let (status, body) = bq.insert_all(json!({"rows": []})).await;
    assert_eq!((status, reason(&body)), (400, "invalid"));
    let (status, body) = bq
        .post(
            "datasets/demo/tables/nope/insertAll",
            json!({"rows": [{"json": {}}]}),
        )
        .await;
    assert_eq!((status, reason(&body)), (404, "notFound"));
    let (status, _) = bq
        .insert_all(json!({"templateSuffix": "_2026", "rows": [{"json": {"id": 9}}]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        bigquery::table_rows(bq.emulator.state(), P, "demo", "events_2026").map(|r| r.len()),
        Some(1),
        "templateSuffix creates the suffixed table from the template"
    );
}

#[tokio::test]
async fn queries_encode_rows_by_schema_and_page_with_encoded_tokens() {
    let bq = start().await;
    bq.insert(json!([
        {"json": {"id": 1, "kind": "a", "at": "2026-01-01T00:00:00Z", "tags": ["x", "y"], "meta": {"n": 5}}},
        {"json": {"id": 2, "kind": "b"}},
        {"json": {"id": 3, "kind": "a"}},
    ]))
    .await;
    let mut body = sql("SELECT * FROM `wif-demo.demo.events`");
    body["maxResults"] = json!(2);
    body["formatOptions"] = json!({"useInt64Timestamp": true});
    let (status, first) = bq.query(body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["kind"], "bigquery#queryResponse");
    assert_eq!(first["jobComplete"], true);
    assert_eq!(first["totalRows"], "3");
    assert_eq!(first["jobReference"]["location"], "US");
    assert_eq!(
        first["rows"][0],
        json!({"f": [{"v": "1"}, {"v": "a"}, {"v": "1767225600000000"}, {"v": [{"v": "x"}, {"v": "y"}]}, {"v": {"f": [{"v": "5"}]}}]})
    );
    assert_eq!(first["rows"][1]["f"][2], json!({"v": null}));
    assert_eq!(first["rows"][1]["f"][3], json!({"v": []}));
    let token = first["pageToken"].as_str().expect("a next page");
    let job = first["jobReference"]["jobId"].as_str().expect("job id");

    let (status, second) = bq
        .get(
            &format!("queries/{job}"),
            &[
                ("pageToken", token),
                ("maxResults", "2"),
                ("location", "US"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["kind"], "bigquery#getQueryResultsResponse");
    assert_eq!(second["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["rows"][0]["f"][0]["v"], "3");
    assert_eq!(second.get("pageToken"), None);
    // Without useInt64Timestamp, TIMESTAMP is float seconds, as BigQuery's default.
    let (_, floats) = bq
        .get(
            &format!("queries/{job}"),
            &[("startIndex", "0"), ("maxResults", "1")],
        )
        .await;
    assert_eq!(floats["rows"][0]["f"][2]["v"], "1.7672256E9");

    // A token sent without URL-encoding arrives with its `+` turned into a space.
    let raw = format!("{}?pageToken={token}", bq.url(&format!("queries/{job}")));
    assert_eq!(bq.status_as(&raw, Some(&bq.token)).await, 400);
    let (status, wrong_location) = bq
        .get(&format!("queries/{job}"), &[("location", "EU")])
        .await;
    assert_eq!((status, reason(&wrong_location)), (404, "notFound"));
    let (status, _) = bq.get("queries/job_nope", &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn where_count_limit_and_parameters() {
    let bq = start().await;
    bq.insert(json!([{"json": {"id": 1, "kind": "a"}}, {"json": {"id": 2, "kind": "b"}}, {"json": {"id": 3, "kind": "a"}}]))
        .await;
    let (_, out) = bq
        .query(sql("SELECT COUNT(*) FROM demo.events WHERE kind = 'a'"))
        .await;
    assert_eq!(
        out["schema"]["fields"],
        json!([{"name": "f0_", "type": "INTEGER", "mode": "NULLABLE"}])
    );
    assert_eq!(out["rows"], json!([{"f": [{"v": "2"}]}]));

    let mut named = sql("SELECT id FROM events WHERE kind = @kind LIMIT 1");
    named["defaultDataset"] = json!({"projectId": P, "datasetId": "demo"});
    named["parameterMode"] = json!("NAMED");
    named["queryParameters"] = json!([{"name": "kind", "parameterType": {"type": "STRING"}, "parameterValue": {"value": "a"}}]);
    let (status, out) = bq.query(named).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["rows"], json!([{"f": [{"v": "1"}]}]));

    let mut positional = sql("SELECT kind FROM `demo.events` WHERE id = ?");
    positional["parameterMode"] = json!("POSITIONAL");
    positional["queryParameters"] =
        json!([{"parameterType": {"type": "INT64"}, "parameterValue": {"value": "2"}}]);
    let (_, out) = bq.query(positional).await;
    assert_eq!(out["rows"], json!([{"f": [{"v": "b"}]}]));
}

#[tokio::test]
async fn query_errors_have_bigquery_reasons() {
    let bq = start().await;
    let table: &[(Value, u16, &str, &str)] = &[
        (
            sql("SELECT FROM demo.events"),
            400,
            "invalidQuery",
            "Syntax error",
        ),
        (
            sql("SELECT nope FROM demo.events"),
            400,
            "invalidQuery",
            "Unrecognized name: nope",
        ),
        (
            sql("SELECT * FROM events"),
            400,
            "invalidQuery",
            "must be qualified with a dataset",
        ),
        (
            sql("SELECT * FROM demo.nope"),
            404,
            "notFound",
            "Not found: Table wif-demo:demo.nope",
        ),
        (
            sql("SELECT * FROM nope.t"),
            404,
            "notFound",
            "Not found: Dataset wif-demo:nope",
        ),
        (
            json!({"query": "SELECT * FROM demo.events"}),
            400,
            "invalidQuery",
            "useLegacySql=false",
        ),
        (
            json!({"query": "SELECT * FROM demo.events", "useLegacySql": false, "location": "EU"}),
            404,
            "notFound",
            "in location EU",
        ),
    ];
    for (body, status, want_reason, want_message) in table {
        let (got, out) = bq.query(body.clone()).await;
        assert_eq!(
            (got, reason(&out)),
            (*status, *want_reason),
            "{body}: {out}"
        );
        let message = out["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(want_message), "{body}: {message}");
    }
}

#[tokio::test]
async fn incomplete_jobs_are_polled_and_request_ids_replay() {
    let bq = start().await;
    bq.insert(json!([{"json": {"id": 1}}])).await;
    bigquery::set_incomplete_polls(bq.emulator.state(), 2);
    let mut body = sql("SELECT id FROM demo.events");
    body["requestId"] = json!("11111111-2222-4333-8444-555555555555");
    let (_, first) = bq.query(body.clone()).await;
    assert_eq!(first["jobComplete"], false);
    assert_eq!(first.get("rows"), None);
    assert_eq!(first.get("schema"), None);
    let job = first["jobReference"]["jobId"]
        .as_str()
        .expect("job")
        .to_owned();
    let (_, poll) = bq
        .get(&format!("queries/{job}"), &[("maxResults", "0")])
        .await;
    assert_eq!(poll["jobComplete"], false);
    let (_, done) = bq
        .get(&format!("queries/{job}"), &[("maxResults", "0")])
        .await;
    assert_eq!(done["jobComplete"], true);
    assert_eq!(done["totalRows"], "1");
    assert_eq!(done.get("rows"), None, "maxResults=0 asks for no rows");

    let (_, replay) = bq.query(body).await;
    assert_eq!(
        replay["jobReference"]["jobId"],
        job.as_str(),
        "same requestId, same job"
    );
    assert_eq!(replay["rows"], json!([{"f": [{"v": "1"}]}]));
}
