//! `jobs.query` and `jobs.getQueryResults` on the wire: request shape, polling, paging with
//! URL-encoded tokens, decoding, BigQuery's retry rules, deadlines and tracing hygiene.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod support;

use std::time::Duration;

use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use support::{
    CountingProvider, all_rows, answers, builder, client, client_serving, fails_first, header,
    json_body, rpc_error_response, server_with,
};
use wif_bigquery::{QueryRequest, QueryResults};
use wif_core::Error;
use wif_core::testing::{assert_hint_says, assert_no_secrets, assert_says};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const QUERY_PATH: &str = "/bigquery/v2/projects/proj/queries";
const JOB_PATH: &str = "/bigquery/v2/projects/proj/queries/job_1";

fn schema() -> Value {
    json!({"fields": [
        {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
        {"name": "name", "type": "STRING", "mode": "NULLABLE"},
        {"name": "at", "type": "TIMESTAMP"},
        {"name": "tags", "type": "STRING", "mode": "REPEATED"},
        {"name": "meta", "type": "RECORD", "fields": [{"name": "n", "type": "INT64"}]}
    ]})
}

fn row(id: i64) -> Value {
    json!({"f": [
        {"v": id.to_string()},
        {"v": format!("name-{id}")},
        {"v": "1767225600000000"},
        {"v": [{"v": "t"}]},
        {"v": {"f": [{"v": "7"}]}}
    ]})
}

fn job_ref() -> Value {
    json!({"projectId": "proj", "jobId": "job_1", "location": "europe-west1"})
}

/// A job reference whose job is still running.
fn incomplete() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"jobComplete": false, "jobReference": job_ref()}))
}

fn complete(rows: Vec<Value>, total: usize, page_token: Option<&str>) -> ResponseTemplate {
    let mut body = json!({
        "kind": "bigquery#queryResponse",
        "jobComplete": true,
        "jobReference": job_ref(),
        "schema": schema(),
        "rows": rows,
        "totalRows": total.to_string(),
    });
    if let Some(t) = page_token {
        body["pageToken"] = json!(t);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[derive(Debug, Deserialize, PartialEq)]
struct Row {
    id: i64,
    name: Option<String>,
    at: String,
    tags: Vec<String>,
    meta: Option<Meta>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Meta {
    n: i64,
}

#[tokio::test]
async fn sends_the_documented_query_and_decodes_rows() {
    let server = server_with([Mock::given(method("POST"))
        .and(path(QUERY_PATH))
        .respond_with(complete(vec![row(1), row(2)], 2, None))
        .expect(1)])
    .await;
    let bq = builder(&server, CountingProvider::new())
        .quota_project("billing")
        .build()
        .expect("a valid client");
    let results = bq
        .query(
            QueryRequest::new("SELECT * FROM `proj.ds.t` WHERE id = @id")
                .param("id", 1)
                .location("europe-west1")
                .page_size(100)
                .timeout(Duration::from_secs(3)),
        )
        .await
        .expect("query runs");
    assert_eq!(results.total_rows(), Some(2));
    assert_eq!(
        results.job_reference().map(|j| j.job_id.as_str()),
        Some("job_1")
    );
    assert_eq!(results.schema().fields.len(), 5);
    let rows: Vec<Row> = results
        .rows_as::<Row>()
        .try_collect()
        .await
        .expect("rows decode");
    assert_eq!(
        rows[0],
        Row {
            id: 1,
            name: Some("name-1".into()),
            at: "2026-01-01T00:00:00.000000Z".into(),
            tags: vec!["t".into()],
            meta: Some(Meta { n: 7 }),
        }
    );
    assert_eq!(rows.len(), 2);

    let requests = server.received_requests().await.expect("recorded");
    let r = &requests[0];
    assert_eq!(header(r, "authorization"), Some("Bearer tok-1"));
    assert_eq!(header(r, "x-goog-user-project"), Some("billing"));
    let body = json_body(r);
    assert_eq!(body["query"], "SELECT * FROM `proj.ds.t` WHERE id = @id");
    assert_eq!(body["useLegacySql"], false);
    assert_eq!(body["formatOptions"], json!({"useInt64Timestamp": true}));
    assert_eq!(body["timeoutMs"], 3000);
    assert_eq!(body["maxResults"], 100);
    assert_eq!(body["location"], "europe-west1");
    assert_eq!(body["parameterMode"], "NAMED");
    assert_eq!(
        body["queryParameters"],
        json!([{"name": "id", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "1"}}])
    );
    assert_eq!(body["requestId"].as_str().map(str::len), Some(36));
}

#[tokio::test]
async fn polls_until_complete_then_pages_with_encoded_tokens() {
    let job = || Mock::given(method("GET")).and(path(JOB_PATH));
    let poll = || job().and(query_param("maxResults", "0"));
    let (server, bq) = client_serving([
        Mock::given(method("POST"))
            .and(path(QUERY_PATH))
            .respond_with(incomplete())
            .expect(1),
        // Polls (maxResults=0): incomplete once, then complete without rows.
        poll()
            .respond_with(incomplete())
            .up_to_n_times(1)
            .with_priority(1),
        poll()
            .respond_with(complete(vec![], 3, Some("first+page/token=")))
            .with_priority(2),
        job()
            .and(query_param("pageToken", "a+b/c="))
            .respond_with(complete(vec![row(3)], 3, None))
            .with_priority(1),
        job()
            .respond_with(complete(vec![row(1), row(2)], 3, Some("a+b/c=")))
            .with_priority(3),
    ])
    .await;
    let rows = all_rows(&bq, QueryRequest::new("SELECT 1").page_size(2)).await;
    let ids: Vec<&Value> = rows.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!(2), &json!(3)]);

    let requests = server.received_requests().await.expect("recorded");
    let gets: Vec<String> = requests
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .map(|r| r.url.query().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        gets.len(),
        4,
        "two polls, the first page, the second page: {gets:?}"
    );
    // Each poll carries the job reference's location, a wait and the timestamp format.
    let poll = [
        "maxResults=0",
        "location=europe-west1",
        "timeoutMs=10000",
        "formatOptions.useInt64Timestamp=true",
    ];
    // Then the first page asks for its size, the second for the URL-encoded token.
    let expected: [&[&str]; 4] = [&poll, &poll, &["maxResults=2"], &["pageToken=a%2Bb%2Fc%3D"]];
    for (i, (query, parts)) in gets.iter().zip(expected).enumerate() {
        for part in parts {
            assert!(query.contains(part), "GET {i} lacks {part}: {query}");
        }
    }
    assert!(!gets[2].contains("pageToken"), "{}", gets[2]);
}

