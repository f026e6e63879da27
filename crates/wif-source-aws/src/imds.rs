//! The EC2 instance metadata service (IMDS): region, role name and role credentials, with the
//! IMDSv2 session token when `imdsv2_session_token_url` is configured
//! (`docs/protocol.md#aws-region` to `#imdsv1-and-imdsv2`).
//!
//! Only reached when the environment (or a credentials provider) cannot answer: Lambda has no
//! metadata service and must never wait on one. Calls have short timeouts and errors that name the
//! likely cause, because "timed out" alone sends people hunting in the wrong place.
//!
//! What does not change between refreshes is remembered ([`Remembered`]): the IMDSv2 session
//! token for most of its TTL, and the instance's role name. A refresh then reads the role's
//! credentials and nothing else (plus a session token once its TTL is nearly spent). A session
//! token the service stops accepting (401) is replaced once; a role name whose credentials are
//! gone (404: the instance profile was replaced) is listed again once.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;
use wif_core::http::{describe_url, send};
use wif_core::{Error, ErrorKind, Redactor, RetryPolicy, Step};

use crate::causes;
use crate::credentials::AwsCredentials;
use crate::region::region_from_zone;

/// TTL of the IMDSv2 session token, as both reference libraries ask for.
const SESSION_TOKEN_TTL_SECONDS: &str = "300";
/// How long a session token is reused: its TTL less a minute, so it is never sent near the end of
/// its life.
const SESSION_TOKEN_REUSE: Duration = Duration::from_secs(240);
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// Connect timeout of the metadata client: the service is link-local, so anything slower means
/// it is not there.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Whole-request timeout of each metadata call.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Which metadata lookup a call is, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    SessionToken,
    Region,
    RoleName,
    Credentials,
}

impl Call {
    fn describe(self) -> &'static str {
        match self {
            Call::SessionToken => "IMDSv2 session token",
            Call::Region => "region",
            Call::RoleName => "IAM role name",
            Call::Credentials => "role credentials",
        }
    }
}

/// The metadata service's HTTP client: the caller's, or the default one built at the first
/// metadata call — a Lambda function, with its credentials in the environment, never pays for
/// building a client (and its TLS root store) it would not use.
#[derive(Clone, Debug, Default)]
pub(crate) struct MetadataClient(Arc<OnceLock<reqwest::Client>>);

impl MetadataClient {
    /// Always `client`.
    pub(crate) fn given(client: reqwest::Client) -> Self {
        MetadataClient(Arc::new(OnceLock::from(client)))
    }

    /// The default client, built when first needed and shared by clones.
    pub(crate) fn lazy() -> Self {
        MetadataClient::default()
    }

    pub(crate) fn get(&self) -> Result<&reqwest::Client, Error> {
        if let Some(client) = self.0.get() {
            return Ok(client);
        }
        let client = default_client()?;
        Ok(self.0.get_or_init(|| client))
    }
}

/// The default metadata client: short connect timeout, and no proxy, because `HTTP_PROXY` would
/// otherwise route the link-local metadata address through a proxy that cannot reach it.
fn default_client() -> Result<reqwest::Client, Error> {
    wif_core::http::client_builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| {
            Error::new(
                Step::Source,
                ErrorKind::Internal,
                "could not build the metadata HTTP client",
            )
            .with_source(e)
        })
}

/// The metadata endpoints of one source, and how to call them.
#[derive(Clone, Debug)]
pub(crate) struct Imds {
    pub(crate) http: MetadataClient,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) region_url: Option<Url>,
    pub(crate) credentials_url: Option<Url>,
    pub(crate) session_token_url: Option<Url>,
    /// Shared by clones: one source, one memory.
    pub(crate) remembered: Arc<Remembered>,
}

/// What a source keeps of the metadata service's answers between refreshes.
#[derive(Debug, Default)]
pub(crate) struct Remembered {
    /// The IMDSv2 session token and until when it is reused (Tokio's clock, which tests move).
    session: Mutex<Option<(SecretString, tokio::time::Instant)>>,
    /// The instance's role name.
    role: Mutex<Option<String>>,
}

