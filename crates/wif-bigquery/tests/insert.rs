//! `tabledata.insertAll` on the wire: request shape, insert ids, batching with original indexes,
//! partial failures, BigQuery's retry rules and the single token refresh on 401.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod support;

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Value, json};
use support::{
    CountingProvider, answers, builder, client, client_serving, fails_first, header, json_body,
    rpc_error_response, server_with,
};
use wif_bigquery::{InsertOptions, TableRef};
use wif_core::testing::{assert_hint_says, assert_refused_with, assert_says};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const INSERT_PATH: &str = "/bigquery/v2/projects/proj/datasets/ds/tables/events/insertAll";

#[derive(Serialize)]
struct Event {
    id: i64,
    kind: &'static str,
}

fn table() -> TableRef {
    TableRef::new("proj", "ds", "events")
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"kind": "bigquery#tableDataInsertAllResponse"}))
}

#[tokio::test]
async fn sends_the_documented_request() {
    let server = server_with([Mock::given(method("POST"))
        .and(path(INSERT_PATH))
        .respond_with(ok())
        .expect(2)])
    .await;
    let bq = builder(&server, CountingProvider::new())
        .quota_project("billing-proj")
        .build()
        .expect("a valid client");
    let report = bq
        .insert_rows(
            &table(),
            [Event { id: 1, kind: "a" }, Event { id: 2, kind: "b" }],
            InsertOptions::default()
                .skip_invalid_rows(true)
                .ignore_unknown_values(true)
                .template_suffix("_x"),
        )
        .await
        .expect("inserted");
    assert!(report.is_complete());
    assert_eq!((report.total_rows(), report.requests()), (2, 1));

    let requests = server.received_requests().await.expect("recorded");
    let r = &requests[0];
    assert_eq!(header(r, "authorization"), Some("Bearer tok-1"));
    assert_eq!(header(r, "x-goog-user-project"), Some("billing-proj"));
    assert_eq!(header(r, "content-type"), Some("application/json"));
    let body = json_body(r);
    assert_eq!(body["skipInvalidRows"], true);
    assert_eq!(body["ignoreUnknownValues"], true);
    assert_eq!(body["templateSuffix"], "_x");
    assert_eq!(body["rows"][0]["json"], json!({"id": 1, "kind": "a"}));
    assert_eq!(body["rows"][1]["json"], json!({"id": 2, "kind": "b"}));
    let ids: HashSet<&str> = body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["insertId"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "one distinct insertId per row: {body}");

    let plain = bq
        .insert_rows(
            &table(),
            [json!({"a": 1})],
            InsertOptions::default().without_insert_ids(),
        )
        .await;
    assert!(plain.is_ok());
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(json_body(&requests[1])["rows"][0].get("insertId"), None);
}

/// Reports rows 5 and the last of every request as invalid, the others as stopped.
struct RejectSome;

impl Respond for RejectSome {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = json_body(request)["rows"].as_array().map_or(0, Vec::len);
        let errors: Vec<Value> = (0..n)
            .map(|i| {
                let reason = if i == 5 || i == n - 1 { "invalid" } else { "stopped" };
                json!({"index": i, "errors": [{"reason": reason, "location": "id", "message": "m"}]})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"insertErrors": errors}))
    }
}

#[tokio::test]
async fn batches_1200_rows_into_three_requests_and_reports_original_indexes() {
    let (server, bq) = client_serving([Mock::given(method("POST"))
        .and(path(INSERT_PATH))
        .respond_with(RejectSome)
        .expect(3)])
    .await;
    let rows: Vec<Value> = (0..1200).map(|i| json!({"id": i})).collect();
    let report = bq
        .insert_rows(&table(), &rows, InsertOptions::default())
        .await
        .expect("partial failure is a report, not an Err");
    assert_eq!(report.requests(), 3);
    let sizes: Vec<usize> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| json_body(r)["rows"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [500, 500, 200]);
    // The 3rd request's first row is input row 1000.
    let third = &server.received_requests().await.expect("recorded")[2];
    assert_eq!(json_body(third)["rows"][0]["json"]["id"], 1000);

    let invalid: Vec<usize> = report
        .row_errors()
        .iter()
        .filter(|e| !e.is_stopped())
        .map(|e| e.index)
        .collect();
    assert_eq!(invalid, [5, 499, 505, 999, 1005, 1199]);
    assert_eq!(report.row_errors().len(), 1200);
    assert_eq!(report.inserted_rows(), 0);
    assert_eq!(report.stopped_rows().count(), 1194);

    let err = report.into_result().expect_err("rows were rejected");
    assert_says(
        &err.to_string(),
        &[
            "1200 of 1200 rows were not inserted",
            "row 5: invalid at `id`: m",
            "and 1 more invalid rows",
            "1194 valid rows were stopped",
        ],
    );
    assert_hint_says(&err, "skip_invalid_rows");
}

