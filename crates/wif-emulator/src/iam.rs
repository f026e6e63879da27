//! IAM Credentials `generateAccessToken`: the impersonation step. A federated token from the
//! emulator's Google STS buys a service-account token, if the federated principal (or one of the
//! principal sets it belongs to) holds `roles/iam.workloadIdentityUser` on the service account.
//!
//! `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken` with
//! `{"scope": [...], "lifetime": "3600s", "delegates": [...]}` answers
//! `{"accessToken": "...", "expireTime": "2026-01-01T01:00:00Z"}`. Errors are google.rpc statuses
//! with the real service's words.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::config::ServiceAccount;
use crate::state::{State, TokenKind};

/// The permission `generateAccessToken` checks on the service account.
const GET_ACCESS_TOKEN: &str = "iam.serviceAccounts.getAccessToken";

/// Lifetime when the request names none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

pub(crate) fn routes() -> Router<Arc<State>> {
    // axum captures whole segments only, so `{email}:generateAccessToken` is split by hand.
    Router::new().route(
        "/v1/projects/{project}/serviceAccounts/{target}",
        post(generate),
    )
}

/// The request body. Python google-auth sends `"delegates": null` and possibly `"scope": null`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateRequest {
    #[serde(default)]
    scope: Option<Vec<String>>,
    #[serde(default)]
    lifetime: Option<String>,
    #[serde(default)]
    delegates: Option<Vec<String>>,
}

async fn generate(
    AxState(state): AxState<Arc<State>>,
    Path((_project, target)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let email = match target.rsplit_once(':') {
        Some((email, "generateAccessToken")) => email,
        Some((email, "signBlob")) => return sign_blob(&state, email, &headers, &body),
        _ => return not_found_method(&target),
    };
    let caller = match state.authorize(&headers, &[TokenKind::Federated]) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Some(account) = find_account(&state, email) else {
        return rpc(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("Not found; Gaia id not found for email {email}"),
            serde_json::Value::Null,
        );
    };
    let allowed = account
        .workload_identity_users
        .iter()
        .any(|member| *member == caller.principal || caller.principal_sets.contains(member));
    if !allowed {
        tracing::info!(principal = %caller.principal, service_account = email, "impersonation denied");
        return permission_denied(email);
    }
    let request: GenerateRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return invalid_argument(
                &format!("Invalid JSON payload received. {e}"),
                "",
                "the body is not a GenerateAccessTokenRequest",
            );
        }
    };
    for delegate in request.delegates.iter().flatten() {
        // Delegates are `projects/-/serviceAccounts/{email}`; each must exist.
        let delegate_email = delegate.rsplit('/').next().unwrap_or(delegate);
        if find_account(&state, delegate_email).is_none() {
            return rpc(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("Not found; Gaia id not found for email {delegate_email}"),
                serde_json::Value::Null,
            );
        }
    }
    let scopes: Vec<String> = request.scope.unwrap_or_default();
    if scopes.is_empty() || scopes.iter().any(|s| s.trim().is_empty()) {
        return invalid_argument(
            "Request contains an invalid argument.",
            "scope",
            "at least one non-empty scope is required",
        );
    }
    let lifetime = match request.lifetime.as_deref().map(parse_duration) {
        None => DEFAULT_LIFETIME,
        Some(Some(lifetime)) => lifetime,
        Some(None) => {
            return invalid_argument(
                "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration)",
                "lifetime",
                "not a duration such as \"3600s\"",
            );
        }
    };
    let max = state.config.max_token_lifetime;
    if lifetime < Duration::from_secs(1) || lifetime > max {
        return invalid_argument(
            "Request contains an invalid argument.",
            "lifetime",
            &format!(
                "the lifetime must be between 1s and {}s (more than 3600s needs the org policy \
                 constraints/iam.allowServiceAccountCredentialLifetimeExtension)",
                max.as_secs()
            ),
        );
    }
    let lifetime = state.config.issued_token_lifetime.unwrap_or(lifetime);
    let (token, issued) = state.issue(
        TokenKind::ServiceAccount,
        account.email.clone(),
        Vec::new(),
        scopes,
        lifetime,
    );
    let expire_time = OffsetDateTime::from(issued.expires_at)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    Json(serde_json::json!({ "accessToken": token, "expireTime": expire_time })).into_response()
}