impl Remembered {
    fn session(&self) -> Option<SecretString> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        session
            .as_ref()
            .filter(|(_, until)| tokio::time::Instant::now() < *until)
            .map(|(token, _)| token.clone())
    }

    fn keep_session(&self, token: SecretString) {
        let until = tokio::time::Instant::now() + SESSION_TOKEN_REUSE;
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = Some((token, until));
    }

    /// Forgets `token` unless another call has already replaced it.
    fn forget_session(&self, token: &SecretString) {
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        if session
            .as_ref()
            .is_some_and(|(kept, _)| kept.expose_secret() == token.expose_secret())
        {
            *session = None;
        }
    }

    fn role(&self) -> Option<String> {
        self.role
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn keep_role(&self, role: Option<String>) {
        *self.role.lock().unwrap_or_else(PoisonError::into_inner) = role;
    }
}

/// An IMDSv2 session token, and whether it was kept from an earlier refresh (then the service
/// may have stopped accepting it since).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    token: SecretString,
    reused: bool,
}

impl Imds {
    /// Whether IMDSv2 session tokens are used.
    pub(crate) fn is_v2(&self) -> bool {
        self.session_token_url.is_some()
    }

    /// The IMDSv2 session token, when configured: the one kept from an earlier refresh while it
    /// is reused, else a new one (`PUT imdsv2_session_token_url`).
    pub(crate) async fn session_token(&self) -> Result<Option<Session>, Error> {
        if self.session_token_url.is_none() {
            return Ok(None);
        }
        if let Some(token) = self.remembered.session() {
            return Ok(Some(Session {
                token,
                reused: true,
            }));
        }
        self.new_session_token().await.map(Some)
    }

