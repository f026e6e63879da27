//! Container credentials: an ECS task's role (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` at
//! `169.254.170.2`) and EKS Pod Identity (`AWS_CONTAINER_CREDENTIALS_FULL_URI` at
//! `169.254.170.23`, with the authorization token of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`)
//! (`docs/protocol.md#container-credentials`).
//!
//! One `GET`, answered with `{"AccessKeyId","SecretAccessKey","Token","Expiration"}` (ECS adds
//! `RoleArn`). The endpoint was checked when the chain chose it ([`crate::chain`]); the token
//! file is read on every call (EKS rotates it), bounded and refusing anything but a regular file.
//! The metadata client is used: short connect timeout, and no proxy, which could not reach a
//! link-local address anyway.
//!
//! Why not aws-config's `EcsCredentialsProvider`: it reads the process environment only (it
//! cannot be given the injected [`Environment`]), and reads the token file whole with a
//! blocking read.

use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wif_core::http::{describe_url, send};
use wif_core::local_file::{self, MAX_LOCAL_FILE_BYTES};
use wif_core::{Environment, Error, ErrorKind, Redactor, RetryPolicy, ServerError, Step};

use crate::causes;
use crate::chain::{
    CONTAINER_AUTHORIZATION_TOKEN, CONTAINER_AUTHORIZATION_TOKEN_FILE, ContainerAuthorization,
    ContainerSettings,
};
use crate::credentials::{AwsCredentials, Expiring, unreadable_answer, unusable_file};

/// Timeout of each call (the SDKs read for 5 s).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the container credentials endpoint for the task's or pod's credentials: retried on
/// 429 and 5xx, not on a connection that never opened (the agent is not there).
pub(crate) async fn credentials(
    settings: &ContainerSettings,
    env: &dyn Environment,
    http: &reqwest::Client,
    retry: &RetryPolicy,
) -> Result<Expiring, Error> {
    let authorization = authorization(settings, env).await?;
    let mut redactor = Redactor::new();
    if let Some(token) = &authorization {
        redactor.add(token.expose_secret());
    }
    let what = format!(
        "GET {} (container credentials, from {})",
        describe_url(&settings.url),
        settings.from
    );
    let header = match &authorization {
        Some(token) => {
            let mut value = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                Error::new(
                    Step::Source,
                    ErrorKind::InvalidConfig,
                    "the container authorization token is not a valid HTTP header value",
                )
                .with_known_cause(&causes::CONTAINER_CREDENTIALS_REFUSED)
            })?;
            value.set_sensitive(true);
            Some(value)
        }
        None => None,
    };
    let expiring = retry
        .run(Step::Source, &what, |_| {
            let mut request = http.get(settings.url.clone()).timeout(REQUEST_TIMEOUT);
            if let Some(value) = &header {
                request = request.header(AUTHORIZATION, value.clone());
            }
            let (what, redactor) = (&what, &redactor);
            async move {
                let answer = async {
                    let response = send(Step::Source, what, request)
                        .await
                        .map_err(|e| unreachable(settings, e))?;
                    if !response.is_success() {
                        return Err(refused(what, &response));
                    }
                    read_answer(&response.body).map_err(|problem| unreadable_answer(what, &problem))
                };
                answer.await.map_err(|e| e.redact(redactor))
            }
        })
        .await?;
    tracing::debug!(
        endpoint = %describe_url(&settings.url),
        pod_identity = settings.is_pod_identity(),
        role = expiring.role_arn.as_deref().unwrap_or("-"),
        expires_at = ?expiring.expires_at,
        "got container credentials"
    );
    Ok(expiring)
}

