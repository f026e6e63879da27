//! A completed query's rows as an async stream that pages through `jobs.getQueryResults` as it
//! is read, decoding each `f`/`v` row by the result schema.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt as _};
use serde::de::DeserializeOwned;
use serde_json::Value;
use wif_core::{Error, Step};

use crate::client::BigQuery;
use crate::query::{JobReference, ResultsCall, ResultsResponse, uint};
use crate::schema::{Schema, decode_row};

/// A server returning this many pages in a row without rows is looping, not paging.
const MAX_EMPTY_PAGES: u32 = 100;

/// Where further pages come from.
pub(crate) struct Page {
    pub(crate) client: BigQuery,
    pub(crate) job: Option<JobReference>,
    pub(crate) location: Option<String>,
    pub(crate) page_size: Option<u32>,
    pub(crate) timeout: Duration,
}

/// The rows of a completed query: a [`Stream`] of JSON objects keyed by column name (see
/// [`crate::schema`] for how each type decodes). Further pages are fetched as the stream is read.
///
/// Without a `futures` dependency, read it with [`next_row`](Self::next_row) or
/// [`collect_rows`](Self::collect_rows); for your own types use [`rows_as`](Self::rows_as).
pub struct QueryResults {
    schema: Arc<Schema>,
    total_rows: Option<u64>,
    dml_affected_rows: Option<u64>,
    job: Option<JobReference>,
    stream: BoxStream<'static, Result<Value, Error>>,
}

impl fmt::Debug for QueryResults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryResults")
            .field("job", &self.job)
            .field("total_rows", &self.total_rows)
            .field("columns", &self.schema.column_names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

struct Pager {
    page: Page,
    schema: Arc<Schema>,
    buffer: VecDeque<Value>,
    token: Option<String>,
    index: u64,
    empty_pages: u32,
    failed: bool,
}

impl QueryResults {
    pub(crate) fn new(
        schema: Schema,
        first: ResultsResponse,
        job: Option<JobReference>,
        page: Page,
    ) -> Self {
        let schema = Arc::new(schema);
        let pager = Pager {
            page,
            schema: schema.clone(),
            buffer: first.rows.into(),
            token: first.page_token.filter(|t| !t.is_empty()),
            index: 0,
            empty_pages: 0,
            failed: false,
        };
        QueryResults {
            schema,
            total_rows: uint(&first.total_rows),
            dml_affected_rows: uint(&first.num_dml_affected_rows),
            job,
            stream: futures::stream::unfold(pager, next).boxed(),
        }
    }

    /// The result's columns.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The number of rows of the whole result, as the server reported it.
    pub fn total_rows(&self) -> Option<u64> {
        self.total_rows
    }

    /// Rows changed by a DML statement (`INSERT`, `UPDATE`, `DELETE`, `MERGE`).
    pub fn num_dml_affected_rows(&self) -> Option<u64> {
        self.dml_affected_rows
    }

    /// The job that produced the rows (absent for queries the server ran without a job).
    pub fn job_reference(&self) -> Option<&JobReference> {
        self.job.as_ref()
    }

    /// The next row, fetching the next page when needed; `None` after the last row.
    pub async fn next_row(&mut self) -> Option<Result<Value, Error>> {
        self.stream.next().await
    }

    /// Every remaining row (stops at the first error).
    pub async fn collect_rows(mut self) -> Result<Vec<Value>, Error> {
        let mut rows = Vec::new();
        while let Some(row) = self.next_row().await {
            rows.push(row?);
        }
        Ok(rows)
    }

    /// The rows deserialized into `T` (a struct whose fields are the column names).
    ///
    /// INT64 columns arrive as JSON numbers, TIMESTAMPs as RFC 3339 strings, RECORDs as nested
    /// objects and REPEATED fields as arrays, so ordinary serde types fit.
    pub fn rows_as<T: DeserializeOwned>(self) -> TypedRows<T> {
        TypedRows {
            rows: self,
            index: 0,
            _type: PhantomData,
        }
    }
}

impl Stream for QueryResults {
    type Item = Result<Value, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().stream.poll_next_unpin(cx)
    }
}

async fn next(mut p: Pager) -> Option<(Result<Value, Error>, Pager)> {
    loop {
        if p.failed {
            return None;
        }
        if let Some(raw) = p.buffer.pop_front() {
            let index = p.index;
            p.index += 1;
            let row = decode_row(&p.schema, &raw).map_err(|e| {
                Error::invalid_response(Step::Api, format!("query result row {index}: {e}"))
            });
            return Some((row, p));
        }
        let token = p.token.take()?;
        let fetched = match &p.page.job {
            None => Err(Error::invalid_response(
                Step::Api,
                "the query result has more pages but names no job to fetch them from",
            )),
            Some(job) => {
                p.page
                    .client
                    .query_results(ResultsCall {
                        job,
                        location: p.page.location.as_deref(),
                        page_token: Some(&token),
                        max_results: p.page.page_size,
                        timeout: p.page.timeout,
                    })
                    .await
            }
        };
        match fetched {
            Ok(response) => {
                if response.rows.is_empty() {
                    p.empty_pages += 1;
                    if p.empty_pages >= MAX_EMPTY_PAGES {
                        p.failed = true;
                        let e = Error::invalid_response(
                            Step::Api,
                            format!(
                                "jobs.getQueryResults returned {MAX_EMPTY_PAGES} empty pages in a row"
                            ),
                        );
                        return Some((Err(e), p));
                    }
                } else {
                    p.empty_pages = 0;
                }
                p.buffer = response.rows.into();
                p.token = response.page_token.filter(|t| !t.is_empty());
            }
            Err(e) => {
                p.failed = true;
                return Some((Err(e), p));
            }
        }
    }
}

/// Query rows deserialized into `T`; see [`QueryResults::rows_as`].
pub struct TypedRows<T> {
    rows: QueryResults,
    index: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for TypedRows<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedRows")
            .field("rows", &self.rows)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: DeserializeOwned> TypedRows<T> {
    /// The result's columns.
    pub fn schema(&self) -> &Schema {
        self.rows.schema()
    }

    /// The next row; `None` after the last one.
    pub async fn next_row(&mut self) -> Option<Result<T, Error>> {
        self.next().await
    }

    /// Every remaining row (stops at the first error).
    pub async fn collect_rows(mut self) -> Result<Vec<T>, Error> {
        let mut rows = Vec::new();
        while let Some(row) = self.next_row().await {
            rows.push(row?);
        }
        Ok(rows)
    }

    fn convert(&mut self, row: Value) -> Result<T, Error> {
        let index = self.index;
        self.index += 1;
        serde_json::from_value(row).map_err(|e| {
            Error::invalid_response(
                Step::Api,
                format!(
                    "query result row {index} does not fit `{}`: {e}",
                    std::any::type_name::<T>()
                ),
            )
        })
    }
}

impl<T: DeserializeOwned> Stream for TypedRows<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.rows.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(row))) => Poll::Ready(Some(this.convert(row))),
            Poll::Ready(Some(Err(e))) => {
                this.index += 1;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