#[tokio::test]
async fn rate_limits_arrive_as_403_and_are_retried_with_the_same_request_id() {
    let rate_limited = rpc_error_response(
        403,
        "rateLimitExceeded",
        "Exceeded rate limits: too many api requests per user per method",
    );
    let (server, bq) = client_serving([
        fails_first("POST", 2, rate_limited),
        answers("POST", complete(vec![row(1)], 1, None)),
    ])
    .await;
    // The third attempt succeeds.
    let rows = all_rows(&bq, QueryRequest::new("SELECT 1")).await;
    assert_eq!(rows.len(), 1);
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 3);
    let ids: Vec<Value> = requests
        .iter()
        .map(|r| json_body(r)["requestId"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "one requestId per logical query: {ids:?}"
    );
}

#[tokio::test]
async fn invalid_query_is_not_retried() {
    let syntax_error = rpc_error_response(
        400,
        "invalidQuery",
        "Syntax error: Unexpected keyword FROM at [1:8]",
    );
    let (_server, bq) = client_serving([answers("POST", syntax_error).expect(1)]).await;
    let err = bq
        .query(QueryRequest::new("SELECT FROM t"))
        .await
        .expect_err("bad SQL");
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert_says(
        &err.to_string(),
        &[
            "Syntax error: Unexpected keyword FROM at [1:8]",
            "(reason: invalidQuery)",
        ],
    );
    assert_hint_says(&err, "GoogleSQL");
}

#[tokio::test]
async fn server_errors_are_retried_by_status_even_without_json() {
    for (status, body) in [
        (500, "".to_owned()),
        (502, "<html>bad gateway</html>".to_owned()),
        (504, "".to_owned()),
    ] {
        let failure = ResponseTemplate::new(status).set_body_string(body);
        let (server, bq) = client_serving([
            fails_first("POST", 1, failure),
            answers("POST", complete(vec![], 0, None)),
        ])
        .await;
        bq.query(QueryRequest::new("SELECT 1"))
            .await
            .unwrap_or_else(|e| panic!("{status} is retried: {e}"));
        assert_eq!(
            server.received_requests().await.map(|r| r.len()),
            Some(2),
            "{status}"
        );
    }
}

