//! The emulator at scale: 1 million BigQuery rows and 1 GiB of Cloud Storage objects, and how
//! long the calls a test suite makes take once it holds them (a `tabledata.list` page, a 10 MB
//! `insertAll`, queries over every row, uploads, listings and reads). Each figure is measured
//! both on a nearly empty emulator and on the full one, so growth that is not linear shows.
//!
//! `cargo bench -p wif-tests --bench emulator_scale [-- --out FILE]` prints (or writes) a
//! markdown section; `cargo xtask bench` puts it in docs/benchmarks.md. Loopback only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench fails loudly

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator, TableField};

const ROWS: usize = 1_000_000;
const OBJECT: usize = 16 * 1024 * 1024;
const OBJECTS: usize = 64; // 1 GiB
const RUNS: usize = 7;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Bench {
    emulator: RunningEmulator,
    http: reqwest::Client,
    bq: String,
}

impl Bench {
    async fn time<F, Fut>(&self, mut f: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut runs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            f().await;
            runs.push(started.elapsed());
        }
        median(runs)
    }

    async fn get_ok(&self, url: &str) -> Vec<u8> {
        let r = self.http.get(url).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.bytes().await.unwrap().to_vec()
    }

    async fn post_ok(&self, url: &str, body: &Value) -> Value {
        let r = self.http.post(url).json(body).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.json().await.unwrap()
    }

    /// `rows` rows of ~`bytes` bytes each, ids from `first`.
    fn rows(first: usize, rows: usize, bytes: usize) -> Value {
        let rows: Vec<Value> = (first..first + rows)
            .map(|i| json!({"json": {"id": i, "kind": format!("k{}", i % 10), "payload": "p".repeat(bytes)}}))
            .collect();
        json!({"rows": rows})
    }

    /// A ~10 MB insertAll (1000 rows of 10 KB) into `table`, timed.
    async fn insert_10mb(&self, table: &str, first: usize) -> Duration {
        let body = Self::rows(first, 1000, 10_000);
        let size = body.to_string().len();
        assert!((9_000_000..=10_485_760).contains(&size), "{size}");
        let url = format!(
            "{}projects/wif-demo/datasets/bench/tables/{table}/insertAll",
            self.bq
        );
        self.time(|| async {
            assert!(
                self.post_ok(&url, &body)
                    .await
                    .get("insertErrors")
                    .is_none()
            )
        })
        .await
    }

    async fn list_page(&self, table: &str, start: usize) -> Duration {
        let url = format!(
            "{}projects/wif-demo/datasets/bench/tables/{table}/data?startIndex={start}&maxResults=1000",
            self.bq
        );
        self.time(|| async { assert!(!self.get_ok(&url).await.is_empty()) })
            .await
    }

    async fn query(&self, sql: &str) -> Duration {
        let url = format!("{}projects/wif-demo/queries", self.bq);
        let body = json!({"query": sql, "useLegacySql": false, "maxResults": 1000});
        self.time(|| async { assert_eq!(self.post_ok(&url, &body).await["jobComplete"], true) })
            .await
    }

    async fn upload(&self, name: &str, data: &[u8]) -> Duration {
        let url = format!(
            "{}/upload/storage/v1/b/bench/o?uploadType=media&name={name}",
            self.emulator.storage_base_url()
        );
        let started = Instant::now();
        let r = self
            .http
            .post(&url)
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        started.elapsed()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let mut config = EmulatorConfig::default();
    config.anonymous_access = true;
    let emulator = Emulator::new(config)
        .start_local()
        .await
        .expect("emulator starts");
    let schema = [
        TableField::new("id", "INT64").required(),
        TableField::new("kind", "STRING"),
        TableField::new("payload", "STRING"),
    ];
    for table in ["small", "big", "sink_small", "sink_big"] {
        emulator
            .create_table("bench", table, &schema)
            .expect("schema");
    }
    let b = Bench {
        bq: emulator.bigquery_base_url(),
        emulator,
        http: wif_core::http::default_client().unwrap(),
    };

    // Fill: 1 million rows of ~40 bytes, in 10,000-row insertAll calls over HTTP.
    let fill_started = Instant::now();
    let url = format!(
        "{}projects/wif-demo/datasets/bench/tables/big/insertAll",
        b.bq
    );
    let mut batch_times = Vec::new();
    for batch in 0..ROWS / 10_000 {
        let body = Bench::rows(batch * 10_000, 10_000, 16);
        let started = Instant::now();
        b.post_ok(&url, &body).await;
        batch_times.push(started.elapsed());
    }
    let fill = fill_started.elapsed();
    let first_batches = median(batch_times[..10].to_vec());
    let last_batches = median(batch_times[batch_times.len() - 10..].to_vec());
    let small = format!(
        "{}projects/wif-demo/datasets/bench/tables/small/insertAll",
        b.bq
    );
    b.post_ok(&small, &Bench::rows(0, 1000, 16)).await;

    let insert_small = b.insert_10mb("sink_small", 0).await;
    // The same 10 MB request into a table already holding a million rows.
    let big_sink = format!(
        "{}projects/wif-demo/datasets/bench/tables/sink_big/insertAll",
        b.bq
    );
    for batch in 0..ROWS / 10_000 {
        b.post_ok(
            &big_sink,
            &Bench::rows(10_000_000 + batch * 10_000, 10_000, 16),
        )
        .await;
    }
    let insert_big = b.insert_10mb("sink_big", 0).await;

    let page_small = b.list_page("small", 500).await;
    let page_big_start = b.list_page("big", 0).await;
    let page_big_end = b.list_page("big", ROWS - 1000).await;
    let full_page_url = format!(
        "{}projects/wif-demo/datasets/bench/tables/sink_big/data?startIndex=1000000",
        b.bq
    );
    let full_page = b
        .time(|| async { assert!(b.get_ok(&full_page_url).await.len() > 9_000_000) })
        .await;

    let count = b
        .query("SELECT kind, COUNT(*) AS n FROM bench.big GROUP BY kind ORDER BY kind")
        .await;
    let point = b
        .query("SELECT id, payload FROM bench.big WHERE id = 987654")
        .await;
    let sorted = b
        .query("SELECT id FROM bench.big ORDER BY id DESC LIMIT 10")
        .await;
    let count_small = b
        .query("SELECT kind, COUNT(*) AS n FROM bench.small GROUP BY kind ORDER BY kind")
        .await;

    // Cloud Storage: 64 objects of 16 MiB, 1 GiB in all.
    b.emulator.create_bucket("bench");
    let data = vec![42u8; OBJECT];
    let mut uploads = Vec::new();
    for i in 0..OBJECTS {
        uploads.push(b.upload(&format!("obj/{i:03}"), &data).await);
    }
    let list_url = format!(
        "{}/storage/v1/b/bench/o?prefix=obj/",
        b.emulator.storage_base_url()
    );
    let list = b
        .time(|| async { assert!(!b.get_ok(&list_url).await.is_empty()) })
        .await;
    let read_url = format!(
        "{}/storage/v1/b/bench/o/obj%2F063?alt=media",
        b.emulator.storage_base_url()
    );
    let read = b
        .time(|| async { assert_eq!(b.get_ok(&read_url).await.len(), OBJECT) })
        .await;

    let mut md = String::new();
    let _ = write!(
        md,
        "## Emulator at scale\n\n\
         `cargo bench -p wif-tests --bench emulator_scale`: one emulator holding {ROWS} BigQuery rows \
         and {} MiB of Cloud Storage objects, called over loopback HTTP by reqwest; medians of {RUNS} \
         runs. Each call is timed on a nearly empty table and on a full one: the same cost means no \
         growth with the data held.\n\n\
         | call | nearly empty | holding 1 M rows / 1 GiB |\n|---|---|---|\n\
         | `insertAll` of 10,000 small rows (filling) | {} (first 10 calls) | {} (last 10 calls) |\n\
         | `insertAll` of 10 MB (1,000 rows of 10 KB) | {} | {} |\n\
         | `tabledata.list`, 1,000 rows at `startIndex` | {} (of 1,000 rows) | {} (start), {} (end) |\n\
         | `tabledata.list`, a full ~10 MB page | – | {} |\n\
         | `jobs.query` `GROUP BY` + `COUNT(*)` over every row | {} | {} |\n\
         | `jobs.query` point lookup (`WHERE id = …`, a scan) | – | {} |\n\
         | `jobs.query` `ORDER BY id DESC LIMIT 10` | – | {} |\n\
         | media upload of 16 MiB | {} (first) | {} (64th) |\n\
         | `objects.list` of 64 objects | – | {} |\n\
         | `objects.get` `alt=media` of 16 MiB | – | {} |\n\n\
         Filling 1 M rows took {:.1} s.\n",
        OBJECT * OBJECTS / 1024 / 1024,
        ms(first_batches),
        ms(last_batches),
        ms(insert_small),
        ms(insert_big),
        ms(page_small),
        ms(page_big_start),
        ms(page_big_end),
        ms(full_page),
        ms(count_small),
        ms(count),
        ms(point),
        ms(sorted),
        ms(uploads[0]),
        ms(uploads[OBJECTS - 1]),
        ms(list),
        ms(read),
        fill.as_secs_f64(),
    );
    match out {
        Some(path) => std::fs::write(&path, md).expect("write the section"),
        None => print!("{md}"),
    }
}