    /// `PUT imdsv2_session_token_url`; the token is kept for the next refreshes.
    async fn new_session_token(&self) -> Result<Session, Error> {
        let Some(url) = &self.session_token_url else {
            return Err(Error::new(
                Step::Source,
                ErrorKind::Internal,
                "no imdsv2_session_token_url to ask for a session token",
            ));
        };
        let body = self.fetch_once(Call::SessionToken, url, None).await?;
        let token = String::from_utf8(body)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty() && reqwest::header::HeaderValue::from_str(t).is_ok())
            .ok_or_else(|| {
                Error::invalid_response(
                    Step::Source,
                    "AWS instance metadata answered the IMDSv2 session token request with an empty or unusable token",
                )
            })?;
        let token = SecretString::from(token);
        self.remembered.keep_session(token.clone());
        Ok(Session {
            token,
            reused: false,
        })
    }

    /// `GET region_url`, answered with an availability zone (or a region).
    pub(crate) async fn region(&self, session: Option<&Session>) -> Result<String, Error> {
        let Some(url) = &self.region_url else {
            return Err(unresolvable_region());
        };
        let body = self.fetch(Call::Region, url, session).await?;
        let zone = String::from_utf8_lossy(&body);
        region_from_zone(&zone).ok_or_else(|| {
            Error::invalid_response(
                Step::Source,
                format!(
                    "AWS instance metadata {}: could not derive an AWS region from {}",
                    describe_url(url),
                    quoted(zone.trim())
                ),
            )
            .with_hint("region_url should be http://169.254.169.254/latest/meta-data/placement/availability-zone; or set AWS_REGION")
            .redact(&scrubbing(session.map(|s| &s.token)))
        })
    }

    /// `GET url/<role>` (the role's temporary credentials), with the role name kept from an
    /// earlier refresh, or else the one `GET url` lists.
    pub(crate) async fn credentials(
        &self,
        session: Option<&Session>,
    ) -> Result<(AwsCredentials, String), Error> {
        let Some(url) = &self.credentials_url else {
            return Err(unresolvable_credentials());
        };
        if let Some(role) = self.remembered.role() {
            match self.role_credentials(url, &role, session).await {
                // The instance profile was replaced: its role is listed again.
                Err(e) if e.status() == Some(404) => self.remembered.keep_role(None),
                result => return result.map(|creds| (creds, role)),
            }
        }
        let body = self.fetch(Call::RoleName, url, session).await?;
        let role = parse_role_name(&body).map_err(|e| {
            e.context(describe_url(url))
                .redact(&scrubbing(session.map(|s| &s.token)))
        })?;
        let creds = self.role_credentials(url, &role, session).await?;
        self.remembered.keep_role(Some(role.clone()));
        Ok((creds, role))
    }

    /// `GET url/<role>`.
    async fn role_credentials(
        &self,
        url: &Url,
        role: &str,
        session: Option<&Session>,
    ) -> Result<AwsCredentials, Error> {
        let mut role_url = url.clone();
        role_url
            .path_segments_mut()
            .map_err(|()| {
                Error::config(
                    "credential_source.url",
                    "cannot have a role name appended to it",
                )
            })?
            .pop_if_empty()
            .push(role);
        let body = self.fetch(Call::Credentials, &role_url, session).await?;
        parse_credentials(&body).map_err(|e| {
            e.context(format!("role {role}: {}", describe_url(&role_url)))
                .redact(&scrubbing(session.map(|s| &s.token)))
        })
    }

    /// One metadata call with `session`'s token; a kept token the service refuses (401) is
    /// replaced by a new one, once.
    async fn fetch(
        &self,
        call: Call,
        url: &Url,
        session: Option<&Session>,
    ) -> Result<Vec<u8>, Error> {
        let token = session.map(|s| &s.token);
        match self.fetch_once(call, url, token).await {
            Err(e) if e.status() == Some(401) && session.is_some_and(|s| s.reused) => {
                tracing::debug!("the metadata service refused the kept IMDSv2 session token");
                if let Some(refused) = token {
                    self.remembered.forget_session(refused);
                }
                // Another call of this refresh may have replaced it already.
                let renewed = match self.remembered.session() {
                    Some(token) => token,
                    None => self.new_session_token().await?.token,
                };
                self.fetch_once(call, url, Some(&renewed)).await
            }
            result => result,
        }
    }

    /// One metadata call, retried under the source's retry policy: 5xx answers, and connections
    /// that broke after the service accepted them (a reset, a truncated answer).
    async fn fetch_once(
        &self,
        call: Call,
        url: &Url,
        token: Option<&SecretString>,
    ) -> Result<Vec<u8>, Error> {
        let method = if call == Call::SessionToken {
            reqwest::Method::PUT
        } else {
            reqwest::Method::GET
        };
        let what = format!("{method} {}", describe_url(url));
        let http = self.http.get()?;
        self.retry
            .run(Step::Source, &what, |_| {
                let mut request = http
                    .request(method.clone(), url.clone())
                    .timeout(self.timeout);
                if call == Call::SessionToken {
                    request = request.header(TTL_HEADER, SESSION_TOKEN_TTL_SECONDS);
                }
                if let Some(token) = token {
                    // Checked to be a valid header value when it was received.
                    if let Ok(mut value) =
                        reqwest::header::HeaderValue::from_str(token.expose_secret())
                    {
                        value.set_sensitive(true);
                        request = request.header(TOKEN_HEADER, value);
                    }
                }
                let what = what.as_str();
                async move {
                    let response = send(Step::Source, what, request)
                        .await
                        .map_err(|e| unreachable_error(call, e).redact(&scrubbing(token)))?;
                    if response.is_success() {
                        Ok(response.body)
                    } else {
                        Err(status_error(call, what, response, token.is_some())
                            .redact(&scrubbing(token)))
                    }
                }
            })
            .await
    }
}

/// What a metadata request carries that the service could quote back: the IMDSv2 session token.
fn scrubbing(token: Option<&SecretString>) -> Redactor {
    let mut redactor = Redactor::new();
    if let Some(token) = token {
        redactor.add(token.expose_secret());
    }
    redactor
}

/// A short answer as a quoted string for a message; a long one by its size only, so a secret
/// in it is either shown whole (and scrubbed) or not at all, never cut in half.
fn quoted(answer: &str) -> String {
    if answer.len() <= 64 {
        format!("{answer:?}")
    } else {
        format!("a {}-byte answer", answer.len())
    }
}

