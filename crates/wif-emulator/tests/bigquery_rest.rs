//! The emulated BigQuery's REST surface as Google's clients call it: requests shaped like the
//! generated clients' (`$alt=json;enum-encoding=int`, empty `pageToken=`), large bodies and
//! results, every route of datasets, tables, tabledata and jobs — and wif's own adapter.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::{demo_events, http, reason, start_default, start_with, writer_token};
use wif_emulator::RunningEmulator;
use wif_emulator::bigquery::TableField;

const P: &str = "wif-demo";

struct Bq {
    emulator: RunningEmulator,
    http: reqwest::Client,
    token: String,
}

impl Bq {
    async fn new(emulator: RunningEmulator) -> Bq {
        let token = writer_token(&emulator);
        emulator
            .state()
            .create_table(
                P,
                "demo",
                "events",
                &[
                    TableField::new("id", "INT64").required(),
                    TableField::new("kind", "STRING"),
                    TableField::new("payload", "STRING"),
                ],
            )
            .expect("schema is valid");
        Bq {
            emulator,
            http: http(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{P}/{path}",
            self.emulator.base_url()
        )
    }

    /// A call as google-cloud-rust's generated clients make it: `$alt=json;enum-encoding=int`
    /// on every request, and unset string parameters sent empty.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .query(&[("$alt", "json;enum-encoding=int")])
            .query(query)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let r = request.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `insertAll` into `demo.events` with the request `body`.
    async fn insert_all(&self, body: Value) -> (u16, Value) {
        self.post("datasets/demo/tables/events/insertAll", body)
            .await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, query, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, &[], Some(&body))
            .await
    }

    async fn delete(&self, path: &str, query: &[(&str, &str)]) -> u16 {
        self.call(reqwest::Method::DELETE, path, query, None)
            .await
            .0
    }

    async fn insert_events(&self, n: usize, payload_bytes: usize) {
        let rows: Vec<Value> = (0..n)
            .map(|i| {
                json!({"insertId": format!("r{i}"), "json": {
                    "id": i, "kind": if i % 2 == 0 { "even" } else { "odd" }, "payload": "p".repeat(payload_bytes)
                }})
            })
            .collect();
        let (status, out) = self.insert_all(json!({"rows": rows})).await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out.get("insertErrors"), None, "{out}");
    }
}

async fn start() -> Bq {
    Bq::new(start_default().await).await
}

fn sql(query: &str) -> Value {
    json!({"query": query, "useLegacySql": false})
}

