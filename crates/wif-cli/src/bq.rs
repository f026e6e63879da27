//! `wif bq`: BigQuery from the command line, with tokens from the configured chain.
//!
//! ```text
//! wif bq query "<SQL>" [--project P] [--format json|table] [--location L]
//! wif bq insert <project.dataset.table> <rows.jsonl>
//! ```
//!
//! `BIGQUERY_EMULATOR_HOST` points it at an emulator, like Google's own clients. Rows go to
//! stdout; a partial insert failure is an error naming the rejected lines of the file. Inserts
//! stream the file in batches (see [`insert`]).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;
use wif::{Credentials, Environment, Error, ErrorKind, MapEnvironment, OsEnvironment, Step};
use wif_bigquery::{BigQuery, QueryRequest, TableRef};

mod insert;

/// `wif bq …` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum BqCommand {
    /// Run a GoogleSQL query and print its rows.
    Query {
        /// The query (GoogleSQL), e.g. "SELECT * FROM `project.dataset.table` LIMIT 10".
        sql: String,
        /// The project that runs the query [default: GOOGLE_CLOUD_PROJECT, then the
        /// credentials' quota project].
        #[arg(long)]
        project: Option<String>,
        /// Output format: a JSON array of row objects, or a text table.
        #[arg(long, value_enum, default_value_t = BqFormat::Json)]
        format: BqFormat,
        /// Where the query runs (required for datasets outside the US and EU multi-regions).
        #[arg(long)]
        location: Option<String>,
    },
    /// Stream rows from a JSON Lines file (one JSON object per line) into a table.
    ///
    /// Every line is checked before the first row is sent; then the rows go in batches of up to
    /// 500 rows (about 8 MB), so memory does not grow with the file.
    Insert {
        /// The table: project.dataset.table.
        table: String,
        /// The JSON Lines file (a regular file; one row is at most 10 MB).
        rows: PathBuf,
    },
}

/// How `wif bq query` prints rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BqFormat {
    /// A JSON array of objects keyed by column name.
    Json,
    /// A text table.
    Table,
}

/// Runs a `wif bq` command, printing results to `out`.
pub(crate) async fn run(
    cmd: BqCommand,
    creds: Option<Credentials>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    run_with_env(cmd, creds, &OsEnvironment, out).await
}

async fn run_with_env(
    cmd: BqCommand,
    creds: Option<Credentials>,
    env: &dyn Environment,
    out: &mut dyn Write,
) -> Result<(), Error> {
    match cmd {
        BqCommand::Query {
            sql,
            project,
            format,
            location,
        } => {
            let project = project
                .or_else(|| env.var("GOOGLE_CLOUD_PROJECT"))
                .or_else(|| {
                    creds
                        .as_ref()
                        .and_then(|c| c.quota_project_id().map(str::to_owned))
                })
                .filter(|p| !p.trim().is_empty())
                .ok_or_else(|| {
                    Error::config(
                        "--project",
                        "no project to run the query in: pass --project or set GOOGLE_CLOUD_PROJECT",
                    )
                })?;
            let bq = client(creds, project, env)?;
            let mut request = QueryRequest::new(sql);
            if let Some(location) = location {
                request = request.location(location);
            }
            let results = bq.query(request).await?;
            match format {
                BqFormat::Json => print_json(results, out).await,
                BqFormat::Table => print_table(results, out).await,
            }
        }
        BqCommand::Insert { table, rows } => {
            let table: TableRef = table.parse()?;
            let bq = client(creds, table.project().to_owned(), env)?;
            let shown = rows.display().to_string();
            let done =
                insert::insert_file(&bq, &table, &shown, || insert::open_rows_file(&rows)).await?;
            writeln!(
                out,
                "inserted {} rows into {table} ({} requests)",
                done.rows, done.requests
            )
            .map_err(write_error)
        }
    }
}