/// A metadata call that got no complete answer, by what happened:
///
/// * refused, unroutable, or no answer in time: the service is not there (or, in a container
///   with hop limit 1, its answer to the IMDSv2 `PUT` cannot reach us). Not retried: on a machine
///   without a metadata service every retry would only add another timeout.
/// * the service accepted the connection, then it broke — reset, or the answer cut short: the
///   service is there and answering, so this is retried like a 503 (within the retry policy's
///   attempts and deadline), and the hint says so rather than "not reachable".
fn unreachable_error(call: Call, e: Error) -> Error {
    let what = format!("AWS instance metadata ({})", call.describe());
    if connection_broke(&e) {
        return e
            .context(format!(
                "{what}: the service answered, but the connection broke"
            ))
            .retryable(true)
            .with_hint(format!(
                "the instance metadata service is there (it accepted the connection) but the \
                 connection broke before a complete answer, on every attempt: {}",
                causes::METADATA_CONNECTION_BROKEN.fix
            ))
            .with_known_cause(&causes::METADATA_CONNECTION_BROKEN);
    }
    e.context(what)
        .retryable(false)
        .with_hint(format!(
            "no instance metadata service reachable: {}",
            causes::NO_METADATA_SERVICE.fix
        ))
        .with_known_cause(&causes::NO_METADATA_SERVICE)
}

/// True when a transport failure came after the connection was made and before the answer was
/// complete (a reset, a truncated body) — not a refused or timed-out connection, nor a
/// response that never came.
fn connection_broke(e: &Error) -> bool {
    if e.kind() != ErrorKind::Transport || !e.is_retryable() {
        return false;
    }
    let mut next = std::error::Error::source(e);
    while let Some(source) = next {
        if let Some(reqwest) = source.downcast_ref::<reqwest::Error>() {
            return !reqwest.is_connect() && !reqwest.is_timeout() && !reqwest.is_builder();
        }
        next = source.source();
    }
    false
}

fn status_error(call: Call, what: &str, response: wif_core::http::Response, v2: bool) -> Error {
    let status = response.status;
    // IMDS error bodies are HTML or plain text, never worth showing; Error::http drops them.
    let err = match response.error_for_status(Step::Source) {
        Err(e) => e.context(format!(
            "AWS instance metadata ({}) {what}",
            call.describe()
        )),
        Ok(_) => Error::new(Step::Source, ErrorKind::Http, what.to_owned()),
    };
    match (status, call, v2) {
        (401, Call::SessionToken, _) | (403, _, _) => err
            .with_hint(format!(
                "the instance metadata service refused the request: {}",
                causes::METADATA_REFUSED.fix
            ))
            .with_known_cause(&causes::METADATA_REFUSED),
        (401, _, false) => err
            .with_hint(format!(
                "IMDSv2 is required on this instance: {}",
                causes::IMDSV2_REQUIRED.fix
            ))
            .with_known_cause(&causes::IMDSV2_REQUIRED),
        (401, _, true) => err.with_hint(
            "the metadata service rejected the IMDSv2 session token (expired, or issued elsewhere); a new one is requested on the next refresh",
        ),
        (404, Call::RoleName, _) => err
            .with_hint(no_role_hint())
            .with_known_cause(&causes::NO_INSTANCE_ROLE),
        (404, Call::Credentials, _) => err.with_hint(
            "the metadata service has no credentials for the role it listed: the instance profile may have just been replaced",
        ),
        (404, Call::Region, _) => err.with_hint(
            "region_url should be http://169.254.169.254/latest/meta-data/placement/availability-zone; or set AWS_REGION",
        ),
        (404, Call::SessionToken, _) => err.with_hint(
            "imdsv2_session_token_url should be http://169.254.169.254/latest/api/token",
        ),
        _ => err,
    }
}

fn no_role_hint() -> String {
    format!(
        "no IAM role attached to the instance: {}",
        causes::NO_INSTANCE_ROLE.fix
    )
}

/// The role-name answer: one IAM role name (`[\w+=,.@-]{1,64}`), possibly followed by a newline.
pub(crate) fn parse_role_name(body: &[u8]) -> Result<String, Error> {
    let text = String::from_utf8_lossy(body);
    let role = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    if role.is_empty() {
        return Err(Error::invalid_response(
            Step::Source,
            "AWS instance metadata listed no IAM role",
        )
        .with_hint(no_role_hint())
        .with_known_cause(&causes::NO_INSTANCE_ROLE));
    }
    let valid = role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !valid {
        return Err(Error::invalid_response(
            Step::Source,
            format!(
                "AWS instance metadata answered {}, which is not an IAM role name",
                quoted(role)
            ),
        ));
    }
    Ok(role.to_owned())
}

#[derive(Deserialize)]
struct MetadataCredentials {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "AccessKeyId")]
    access_key_id: Option<String>,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: Option<SecretString>,
    #[serde(rename = "Token")]
    token: Option<SecretString>,
}

