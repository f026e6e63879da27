//! AWS STS `GetWebIdentityToken`, the call of [`AwsJwtSource`](crate::AwsJwtSource)
//! (`docs/protocol.md#aws-issued-jwts`): what it asks for (audiences, lifetime, tags, always
//! `RS256`), where it is sent (the regional endpoint), and how AWS's answer becomes the subject
//! token. Everything here is checked when the source is built, before any network call, with
//! errors naming the setting; nothing here sends a request.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;
use url::form_urlencoded::Serializer;
use wif_core::jwt::UnverifiedJwt;
use wif_core::{Error, SubjectToken};

use crate::aws_sts::{check_transport, xml_unique};
use crate::causes;

/// The action, as it goes into the form body and the messages.
pub(crate) const ACTION: &str = wif_core::protocol::GET_WEB_IDENTITY_TOKEN_ACTION;
/// The request body's type, as the AWS SDKs send it (and sign it).
pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The algorithm asked for: the one of AWS's two that Google STS verifies.
pub(crate) const SIGNING_ALGORITHM: &str = "RS256";
/// Largest token accepted from the answer. AWS's tokens are a few KB (tags included); anything
/// near this is not a token Google would take either.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// resolved region. `GetWebIdentityToken` is not served by the global `https://sts.amazonaws.com`.
pub use wif_core::protocol::DEFAULT_AWS_STS_ENDPOINT;

/// Most audiences one token may carry (AWS's limit).
const MAX_AUDIENCES: usize = 10;
/// Longest audience, in characters (AWS's limit).
const MAX_AUDIENCE_CHARS: usize = 1000;
/// Shortest and longest token lifetime AWS issues.
const MIN_DURATION: Duration = Duration::from_secs(60);
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// AWS's default lifetime, kept as ours.
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(300);
/// Most tags (custom claims) we send; AWS's session-tag limit.
const MAX_TAGS: usize = 50;
/// AWS's limit on a session tag's key, in characters.
const MAX_TAG_KEY_CHARS: usize = 128;
/// AWS's limit on a session tag's value, in characters.
const MAX_TAG_VALUE_CHARS: usize = 256;

/// One source's `GetWebIdentityToken` request, checked: the same for every call but the region
/// (the endpoint follows it) and the signature.
#[derive(Clone, Debug)]
pub(crate) struct TokenRequest {
    /// The endpoint template, `{region}` not yet replaced.
    pub(crate) endpoint: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) duration: Duration,
    /// Values are claims about the workload: shown by key only (see [`Self::tag_keys`]).
    pub(crate) tags: Vec<(String, String)>,
}

impl TokenRequest {
    /// Checks every part against AWS's limits and the endpoint with a stand-in region.
    pub(crate) fn checked(
        endpoint: Option<String>,
        audiences: Vec<String>,
        duration: Duration,
        tags: Vec<(String, String)>,
    ) -> Result<TokenRequest, Error> {
        validate_audiences(&audiences)?;
        validate_duration(duration)?;
        validate_tags(&tags)?;
        let endpoint = endpoint.unwrap_or_else(|| DEFAULT_AWS_STS_ENDPOINT.to_owned());
        // The real region is checked again at each call.
        endpoint_url(&endpoint, "us-east-1").map_err(EndpointProblem::into_config)?;
        Ok(TokenRequest {
            endpoint,
            audiences,
            duration,
            tags,
        })
    }

    /// The endpoint for `region`.
    pub(crate) fn url(&self, region: &str) -> Result<Url, Error> {
        endpoint_url(&self.endpoint, region).map_err(|e| e.into_error(region))
    }

