//! The `testing` fakes are public API: each responder and the recorder, tested against the real
//! client.

#![allow(clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::TryStreamExt as _;
use serde_json::{Value, json};
use wif_bigquery::testing::{
    BigQueryCall, BigQueryError, BigQueryResponder, FakeBigQuery, base_url, bigquery_requests,
    mount, mount_next,
};
use wif_bigquery::{BigQuery, BigQueryBuilder, InsertOptions, QueryRequest};
use wif_core::secrecy::ExposeSecret;
use wif_core::testing::{CountingProvider, PointedAt, quick_retries};
use wif_core::{AccessToken, MapEnvironment, RetryPolicy, StaticTokenProvider};
use wiremock::MockServer;

mod support;

use support::all_rows;

fn builder(base: &str) -> BigQueryBuilder {
    BigQuery::builder()
        .provider(StaticTokenProvider::new(AccessToken::new(
            "ya29.SECRET-token",
        )))
        .project("my-project")
        .base_url(base)
        .environment(MapEnvironment::new())
        .retry_policy(quick_retries(1))
}

fn client(base: &str) -> BigQuery {
    builder(base).build().expect("a valid client")
}

/// A client of `base` retrying under `policy`.
fn retrying(base: &str, policy: RetryPolicy) -> BigQuery {
    builder(base)
        .retry_policy(policy)
        .build()
        .expect("a valid client")
}

#[tokio::test]
async fn inserts_are_accepted_and_recorded() {
    let fake = FakeBigQuery::start().await;
    let bq = builder(&fake.base_url())
        .quota_project("billing")
        .build()
        .expect("a valid client");
    let rows = [json!({"id": 1, "kind": "a"}), json!({"id": 2, "kind": "b"})];
    let report = bq
        .insert_rows(
            &bq.table("analytics", "events"),
            &rows,
            InsertOptions::default(),
        )
        .await
        .expect("inserted");
    assert!(report.is_complete(), "{report:?}");

    let sent = fake.requests().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "POST");
    assert_eq!(sent[0].project, "my-project");
    assert_eq!(sent[0].quota_project.as_deref(), Some("billing"));
    assert_eq!(
        sent[0].bearer.as_ref().map(|t| t.secret().expose_secret()),
        Some("ya29.SECRET-token")
    );
    let BigQueryCall::InsertAll {
        dataset,
        table,
        rows: sent_rows,
        insert_ids,
        skip_invalid_rows,
        ..
    } = &sent[0].call
    else {
        panic!("{sent:?}")
    };
    assert_eq!((dataset.as_str(), table.as_str()), ("analytics", "events"));
    assert_eq!(sent_rows.as_slice(), rows.as_slice());
    assert!(insert_ids.iter().all(Option::is_some), "{insert_ids:?}");
    assert!(!skip_invalid_rows);
    assert!(!format!("{sent:?}").contains("SECRET"));
}

#[tokio::test]
async fn rejected_rows_come_back_invalid_and_stopped() {
    let fake = FakeBigQuery::start_with(BigQueryResponder::new().rejecting_rows(&[1])).await;
    let bq = client(&fake.base_url());
    let table = bq.table("d", "t");
    let rows = [json!({"a": 1}), json!({"a": 2}), json!({"a": 3})];
    let report = bq
        .insert_rows(&table, &rows, InsertOptions::default())
        .await
        .expect("a report");
    assert_eq!(report.row_errors().len(), 3);
    assert_eq!(report.stopped_rows().collect::<Vec<_>>(), [0, 2]);
    let report = bq
        .insert_rows(
            &table,
            &rows,
            InsertOptions::default().skip_invalid_rows(true),
        )
        .await
        .expect("a report");
    assert_eq!(report.inserted_rows(), 2);
    assert_eq!(report.row_errors()[0].index, 1);
}

