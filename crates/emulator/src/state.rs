//! Everything the emulator remembers, in memory, behind short-held locks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::EmulatorConfig;
use crate::faults::FaultRule;

/// One stored object and its insertion order (list order; timestamps tie).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub seq: u64,
    pub object: Value,
}

/// Objects of one kind by id.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub rows: HashMap<String, Row>,
}

impl Table {
    pub fn insert(&mut self, seq: u64, id: &str, object: Value) {
        self.rows.insert(id.to_owned(), Row { seq, object });
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.rows.get(id).map(|row| &row.object)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.rows.get_mut(id).map(|row| &mut row.object)
    }

    pub fn ordered(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self.rows.values().collect();
        rows.sort_by_key(|row| row.seq);
        rows
    }
}

#[derive(Debug)]
pub(crate) struct RunState {
    pub seq: u64,
    pub object: Value,
    pub steps: Table,
    /// Set to true to ask the run's driver to stop (cancel).
    pub cancel: watch::Sender<bool>,
}

#[derive(Debug, Default)]
pub(crate) struct ThreadState {
    pub object: Value,
    pub messages: Table,
    pub runs: HashMap<String, RunState>,
}

impl ThreadState {
    /// The run that blocks new messages and runs, if any.
    pub fn active_run(&self) -> Option<&str> {
        self.runs.iter().find_map(|(id, run)| {
            let status = run.object["status"].as_str().unwrap_or("");
            matches!(
                status,
                "queued" | "in_progress" | "requires_action" | "cancelling"
            )
            .then_some(id.as_str())
        })
    }
}

#[derive(Debug)]
pub(crate) struct StoredFile {
    pub seq: u64,
    pub object: Value,
    pub content: Bytes,
}

#[derive(Debug, Default)]
pub(crate) struct VectorStoreState {
    pub seq: u64,
    pub object: Value,
    pub files: Table,
    pub batches: HashMap<String, (Value, Vec<String>)>,
}

/// A conversation of the Conversations API and its items.
#[derive(Debug)]
pub(crate) struct ConversationState {
    pub object: Value,
    pub items: Table,
}

/// A stored response of the Responses API.
#[derive(Debug)]
pub(crate) struct ResponseState {
    pub object: Value,
    /// Its input items, as `input_items` lists them.
    pub input: Vec<Value>,
    /// What a response continuing it sees: the chain's items, then its own
    /// input and output.
    pub context: Vec<Value>,
    /// Set to true to ask a background response's driver to stop.
    pub cancel: watch::Sender<bool>,
    /// A background response's events so far, for streams resumed with
    /// `starting_after`.
    pub events: Vec<Value>,
}

/// A container (code interpreter's sandbox), its files and their bytes.
#[derive(Debug, Default)]
pub(crate) struct ContainerState {
    pub seq: u64,
    pub object: Value,
    pub files: Table,
    pub contents: HashMap<String, Bytes>,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    seq: u64,
    pub assistants: Table,
    pub threads: HashMap<String, ThreadState>,
    pub files: HashMap<String, StoredFile>,
    pub vector_stores: HashMap<String, VectorStoreState>,
    pub conversations: HashMap<String, ConversationState>,
    pub responses: HashMap<String, ResponseState>,
    pub containers: HashMap<String, ContainerState>,
}

/// The ids of every object the emulator holds, by kind (sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub assistants: Vec<String>,
    pub threads: Vec<String>,
    pub files: Vec<String>,
    pub vector_stores: Vec<String>,
    pub conversations: Vec<String>,
    pub responses: Vec<String>,
    pub containers: Vec<String>,
}

impl Store {
    /// What it holds, for tests that compare it with a client's records.
    pub fn inventory(&self) -> Inventory {
        let sorted = |mut ids: Vec<String>| {
            ids.sort();
            ids
        };
        Inventory {
            assistants: sorted(self.assistants.rows.keys().cloned().collect()),
            threads: sorted(self.threads.keys().cloned().collect()),
            files: sorted(self.files.keys().cloned().collect()),
            vector_stores: sorted(self.vector_stores.keys().cloned().collect()),
            conversations: sorted(self.conversations.keys().cloned().collect()),
            responses: sorted(self.responses.keys().cloned().collect()),
            containers: sorted(self.containers.keys().cloned().collect()),
        }
    }

    /// The next insertion number.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// One API request as received, for tests to inspect.
#[derive(Debug, Clone, Serialize)]
pub struct JournalEntry {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Selected headers: `traceparent`, `openai-beta`, `x-ms-client-request-id`,
    /// `x-ms-user-isolation-key`, and whether `api-key` / `authorization`
    /// were present (never their values).
    pub headers: HashMap<String, String>,
}

/// A token-endpoint request, for tests of the Entra credential.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenRequest {
    pub tenant: String,
    pub client_id: String,
    /// `secret` or `assertion`.
    pub credential: &'static str,
    /// The client assertion presented (workload identity); test material only.
    pub assertion: Option<String>,
    pub scope: String,
}

#[derive(Debug)]
pub(crate) struct State {
    pub config: EmulatorConfig,
    store: Mutex<Store>,
    pub faults: Mutex<Vec<FaultRule>>,
    journal: Mutex<VecDeque<JournalEntry>>,
    tokens: Mutex<HashMap<String, Instant>>,
    pub token_requests: Mutex<Vec<TokenRequest>>,
    /// Streamed answers whose body is still being read.
    pub open_streams: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

const JOURNAL_CAPACITY: usize = 10_000;

impl State {
    pub fn new(config: EmulatorConfig) -> Self {
        Self {
            config,
            store: Mutex::default(),
            faults: Mutex::default(),
            journal: Mutex::default(),
            tokens: Mutex::default(),
            token_requests: Mutex::default(),
            open_streams: std::sync::Arc::default(),
        }
    }

    /// The store. Never held across an await.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub fn journal(&self) -> Vec<JournalEntry> {
        lock(&self.journal).iter().cloned().collect()
    }

    pub fn clear_journal(&self) {
        lock(&self.journal).clear();
    }

    pub fn issue_token(&self, token: String, expires: Instant) {
        lock(&self.tokens).insert(token, expires);
    }

    pub fn token_is_valid(&self, token: &str) -> bool {
        lock(&self.tokens)
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }
}

/// A poisoned lock only means another request panicked; the data is still
/// usable for an emulator, so carry on with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Middleware: remembers every API request (not admin or token requests).
pub(crate) async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = request.path().to_owned();
    if path.starts_with("/openai") || path.starts_with("/v1") || path.starts_with("/api/projects/")
    {
        if let Some(state) = request.app_data::<web::Data<State>>() {
            let mut headers = HashMap::new();
            for name in [
                "traceparent",
                "openai-beta",
                "x-ms-client-request-id",
                "x-ms-user-isolation-key",
                "content-type",
            ] {
                if let Some(value) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
                    headers.insert(name.to_owned(), value.to_owned());
                }
            }
            for name in ["api-key", "authorization"] {
                if request.headers().contains_key(name) {
                    headers.insert(name.to_owned(), "present".to_owned());
                }
            }
            let mut journal = lock(&state.journal);
            if journal.len() == JOURNAL_CAPACITY {
                journal.pop_front();
            }
            journal.push_back(JournalEntry {
                method: request.method().to_string(),
                path,
                query: request.query_string().to_owned(),
                headers,
            });
        }
    }
    next.call(request).await
}