/// The `Authorization` value: the token file's content (trimmed), else the variable's.
async fn authorization(
    settings: &ContainerSettings,
    env: &dyn Environment,
) -> Result<Option<SecretString>, Error> {
    let unreadable = |problem: String| {
        unusable_file(
            CONTAINER_AUTHORIZATION_TOKEN_FILE,
            &causes::CONTAINER_CREDENTIALS_REFUSED,
            problem,
        )
    };
    match &settings.authorization {
        ContainerAuthorization::None => Ok(None),
        ContainerAuthorization::Token => Ok(env
            .non_empty_var(CONTAINER_AUTHORIZATION_TOKEN)
            .map(|t| SecretString::from(t.trim().to_owned()))),
        ContainerAuthorization::TokenFile(path) => {
            let bytes = local_file::read_bounded_async(
                path.clone(),
                MAX_LOCAL_FILE_BYTES,
                "container authorization token file",
            )
            .await
            .map_err(|e| unreadable(e.to_string()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| unreadable(format!("{} is not UTF-8 text", path.display())))?;
            let token = text.trim();
            if token.is_empty() {
                return Err(unreadable(format!("{} is empty", path.display())));
            }
            Ok(Some(SecretString::from(token.to_owned())))
        }
    }
}

/// A call that got no answer. Not retried when the connection never opened: the endpoint is
/// not there, and waiting will not bring it.
fn unreachable(settings: &ContainerSettings, err: Error) -> Error {
    if err.kind() != ErrorKind::Transport && err.kind() != ErrorKind::Timeout {
        return err;
    }
    let (cause, what) = if settings.is_pod_identity() {
        (
            &causes::POD_IDENTITY_AGENT_UNREACHABLE,
            "the EKS Pod Identity agent did not answer",
        )
    } else {
        (
            &causes::CONTAINER_CREDENTIALS_UNREACHABLE,
            "the container credentials endpoint did not answer",
        )
    };
    err.context(what).retryable(false).with_known_cause(cause)
}

/// A refusal: the agents answer `{"code","message"}` (kept as the server's words); 429 and
/// 5xx stay retryable.
fn refused(what: &str, response: &wif_core::http::Response) -> Error {
    #[derive(Deserialize)]
    struct Refusal {
        #[serde(alias = "Code")]
        code: Option<String>,
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let words = serde_json::from_slice::<Refusal>(&response.body)
        .ok()
        .filter(|r| r.code.is_some() || r.message.is_some());
    let err = match words {
        Some(r) => Error::http_with_server_error(
            Step::Source,
            response.status,
            ServerError::new(r.code, r.message),
        ),
        None => Error::http(Step::Source, response.status, &response.body),
    }
    .context(what);
    if (400..500).contains(&response.status) && response.status != 429 && response.status != 408 {
        err.with_known_cause(&causes::CONTAINER_CREDENTIALS_REFUSED)
    } else {
        err
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "AccessKeyId")]
    access_key_id: Option<String>,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: Option<SecretString>,
    #[serde(rename = "Token")]
    token: Option<SecretString>,
    #[serde(rename = "Expiration")]
    expiration: Option<String>,
    #[serde(rename = "RoleArn")]
    role_arn: Option<String>,
}

/// The credentials document. Problems are described by position, never quoted.
pub(crate) fn read_answer(body: &[u8]) -> Result<Expiring, String> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        format!(
            "is not the credentials JSON object (error at line {} column {})",
            e.line(),
            e.column()
        )
    })?;
    let access_key_id = answer
        .access_key_id
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or("has no AccessKeyId")?;
    let secret = answer
        .secret_access_key
        .filter(|s| !s.expose_secret().is_empty())
        .ok_or("has no SecretAccessKey")?;
    let expires_at = match answer.expiration {
        Some(text) => Some(
            OffsetDateTime::parse(&text, &Rfc3339)
                .map(SystemTime::from)
                .map_err(|_| "has an Expiration that is not an RFC 3339 time".to_owned())?,
        ),
        None => None,
    };
    Ok(Expiring {
        credentials: AwsCredentials::new(
            access_key_id,
            secret.expose_secret(),
            answer.token.map(|t| t.expose_secret().to_owned()),
        ),
        expires_at,
        role_arn: answer.role_arn.filter(|a| a.starts_with("arn:")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ecs_and_pod_identity_answers() {
        let ecs = br#"{"RoleArn":"arn:aws:iam::123456789012:role/task","AccessKeyId":"ASIAECS","SecretAccessKey":"ecs-secret","Token":"ecs-session","Expiration":"2026-11-28T20:05:00Z"}"#;
        let got = read_answer(ecs).expect("reads");
        assert_eq!(got.credentials.access_key_id(), "ASIAECS");
        assert_eq!(
            got.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/task")
        );
        assert_eq!(
            got.expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_896_300))
        );
        let eks = br#"{"AccessKeyId":"ASIAEKS","SecretAccessKey":"eks-secret","Token":"eks-session","AccountId":"123456789012","Expiration":"2026-11-28T20:05:00Z"}"#;
        let got = read_answer(eks).expect("reads");
        assert_eq!(got.credentials.access_key_id(), "ASIAEKS");
        assert_eq!(got.role_arn, None);
    }

    #[test]
    fn bad_answers_quote_no_secret() {
        for (body, says) in [
            (
                &br#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t""#[..],
                "line 1",
            ),
            (br#"{"SecretAccessKey":"s3cr3t"}"#, "no AccessKeyId"),
            (
                br#"{"AccessKeyId":"A s3cr3t","SecretAccessKey":"s3cr3t"}"#,
                "no AccessKeyId",
            ),
            (
                br#"{"AccessKeyId":"A","SecretAccessKey":""}"#,
                "no SecretAccessKey",
            ),
            (
                br#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t","Expiration":"soon s3cr3t"}"#,
                "RFC 3339",
            ),
        ] {
            let err = read_answer(body)
                .err()
                .unwrap_or_else(|| panic!("{says}: accepted"));
            assert!(err.contains(says), "want {says:?}: {err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }
}
