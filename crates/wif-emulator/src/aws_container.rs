//! AWS container credentials: the endpoint an ECS task's role and an EKS pod's Pod Identity
//! association are served from (`docs/protocol.md#container-credentials`).
//!
//! | path | plays | the workload's environment |
//! |---|---|---|
//! | `GET /ecs/v2/credentials/{id}` | ECS's agent at `169.254.170.2` | `AWS_CONTAINER_CREDENTIALS_FULL_URI` (on ECS, `_RELATIVE_URI=/v2/credentials/{id}`) |
//! | `GET /eks/v1/credentials` | EKS Pod Identity's agent at `169.254.170.23` | `AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` |
//!
//! Both answer the emulated role's temporary credentials as the agents do:
//! `{"AccessKeyId","SecretAccessKey","Token","Expiration"}`, ECS with the `RoleArn`, Pod Identity
//! with the `AccountId`. The Pod Identity agent requires `Authorization` to be the pod's
//! service-account token ([`State::pod_identity_token`]); without it, or with another, it answers
//! `400`/`401` with `{"code","message"}` as the agent does, and never echoes what it got.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::state::State;

/// The path of the emulated ECS agent's credentials (`{id}` is any task credentials id).
pub const ECS_PATH: &str = "/ecs/v2/credentials/";
/// The path of the emulated EKS Pod Identity agent's credentials.
pub const POD_IDENTITY_PATH: &str = "/eks/v1/credentials";

/// How long the credentials the agents hand out stay valid (ECS and EKS give about 6 hours).
const CREDENTIALS_VALIDITY: Duration = Duration::from_secs(6 * 3600);

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/ecs/v2/credentials/{id}", get(ecs))
        .route(POD_IDENTITY_PATH, get(pod_identity))
}

async fn ecs(AxState(state): AxState<Arc<State>>, Path(_id): Path<String>) -> Response {
    let aws = &state.config.aws;
    let mut body = credentials(&state);
    body["RoleArn"] = aws.iam_role_arn().into();
    axum::Json(body).into_response()
}

async fn pod_identity(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    let Some(given) = headers.get(header::AUTHORIZATION) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            "Authorization header is missing",
        );
    };
    if given.as_bytes() != state.pod_identity_token().as_bytes() {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "AccessDeniedException",
            "The service account token is invalid or expired",
        );
    }
    let mut body = credentials(&state);
    body["AccountId"] = state.config.aws.account.clone().into();
    axum::Json(body).into_response()
}

fn credentials(state: &State) -> serde_json::Value {
    let aws = &state.config.aws;
    let expires_at = aws
        .session_expires_at
        .unwrap_or_else(|| SystemTime::now() + CREDENTIALS_VALIDITY);
    serde_json::json!({
        "AccessKeyId": aws.access_key_id,
        "SecretAccessKey": aws.secret_access_key,
        "Token": aws.session_token,
        "Expiration": rfc3339(expires_at),
    })
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"code": code, "message": message})),
    )
        .into_response()
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from(t).format(format).unwrap_or_default()
}