/// `creds` is `None` only when `BIGQUERY_EMULATOR_HOST` is set (then unauthenticated, as
/// Google's own clients do); the builder refuses it otherwise.
fn client(
    creds: Option<Credentials>,
    project: String,
    env: &dyn Environment,
) -> Result<BigQuery, Error> {
    // The builder owns its environment, and reads one variable of it.
    let var = wif_bigquery::EMULATOR_HOST_ENV;
    let emulator = match env.var(var) {
        Some(host) => MapEnvironment::new().with(var, host),
        None => MapEnvironment::new(),
    };
    let mut bq = BigQuery::builder().project(project).environment(emulator);
    if let Some(creds) = creds {
        if let Some(quota) = creds.quota_project_id() {
            bq = bq.quota_project(quota);
        }
        bq = bq.provider(creds);
    }
    bq.build()
}

fn write_error(e: std::io::Error) -> Error {
    Error::new(
        Step::Api,
        ErrorKind::Io,
        "could not write the result to stdout",
    )
    .with_source(e)
}

/// Streams a JSON array, one row per line, without holding the result in memory.
async fn print_json(
    mut results: wif_bigquery::QueryResults,
    out: &mut dyn Write,
) -> Result<(), Error> {
    out.write_all(b"[").map_err(write_error)?;
    let mut first = true;
    while let Some(row) = results.next_row().await {
        let row = row?;
        let sep: &[u8] = if first { b"\n  " } else { b",\n  " };
        first = false;
        out.write_all(sep).map_err(write_error)?;
        out.write_all(row.to_string().as_bytes())
            .map_err(write_error)?;
    }
    out.write_all(if first { b"]\n" } else { b"\n]\n" })
        .map_err(write_error)
}

/// Widest a table cell gets before it is cut.
const MAX_CELL: usize = 60;