    /// `Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.N=…&SigningAlgorithm=RS256
    /// &DurationSeconds=N[&Tags.member.N.Key=…&Tags.member.N.Value=…]`, form-encoded.
    pub(crate) fn form_body(&self) -> String {
        let mut form = Serializer::new(String::new());
        form.append_pair("Action", ACTION)
            .append_pair("Version", wif_core::protocol::AWS_STS_API_VERSION);
        for (i, audience) in self.audiences.iter().enumerate() {
            form.append_pair(&format!("Audience.member.{}", i + 1), audience);
        }
        form.append_pair("SigningAlgorithm", SIGNING_ALGORITHM)
            .append_pair("DurationSeconds", &self.duration.as_secs().to_string());
        for (i, (key, value)) in self.tags.iter().enumerate() {
            form.append_pair(&format!("Tags.member.{}.Key", i + 1), key)
                .append_pair(&format!("Tags.member.{}.Value", i + 1), value);
        }
        form.finish()
    }

    /// Tag keys only: values are claims about the workload, not ours to print.
    pub(crate) fn tag_keys(&self) -> Vec<&str> {
        tag_keys(&self.tags)
    }
}

/// Tag keys only: values are claims about the workload, not ours to print.
pub(crate) fn tag_keys(tags: &[(String, String)]) -> Vec<&str> {
    tags.iter().map(|(key, _)| key.as_str()).collect()
}

fn validate_audiences(audiences: &[String]) -> Result<(), Error> {
    if audiences.is_empty() {
        return Err(Error::config(
            "audience",
            "is required: the `aud` the pool's OIDC provider accepts, by default \
             https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
        ));
    }
    if audiences.len() > MAX_AUDIENCES {
        return Err(Error::config(
            "audience",
            format!(
                "{} audiences given; AWS issues tokens for at most {MAX_AUDIENCES}",
                audiences.len()
            ),
        ));
    }
    for (i, audience) in audiences.iter().enumerate() {
        let chars = audience.chars().count();
        if chars == 0 || chars > MAX_AUDIENCE_CHARS {
            return Err(Error::config(
                "audience",
                format!(
                    "audience {} has {chars} characters; AWS accepts 1 to {MAX_AUDIENCE_CHARS}",
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

fn validate_duration(duration: Duration) -> Result<(), Error> {
    if duration.subsec_nanos() != 0 || !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err(Error::config(
            "duration",
            format!(
                "is {duration:?}; AWS issues tokens for whole seconds from {} to {}",
                MIN_DURATION.as_secs(),
                MAX_DURATION.as_secs()
            ),
        ));
    }
    Ok(())
}

fn validate_tags(tags: &[(String, String)]) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::config(
            "tags",
            format!("{} tags given; at most {MAX_TAGS}", tags.len()),
        ));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        if key.is_empty() {
            return Err(Error::config(
                "tags",
                format!("tag {} has an empty key", i + 1),
            ));
        }
        // AWS's limits for session tags, in characters; values are not shown (not ours to print).
        if key.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(Error::config(
                "tags",
                format!(
                    "tag {} has a key longer than {MAX_TAG_KEY_CHARS} characters",
                    i + 1
                ),
            ));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(Error::config(
                "tags",
                format!("the value of tag {key:?} is longer than {MAX_TAG_VALUE_CHARS} characters"),
            ));
        }
        // AWS compares tag keys without regard to case.
        if tags[..i].iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(Error::config(
                "tags",
                format!("the key {key:?} is given twice"),
            ));
        }
    }
    Ok(())
}

/// Why an endpoint is refused, before it becomes a config error (at build) or a source error
/// (at a call, with the resolved region).
struct EndpointProblem {
    problem: String,
    global: bool,
}

impl EndpointProblem {
    fn new(problem: impl Into<String>) -> Self {
        EndpointProblem {
            problem: problem.into(),
            global: false,
        }
    }

    fn hinted(self, err: Error) -> Error {
        if self.global {
            err.with_known_cause(&causes::GLOBAL_STS_ENDPOINT).with_hint(
                "use a regional endpoint, such as https://sts.us-east-1.amazonaws.com/, or leave \
                 `endpoint` unset: the default, https://sts.{region}.amazonaws.com/, follows the \
                 resolved region",
            )
        } else {
            err
        }
    }