#[tokio::test]
async fn insert_all_takes_bodies_up_to_ten_megabytes_in_bigquerys_error_shape_beyond() {
    let bq = start().await;
    // 2.5 MB in one request: over the web framework's 2 MB default, which used to answer 413.
    bq.insert_events(500, 5_000).await;
    let rows = demo_events(&bq.emulator);
    assert_eq!(rows.len(), 500);

    // 9.5 MB still fits BigQuery's limit.
    let big: Vec<Value> = (0..95)
        .map(|i| json!({"json": {"id": 1000 + i, "payload": "q".repeat(100_000)}}))
        .collect();
    let (status, out) = bq.insert_all(json!({"rows": big})).await;
    assert_eq!(status, 200, "{out}");

    // Past 10 MiB: refused with BigQuery's error body, not the framework's plain text.
    let too_big: Vec<Value> = (0..11)
        .map(|i| json!({"json": {"id": 2000 + i, "payload": "z".repeat(1024 * 1024)}}))
        .collect();
    let (status, out) = bq.insert_all(json!({"rows": too_big})).await;
    assert_eq!((status, reason(&out)), (413, "invalid"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Request payload size exceeds the limit"),
        "{out}"
    );
}

#[tokio::test]
async fn insert_ids_deduplicate_within_the_window_only() {
    let bq = Bq::new(start_with(|c| c.insert_id_window = Duration::from_millis(50)).await).await;
    let row = json!({"rows": [{"insertId": "same", "json": {"id": 1}}]});
    bq.insert_all(row.clone()).await;
    // Re-sent after the window: no longer a retry of the first.
    tokio::time::sleep(Duration::from_millis(120)).await;
    bq.insert_all(row).await;
    let rows = demo_events(&bq.emulator);
    assert_eq!(
        rows.len(),
        2,
        "past the window, the same insertId is a new row"
    );

    let bq = start().await;
    let row = json!({"rows": [{"insertId": "same", "json": {"id": 1}}]});
    for _ in 0..3 {
        bq.insert_all(row.clone()).await;
    }
    let rows = demo_events(&bq.emulator);
    assert_eq!(
        rows.len(),
        1,
        "within the default minute, retries are de-duplicated"
    );
}

#[tokio::test]
async fn query_results_page_near_ten_megabytes_with_stable_tokens() {
    let bq = start().await;
    // 300 rows of ~100 KB: 30 MB of results, which used to come back in one response.
    for batch in 0..3 {
        let rows: Vec<Value> = (0..100)
            .map(|i| json!({"json": {"id": batch * 100 + i, "payload": "x".repeat(100_000)}}))
            .collect();
        let (status, _) = bq.insert_all(json!({"rows": rows})).await;
        assert_eq!(status, 200);
    }
    let (status, first) = bq
        .post(
            "queries",
            sql("SELECT id, payload FROM demo.events ORDER BY id"),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["totalRows"], "300");
    let first_page = first["rows"].as_array().expect("rows").len();
    assert!(
        (90..=110).contains(&first_page),
        "a page stops near 10 MB: {first_page} rows"
    );
    let job = first["jobReference"]["jobId"]
        .as_str()
        .expect("job")
        .to_owned();
    let mut token = first["pageToken"].as_str().expect("more pages").to_owned();
    let mut seen = first_page;
    let mut pages = 1;
    while !token.is_empty() {
        let (status, page) = bq
            .get(
                &format!("queries/{job}"),
                &[("pageToken", &token), ("location", "US")],
            )
            .await;
        assert_eq!(status, 200);
        let rows = page["rows"].as_array().expect("rows");
        assert_eq!(
            rows[0]["f"][0]["v"],
            seen.to_string(),
            "pages continue in order"
        );
        // The same token asked again gives the same page.
        let (_, again) = bq
            .get(
                &format!("queries/{job}"),
                &[("pageToken", &token), ("location", "")],
            )
            .await;
        assert_eq!(again["rows"][0], rows[0]);
        seen += rows.len();
        pages += 1;
        token = page["pageToken"].as_str().unwrap_or_default().to_owned();
    }
    assert_eq!((seen, pages), (300, 3));

    // maxResults caps the rows; startIndex starts anywhere.
    let (_, capped) = bq
        .get(
            &format!("queries/{job}"),
            &[
                ("maxResults", "7"),
                ("startIndex", "290"),
                ("pageToken", ""),
            ],
        )
        .await;
    assert_eq!(capped["rows"].as_array().map(Vec::len), Some(7));
    assert_eq!(capped["rows"][0]["f"][0]["v"], "290");
}

#[tokio::test]
async fn tabledata_list_pages_selects_fields_and_formats_timestamps() {
    let bq = start().await;
    bq.emulator
        .state()
        .create_table(
            P,
            "demo",
            "times",
            &[
                TableField::new("n", "INT64"),
                TableField::new("at", "TIMESTAMP"),
            ],
        )
        .expect("schema");
    let rows: Vec<Value> = (0..5)
        .map(|n| json!({"n": n, "at": 1_700_000_000 + n}))
        .collect();
    bq.emulator
        .state()
        .insert_rows(P, "demo", "times", &rows)
        .expect("rows fit");

    let (status, first) = bq
        .get(
            "datasets/demo/tables/times/data",
            &[("maxResults", "2"), ("pageToken", "")],
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["kind"], "bigquery#tableDataList");
    assert_eq!(first["totalRows"], "5");
    assert_eq!(
        first["rows"],
        json!([{"f": [{"v": "0"}, {"v": "1.7E9"}]}, {"f": [{"v": "1"}, {"v": "1.700000001E9"}]}])
    );
    let token = first["pageToken"].as_str().expect("next page");
    let (_, second) = bq
        .get(
            "datasets/demo/tables/times/data",
            &[
                ("pageToken", token),
                ("selectedFields", "at"),
                ("formatOptions.useInt64Timestamp", "true"),
            ],
        )
        .await;
    assert_eq!(second["rows"][0], json!({"f": [{"v": "1700000002000000"}]}));
    assert_eq!(second["rows"].as_array().map(Vec::len), Some(3));
    assert_eq!(second.get("pageToken"), None);
    let (_, iso) = bq
        .get(
            "datasets/demo/tables/times/data",
            &[
                ("startIndex", "4"),
                ("formatOptions.timestampOutputFormat", "3"),
            ],
        )
        .await;
    assert_eq!(iso["rows"][0]["f"][1]["v"], "2023-11-14T22:13:24.000000Z");
    let (status, missing) = bq.get("datasets/demo/tables/nope/data", &[]).await;
    assert_eq!((status, reason(&missing)), (404, "notFound"));
    let (status, bad) = bq
        .get(
            "datasets/demo/tables/times/data",
            &[("selectedFields", "nope")],
        )
        .await;
    assert_eq!((status, reason(&bad)), (400, "invalid"));
}

#[tokio::test]
async fn datasets_and_tables_list_and_delete() {
    let bq = start().await;
    for d in ["b_data", "a_data"] {
        let (status, _) = bq
            .post(
                "datasets",
                json!({"datasetReference": {"datasetId": d}, "labels": {"team": d}}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, list) = bq
        .get(
            "datasets",
            &[("pageToken", ""), ("all", "false"), ("filter", "")],
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .map(|d| {
            d["datasetReference"]["datasetId"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(ids, ["a_data", "b_data", "demo"]);
    let (_, page) = bq.get("datasets", &[("maxResults", "2")]).await;
    let token = page["nextPageToken"].as_str().expect("a second page");
    let (_, rest) = bq.get("datasets", &[("pageToken", token)]).await;
    assert_eq!(rest["datasets"][0]["datasetReference"]["datasetId"], "demo");
    let (_, filtered) = bq
        .get("datasets", &[("filter", "labels.team:a_data")])
        .await;
    assert_eq!(filtered["datasets"].as_array().map(Vec::len), Some(1));

    let table = |id: &str| json!({"tableReference": {"tableId": id}, "schema": {"fields": [{"name": "x", "type": "STRING"}]}});
    for t in ["t2", "t1"] {
        assert_eq!(bq.post("datasets/a_data/tables", table(t)).await.0, 200);
    }
    let (status, tables) = bq
        .get("datasets/a_data/tables", &[("maxResults", "1")])
        .await;
    assert_eq!(status, 200, "{tables}");
    assert_eq!(tables["totalItems"], 2);
    assert_eq!(tables["tables"][0]["tableReference"]["tableId"], "t1");
    let token = tables["nextPageToken"].as_str().expect("page 2");
    let (_, more) = bq
        .get("datasets/a_data/tables", &[("pageToken", token)])
        .await;
    assert_eq!(more["tables"][0]["tableReference"]["tableId"], "t2");

    let (status, in_use) = bq
        .call(reqwest::Method::DELETE, "datasets/a_data", &[], None)
        .await;
    assert_eq!((status, reason(&in_use)), (400, "resourceInUse"));
    assert_eq!(bq.delete("datasets/a_data/tables/t1", &[]).await, 204);
    assert_eq!(bq.delete("datasets/a_data/tables/t1", &[]).await, 404);
    assert_eq!(
        bq.delete("datasets/a_data", &[("deleteContents", "true")])
            .await,
        204
    );
    let (status, gone) = bq.get("datasets/a_data", &[]).await;
    assert_eq!((status, reason(&gone)), (404, "notFound"));
}

#[tokio::test]
async fn query_jobs_insert_get_results_and_cancel() {
    let bq = start().await;
    bq.insert_events(10, 1).await;
    let job = json!({
        "jobReference": {"projectId": P, "jobId": "my-job_1", "location": "US"},
        "configuration": {"query": {
            "query": "SELECT kind, COUNT(*) AS n FROM `wif-demo.demo.events` WHERE id >= @min GROUP BY kind ORDER BY kind",
            "useLegacySql": false,
            "parameterMode": "NAMED",
            "queryParameters": [{"name": "min", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "4"}}],
        }},
    });
    let (status, inserted) = bq.post("jobs", job.clone()).await;
    assert_eq!(status, 200, "{inserted}");
    assert_eq!(
        inserted["jobReference"],
        json!({"projectId": P, "jobId": "my-job_1", "location": "US"})
    );
    assert_eq!(inserted["status"]["state"], "DONE");
    let destination = inserted["configuration"]["query"]["destinationTable"].clone();
    assert!(
        destination["datasetId"]
            .as_str()
            .is_some_and(|d| d.starts_with('_') && d.len() == 41),
        "an anonymous results table: {destination}"
    );
    let (status, dup) = bq.post("jobs", job).await;
    assert_eq!((status, reason(&dup)), (409, "duplicate"));

    let (_, got) = bq.get("jobs/my-job_1", &[("location", "US")]).await;
    assert_eq!(got["statistics"]["query"]["statementType"], "SELECT");
    let (_, results) = bq.get("queries/my-job_1", &[("location", "US")]).await;
    assert_eq!(
        results["rows"],
        json!([{"f": [{"v": "even"}, {"v": "3"}]}, {"f": [{"v": "odd"}, {"v": "3"}]}])
    );
    // The anonymous table is readable like any table, and hidden from datasets.list.
    let path = format!(
        "datasets/{}/tables/{}/data",
        destination["datasetId"].as_str().unwrap(),
        destination["tableId"].as_str().unwrap()
    );
    let (_, data) = bq.get(&path, &[]).await;
    assert_eq!(data["totalRows"], "2");
    let (_, all) = bq.get("datasets", &[]).await;
    assert_eq!(all["datasets"].as_array().map(Vec::len), Some(1));
    let (status, _) = bq.get("jobs/my-job_1", &[("location", "EU")]).await;
    assert_eq!(
        status, 404,
        "a job asked for in another location is not found"
    );

    // A destination table, then WRITE_APPEND and WRITE_EMPTY.
    let to_table = |disposition: &str| {
        json!({"configuration": {"query": {
            "query": "SELECT id FROM demo.events WHERE id < 3", "useLegacySql": false,
            "destinationTable": {"projectId": P, "datasetId": "demo", "tableId": "small"},
            "writeDisposition": disposition,
        }}})
    };
    let (_, first) = bq.post("jobs", to_table("WRITE_EMPTY")).await;
    assert_eq!(first["status"]["state"], "DONE", "{first}");
    let (_, second) = bq.post("jobs", to_table("WRITE_APPEND")).await;
    assert_eq!(second["status"].get("errorResult"), None, "{second}");
    assert_eq!(
        bq.emulator
            .state()
            .table_rows(P, "demo", "small")
            .map(|r| r.len()),
        Some(6)
    );
    let (_, third) = bq.post("jobs", to_table("WRITE_EMPTY")).await;
    assert_eq!(
        third["status"]["errorResult"]["reason"], "duplicate",
        "{third}"
    );

    // A query that cannot run is still a job, DONE with its error; its results are the error.
    let (status, failed) = bq
        .post("jobs", json!({"configuration": {"query": {"query": "SELECT nope FROM demo.events", "useLegacySql": false}}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(failed["status"]["errorResult"]["reason"], "invalidQuery");
    let failed_id = failed["jobReference"]["jobId"].as_str().expect("job id");
    let (status, error) = bq.get(&format!("queries/{failed_id}"), &[]).await;
    assert_eq!((status, reason(&error)), (400, "invalidQuery"));

    // A running job can be cancelled.
    wif_emulator::bigquery::set_incomplete_polls(bq.emulator.state(), 5);
    let (_, running) = bq
        .post(
            "jobs",
            json!({"configuration": {"query": {"query": "SELECT 1", "useLegacySql": false}}}),
        )
        .await;
    assert_eq!(running["status"]["state"], "RUNNING");
    let id = running["jobReference"]["jobId"].as_str().expect("job id");
    let (status, cancelled) = bq.post(&format!("jobs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["kind"], "bigquery#jobCancelResponse");
    assert_eq!(cancelled["job"]["status"]["state"], "DONE");
    assert_eq!(
        cancelled["job"]["status"]["errorResult"]["reason"],
        "stopped"
    );
}

#[tokio::test]
async fn dry_runs_report_schema_and_bytes_without_a_job() {
    let bq = start().await;
    bq.insert_events(4, 10).await;
    let mut body = sql("SELECT id, payload FROM demo.events");
    body["dryRun"] = json!(true);
    let (status, out) = bq.post("queries", body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["jobReference"].get("jobId"), None);
    assert_eq!(out.get("rows"), None);
    // 4 × 8 bytes of INT64 + 4 × (2 + 10) bytes of STRING.
    assert_eq!(out["totalBytesProcessed"], "80");
    assert_eq!(out["schema"]["fields"][1]["name"], "payload");
    let (status, job) = bq
        .post("jobs", json!({"configuration": {"dryRun": true, "query": {"query": "SELECT id FROM demo.events", "useLegacySql": false}}}))
        .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["statistics"]["totalBytesProcessed"], "32");
    let mut bad = sql("SELECT CASE WHEN TRUE THEN 1 END");
    bad["dryRun"] = json!(true);
    let (status, out) = bq.post("queries", bad).await;
    assert_eq!((status, reason(&out)), (400, "invalidQuery"));
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CASE expression"),
        "{out}"
    );
}

#[tokio::test]
async fn array_and_struct_parameters_and_positional_ones() {
    let bq = start().await;
    bq.insert_events(6, 1).await;
    let body = json!({
        "query": "SELECT id FROM demo.events WHERE id IN UNNEST(@ids) AND kind = @f.kind ORDER BY id",
        "useLegacySql": false,
        "parameterMode": "NAMED",
        "queryParameters": [
            {"name": "ids", "parameterType": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
             "parameterValue": {"arrayValues": [{"value": "1"}, {"value": "2"}, {"value": "3"}]}},
            {"name": "f", "parameterType": {"type": "STRUCT", "structTypes": [{"name": "kind", "type": {"type": "STRING"}}]},
             "parameterValue": {"structValues": {"kind": {"value": "odd"}}}},
        ],
    });
    let (status, out) = bq.post("queries", body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["rows"],
        json!([{"f": [{"v": "1"}]}, {"f": [{"v": "3"}]}])
    );
    let body = json!({
        "query": "SELECT COUNT(*) FROM demo.events WHERE id BETWEEN ? AND ?",
        "useLegacySql": false,
        "parameterMode": "POSITIONAL",
        "queryParameters": [
            {"parameterType": {"type": "INT64"}, "parameterValue": {"value": "2"}},
            {"parameterType": {"type": "INT64"}, "parameterValue": {"value": "4"}},
        ],
    });
    let (_, out) = bq.post("queries", body).await;
    assert_eq!(out["rows"], json!([{"f": [{"v": "3"}]}]));
}

#[tokio::test]
async fn wifs_adapter_inserts_two_and_a_half_megabytes_and_pages_results() {
    use futures::TryStreamExt as _;
    let bq = start().await;
    let provider = Arc::new(wif_core::StaticTokenProvider::new(
        wif_core::AccessToken::new(bq.token.clone()),
    ));
    let client = wif_bigquery::BigQuery::builder()
        .provider(provider)
        .project(P)
        .base_url(bq.emulator.bigquery_base_url())
        .build()
        .expect("a valid client");
    let rows: Vec<Value> = (0..500)
        .map(|i| json!({"id": i, "kind": "k", "payload": "w".repeat(5_000)}))
        .collect();
    let report = client
        .insert_rows(
            &client.table("demo", "events"),
            &rows,
            wif_bigquery::InsertOptions::default(),
        )
        .await
        .expect("insert")
        .into_result()
        .expect("all rows in");
    assert_eq!(
        (report.requests(), report.inserted_rows()),
        (1, 500),
        "2.5 MB in one request"
    );
    let ids: Vec<Value> = client
        .query(
            wif_bigquery::QueryRequest::new(
                "SELECT id FROM demo.events WHERE id < @n ORDER BY id DESC",
            )
            .param("n", 250)
            .page_size(100),
        )
        .await
        .expect("query")
        .collect_rows()
        .await
        .expect("rows over three pages");
    assert_eq!(ids.len(), 250);
    assert_eq!(ids[0]["id"], json!(249));
    let kinds: Vec<Value> = client
        .query(wif_bigquery::QueryRequest::new(
            "SELECT kind, COUNT(*) AS n FROM demo.events GROUP BY kind",
        ))
        .await
        .expect("query")
        .rows_as::<Value>()
        .try_collect()
        .await
        .expect("rows");
    assert_eq!(kinds, [json!({"kind": "k", "n": 500})]);
}