fn cell_text(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => "NULL".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    // One line per row: newlines and tabs would break the table.
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_CELL {
        let cut: String = text.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

async fn print_table(
    mut results: wif_bigquery::QueryResults,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let columns: Vec<String> = results.schema().column_names().map(str::to_owned).collect();
    let mut cells: Vec<Vec<String>> = Vec::new();
    while let Some(row) = results.next_row().await {
        let row = row?;
        cells.push(columns.iter().map(|c| cell_text(row.get(c))).collect());
    }
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s
    };
    let line = |values: &[String]| {
        let mut s = String::from("|");
        for (v, w) in values.iter().zip(&widths) {
            let pad = w - v.chars().count();
            let _ = write!(s, " {v}{} |", " ".repeat(pad));
        }
        s
    };
    let mut text = format!("{rule}\n{}\n{rule}\n", line(&columns));
    for r in &cells {
        text.push_str(&line(r));
        text.push('\n');
    }
    if !cells.is_empty() {
        text.push_str(&rule);
        text.push('\n');
    }
    out.write_all(text.as_bytes()).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wif::layers::core::StaticTokenProvider;
    use wif::{AccessToken, MapEnvironment};
    use wif_core::testing::{assert_says, server_with};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn creds() -> Credentials {
        Credentials::from_provider(StaticTokenProvider::new(AccessToken::expiring_in(
            "ya29.cli-test",
            tokio::time::Instant::now(),
            Duration::from_secs(3600),
        )))
    }

    fn env(server: &MockServer) -> MapEnvironment {
        MapEnvironment::new().with(
            "BIGQUERY_EMULATOR_HOST",
            server.uri().trim_start_matches("http://"),
        )
    }

    fn query(sql: &str, format: BqFormat) -> BqCommand {
        BqCommand::Query {
            sql: sql.into(),
            project: Some("p".into()),
            format,
            location: None,
        }
    }

    async fn mock_query(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/bigquery/v2/projects/p/queries"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "jobComplete": true,
                "jobReference": {"projectId": "p", "jobId": "j"},
                "schema": {"fields": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "STRING"}]},
                "rows": [{"f": [{"v": "1"}, {"v": "alice"}]}, {"f": [{"v": "2"}, {"v": null}]}],
                "totalRows": "2"
            })))
            .mount(server)
            .await;
    }

    /// Runs `wif bq query "SELECT 1"` in `format` against [`mock_query`]; returns the server and
    /// what was printed.
    async fn printed_query(format: BqFormat) -> (MockServer, Vec<u8>) {
        let server = MockServer::start().await;
        mock_query(&server).await;
        let mut out = Vec::new();
        run_with_env(
            query("SELECT 1", format),
            Some(creds()),
            &env(&server),
            &mut out,
        )
        .await
        .expect("query");
        (server, out)
    }

    #[tokio::test]
    async fn query_prints_json_rows() {
        let (server, out) = printed_query(BqFormat::Json).await;
        let printed: Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            printed,
            json!([{"id": 1, "name": "alice"}, {"id": 2, "name": null}])
        );
        let requests = server.received_requests().await.expect("recorded");
        let auth = requests[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some("Bearer ya29.cli-test"));
    }

    #[tokio::test]
    async fn query_prints_a_table() {
        let (_server, out) = printed_query(BqFormat::Table).await;
        assert_eq!(
            String::from_utf8_lossy(&out),
            "+----+-------+\n| id | name  |\n+----+-------+\n| 1  | alice |\n| 2  | NULL  |\n+----+-------+\n"
        );
    }

    #[tokio::test]
    async fn query_needs_a_project() {
        let server = MockServer::start().await;
        let cmd = BqCommand::Query {
            sql: "SELECT 1".into(),
            project: None,
            format: BqFormat::Json,
            location: None,
        };
        let err = run_with_env(cmd, Some(creds()), &env(&server), &mut Vec::new())
            .await
            .expect_err("no project");
        assert!(err.is_config(), "{err}");
        let with_env = env(&server).with("GOOGLE_CLOUD_PROJECT", "p");
        mock_query(&server).await;
        let cmd = BqCommand::Query {
            sql: "SELECT 1".into(),
            project: None,
            format: BqFormat::Json,
            location: Some("EU".into()),
        };
        run_with_env(cmd, Some(creds()), &with_env, &mut Vec::new())
            .await
            .expect("project from GOOGLE_CLOUD_PROJECT");
        let requests = server.received_requests().await.expect("recorded");
        let body: Value = serde_json::from_slice(&requests[0].body).expect("json");
        assert_eq!(body["location"], "EU");
    }

    fn rows_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    /// Runs `wif bq insert TABLE ROWS` against `server`, printing into `out`.
    async fn run_insert(
        server: &MockServer,
        table: &str,
        rows: &std::path::Path,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let cmd = BqCommand::Insert {
            table: table.into(),
            rows: rows.to_owned(),
        };
        run_with_env(cmd, Some(creds()), &env(server), out).await
    }

    #[tokio::test]
    async fn insert_reports_rejected_lines() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/bigquery/v2/projects/p/datasets/d/tables/t/insertAll"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"insertErrors": [
                {"index": 0, "errors": [{"reason": "stopped"}]},
                {"index": 1, "errors": [{"reason": "invalid", "location": "id", "message": "Cannot convert value to integer."}]}
            ]})))
            .mount(&server)
            .await;
        // Line 2 is blank: the second row is on line 3.
        let file = rows_file("{\"id\": 1}\n\n{\"id\": \"x\"}\n");
        let err = run_insert(&server, "p.d.t", file.path(), &mut Vec::new())
            .await
            .expect_err("a rejected row");
        assert_says(
            &err.to_string(),
            &[
                "2 of 2 rows were not inserted into p.d.t",
                "line 3: invalid at `id`: Cannot convert value to integer.",
                "1 valid rows were not inserted",
            ],
        );
    }

    #[tokio::test]
    async fn insert_prints_a_summary_and_checks_the_file_first() {
        let accepted = ResponseTemplate::new(200).set_body_json(json!({}));
        let server =
            server_with([Mock::given(method("POST")).respond_with(accepted).expect(1)]).await;
        let file = rows_file("{\"id\": 1}\n{\"id\": 2}\n");
        let mut out = Vec::new();
        run_insert(&server, "p.d.t", file.path(), &mut out)
            .await
            .expect("inserted");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "inserted 2 rows into p.d.t (1 requests)\n"
        );

        for (text, want) in [
            ("{\"id\": 1}\n[1]\n", "line 2 is not a JSON object"),
            ("{oops\n", "line 1 is not JSON"),
        ] {
            let file = rows_file(text);
            let err = run_insert(&server, "p.d.t", file.path(), &mut Vec::new())
                .await
                .expect_err(want);
            assert!(err.is_config() && err.to_string().contains(want), "{err}");
        }
        let err = run_insert(&server, "not-a-table", file.path(), &mut Vec::new())
            .await
            .expect_err("bad table");
        assert!(err.is_config(), "{err}");
    }
}
