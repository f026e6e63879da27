//! The emulator's own control API under `/_emulator/`: fault plans, request counters, health,
//! token expiry and a description of the emulated world (no secrets), for tests and for clients
//! in other languages.
//!
//! | route | does |
//! |---|---|
//! | `GET /_emulator/health` | `ok` |
//! | `POST /_emulator/faults` | `{"endpoint":"google-sts","fail_next":2,"status":503,"retry_after":1}`; also `latency`/`slow_body` (ms), `reset_next` |
//! | `DELETE /_emulator/faults` | clears every plan |
//! | `DELETE /_emulator/faults/{endpoint}` | clears one endpoint's plan |
//! | `GET /_emulator/counters` | requests per endpoint |
//! | `POST /_emulator/tokens/expire` | expires every issued token (clients must refresh on 401) |
//! | `GET /_emulator/world` | audiences, pool, service accounts, AWS role ARN |
//! | `GET /_emulator/tokeninfo` | who the `Authorization: Bearer` token is (401 if expired or foreign) |
//! | `GET /_emulator/oidc-token?sub=&aud=&lifetime=` | a test OIDC token (see the `oidc` module) |
//! | `GET`/`POST /_emulator/aws/outbound-federation` | `{"enabled": bool}`: the AWS account's outbound identity federation (`GetWebIdentityToken`) |

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use crate::Endpoint;
use crate::faults::Fault;
use crate::state::{State, TokenKind};

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/_emulator/health", get(|| async { "ok" }))
        .route("/_emulator/faults", post(set_fault).delete(clear_faults))
        .route("/_emulator/faults/{endpoint}", delete(clear_fault))
        .route("/_emulator/counters", get(counters))
        .route("/_emulator/tokens/expire", post(expire_tokens))
        .route("/_emulator/world", get(world))
        .route("/_emulator/tokeninfo", get(tokeninfo))
        .route(
            "/_emulator/aws/outbound-federation",
            get(outbound_federation).post(set_outbound_federation),
        )
}

/// `{"endpoint": "iam", …Fault fields}`. Parsed in two steps because serde's `flatten` would
/// swallow unknown keys, and a misspelt fault field must be an error, not a silent no-op.
async fn set_fault(
    AxState(state): AxState<Arc<State>>,
    Json(mut body): Json<serde_json::Value>,
) -> Response {
    let Some(name) = body
        .as_object_mut()
        .and_then(|o| o.remove("endpoint"))
        .and_then(|e| e.as_str().map(str::to_owned))
    else {
        return (StatusCode::BAD_REQUEST, "`endpoint` (a string) is required").into_response();
    };
    let Some(endpoint) = Endpoint::from_name(&name) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("unknown endpoint `{name}`"),
        )
            .into_response();
    };
    match serde_json::from_value::<Fault>(body) {
        Ok(fault) => {
            state.faults.set(endpoint, fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("bad fault: {e}")).into_response(),
    }
}

async fn clear_faults(AxState(state): AxState<Arc<State>>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

async fn counters(AxState(state): AxState<Arc<State>>) -> Json<serde_json::Value> {
    let mut out = serde_json::Map::new();
    for e in Endpoint::SERVICES {
        out.insert(e.name().to_owned(), state.requests(e).into());
    }
    Json(out.into())
}

async fn clear_fault(AxState(state): AxState<Arc<State>>, Path(name): Path<String>) -> Response {
    match Endpoint::from_name(&name) {
        Some(endpoint) => {
            state.faults.set(endpoint, Fault::none());
            StatusCode::NO_CONTENT.into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            format!("unknown endpoint `{name}`"),
        )
            .into_response(),
    }
}

async fn expire_tokens(AxState(state): AxState<Arc<State>>) -> StatusCode {
    state.expire_all_tokens();
    StatusCode::NO_CONTENT
}

/// What a client needs to address the emulated world; never a credential.
async fn world(AxState(state): AxState<Arc<State>>) -> Json<serde_json::Value> {
    let c = &state.config;
    Json(serde_json::json!({
        "project_id": c.project_id,
        "project_number": c.project_number,
        "pool": c.pool,
        "aws_audience": c.aws_audience(),
        "oidc_audience": c.oidc_audience(),
        "x509_audience": c.x509_audience(),
        "aws_jwt_audience": c.aws_jwt_audience(),
        "aws_jwt_allowed_audience": c.aws_jwt_allowed_audience(),
        "aws_jwt_issuer": c.aws_jwt_issuer(),
        "oidc_issuer": crate::oidc::ISSUER,
        "aws_role_arn": c.aws.role_arn(),
        "aws_assumed_role_arn": c.aws.assumed_role_arn(),
        "aws_region": c.aws.region,
        "service_accounts": c.service_accounts.iter().map(|sa| sa.email.as_str()).collect::<Vec<_>>(),
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFederation {
    enabled: bool,
}

async fn outbound_federation(AxState(state): AxState<Arc<State>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "enabled": state.outbound_web_identity_federation() }))
}

async fn set_outbound_federation(
    AxState(state): AxState<Arc<State>>,
    Json(body): Json<OutboundFederation>,
) -> StatusCode {
    state.set_outbound_web_identity_federation(body.enabled);
    StatusCode::NO_CONTENT
}

/// The emulator's tokeninfo: the same bearer check every emulated Google API makes, answering
/// who the token is for. A client in any language can prove its token is accepted with it.
async fn tokeninfo(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    match state.authorize(&headers, &[TokenKind::Federated, TokenKind::ServiceAccount]) {
        Ok(issued) => {
            let expires_in = issued
                .expires_at
                .duration_since(std::time::SystemTime::now())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let kind = match issued.kind {
                TokenKind::Federated => "federated",
                TokenKind::ServiceAccount => "service_account",
            };
            Json(serde_json::json!({
                "kind": kind,
                "principal": issued.principal,
                "scopes": issued.scopes,
                "expires_in": expires_in,
            }))
            .into_response()
        }
        Err(response) => response,
    }
}