#[tokio::test]
async fn a_job_that_never_completes_hits_the_deadline() {
    let (server, bq) =
        client_serving([answers("POST", incomplete()), answers("GET", incomplete())]).await;
    let started = std::time::Instant::now();
    let err = bq
        .query(QueryRequest::new("SELECT 1").deadline(Duration::from_millis(400)))
        .await
        .expect_err("never completes");
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("job_1"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let polls = server.received_requests().await.map_or(0, |r| r.len());
    assert!(
        polls < 20,
        "polling backs off instead of spinning: {polls} requests"
    );
}

/// A query whose first page (one row of two, and `page_token`) arrives, and whose second page
/// fetch gets `page_two`. Returns the stream after the first row, and the error of the second.
async fn second_page_error(
    page_token: &str,
    page_two: ResponseTemplate,
) -> (MockServer, QueryResults, Error) {
    let (server, bq) = client_serving([
        answers("POST", complete(vec![row(1)], 2, Some(page_token))),
        answers("GET", page_two).expect(1),
    ])
    .await;
    let mut results = bq
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("first page");
    assert!(results.next_row().await.is_some_and(|r| r.is_ok()));
    let err = results
        .next_row()
        .await
        .expect("an item")
        .expect_err("page 2 fails");
    (server, results, err)
}

/// A page fetch carries the job's location and the page token in its query string: the error
/// shows the method and path, never them.
#[tokio::test]
async fn a_page_fetch_error_shows_the_url_but_not_its_query() {
    let (server, _, err) = second_page_error("PAGE-TOKEN-7f3a", ResponseTemplate::new(400)).await;
    let shown = format!("{err}\n{err:?}");
    let url = format!("{}/bigquery/v2/projects/proj/queries/job_1", server.uri());
    assert!(shown.contains(&format!("(GET {url})")), "{shown}");
    assert!(!shown.contains("PAGE-TOKEN-7f3a"), "{shown}");
    assert!(!shown.contains("europe-west1"), "{shown}");
}

#[tokio::test]
async fn a_failed_page_fetch_ends_the_stream_with_the_error() {
    let (_server, mut results, err) = second_page_error(
        "next",
        rpc_error_response(404, "notFound", "Not found: Job proj:job_1"),
    )
    .await;
    assert_eq!(err.status(), Some(404));
    assert_hint_says(&err, "location");
    assert!(
        results.next_row().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn bad_rows_and_bad_requests_are_clear_errors() {
    let bad_row =
        json!({"f": [{"v": "not-a-number"}, {"v": null}, {"v": null}, {"v": []}, {"v": null}]});
    let (server, bq) = client_serving([answers("POST", complete(vec![bad_row], 1, None))]).await;
    let err = bq
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("query")
        .collect_rows()
        .await
        .expect_err("row 0 is malformed");
    assert!(
        err.to_string().contains("query result row 0: column `id`"),
        "{err}"
    );

    let err = bq
        .query(
            QueryRequest::new("SELECT @a, ?")
                .param("a", 1)
                .positional_param(2),
        )
        .await
        .expect_err("mixed parameters");
    assert!(err.is_config(), "{err}");
    assert_eq!(
        server.received_requests().await.map(|r| r.len()),
        Some(1),
        "only the first query was sent"
    );
}

#[tokio::test]
async fn tracing_names_the_call_but_never_the_token() {
    let logs = wif_core::testing::LogCapture::global();
    let server = server_with([answers("POST", complete(vec![row(1)], 1, None))]).await;
    let provider = wif_core::StaticTokenProvider::new(wif_core::AccessToken::new(
        "ya29.SECRET-bigquery-token",
    ));
    let bq = client(&server, provider);
    bq.query(QueryRequest::new("SELECT 1"))
        .await
        .expect("query");
    let text = logs.contents();
    assert_says(&text, &["jobs.query"]);
    assert_no_secrets("the log", &text, &["SECRET-bigquery-token"]);
    assert!(
        !format!("{bq:?}").contains("SECRET"),
        "Debug shows no token"
    );
}
