//! The emulated BigQuery's in-memory data: datasets, tables and their rows, the `insertId`s seen,
//! query jobs and their results.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::SystemTime;

use serde_json::Value;

use super::TableField;
use crate::state::{State, lock};

/// One emulator's BigQuery data.
#[derive(Debug, Default)]
pub(crate) struct Store {
    datasets: Mutex<BTreeMap<(String, String), Dataset>>,
    jobs: Mutex<HashMap<(String, String), Job>>,
    /// `(project, requestId)` → job id: a retried `jobs.query` gets the same job back.
    request_ids: Mutex<HashMap<(String, String), String>>,
    /// How many responses of each new job say `jobComplete: false` before the results.
    incomplete_polls: AtomicU32,
}

#[derive(Debug)]
pub(crate) struct Dataset {
    pub(crate) location: String,
    pub(crate) created_ms: i64,
    pub(crate) tables: BTreeMap<String, Table>,
}

#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) fields: Vec<TableField>,
    /// Canonical rows (see `values`), keyed by field name.
    pub(crate) rows: Vec<Value>,
    pub(crate) insert_ids: HashSet<String>,
    pub(crate) created_ms: i64,
    pub(crate) modified_ms: i64,
}

impl Table {
    pub(crate) fn new(fields: Vec<TableField>) -> Self {
        let now = now_ms();
        Table {
            fields,
            rows: Vec::new(),
            insert_ids: HashSet::new(),
            created_ms: now,
            modified_ms: now,
        }
    }
}

/// A query job: its result, kept for `getQueryResults` paging.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(crate) location: String,
    pub(crate) fields: Vec<TableField>,
    /// Result rows as cells in `fields` order.
    pub(crate) rows: Arc<Vec<Vec<Value>>>,
    /// Responses still to answer with `jobComplete: false`.
    pub(crate) incomplete_left: u32,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
}

/// The store of `state`'s emulator.
///
/// `State` belongs to the emulator core and has no slot for per-service data, so each
/// emulator's store is found through its `State` here. The registry holds a `Weak`, which keeps
/// the `State` allocation's address from being reused while the entry exists, and entries of
/// dropped emulators are pruned on every lookup.
pub(crate) fn store(state: &Arc<State>) -> Arc<Store> {
    static STORES: Mutex<Vec<(Weak<State>, Arc<Store>)>> = Mutex::new(Vec::new());
    let mut stores = lock(&STORES);
    stores.retain(|(owner, _)| owner.strong_count() > 0);
    if let Some((_, store)) = stores
        .iter()
        .find(|(owner, _)| std::ptr::eq(owner.as_ptr(), Arc::as_ptr(state)))
    {
        return store.clone();
    }
    let store = Arc::new(Store::default());
    stores.push((Arc::downgrade(state), store.clone()));
    store
}