    fn into_config(self) -> Error {
        let err = Error::config("endpoint", &self.problem);
        self.hinted(err)
    }

    fn into_error(self, region: &str) -> Error {
        let err = Error::new(
            wif_core::Step::Source,
            wif_core::ErrorKind::InvalidConfig,
            format!("`endpoint` for region {region}: {}", self.problem),
        );
        self.hinted(err)
    }
}

/// The endpoint for `region`: `{region}` replaced, then checked — `https` (or `http` to a
/// loopback address), a host, no query, fragment or user info, not the global STS host.
fn endpoint_url(template: &str, region: &str) -> Result<Url, EndpointProblem> {
    // The default follows the region's partition: China's regions are served under
    // `amazonaws.com.cn`.
    let template = if template == DEFAULT_AWS_STS_ENDPOINT && region.starts_with("cn-") {
        "https://sts.{region}.amazonaws.com.cn/"
    } else {
        template
    };
    let url = Url::parse(&template.replace("{region}", region))
        .map_err(|e| EndpointProblem::new(format!("not a valid URL ({e})")))?;
    // The session token and the issued JWT are credentials.
    check_transport(&url).map_err(EndpointProblem::new)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EndpointProblem::new(
            "must have no query or fragment: the action and its parameters go in the body",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointProblem::new("must not hold user info"));
    }
    let host = url.host_str().unwrap_or_default().trim_end_matches('.');
    if host.eq_ignore_ascii_case("sts.amazonaws.com") {
        return Err(EndpointProblem {
            problem: "is the global AWS STS endpoint, which does not serve GetWebIdentityToken"
                .to_owned(),
            global: true,
        });
    }
    Ok(url)
}

/// Reads a `GetWebIdentityTokenResponse`: exactly one well-formed compact JWT, and the
/// `Expiration` (else the token's `exp`) as the subject token's expiry. Problems are described,
/// never quoted: the answer holds a credential.
pub(crate) fn read_answer(body: &[u8]) -> Result<(SubjectToken, UnverifiedJwt), String> {
    let xml = std::str::from_utf8(body).map_err(|_| "is not UTF-8 text".to_owned())?;
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err("has a document type declaration, which AWS never sends".to_owned());
    }
    if xml_unique(xml, "GetWebIdentityTokenResult").is_err()
        || !xml.contains("<GetWebIdentityTokenResult>")
    {
        return Err(format!(
            "is not a GetWebIdentityTokenResponse ({} bytes, not shown)",
            body.len()
        ));
    }
    let token = xml_unique(xml, "WebIdentityToken")?
        .filter(|t| !t.is_empty())
        .ok_or("has no WebIdentityToken")?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!(
            "has a WebIdentityToken of {} bytes, more than the {MAX_TOKEN_BYTES} accepted",
            token.len()
        ));
    }
    let compact = token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !compact {
        return Err("has a WebIdentityToken that is not a compact JWT".to_owned());
    }
    let jwt = UnverifiedJwt::decode(&token)
        .map_err(|e| format!("has a WebIdentityToken that is not a JWT: {e}"))?;
    let expiration = match xml_unique(xml, "Expiration")? {
        Some(text) => {
            let at = OffsetDateTime::parse(&text, &Rfc3339)
                .ok()
                .map(SystemTime::from);
            if at.is_none() {
                // Not worth failing a good token over: the token's own `exp` says as much.
                tracing::debug!(
                    expiration = %text.escape_debug(),
                    "GetWebIdentityToken's Expiration is not an RFC 3339 time; using the token's exp"
                );
            }
            at
        }
        None => None,
    };
    let mut subject_token = SubjectToken::new(token);
    // The earlier of the two: the token is no good past its own `exp`, whatever the answer says.
    let expires_at = match (expiration, jwt.expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(at) = expires_at {
        subject_token = subject_token.with_expires_at(at);
    }
    Ok((subject_token, jwt))
}

#[cfg(test)]
mod tests;
