//! The chain's source step on EC2: the AWS instance metadata service (IMDS) at `/latest/…`, v1 and
//! v2 (`docs/protocol.md#aws-region` to `#imdsv1-and-imdsv2`), where the AWS source finds its
//! region and the role's temporary credentials.
//!
//! - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..=21600` answers a
//!   session token and echoes the TTL header; a missing or out-of-range TTL is 400, as on EC2.
//! - `GET /latest/meta-data/placement/availability-zone` → `{region}a`;
//!   `…/placement/region` → `{region}`.
//! - `GET /latest/meta-data/iam/security-credentials[/]` → the role name;
//!   `…/security-credentials/{role}` → EC2's credentials JSON.
//!
//! A GET carrying `X-aws-ec2-metadata-token` must carry a live token of this emulator (401
//! otherwise, even in v1 mode, as EC2 does); with [`crate::EmulatorConfig::imdsv2_required`],
//! tokenless GETs get 401 too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::state::{State, lock};

const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const MAX_TTL_SECONDS: u64 = 21_600;
/// How long the served role credentials claim to be valid (EC2 rotates them hours ahead).
const CREDENTIALS_VALIDITY: Duration = Duration::from_secs(6 * 3600);

/// Live IMDSv2 session tokens and their expiry.
#[derive(Default)]
pub(crate) struct Sessions(Mutex<HashMap<String, SystemTime>>);

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Session tokens are credentials of the metadata service: count only.
        write!(f, "Sessions({} live)", lock(&self.0).len())
    }
}

impl Sessions {
    fn open(&self, ttl: Duration) -> String {
        let token = format!(
            "AQAEAemu{:016x}{:016x}==",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let now = SystemTime::now();
        let mut sessions = lock(&self.0);
        sessions.retain(|_, expiry| *expiry > now);
        sessions.insert(token.clone(), now + ttl);
        token
    }

    fn is_live(&self, token: &str) -> bool {
        lock(&self.0)
            .get(token)
            .is_some_and(|expiry| *expiry > SystemTime::now())
    }
}

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/latest/api/token", put(session_token))
        .route(
            "/latest/meta-data/placement/availability-zone",
            get(availability_zone),
        )
        .route("/latest/meta-data/placement/region", get(region))
        .route("/latest/meta-data/iam/security-credentials", get(role_name))
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(role_name),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/{role}",
            get(role_credentials),
        )
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

fn unauthorized() -> Response {
    text(StatusCode::UNAUTHORIZED, "401 - Unauthorized".into())
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 - Not Found".into())
}

async fn session_token(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    let ttl = headers
        .get(TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ttl| (1..=MAX_TTL_SECONDS).contains(ttl));
    let Some(ttl) = ttl else {
        return text(StatusCode::BAD_REQUEST, "400 - Bad Request".into());
    };
    let token = state.imds_sessions.open(Duration::from_secs(ttl));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain".to_owned()),
            (header::HeaderName::from_static(TTL_HEADER), ttl.to_string()),
        ],
        token,
    )
        .into_response()
}

/// The IMDSv2 rule: a presented token must be live; no token is fine unless v2 is required.
/// `Some` is the refusal.
fn refuse_session(state: &State, headers: &HeaderMap) -> Option<Response> {
    match headers
        .get(TOKEN_HEADER)
        .map(|v| v.to_str().unwrap_or_default())
    {
        Some(token) if state.imds_sessions.is_live(token) => None,
        Some(_) => Some(unauthorized()),
        None if state.config.imdsv2_required => Some(unauthorized()),
        None => None,
    }
}

async fn availability_zone(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse_session(&state, &headers) {
        return r;
    }
    text(StatusCode::OK, format!("{}a", state.config.aws.region))
}

async fn region(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse_session(&state, &headers) {
        return r;
    }
    text(StatusCode::OK, state.config.aws.region.clone())
}

async fn role_name(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse_session(&state, &headers) {
        return r;
    }
    text(StatusCode::OK, state.config.aws.role.clone())
}

async fn role_credentials(
    AxState(state): AxState<Arc<State>>,
    Path(role): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refuse_session(&state, &headers) {
        return r;
    }
    let aws = &state.config.aws;
    if role != aws.role {
        return not_found();
    }
    let now = SystemTime::now();
    // EC2 pretty-prints this document; clients must not care, so neither do we.
    let body = serde_json::json!({
        "Code": "Success",
        "LastUpdated": rfc3339(now),
        "Type": "AWS-HMAC",
        "AccessKeyId": aws.access_key_id,
        "SecretAccessKey": aws.secret_access_key,
        "Token": aws.session_token,
        "Expiration": rfc3339(aws.session_expires_at.unwrap_or(now + CREDENTIALS_VALIDITY)),
    });
    text(
        StatusCode::OK,
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
}

fn rfc3339(t: SystemTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from(t).format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_never_show_in_debug() {
        let sessions = Sessions::default();
        let live = sessions.open(Duration::from_secs(60));
        assert!(live.starts_with("AQAEA"));
        assert!(sessions.is_live(&live));
        assert!(!sessions.is_live("AQAEAforged"));
        let dead = sessions.open(Duration::ZERO);
        assert!(!sessions.is_live(&dead));
        let debug = format!("{sessions:?}");
        assert!(!debug.contains(&live), "{debug}");
    }

    #[test]
    fn timestamps_are_ec2_style() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_597_128_922);
        assert_eq!(rfc3339(t), "2020-08-11T06:55:22Z");
    }
}
