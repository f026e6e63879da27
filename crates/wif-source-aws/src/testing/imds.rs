//! The EC2 instance metadata service played by a wiremock responder: IMDSv1 and v2 (session
//! tokens checked), the availability zone, the instance profile's role and its rotating
//! credentials; the refusals `AwsSource` explains; faults (slow, flaky, expired credentials
//! first); and a recorder of what was asked.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wif_core::testing::{Scripted, header_text};
use wiremock::{Request, Respond, ResponseTemplate};

/// `PUT` here for an IMDSv2 session token.
pub const IMDS_TOKEN_PATH: &str = "/latest/api/token";
/// The availability zone (`region_url`).
pub const IMDS_ZONE_PATH: &str = "/latest/meta-data/placement/availability-zone";
/// The region.
pub const IMDS_REGION_PATH: &str = "/latest/meta-data/placement/region";
/// The instance profile's role name (`url`); its credentials are at `…/{role}`.
pub const IMDS_ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials";
/// The role [`ImdsResponder::new`] lists.
pub const IMDS_ROLE: &str = "wif-test-role";

const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const SESSION_TOKEN_PREFIX: &str = "fake-imdsv2-session-token-";

/// The refusals of the metadata service, and which calls they hit. `AwsSource` explains each
/// (a hint and a cause).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImdsError {
    /// 403 to every call: the endpoint is disabled for the instance (`HttpEndpoint=disabled`).
    Disabled,
    /// 401 to every `GET` without a session token: the instance requires IMDSv2.
    Imdsv2Required,
    /// 401 to every `GET`, token or not: the session token is refused (expired).
    SessionTokenRejected,
    /// 404 to the role listing: no instance profile attached.
    NoRole,
    /// 404 to the role's credentials: the profile was just replaced.
    NoCredentials,
    /// 503 to every call. Retried.
    Unavailable,
}

impl ImdsError {
    /// Every error, for table tests.
    pub const ALL: [ImdsError; 6] = [
        ImdsError::Disabled,
        ImdsError::Imdsv2Required,
        ImdsError::SessionTokenRejected,
        ImdsError::NoRole,
        ImdsError::NoCredentials,
        ImdsError::Unavailable,
    ];

    /// The HTTP status of the refusal.
    pub fn status(self) -> u16 {
        match self {
            ImdsError::Disabled => 403,
            ImdsError::Imdsv2Required | ImdsError::SessionTokenRejected => 401,
            ImdsError::NoRole | ImdsError::NoCredentials => 404,
            ImdsError::Unavailable => 503,
        }
    }

    /// Whether the refusal hits `request` (others are answered as usual).
    fn hits(self, request: &Request) -> bool {
        let get = request.method.as_str() == "GET";
        let path = request.url.path();
        match self {
            ImdsError::Disabled | ImdsError::Unavailable => true,
            ImdsError::Imdsv2Required => get && !request.headers.contains_key(TOKEN_HEADER),
            ImdsError::SessionTokenRejected => get,
            ImdsError::NoRole => get && path.trim_end_matches('/') == IMDS_ROLE_PATH,
            ImdsError::NoCredentials => {
                get && path
                    .strip_prefix(IMDS_ROLE_PATH)
                    .is_some_and(|rest| rest.len() > 1)
            }
        }
    }

    /// IMDS answers refusals in HTML.
    fn response(self) -> ResponseTemplate {
        ResponseTemplate::new(self.status()).set_body_raw(
            format!("<html><body><h1>{}</h1></body></html>", self.status()),
            "text/html",
        )
    }
}

/// A shared responder.
struct Shared(Arc<dyn Respond>);

impl Respond for Shared {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

/// One error, or the usual answer for the calls it does not hit.
struct Refusal {
    error: ImdsError,
    otherwise: Shared,
}

impl Respond for Refusal {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.error.hits(request) {
            self.error.response()
        } else {
            self.otherwise.respond(request)
        }
    }
}

/// Plays the instance metadata service of one EC2 instance. Steps play in the order added;
/// an [`ImdsError`] step answers the calls it hits and lets the others through:
///
/// ```
/// use std::time::Duration;
/// use wif_source_aws::testing::{ImdsError, ImdsResponder};
///
/// let imds = ImdsResponder::new()
///     .zone("eu-west-1b")
///     .require_imdsv2()                       // GETs without a session token: 401
///     .flaky(1)                               // one 503 first
///     .failing_first(2, ImdsError::NoRole)    // then 2 calls where the role listing is 404
///     .slow(Duration::from_millis(50));
/// # let _ = imds;
/// ```
#[derive(Clone)]
pub struct ImdsResponder {
    instance: Instance,
    expired_first: bool,
    steps: Vec<(u64, ImdsError)>,
    delay: Option<Duration>,
    script: Scripted,
}