#[tokio::test]
async fn large_rows_split_batches_by_bytes() {
    let (server, bq) = client_serving([answers("POST", ok())]).await;
    let big = "x".repeat(300_000);
    let rows: Vec<Value> = (0..40).map(|i| json!({"id": i, "blob": big})).collect();
    let report = bq
        .insert_rows(&table(), &rows, InsertOptions::default())
        .await
        .expect("inserted");
    let requests = server.received_requests().await.expect("recorded");
    assert!(
        requests.len() >= 2,
        "12 MB of rows need at least two requests"
    );
    assert_eq!(report.requests(), requests.len());
    for r in &requests {
        assert!(
            r.body.len() <= wif_bigquery::MAX_BATCH_BYTES,
            "{} bytes",
            r.body.len()
        );
    }
    let total: usize = requests
        .iter()
        .map(|r| json_body(r)["rows"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(total, 40);
}

#[tokio::test]
async fn bad_input_fails_before_any_request() {
    let (server, bq) = client_serving([]).await;
    let err = bq
        .insert_rows(
            &table(),
            [json!({"ok": 1}), json!("not an object")],
            InsertOptions::default(),
        )
        .await
        .expect_err("a string row");
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("row 1"), "{err}");
    let err = bq
        .insert_rows(
            &TableRef::new("proj", "", "t"),
            [json!({})],
            InsertOptions::default(),
        )
        .await
        .expect_err("empty dataset");
    assert!(err.is_config(), "{err}");
    let huge = json!({"blob": "x".repeat(11_000_000)});
    let err = bq
        .insert_rows(&table(), [huge], InsertOptions::default())
        .await
        .expect_err("an 11 MB row");
    assert!(err.to_string().contains("limited to"), "{err}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));

    let report = bq
        .insert_rows(&table(), Vec::<Value>::new(), InsertOptions::default())
        .await
        .expect("nothing to do");
    assert_eq!((report.requests(), report.total_rows()), (0, 0));
}

#[tokio::test]
async fn retries_backend_errors_with_the_same_insert_ids() {
    let backend_error = rpc_error_response(503, "backendError", "try again");
    let (server, bq) =
        client_serving([fails_first("POST", 1, backend_error), answers("POST", ok())]).await;
    bq.insert_rows(&table(), [json!({"id": 1})], InsertOptions::default())
        .await
        .expect("second attempt succeeds");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        json_body(&requests[0])["rows"][0]["insertId"],
        json_body(&requests[1])["rows"][0]["insertId"],
        "a retried request must carry the same insertIds, or BigQuery can't de-duplicate"
    );
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let unauthorized = rpc_error_response(401, "authError", "Invalid Credentials");
    let server = server_with([fails_first("POST", 1, unauthorized), answers("POST", ok())]).await;
    let provider = CountingProvider::new();
    let bq = client(&server, provider.clone());
    bq.insert_rows(&table(), [json!({"id": 1})], InsertOptions::default())
        .await
        .expect("the refreshed token works");
    assert_eq!(provider.invalidations(), 1);
    let requests = server.received_requests().await.expect("recorded");
    let auth: Vec<_> = requests
        .iter()
        .map(|r| header(r, "authorization"))
        .collect();
    assert_eq!(auth, [Some("Bearer tok-1"), Some("Bearer tok-2")]);
}

#[tokio::test]
async fn a_second_401_is_an_error_not_a_loop() {
    let unauthorized = rpc_error_response(401, "authError", "Invalid Credentials");
    let server = server_with([answers("POST", unauthorized).expect(2)]).await;
    let provider = CountingProvider::new();
    let bq = client(&server, provider.clone());
    let err = bq
        .insert_rows(&table(), [json!({"id": 1})], InsertOptions::default())
        .await
        .expect_err("still unauthorized");
    assert_eq!(provider.invalidations(), 1, "exactly one refresh");
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_retryable());
    assert_hint_says(&err, "scopes");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_carry_hints() {
    let table_cases: &[(u16, &str, &str)] = &[
        (403, "accessDenied", "roles/bigquery.dataEditor"),
        (404, "notFound", "dataset and table exist"),
        (400, "invalid", ""),
        (403, "quotaExceeded", "x-goog-user-project"),
    ];
    for (status, reason, hint) in table_cases {
        let refusal = rpc_error_response(*status, reason, "no");
        let (_server, bq) = client_serving([answers("POST", refusal).expect(1)]).await;
        let err = bq
            .insert_rows(&table(), [json!({"id": 1})], InsertOptions::default())
            .await
            .expect_err(reason);
        assert_refused_with(&err, *status, reason);
        assert!(!err.is_retryable(), "{reason}");
        assert_eq!(err.step(), wif_core::Step::Api);
        assert!(
            err.to_string()
                .contains("tabledata.insertAll proj:ds.events"),
            "{err}"
        );
        if !hint.is_empty() {
            assert_hint_says(&err, hint);
        }
    }
}
