//! The emulated BigQuery's in-memory data: datasets, tables and their typed rows, the
//! `insertId`s seen within the dedup window, query jobs and their results.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::TableField;
use super::cell::{Row, Type};
use super::sql::ResultSet;
use super::values::logical_bytes;
use crate::state::lock;

/// One emulator's BigQuery data.
#[derive(Debug, Default)]
pub(crate) struct Store {
    datasets: Mutex<BTreeMap<(String, String), Dataset>>,
    jobs: Mutex<HashMap<(String, String), Job>>,
    /// `(project, requestId)` → job id: a retried `jobs.query` gets the same job back.
    request_ids: Mutex<HashMap<(String, String), String>>,
    /// How many responses of each new job say `jobComplete: false` before the results.
    incomplete_polls: AtomicU32,
    /// Source of table ids that page tokens are bound to.
    next_table_uid: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Dataset {
    pub(crate) location: String,
    pub(crate) created_ms: i64,
    pub(crate) modified_ms: i64,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) description: Option<String>,
    /// An anonymous dataset holding query results: left out of `datasets.list` unless `all`.
    pub(crate) hidden: bool,
    pub(crate) tables: BTreeMap<String, Table>,
}

impl Dataset {
    pub(crate) fn new(location: &str) -> Dataset {
        let now = now_ms();
        Dataset {
            location: location.to_owned(),
            created_ms: now,
            modified_ms: now,
            labels: BTreeMap::new(),
            description: None,
            hidden: false,
            tables: BTreeMap::new(),
        }
    }
}

/// `insertId`s seen recently, forgotten once older than the dedup window: BigQuery's
/// de-duplication is best effort and short-lived, so a row re-sent much later is a new row.
#[derive(Debug, Default)]
pub(crate) struct RecentIds {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl RecentIds {
    /// Records `id` at `now`; false when it was already seen within `window`.
    pub(crate) fn first_sighting(&mut self, id: &str, now: Instant, window: Duration) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if let Some((at, old)) = self.order.pop_front()
                && self.seen.get(&old) == Some(&at)
            {
                self.seen.remove(&old);
            }
        }
        if self.seen.contains_key(id) {
            return false;
        }
        self.seen.insert(id.to_owned(), now);
        self.order.push_back((now, id.to_owned()));
        true
    }
}

#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) fields: Vec<TableField>,
    pub(crate) types: Vec<Type>,
    pub(crate) rows: Vec<Row>,
    /// Logical bytes per top-level column, kept as rows arrive.
    pub(crate) column_bytes: Vec<u64>,
    pub(crate) insert_ids: RecentIds,
    pub(crate) created_ms: i64,
    pub(crate) modified_ms: i64,
    /// Unique per table creation: page tokens of a dropped and re-created table are stale.
    pub(crate) uid: u64,
    pub(crate) description: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
}

impl Table {
    pub(crate) fn new(fields: Vec<TableField>, uid: u64) -> Self {
        let now = now_ms();
        Table {
            types: fields.iter().map(Type::of_field).collect(),
            column_bytes: vec![0; fields.len()],
            fields,
            rows: Vec::new(),
            insert_ids: RecentIds::default(),
            created_ms: now,
            modified_ms: now,
            uid,
            description: None,
            labels: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, row: Row) {
        for ((bytes, ty), cell) in self
            .column_bytes
            .iter_mut()
            .zip(&self.types)
            .zip(row.iter())
        {
            *bytes += logical_bytes(ty, cell);
        }
        self.rows.push(row);
    }

    pub(crate) fn num_bytes(&self) -> u64 {
        self.column_bytes.iter().sum()
    }
}

/// Why a job failed: BigQuery's `ErrorProto`.
#[derive(Clone, Debug)]
pub(crate) struct JobError {
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

/// A query job.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) location: String,
    /// The job's `configuration`, as the request sent it (plus the destination chosen).
    pub(crate) configuration: Value,
    pub(crate) created_ms: i64,
    pub(crate) ended_ms: i64,
    pub(crate) outcome: Result<Arc<ResultSet>, JobError>,
    /// Responses still to answer with `jobComplete: false` / `RUNNING`.
    pub(crate) incomplete_left: u32,
    pub(crate) cancelled: bool,
    pub(crate) user_email: String,
}

impl Job {
    pub(crate) fn done(&self) -> bool {
        self.incomplete_left == 0 || self.cancelled
    }

    /// The error that `getQueryResults` answers with, once done.
    pub(crate) fn error(&self) -> Option<JobError> {
        if self.cancelled && self.outcome.is_ok() {
            return Some(JobError {
                reason: "stopped",
                message: "Job execution was cancelled: User requested cancellation".into(),
            });
        }
        self.outcome.as_ref().err().cloned()
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    pub(crate) fn datasets(&self) -> MutexGuard<'_, BTreeMap<(String, String), Dataset>> {
        lock(&self.datasets)
    }

    pub(crate) fn jobs(&self) -> MutexGuard<'_, HashMap<(String, String), Job>> {
        lock(&self.jobs)
    }

    pub(crate) fn request_ids(&self) -> MutexGuard<'_, HashMap<(String, String), String>> {
        lock(&self.request_ids)
    }

    pub(crate) fn set_incomplete_polls(&self, n: u32) {
        self.incomplete_polls.store(n, Ordering::SeqCst);
    }

    pub(crate) fn incomplete_polls(&self) -> u32 {
        self.incomplete_polls.load(Ordering::SeqCst)
    }

    /// An empty table of `fields` with a fresh uid.
    pub(crate) fn new_table(&self, fields: Vec<TableField>) -> Table {
        Table::new(
            fields,
            self.next_table_uid.fetch_add(1, Ordering::Relaxed) + 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_ids_are_forgotten_after_the_window() {
        let mut ids = RecentIds::default();
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        assert!(ids.first_sighting("a", t0, window));
        assert!(!ids.first_sighting("a", t0 + Duration::from_secs(59), window));
        assert!(ids.first_sighting("b", t0 + Duration::from_secs(30), window));
        assert!(
            ids.first_sighting("a", t0 + Duration::from_secs(60), window),
            "past the window, the same insertId is a new row"
        );
        assert!(!ids.first_sighting("b", t0 + Duration::from_secs(61), window));
        assert!(
            ids.order.len() <= 2,
            "old entries are pruned: {}",
            ids.order.len()
        );
    }
}