impl ImdsResponder {
    /// An instance in `us-east-1a` with the role [`IMDS_ROLE`], answering IMDSv1 and v2, whose
    /// credentials (`ASIAFAKEIMDS00000001`, …) change on every read and last six hours.
    pub fn new() -> Self {
        let instance = Instance {
            zone: Arc::from("us-east-1a"),
            role: Arc::from(IMDS_ROLE),
            v2_only: false,
            expired: false,
            counters: Arc::new(Counters::default()),
        };
        ImdsResponder {
            script: Scripted::new(instance.clone()),
            instance,
            expired_first: false,
            steps: Vec::new(),
            delay: None,
        }
    }

    /// Rebuilds the script after a change: settings and steps may come in any order.
    fn rebuilt(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        let usual: Arc<dyn Respond> = if self.expired_first {
            Arc::new(ExpiredOnce {
                expired: Instance {
                    expired: true,
                    ..self.instance.clone()
                },
                valid: self.instance.clone(),
                done: Arc::new(AtomicU64::new(0)),
            })
        } else {
            Arc::new(self.instance.clone())
        };
        let mut script = Scripted::new(Shared(usual.clone()));
        for (n, error) in &self.steps {
            script = script.first(
                *n,
                Refusal {
                    error: *error,
                    otherwise: Shared(usual.clone()),
                },
            );
        }
        if let Some(delay) = self.delay {
            script = script.delayed(delay);
        }
        self.script = script;
        self
    }

    /// The availability zone (the region is the zone without its letter).
    pub fn zone(self, zone: &str) -> Self {
        self.rebuilt(|r| r.instance.zone = Arc::from(zone))
    }

    /// The instance profile's role name.
    pub fn role(self, role: &str) -> Self {
        self.rebuilt(|r| r.instance.role = Arc::from(role))
    }

    /// Answers `GET`s without a valid session token with 401, as an IMDSv2-only instance does.
    pub fn require_imdsv2(self) -> Self {
        self.rebuilt(|r| r.instance.v2_only = true)
    }

    /// Answers every call `error` hits with it.
    pub fn error(error: ImdsError) -> Self {
        ImdsResponder::new().failing_first(u64::MAX, error)
    }

    /// The first credentials read carries an `Expiration` in the past (what an instance serves
    /// just before rotating them); later reads are valid for six hours.
    pub fn expired_then_valid() -> Self {
        ImdsResponder::new().rebuilt(|r| r.expired_first = true)
    }

    /// Answers the next `failures` calls (after the steps added before) with 503.
    pub fn flaky(self, failures: u64) -> Self {
        self.failing_first(failures, ImdsError::Unavailable)
    }

    /// The next `n` calls (after the steps added before) meet `error` where it hits.
    pub fn failing_first(self, n: u64, error: ImdsError) -> Self {
        self.rebuilt(|r| r.steps.push((n, error)))
    }

    /// Sends every answer after `delay` (the source's metadata timeout is short: 3 s by
    /// default).
    pub fn slow(self, delay: Duration) -> Self {
        self.rebuilt(|r| r.delay = Some(delay))
    }

    /// Calls answered so far.
    pub fn answered(&self) -> u64 {
        self.script.answered()
    }

    /// Session tokens issued so far.
    pub fn session_tokens_issued(&self) -> u64 {
        self.instance.counters.session_tokens.load(Ordering::SeqCst)
    }

    /// Credentials handed out so far.
    pub fn credentials_issued(&self) -> u64 {
        self.instance.counters.credentials.load(Ordering::SeqCst)
    }
}

impl Default for ImdsResponder {
    fn default() -> Self {
        ImdsResponder::new()
    }
}

impl Respond for ImdsResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.script.respond(request)
    }
}

impl fmt::Debug for ImdsResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImdsResponder")
            .field("zone", &self.instance.zone)
            .field("role", &self.instance.role)
            .field("imdsv2_only", &self.instance.v2_only)
            .field("credentials_issued", &self.credentials_issued())
            .field("script", &self.script)
            .finish()
    }
}

/// Expired credentials at the first credentials read, whichever call number that is.
struct ExpiredOnce {
    expired: Instance,
    valid: Instance,
    done: Arc<AtomicU64>,
}

impl Respond for ExpiredOnce {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let is_credentials = request.method.as_str() == "GET"
            && request
                .url
                .path()
                .strip_prefix(IMDS_ROLE_PATH)
                .is_some_and(|rest| rest.len() > 1);
        if is_credentials && self.done.fetch_add(1, Ordering::SeqCst) == 0 {
            self.expired.respond(request)
        } else {
            self.valid.respond(request)
        }
    }
}

#[derive(Default)]
struct Counters {
    session_tokens: AtomicU64,
    credentials: AtomicU64,
}

/// The instance: its routes and what they hand out.
#[derive(Clone)]
struct Instance {
    zone: Arc<str>,
    role: Arc<str>,
    v2_only: bool,
    expired: bool,
    counters: Arc<Counters>,
}

