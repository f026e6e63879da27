//! The chain's source step ([`Step::Source`](wif_core::Step::Source)) for AWS, the other way: AWS
//! outbound identity federation (`docs/protocol.md#aws-issued-jwts`). AWS STS `GetWebIdentityToken`
//! issues a JWT signed by AWS for the calling role (issuer
//! `https://<uuid>.tokens.sts.global.api.aws`, with OIDC discovery and JWKS), and Google STS takes
//! it through an ordinary OIDC provider of the pool as a `urn:ietf:params:oauth:token-type:jwt`
//! subject token.
//!
//! Unlike [`crate::AwsSource`], this source calls AWS STS itself: a SigV4-signed Query-protocol
//! `POST` to the regional endpoint, signed with the credentials and region [`AwsSource::resolve`]
//! finds (the same code, so the same order: provider, environment, metadata). The token is always
//! asked for with `RS256`: Google STS verifies RS256 and ES256 only, and AWS offers RS256 and
//! ES384.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;
use url::form_urlencoded::Serializer;
use wif_core::http::{describe_url, send};
use wif_core::jwt::UnverifiedJwt;
use wif_core::{
    Error, Redactor, RetryPolicy, SourceContext, Step, SubjectToken, SubjectTokenSource,
    async_trait,
};

use crate::aws_sts::{header_value, response_error, xml_unique};
use crate::jwt_builder::{endpoint_url, tag_keys};
use crate::signing::{Unsigned, host_header, sigv4};
use crate::{
    AWS_SUBJECT_TOKEN_TYPE, AwsJwtSourceBuilder, AwsSource, JWT_SUBJECT_TOKEN_TYPE, Resolved,
};

/// The `subject_token_type` Google also accepts for OIDC tokens.
const ID_TOKEN_TYPE: &str = wif_core::protocol::ID_TOKEN_SUBJECT_TOKEN_TYPE;
/// The request body's type, as the AWS SDKs send it (and sign it).
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The algorithm asked for: the one of AWS's two that Google STS verifies.
const SIGNING_ALGORITHM: &str = "RS256";
const ACTION: &str = wif_core::protocol::GET_WEB_IDENTITY_TOKEN_ACTION;
/// Largest token accepted from the answer. AWS's tokens are a few KB (tags included); anything
/// near this is not a token Google would take either.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// AWS workloads proving their identity to Google with a JWT that AWS STS issues
/// (`GetWebIdentityToken`, AWS outbound identity federation): a [`SubjectTokenSource`] of
/// `urn:ietf:params:oauth:token-type:jwt` tokens for an OIDC provider of the pool.
///
/// The account must have outbound identity federation enabled
/// (`aws iam enable-outbound-web-identity-federation`), and the role's policy must allow
/// `sts:GetWebIdentityToken`. Each [`subject_token`](SubjectTokenSource::subject_token) call asks
/// AWS for a new token (the exchange's cache is the place to cache); it carries the answer's
/// `Expiration`.
///
/// Cheap to clone. Build it with [`AwsJwtSource::builder`].
#[derive(Clone)]
pub struct AwsJwtSource {
    inner: Arc<JwtInner>,
}

pub(crate) struct JwtInner {
    pub(crate) aws: AwsSource,
    pub(crate) endpoint: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) duration: Duration,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) http: reqwest::Client,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

impl AwsJwtSource {
    /// A builder; [`audience`](AwsJwtSourceBuilder::audience) is required.
    pub fn builder() -> AwsJwtSourceBuilder {
        AwsJwtSourceBuilder::new()
    }

    pub(crate) fn from_inner(inner: JwtInner) -> Self {
        AwsJwtSource {
            inner: Arc::new(inner),
        }
    }

    /// The audiences the token is asked for.
    pub fn audiences(&self) -> &[String] {
        &self.inner.audiences
    }

    /// The token lifetime asked for.
    pub fn duration(&self) -> Duration {
        self.inner.duration
    }

    /// The AWS STS endpoint template (`{region}` not yet replaced).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The source that resolves region and credentials: its
    /// [`resolve`](AwsSource::resolve) shows where they come from (`wif explain`).
    pub fn aws_source(&self) -> &AwsSource {
        &self.inner.aws
    }