#[tokio::test]
async fn queries_return_the_canned_rows_and_are_recorded() {
    let fake = FakeBigQuery::start_with(BigQueryResponder::new().with_rows(
        &[("id", "INT64"), ("kind", "STRING"), ("ok", "BOOL")],
        &[
            json!({"id": 1, "kind": "signup", "ok": true}),
            json!({"id": 2, "kind": null, "ok": false}),
        ],
    ))
    .await;
    let bq = client(&fake.base_url());
    let rows = all_rows(
        &bq,
        QueryRequest::new("SELECT * FROM t WHERE kind = @kind").param("kind", "signup"),
    )
    .await;
    assert_eq!(
        rows,
        [
            json!({"id": 1, "kind": "signup", "ok": true}),
            json!({"id": 2, "kind": null, "ok": false})
        ]
    );
    let schema = bq
        .table_schema(&bq.table("d", "t"))
        .await
        .expect("tables.get");
    assert_eq!(schema.fields.len(), 3);

    let sent = fake.requests().await;
    let BigQueryCall::Query {
        sql,
        parameter_mode,
        parameters,
        request_id,
        use_legacy_sql,
        ..
    } = &sent[0].call
    else {
        panic!("{sent:?}")
    };
    assert_eq!(sql, "SELECT * FROM t WHERE kind = @kind");
    assert_eq!(parameter_mode.as_deref(), Some("NAMED"));
    assert_eq!(parameters[0]["name"], "kind");
    assert!(request_id.is_some());
    assert_eq!(*use_legacy_sql, Some(false));
    assert_eq!(
        sent[1].call,
        BigQueryCall::GetTable {
            dataset: "d".into(),
            table: "t".into()
        }
    );

    // getQueryResults, as a client that pages would call it.
    let response = wif_core::http::default_client()
        .expect("the default client")
        .get(format!(
            "{}projects/my-project/queries/job-7?location=EU&pageToken=p2",
            fake.base_url()
        ))
        .bearer_auth("t")
        .send()
        .await
        .expect("answered");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["jobReference"]["jobId"], "job-7");
    assert_eq!(
        fake.requests().await[2].call,
        BigQueryCall::GetQueryResults {
            job_id: "job-7".into(),
            page_token: Some("p2".into()),
            location: Some("EU".into())
        }
    );
}

#[tokio::test]
async fn every_documented_error_reaches_the_client_with_its_reason() {
    for error in BigQueryError::ALL {
        let fake = FakeBigQuery::start_with(BigQueryResponder::error(error)).await;
        let err = client(&fake.base_url())
            .query(QueryRequest::new("SELECT 1"))
            .await
            .expect_err("refused");
        assert_eq!(err.status(), Some(error.status()), "{error:?}");
        let server = err.server_error().expect("BigQuery's words");
        assert_eq!(server.reason.as_deref(), Some(error.reason()), "{error:?}");
        assert_eq!(
            err.is_retryable(),
            matches!(
                error,
                BigQueryError::RateLimitExceeded
                    | BigQueryError::InternalError
                    | BigQueryError::BackendError
            ),
            "{error:?}"
        );
        assert_eq!(
            err.hint().is_some(),
            matches!(
                error,
                BigQueryError::NotFound
                    | BigQueryError::AccessDenied
                    | BigQueryError::QuotaExceeded
                    | BigQueryError::InvalidQuery
                    | BigQueryError::Unauthenticated
            ),
            "{error:?}: {err}"
        );
    }
}