impl Instance {
    fn session_token_is_valid(&self, request: &Request) -> bool {
        let issued = self.counters.session_tokens.load(Ordering::SeqCst);
        header_text(request, TOKEN_HEADER)
            .and_then(|t| t.strip_prefix(SESSION_TOKEN_PREFIX)?.parse::<u64>().ok())
            .is_some_and(|n| (1..=issued).contains(&n))
    }

    fn credentials(&self) -> ResponseTemplate {
        let n = self.counters.credentials.fetch_add(1, Ordering::SeqCst) + 1;
        let now = SystemTime::now();
        let expiration = if self.expired {
            now - Duration::from_secs(60)
        } else {
            now + Duration::from_secs(6 * 3600)
        };
        let stamp = |at: SystemTime| {
            OffsetDateTime::from(at)
                .replace_nanosecond(0)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default()
        };
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "Code": "Success",
            "LastUpdated": stamp(now),
            "Type": "AWS-HMAC",
            "AccessKeyId": format!("ASIAFAKEIMDS{n:08}"),
            "SecretAccessKey": format!("fake-imds-secret-access-key-{n}"),
            "Token": format!("fake-imds-session-token-{n}"),
            "Expiration": stamp(expiration),
        }))
    }
}

impl Respond for Instance {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path();
        if request.method.as_str() == "PUT" {
            if path != IMDS_TOKEN_PATH {
                return ResponseTemplate::new(404);
            }
            let ttl = header_text(request, TTL_HEADER).and_then(|t| t.parse::<u32>().ok());
            if !ttl.is_some_and(|t| (1..=21_600).contains(&t)) {
                return ResponseTemplate::new(400);
            }
            let n = self.counters.session_tokens.fetch_add(1, Ordering::SeqCst) + 1;
            return ResponseTemplate::new(200)
                .set_body_string(format!("{SESSION_TOKEN_PREFIX}{n}"));
        }
        if request.method.as_str() != "GET" {
            return ResponseTemplate::new(405);
        }
        let has_token = request.headers.contains_key(TOKEN_HEADER);
        if (self.v2_only || has_token) && !self.session_token_is_valid(request) {
            return ImdsError::Imdsv2Required.response();
        }
        let text = |s: &str| ResponseTemplate::new(200).set_body_string(s.to_owned());
        match path {
            IMDS_ZONE_PATH => text(&self.zone),
            IMDS_REGION_PATH => text(
                self.zone
                    .trim_end_matches(|c: char| c.is_ascii_alphabetic()),
            ),
            _ if path.trim_end_matches('/') == IMDS_ROLE_PATH => text(&self.role),
            _ => match path
                .strip_prefix(IMDS_ROLE_PATH)
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(role) if role == &*self.role => self.credentials(),
                _ => ResponseTemplate::new(404),
            },
        }
    }
}

/// Which metadata call a request was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImdsCall {
    /// `PUT /latest/api/token`, with the TTL it asked for.
    SessionToken {
        /// `X-aws-ec2-metadata-token-ttl-seconds`.
        ttl_seconds: Option<u32>,
    },
    /// The availability zone or the region.
    Region,
    /// The role listing.
    RoleName,
    /// The credentials of `role`.
    Credentials {
        /// The role named in the path.
        role: String,
    },
    /// Anything else.
    Other,
}

/// One metadata call as the fake received it. `Debug` never shows the session token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ImdsRequest {
    /// `GET` or `PUT`.
    pub method: String,
    /// The path.
    pub path: String,
    /// What the call asked for.
    pub call: ImdsCall,
    /// The IMDSv2 session token sent (`X-aws-ec2-metadata-token`).
    pub session_token: Option<SecretString>,
}

impl ImdsRequest {
    /// Decodes any recorded request.
    pub fn parse(request: &Request) -> ImdsRequest {
        let path = request.url.path().to_owned();
        let call = match (request.method.as_str(), path.as_str()) {
            ("PUT", IMDS_TOKEN_PATH) => ImdsCall::SessionToken {
                ttl_seconds: header_text(request, TTL_HEADER).and_then(|t| t.parse().ok()),
            },
            ("GET", IMDS_ZONE_PATH | IMDS_REGION_PATH) => ImdsCall::Region,
            ("GET", p) if p.trim_end_matches('/') == IMDS_ROLE_PATH => ImdsCall::RoleName,
            ("GET", p) => match p
                .strip_prefix(IMDS_ROLE_PATH)
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(role) if !role.is_empty() => ImdsCall::Credentials {
                    role: role.to_owned(),
                },
                _ => ImdsCall::Other,
            },
            _ => ImdsCall::Other,
        };
        ImdsRequest {
            method: request.method.to_string(),
            path,
            call,
            session_token: header_text(request, TOKEN_HEADER).map(SecretString::from),
        }
    }
}