    /// Resolves region and credentials, then asks AWS STS for a token: one signed `POST`,
    /// retried (signed afresh) on 5xx, 429 and throttling per the retry policy.
    pub async fn web_identity_token(&self) -> Result<SubjectToken, Error> {
        let inner = &*self.inner;
        let resolved = inner.aws.resolve().await?;
        let url = endpoint_url(&inner.endpoint, &resolved.region)
            .map_err(|e| e.into_error(&resolved.region))?;
        let what = format!("POST {} (AWS STS {ACTION})", describe_url(&url));
        let body = inner.form_body();
        let (token, jwt) = inner
            .retry
            .run(Step::Source, &what, |_| {
                inner.request_once(&resolved, &url, &body, &what)
            })
            .await?;
        tracing::debug!(
            region = %resolved.region,
            provenance = %resolved.provenance,
            issuer = jwt.issuer.as_deref().unwrap_or("-"),
            algorithm = jwt.algorithm.as_deref().unwrap_or("-"),
            expires_at = ?token.expires_at(),
            bytes = token.len(),
            "got an AWS web identity token"
        );
        if jwt.algorithm.as_deref() == Some("ES384") {
            // AWS's other algorithm: Google STS would refuse the token.
            tracing::warn!(
                algorithm = jwt.algorithm.as_deref().unwrap_or("-"),
                "AWS signed the web identity token with another algorithm than RS256 asked for; \
                 Google STS verifies RS256 and ES256 only"
            );
        }
        Ok(token)
    }
}

impl JwtInner {
    /// `Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.N=…&SigningAlgorithm=RS256
    /// &DurationSeconds=N[&Tags.member.N.Key=…&Tags.member.N.Value=…]`, form-encoded.
    fn form_body(&self) -> String {
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

    /// One attempt: sign at the clock's current time (a retry must not replay an old
    /// signature), send, read the answer.
    async fn request_once(
        &self,
        resolved: &Resolved,
        url: &Url,
        body: &str,
        what: &str,
    ) -> Result<(SubjectToken, UnverifiedJwt), Error> {
        let host = host_header(url);
        let signature = sigv4(
            &resolved.credentials,
            &resolved.region,
            self.aws.clock().now(),
            &Unsigned {
                action: ACTION,
                service: "sts",
                url: url.as_str(),
                headers: &[("content-type", FORM_CONTENT_TYPE), ("host", &host)],
                body: body.as_bytes(),
            },
        )?;
        let authorization = header_value("authorization", signature.authorization.expose_secret())?;
        // What the request carries that AWS (or a proxy) could quote back: the signature and
        // the session token. Every error of this attempt is scrubbed of them.
        let mut redactor = Redactor::new().header_value(&authorization);
        let mut request = self
            .http
            .post(url.clone())
            .timeout(self.timeout)
            .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
            .header(
                "x-amz-date",
                header_value("x-amz-date", &signature.amz_date)?,
            )
            .header(AUTHORIZATION, authorization)
            .body(body.to_owned());
        if let Some(token) = resolved.credentials.session_token() {
            redactor.add(token.expose_secret());
            request = request.header(
                "x-amz-security-token",
                header_value("x-amz-security-token", token.expose_secret())?,
            );
        }
        let answer = async {
            let response = send(Step::Source, what, request).await?;
            if !response.is_success() {
                return Err(response_error(ACTION, &response).context(what));
            }
            read_answer(&response.body).map_err(|problem| {
                Error::invalid_response(Step::Source, format!("{what}: the answer {problem}"))
            })
        };
        answer.await.map_err(|e| e.redact(&redactor))
    }
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

#[async_trait]
impl SubjectTokenSource for AwsJwtSource {
    async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
        let wanted = ctx.subject_token_type.as_str();
        if wanted != JWT_SUBJECT_TOKEN_TYPE && wanted != ID_TOKEN_TYPE {
            let err = Error::config(
                "subject_token_type",
                format!("is {wanted:?}, but an AWS JWT source produces {JWT_SUBJECT_TOKEN_TYPE:?}"),
            );
            return Err(if wanted == AWS_SUBJECT_TOKEN_TYPE {
                err.with_hint(
                    "aws4_request is the type of AwsSource's signed GetCallerIdentity (an AWS \
                     provider); a token from GetWebIdentityToken goes to an OIDC provider of the \
                     pool as urn:ietf:params:oauth:token-type:jwt",
                )
            } else {
                err
            });
        }
        let default_audience = format!("https:{}", ctx.audience);
        let audiences = &self.inner.audiences;
        if !ctx.audience.is_empty()
            && !audiences
                .iter()
                .any(|a| *a == default_audience || *a == ctx.audience)
        {
            // Not an error: a provider may list other allowed audiences. But it is the usual
            // cause of Google's `invalid_grant` for this source, so it is said where to look.
            tracing::debug!(
                provider = %ctx.audience,
                "no audience asked of AWS is the provider's default allowed audience (https: + \
                 the provider's name); Google STS accepts the token only if the provider lists \
                 one of them"
            );
        }
        self.web_identity_token().await
    }
}

impl fmt::Debug for AwsJwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("AwsJwtSource")
            .field("audiences", &inner.audiences)
            .field("duration", &inner.duration)
            .field("tag_keys", &tag_keys(&inner.tags))
            .field("endpoint", &inner.endpoint)
            .field("signing_algorithm", &SIGNING_ALGORITHM)
            .field("timeout", &inner.timeout)
            .field("retry", &inner.retry)
            .field("aws", &inner.aws)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    // {"alg":"RS256","kid":"k1","typ":"JWT"} . {"iss":"https://x.tokens.sts.global.api.aws","exp":1795896300} . sig
    const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.\
        eyJpc3MiOiJodHRwczovL3gudG9rZW5zLnN0cy5nbG9iYWwuYXBpLmF3cyIsImV4cCI6MTc5NTg5NjMwMH0.c2ln";