#[tokio::test]
async fn flaky_slow_and_expired_then_valid() {
    let responder = BigQueryResponder::new().flaky(2);
    let kept = responder.clone();
    let fake = FakeBigQuery::start_with(responder).await;
    retrying(&fake.base_url(), quick_retries(3))
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("the third attempt");
    assert_eq!(kept.answered(), 3);

    let slow =
        FakeBigQuery::start_with(BigQueryResponder::new().slow(Duration::from_secs(30))).await;
    let err = retrying(
        &slow.base_url(),
        quick_retries(1).with_deadline(Duration::from_millis(200)),
    )
    .query(QueryRequest::new("SELECT 1"))
    .await
    .expect_err("times out");
    assert!(err.is_timeout(), "{err}");

    let fake = FakeBigQuery::start_with(BigQueryResponder::expired_then_valid()).await;
    let provider = CountingProvider::new();
    builder(&fake.base_url())
        .provider(provider.clone())
        .build()
        .expect("a valid client")
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("refreshed once");
    assert_eq!(provider.invalidations(), 1);
    let bearers: Vec<String> = fake
        .requests()
        .await
        .iter()
        .map(|r| {
            r.bearer
                .as_ref()
                .map(|t| t.secret().expose_secret().to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(bearers, ["tok-1", "tok-2"]);
}

#[tokio::test]
async fn bearer_tokens_are_required_unless_anonymous() {
    let fake = FakeBigQuery::start().await;
    let anonymous = |base: String| {
        BigQuery::builder()
            .project("p")
            .base_url(base)
            .environment(MapEnvironment::new())
            .retry_policy(quick_retries(1))
            .build()
            .expect("no token toward a fake on this machine")
    };
    let err = anonymous(fake.base_url())
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect_err("no token");
    assert_eq!(err.status(), Some(401));

    let open = FakeBigQuery::start_with(BigQueryResponder::new().anonymous()).await;
    anonymous(open.base_url())
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("anonymous");
    assert!(open.requests().await[0].bearer.is_none());
}

#[tokio::test]
async fn fail_next_and_shared_servers() {
    let fake = FakeBigQuery::start().await;
    fake.fail_next(1, BigQueryError::AccessDenied).await;
    let bq = client(&fake.base_url());
    let err = bq
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect_err("injected");
    assert_eq!(err.status(), Some(403));
    let rows = bq
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("then answered")
        .rows_as::<Value>()
        .try_collect::<Vec<_>>()
        .await
        .expect("rows");
    assert!(rows.is_empty());

    let server = MockServer::start().await;
    mount(&server, BigQueryResponder::new()).await;
    mount_next(&server, 1, BigQueryError::BackendError).await;
    retrying(&base_url(&server), quick_retries(2))
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("retried");
    assert_eq!(bigquery_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn the_providers_endpoint_base_url_moves_the_client_and_with_base_url_still_wins() {
    let fake = FakeBigQuery::start().await;
    BigQuery::builder()
        .provider(PointedAt::new(fake.server().uri()))
        .project("p")
        .environment(MapEnvironment::new())
        .build()
        .expect("a valid client")
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("reached the fake through the provider's base URL");
    assert_eq!(fake.requests().await.len(), 1);

    let other = FakeBigQuery::start().await;
    builder(&other.base_url())
        .provider(PointedAt::new("http://127.0.0.1:1"))
        .build()
        .expect("a valid client")
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect("the explicit base URL");
    assert_eq!(other.requests().await.len(), 1);
}

/// Clients built without an HTTP client share one per tokio runtime. A pooled connection is
/// driven by a task of the runtime that opened it, so a client in another runtime (each
/// `#[tokio::test]` has its own) must not be handed it: when the first runtime ends, the call
/// riding on its connection fails with "runtime dropped the dispatch task".
#[test]
fn a_client_in_another_runtime_does_not_ride_on_the_first_runtimes_connections() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    // Each answer takes long enough for the first runtime to end while the second call waits.
    let fake = server_runtime.block_on(FakeBigQuery::start_with(
        BigQueryResponder::new().slow(Duration::from_millis(600)),
    ));
    let url = fake.base_url();

    let (called, first_called) = std::sync::mpsc::channel();
    let (end_first, ended) = tokio::sync::oneshot::channel::<()>();
    let first = std::thread::spawn({
        let url = url.clone();
        move || {
            runtime().block_on(async move {
                client(&url)
                    .query(QueryRequest::new("SELECT 1"))
                    .await
                    .expect("the first runtime's call");
                called.send(()).expect("the test waits");
                // The runtime stays up, its connection idle in the pool, until told to end.
                let _ = ended.await;
            });
        }
    });
    first_called.recv().expect("the first call");
    let second = std::thread::spawn(move || {
        runtime()
            .block_on(client(&url).query(QueryRequest::new("SELECT 2")))
            .map(|_| ())
    });
    std::thread::sleep(Duration::from_millis(200));
    end_first.send(()).expect("the first runtime waits");
    first.join().expect("no panic");
    second
        .join()
        .expect("no panic")
        .expect("the second runtime's call, on its own connection");
}