/// The permission `signBlob` checks on the service account.
const SIGN_BLOB: &str = "iam.serviceAccounts.signBlob";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBlobRequest {
    payload: String,
    #[serde(default)]
    delegates: Option<Vec<String>>,
}

/// `signBlob`: the payload signed with the emulator's key (RSA PKCS#1 v1.5 SHA-256). The caller
/// is the service account itself (its own token: Google requires
/// `roles/iam.serviceAccountTokenCreator` on itself, which the emulator grants every service
/// account), or a federated principal holding `roles/iam.workloadIdentityUser` on it.
fn sign_blob(state: &State, email: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let caller = match state.authorize(headers, &[TokenKind::Federated, TokenKind::ServiceAccount])
    {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Some(account) = find_account(state, email) else {
        return rpc(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("Not found; Gaia id not found for email {email}"),
            serde_json::Value::Null,
        );
    };
    let allowed = match caller.kind {
        TokenKind::ServiceAccount => caller.principal.eq_ignore_ascii_case(&account.email),
        TokenKind::Federated => account
            .workload_identity_users
            .iter()
            .any(|member| *member == caller.principal || caller.principal_sets.contains(member)),
    };
    if !allowed {
        return iam_permission_denied(SIGN_BLOB);
    }
    let request: SignBlobRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            return invalid_argument(
                &format!("Invalid JSON payload received. {e}"),
                "payload",
                "the body is not a SignBlobRequest",
            );
        }
    };
    let _ = request.delegates;
    let Ok(payload) = base64::engine::general_purpose::STANDARD.decode(request.payload.as_bytes())
    else {
        return invalid_argument(
            "Invalid value at 'payload' (TYPE_BYTES), Base64 decoding failed",
            "payload",
            "not base64",
        );
    };
    match crate::signing_key::sign(&payload) {
        Some(signature) => Json(serde_json::json!({
            "keyId": crate::signing_key::KEY_ID,
            "signedBlob": base64::engine::general_purpose::STANDARD.encode(signature),
        }))
        .into_response(),
        None => rpc(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the emulator's signing key did not load",
            serde_json::Value::Null,
        ),
    }
}

fn find_account<'a>(state: &'a State, email: &str) -> Option<&'a ServiceAccount> {
    state
        .config
        .service_accounts
        .iter()
        .find(|sa| sa.email.eq_ignore_ascii_case(email))
}

/// A protobuf JSON duration: `"3600s"`, `"1.5s"`.
fn parse_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(Duration::new(secs, nanos))
}

fn rpc(code: StatusCode, status: &str, message: &str, details: serde_json::Value) -> Response {
    let mut error =
        serde_json::json!({"code": code.as_u16(), "message": message, "status": status});
    if !details.is_null() {
        error["details"] = details;
    }
    (code, Json(serde_json::json!({ "error": error }))).into_response()
}

fn permission_denied(email: &str) -> Response {
    tracing::debug!(
        service_account = email,
        "no workloadIdentityUser binding matches"
    );
    iam_permission_denied(GET_ACCESS_TOKEN)
}

/// IAM's 403 for a caller without `permission` on the service account.
fn iam_permission_denied(permission: &str) -> Response {
    rpc(
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        &format!("Permission '{permission}' denied on resource (or it may not exist)."),
        serde_json::json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": { "permission": permission },
        }]),
    )
}

fn invalid_argument(message: &str, field: &str, description: &str) -> Response {
    rpc(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        message,
        serde_json::json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{ "field": field, "description": description }],
        }]),
    )
}

fn not_found_method(target: &str) -> Response {
    let method = target.rsplit_once(':').map_or("", |(_, m)| m);
    rpc(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!(
            "The emulator does not implement serviceAccounts method `{method}`; only generateAccessToken."
        ),
        serde_json::Value::Null,
    )
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn protobuf_durations_parse() {
        for (text, want) in [
            ("3600s", Some(Duration::from_secs(3600))),
            ("1s", Some(Duration::from_secs(1))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("0.000000001s", Some(Duration::from_nanos(1))),
            ("3600", None),
            ("s", None),
            ("-1s", None),
            ("1.s", Some(Duration::from_secs(1))),
            (".5s", None),
            ("1e3s", None),
            ("1.0000000001s", None),
            ("99999999999999999999999s", None),
        ] {
            assert_eq!(parse_duration(text), want, "{text}");
        }
    }
}