    fn answer(result: &str) -> String {
        format!(
            "<GetWebIdentityTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetWebIdentityTokenResult>{result}</GetWebIdentityTokenResult>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetWebIdentityTokenResponse>"
        )
    }

    #[test]
    fn reads_the_token_and_its_expiration() {
        let body = answer(&format!(
            "<WebIdentityToken>\n  {JWT}\n</WebIdentityToken><Expiration>2026-11-28T20:05:00Z</Expiration>"
        ));
        let (token, jwt) = read_answer(body.as_bytes()).expect("reads");
        assert_eq!(token.secret().expose_secret(), JWT);
        assert_eq!(
            token.expires_at(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_896_300))
        );
        assert_eq!(jwt.algorithm.as_deref(), Some("RS256"));
        // The earlier of Expiration and the token's exp (20:05:00Z).
        for (expiration, expected) in [
            ("2026-11-28T20:00:00Z", 1_795_896_000),
            ("2026-11-28T21:00:00Z", 1_795_896_300),
        ] {
            let body = answer(&format!(
                "<WebIdentityToken>{JWT}</WebIdentityToken><Expiration>{expiration}</Expiration>"
            ));
            let (token, _) = read_answer(body.as_bytes()).expect("reads");
            assert_eq!(
                token.expires_at(),
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs(expected)),
                "{expiration}"
            );
        }
        // No (or a malformed) Expiration: the token's exp.
        for result in [
            format!("<WebIdentityToken>{JWT}</WebIdentityToken>"),
            format!("<WebIdentityToken>{JWT}</WebIdentityToken><Expiration>soon</Expiration>"),
        ] {
            let (token, _) = read_answer(answer(&result).as_bytes()).expect("reads");
            assert_eq!(
                token.expires_at(),
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_896_300))
            );
        }
    }

    #[test]
    fn hostile_answers_are_clear_errors_that_never_quote_the_token() {
        let big = format!("{JWT}{}", "A".repeat(MAX_TOKEN_BYTES));
        let table: Vec<(Vec<u8>, &str)> = vec![
            (b"\xff\xfe".to_vec(), "UTF-8"),
            (b"".to_vec(), "not a GetWebIdentityTokenResponse"),
            (b"<html>proxy login</html>".to_vec(), "not a GetWebIdentityTokenResponse"),
            (answer("").into_bytes(), "no WebIdentityToken"),
            (answer("<WebIdentityToken></WebIdentityToken>").into_bytes(), "no WebIdentityToken"),
            (answer("<WebIdentityToken/>").into_bytes(), "no WebIdentityToken"),
            (
                answer(&format!("<WebIdentityToken>{JWT}</WebIdentityToken><WebIdentityToken>{JWT}</WebIdentityToken>")).into_bytes(),
                "2 <WebIdentityToken> elements",
            ),
            (
                answer(&format!("<WebIdentityToken>{JWT}")).into_bytes(),
                "unterminated",
            ),
            (
                format!("{}{}", answer(""), answer("")).into_bytes(),
                "not a GetWebIdentityTokenResponse",
            ),
            (
                answer(&format!("<WebIdentityToken>{big}</WebIdentityToken>")).into_bytes(),
                "more than",
            ),
            (
                answer(&format!("<WebIdentityToken>{JWT}&amp;x</WebIdentityToken>")).into_bytes(),
                "not a compact JWT",
            ),
            (
                answer(&format!("<WebIdentityToken>{JWT}.x</WebIdentityToken>")).into_bytes(),
                "not a compact JWT",
            ),
            (
                answer("<WebIdentityToken>aGk.aGk.aGk</WebIdentityToken>").into_bytes(),
                "not a JWT",
            ),
            (
                format!(
                    "<!DOCTYPE r [<!ENTITY x \"{JWT}\">]>{}",
                    answer("<WebIdentityToken>&x;</WebIdentityToken>")
                )
                .into_bytes(),
                "document type declaration",
            ),
            (
                answer(&format!(
                    "<WebIdentityToken>{JWT}</WebIdentityToken><Expiration>a</Expiration><Expiration>b</Expiration>"
                ))
                .into_bytes(),
                "2 <Expiration> elements",
            ),
        ];
        for (body, says) in table {
            let err = read_answer(&body)
                .err()
                .unwrap_or_else(|| panic!("{says}: accepted"));
            assert!(err.contains(says), "want {says:?}, got {err:?}");
            assert!(!err.contains("eyJ"), "quotes the token: {err}");
        }
    }
}
