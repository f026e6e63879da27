//! Cloud Storage's answers played by a wiremock responder over the in-memory store: the
//! documented errors in GCS's JSON shape, and faults (slow, flaky, a token refused once).

use std::fmt;

use serde_json::json;
use wif_core::testing::Scripted;
use wiremock::{Request, Respond, ResponseTemplate};

use super::store::Store;

/// The errors Cloud Storage documents, each with its status and reason in the JSON API's
/// `{"error":{"code","message","errors":[{"reason"}]}}` shape. wif-storage retries and explains
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageError {
    /// 401: the token was refused.
    Unauthenticated,
    /// 403 `forbidden`: the principal lacks a storage role.
    Forbidden,
    /// 403 `forbidden` naming a `principal://`: a federated principal on a bucket without
    /// uniform bucket-level access.
    FederatedPrincipalNeedsUniformAccess,
    /// 404 `notFound`.
    NotFound,
    /// 412 `conditionNotMet`: `ifGenerationMatch` / `ifMetagenerationMatch` did not hold.
    PreconditionFailed,
    /// 400 `invalid`: a malformed request.
    Invalid,
    /// 429 `rateLimitExceeded`. Retryable.
    TooManyRequests,
    /// 503 `backendError`. Retryable.
    Unavailable,
}

impl StorageError {
    /// Every documented error, for table tests.
    pub const ALL: [StorageError; 8] = [
        StorageError::Unauthenticated,
        StorageError::Forbidden,
        StorageError::FederatedPrincipalNeedsUniformAccess,
        StorageError::NotFound,
        StorageError::PreconditionFailed,
        StorageError::Invalid,
        StorageError::TooManyRequests,
        StorageError::Unavailable,
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            StorageError::Unauthenticated => 401,
            StorageError::Forbidden | StorageError::FederatedPrincipalNeedsUniformAccess => 403,
            StorageError::NotFound => 404,
            StorageError::PreconditionFailed => 412,
            StorageError::Invalid => 400,
            StorageError::TooManyRequests => 429,
            StorageError::Unavailable => 503,
        }
    }

    /// The `errors[].reason`.
    pub fn reason(self) -> &'static str {
        match self {
            StorageError::Unauthenticated => "required",
            StorageError::Forbidden | StorageError::FederatedPrincipalNeedsUniformAccess => {
                "forbidden"
            }
            StorageError::NotFound => "notFound",
            StorageError::PreconditionFailed => "conditionNotMet",
            StorageError::Invalid => "invalid",
            StorageError::TooManyRequests => "rateLimitExceeded",
            StorageError::Unavailable => "backendError",
        }
    }

    /// The `message`, in Cloud Storage's words.
    pub fn message(self) -> &'static str {
        match self {
            StorageError::Unauthenticated => {
                "Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object."
            }
            StorageError::Forbidden => {
                "writer@my-project.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist)."
            }
            StorageError::FederatedPrincipalNeedsUniformAccess => {
                "principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/pool/subject/workload does not have storage.objects.list access to the Google Cloud Storage bucket."
            }
            StorageError::NotFound => "No such object: my-bucket/reports/missing.csv",
            StorageError::PreconditionFailed => {
                "At least one of the pre-conditions you specified did not hold."
            }
            StorageError::Invalid => "Invalid argument.",
            StorageError::TooManyRequests => {
                "The rate of change requests to the object my-bucket/hot.txt exceeds the rate limit. Please reduce the rate of create, update, and delete requests."
            }
            StorageError::Unavailable => "Backend Error",
        }
    }

    /// The whole answer.
    pub fn response(self) -> ResponseTemplate {
        ResponseTemplate::new(self.status()).set_body_json(json!({"error": {
            "code": self.status(),
            "message": self.message(),
            "errors": [{"message": self.message(), "domain": "global", "reason": self.reason()}],
        }}))
    }
}

impl Respond for StorageError {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.response()
    }
}

/// Plays Cloud Storage's JSON API over objects kept in memory (every bucket exists): uploads
/// of every kind store, reads, listings and deletes see what is stored. Requires a bearer token
/// unless [`anonymous`](Self::anonymous). Steps play in the order added:
///
/// ```
/// use wif_storage::testing::{StorageError, StorageResponder};
///
/// let gcs = StorageResponder::new()
///     .with_object("my-bucket", "reports/a.csv", b"id\n1\n")
///     .flaky(1)                                       // one 503 first
///     .failing_first(1, StorageError::Forbidden);     // then one 403
/// # let _ = gcs;
/// ```
#[derive(Clone)]
pub struct StorageResponder {
    pub(crate) store: Store,
    script: Scripted,
}

impl StorageResponder {
    /// An empty store.
    pub fn new() -> Self {
        let store = Store::default();
        StorageResponder {
            script: Scripted::new(store.clone()),
            store,
        }
    }

    /// Answers every request with `error`.
    pub fn error(error: StorageError) -> Self {
        StorageResponder::new().failing_first(u64::MAX, error)
    }

    /// The first request is refused with 401, as for a token that expired early at Google;
    /// the client drops its token and asks again.
    pub fn expired_then_valid() -> Self {
        StorageResponder::new().failing_first(1, StorageError::Unauthenticated)
    }

    /// Stores `data` as `bucket/name` (content type `application/octet-stream`).
    pub fn with_object(self, bucket: &str, name: &str, data: &[u8]) -> Self {
        self.store
            .put(bucket, name, data.to_vec(), "application/octet-stream");
        self
    }

    /// Takes requests without a bearer token, as an emulator does.
    pub fn anonymous(mut self) -> Self {
        self.store.anonymous = true;
        self.script = self.script.answering(self.store.clone());
        self
    }

    wif_core::scripted_turns!(StorageError, flaky: StorageError::Unavailable);

    /// The data stored as `bucket/name`, if any.
    pub fn object_data(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        self.store.get(bucket, name).map(|o| o.data)
    }
}

impl Default for StorageResponder {
    fn default() -> Self {
        StorageResponder::new()
    }
}

wif_core::scripted_respond!(StorageResponder);

impl fmt::Debug for StorageResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageResponder")
            .field("anonymous", &self.store.anonymous)
            .field("script", &self.script)
            .finish_non_exhaustive()
    }
}