/// The role-credentials answer: `{"Code":"Success","AccessKeyId":…,"SecretAccessKey":…,"Token":…}`.
pub(crate) fn parse_credentials(body: &[u8]) -> Result<AwsCredentials, Error> {
    // serde_json's messages can quote input, and this input holds secrets: keep position only.
    let parsed: MetadataCredentials = serde_json::from_slice(body).map_err(|e| {
        Error::invalid_response(
            Step::Source,
            format!(
                "AWS instance metadata credentials are not the expected JSON object (error at line {} column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if let Some(code) = parsed.code.as_deref().filter(|c| *c != "Success") {
        return Err(Error::invalid_response(
            Step::Source,
            format!(
                "AWS instance metadata credentials have Code {} instead of \"Success\"",
                quoted(code)
            ),
        ));
    }
    let missing = |field: &str| {
        Error::invalid_response(
            Step::Source,
            format!("AWS instance metadata credentials have no {field}"),
        )
    };
    let id = parsed
        .access_key_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("AccessKeyId"))?;
    let secret = parsed
        .secret_access_key
        .filter(|v| !v.expose_secret().is_empty())
        .ok_or_else(|| missing("SecretAccessKey"))?;
    Ok(AwsCredentials::new(
        id,
        secret.expose_secret(),
        parsed.token.map(|t| t.expose_secret().to_owned()),
    ))
}

/// No region from the builder, the environment or a `region_url`.
pub(crate) fn unresolvable_region() -> Error {
    Error::new(
        Step::Source,
        ErrorKind::InvalidConfig,
        "unable to determine the AWS region: AWS_REGION and AWS_DEFAULT_REGION are unset and credential_source has no region_url",
    )
    .with_known_cause(&causes::NO_REGION)
}

/// No credentials from a provider, the environment or a metadata `url`.
pub(crate) fn unresolvable_credentials() -> Error {
    Error::new(
        Step::Source,
        ErrorKind::InvalidConfig,
        "unable to determine AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are unset and credential_source has no url",
    )
    .with_known_cause(&causes::NO_AWS_CREDENTIALS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_trimmed_and_validated() {
        assert_eq!(
            parse_role_name(b"gcp-aws-role\n").expect("valid"),
            "gcp-aws-role"
        );
        assert_eq!(
            parse_role_name(b"\nrole+=,.@_-1\n").expect("valid"),
            "role+=,.@_-1"
        );
        let err = parse_role_name(b"").expect_err("empty");
        assert!(
            err.hint().is_some_and(|h| h.contains("no IAM role")),
            "{err}"
        );
        assert!(parse_role_name(b"../../etc/passwd").is_err());
        assert!(parse_role_name("x".repeat(65).as_bytes()).is_err());
    }

    #[test]
    fn credentials_json_is_parsed_and_never_echoed() {
        let ok = br#"{"Code":"Success","LastUpdated":"2020-08-11T06:55:22Z","Type":"AWS-HMAC","AccessKeyId":"ASIAX","SecretAccessKey":"very-secret","Token":"session-secret","Expiration":"2020-08-11T12:55:22Z"}"#;
        let creds = parse_credentials(ok).expect("parses");
        assert_eq!(creds.access_key_id(), "ASIAX");
        assert_eq!(creds.secret_access_key().expose_secret(), "very-secret");
        assert_eq!(
            creds.session_token().map(|t| t.expose_secret()),
            Some("session-secret")
        );

        let bad: [&[u8]; 5] = [
            br#"{"AccessKeyId":"ASIAX","SecretAccessKey":"very-secret","Token":"session-secret""#,
            br#"{"AccessKeyId":"ASIAX","Token":"session-secret"}"#,
            br#"{"AccessKeyId":"","SecretAccessKey":"very-secret"}"#,
            br#"{"Code":"Failure","SecretAccessKey":"very-secret"}"#,
            br#"{"AccessKeyId":7,"SecretAccessKey":"very-secret","Token":"session-secret"}"#,
        ];
        for body in bad {
            let err = parse_credentials(body).expect_err("must fail");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("very-secret"), "{shown}");
            assert!(!shown.contains("session-secret"), "{shown}");
            assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        }
    }
}
