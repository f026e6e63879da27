//! Web identity (EKS IAM roles for service accounts, IRSA): the OIDC token in
//! `AWS_WEB_IDENTITY_TOKEN_FILE` exchanged for the credentials of `AWS_ROLE_ARN` with AWS STS
//! `AssumeRoleWithWebIdentity` (`docs/protocol.md#web-identity`).
//!
//! The call is unsigned: the token is the proof. It goes to `AWS_ENDPOINT_URL_STS`, else
//! `AWS_ENDPOINT_URL`, else the regional endpoint, as the AWS SDKs send it. The token file is read
//! on every exchange (the kubelet rotates the projected token), bounded and refusing anything but
//! a regular file; the token and the credentials AWS answers with are secrets, kept out of every
//! message.
//!
//! Why not aws-config's `WebIdentityTokenCredentialsProvider`: it reads the process environment
//! (not the injected [`Environment`]), reads the token file whole with a blocking read (a FIFO
//! would hang it), and its HTTP stack logs the request body — the token — at TRACE.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;
use url::form_urlencoded::Serializer;
use wif_core::http::{describe_url, send};
use wif_core::local_file::{self, MAX_LOCAL_FILE_BYTES};
use wif_core::{Environment, Error, ErrorKind, Redactor, RetryPolicy, Step};

use crate::aws_sts::{check_transport, response_error, xml_unique};
use crate::causes;
use crate::chain::{WEB_IDENTITY_TOKEN_FILE, WebIdentitySettings};
use crate::credentials::{AwsCredentials, Expiring, unreadable_answer, unusable_file};

const ACTION: &str = "AssumeRoleWithWebIdentity";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// Timeout of each `AssumeRoleWithWebIdentity` attempt.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The client of AWS STS calls: the caller's, or [`wif_core::http::default_client`] built at
/// the first call (an environment without web identity never builds it).
#[derive(Clone, Debug, Default)]
pub(crate) struct StsClient(Arc<OnceLock<reqwest::Client>>);

impl StsClient {
    pub(crate) fn given(client: reqwest::Client) -> Self {
        StsClient(Arc::new(OnceLock::from(client)))
    }

    fn get(&self) -> Result<&reqwest::Client, Error> {
        if let Some(client) = self.0.get() {
            return Ok(client);
        }
        let client = wif_core::http::default_client()?;
        Ok(self.0.get_or_init(|| client))
    }
}

/// The AWS STS endpoint for `region`: `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL` (both
/// ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`, as the SDKs do), then
/// `https://sts.{region}.amazonaws.com` (`.amazonaws.com.cn` in China). `https`, or `http` to a
/// loopback address only: the answer holds credentials.
pub(crate) fn sts_endpoint(env: &dyn Environment, region: &str) -> Result<Url, Error> {
    let ignore = env
        .var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let configured = if ignore {
        None
    } else {
        ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|var| env.non_empty_var(var).map(|url| (var, url)))
    };
    let (var, raw) = match configured {
        Some(found) => found,
        None if region.starts_with("cn-") => {
            ("region", format!("https://sts.{region}.amazonaws.com.cn/"))
        }
        None => ("region", format!("https://sts.{region}.amazonaws.com/")),
    };
    let bad = |problem: String| {
        Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!("the AWS STS endpoint from {var} {problem}"),
        )
    };
    let url = Url::parse(&raw).map_err(|e| bad(format!("is not a valid URL ({e})")))?;
    check_transport(&url).map_err(bad)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not hold user info".to_owned()));
    }
    Ok(url)
}

/// Reads the token file (bounded; a regular file only) and asks AWS STS for the role's
/// credentials: one unsigned `POST`, retried on throttling, 5xx and `IDPCommunicationError`.
pub(crate) async fn assume_role(
    settings: &WebIdentitySettings,
    endpoint: &Url,
    http: &StsClient,
    retry: &RetryPolicy,
    now: SystemTime,
) -> Result<Expiring, Error> {
    let token = read_token(settings).await?;
    let session_name = settings.session_name.clone().unwrap_or_else(|| {
        let seconds = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("wif-{seconds}")
    });
    let body = SecretString::from(
        Serializer::new(String::new())
            .append_pair("Action", ACTION)
            .append_pair("Version", wif_core::protocol::AWS_STS_API_VERSION)
            .append_pair("RoleArn", &settings.role_arn)
            .append_pair("RoleSessionName", &session_name)
            .append_pair("WebIdentityToken", token.expose_secret())
            .finish(),
    );
    // AWS (or a proxy) could quote the token back: every error of the call is scrubbed of it.
    let mut redactor = Redactor::new();
    redactor.add(token.expose_secret());
    let what = format!("POST {} (AWS STS {ACTION})", describe_url(endpoint));
    let client = http.get()?;
    let expiring = retry
        .run(Step::Source, &what, |_| {
            let request = client
                .post(endpoint.clone())
                .timeout(REQUEST_TIMEOUT)
                .header(reqwest::header::CONTENT_TYPE, FORM_CONTENT_TYPE)
                .body(body.expose_secret().to_owned());
            let (what, redactor) = (&what, &redactor);
            async move {
                let answer = async {
                    let response = send(Step::Source, what, request).await?;
                    if !response.is_success() {
                        return Err(response_error(ACTION, &response).context(what));
                    }
                    read_answer(&response.body).map_err(|problem| unreadable_answer(what, &problem))
                };
                answer.await.map_err(|e| e.redact(redactor))
            }
        })
        .await?;
    tracing::debug!(
        role = %settings.role_arn,
        assumed = expiring.role_arn.as_deref().unwrap_or("-"),
        expires_at = ?expiring.expires_at,
        "assumed the role with the web identity token"
    );
    Ok(expiring)
}

/// The token, trimmed. Missing, empty, not a regular file or over the bound: an error before
/// any network call, naming the variable and the file.
async fn read_token(settings: &WebIdentitySettings) -> Result<SecretString, Error> {
    let unreadable = |problem: String| {
        unusable_file(
            WEB_IDENTITY_TOKEN_FILE,
            &causes::WEB_IDENTITY_TOKEN_UNREADABLE,
            problem,
        )
    };
    let bytes = local_file::read_bounded_async(
        settings.token_file.clone(),
        MAX_LOCAL_FILE_BYTES,
        "web identity token file",
    )
    .await
    .map_err(|e| unreadable(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        unreadable(format!(
            "{} is not UTF-8 text, so not a token",
            settings.token_file.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(unreadable(format!(
            "{} is empty",
            settings.token_file.display()
        )));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// Reads an `AssumeRoleWithWebIdentityResponse`: the credentials, their `Expiration` and the
/// assumed role's ARN. Problems are described, never quoted: the answer holds credentials.
pub(crate) fn read_answer(body: &[u8]) -> Result<Expiring, String> {
    let xml = std::str::from_utf8(body).map_err(|_| "is not UTF-8 text".to_owned())?;
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err("has a document type declaration, which AWS never sends".to_owned());
    }
    if !xml.contains("<AssumeRoleWithWebIdentityResult>") {
        return Err(format!(
            "is not an AssumeRoleWithWebIdentityResponse ({} bytes, not shown)",
            body.len()
        ));
    }
    let field = |tag: &str| -> Result<String, String> {
        xml_unique(xml, tag)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("has no {tag}"))
    };
    let access_key_id = field("AccessKeyId")?;
    let secret = SecretString::from(field("SecretAccessKey")?);
    let session_token = SecretString::from(field("SessionToken")?);
    let expiration = field("Expiration")?;
    let expires_at = OffsetDateTime::parse(&expiration, &Rfc3339)
        .map(SystemTime::from)
        .map_err(|_| "has an Expiration that is not an RFC 3339 time".to_owned())?;
    if !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("has an AccessKeyId that is not an access key id".to_owned());
    }
    // The assumed-role ARN is lenient: nothing depends on it but the report.
    let role_arn = xml_unique(xml, "Arn").ok().flatten();
    Ok(Expiring {
        credentials: AwsCredentials::new(
            access_key_id,
            secret.expose_secret(),
            Some(session_token.expose_secret().to_owned()),
        ),
        expires_at: Some(expires_at),
        role_arn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wif_core::MapEnvironment;

    fn answer(credentials: &str) -> String {
        format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:ns:app</SubjectFromWebIdentityToken>\
             <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/app/wif-1</Arn><AssumedRoleId>AROA:wif-1</AssumedRoleId></AssumedRoleUser>\
             <Credentials>{credentials}</Credentials><Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks</Provider>\
             </AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
             </AssumeRoleWithWebIdentityResponse>"
        )
    }

    const GOOD: &str = "<AccessKeyId>ASIAWEBIDENTITY</AccessKeyId><SecretAccessKey>web-secret</SecretAccessKey>\
        <SessionToken>web-session</SessionToken><Expiration>2026-11-28T20:05:00Z</Expiration>";

    #[test]
    fn reads_the_credentials_their_expiry_and_the_role() {
        let expiring = read_answer(answer(GOOD).as_bytes()).expect("reads");
        assert_eq!(expiring.credentials.access_key_id(), "ASIAWEBIDENTITY");
        assert_eq!(
            expiring.credentials.secret_access_key().expose_secret(),
            "web-secret"
        );
        assert_eq!(
            expiring
                .credentials
                .session_token()
                .map(ExposeSecret::expose_secret),
            Some("web-session")
        );
        assert_eq!(
            expiring.expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_896_300))
        );
        assert_eq!(
            expiring.role_arn.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/app/wif-1")
        );
    }

    #[test]
    fn hostile_answers_are_clear_errors_that_quote_no_secret() {
        let table: Vec<(Vec<u8>, &str)> = vec![
            (b"\xff".to_vec(), "UTF-8"),
            (
                b"<html>login</html>".to_vec(),
                "not an AssumeRoleWithWebIdentityResponse",
            ),
            (answer("").into_bytes(), "no AccessKeyId"),
            (
                answer(&GOOD.replace("<SessionToken>web-session</SessionToken>", "")).into_bytes(),
                "no SessionToken",
            ),
            (
                answer(&GOOD.replace("2026-11-28T20:05:00Z", "tomorrow")).into_bytes(),
                "not an RFC 3339 time",
            ),
            (
                answer(&format!(
                    "{GOOD}<SecretAccessKey>web-secret</SecretAccessKey>"
                ))
                .into_bytes(),
                "2 <SecretAccessKey> elements",
            ),
            (
                answer(&GOOD.replace("ASIAWEBIDENTITY", "ASIA web-secret")).into_bytes(),
                "not an access key id",
            ),
            (
                format!("<!DOCTYPE x>{}", answer(GOOD)).into_bytes(),
                "document type declaration",
            ),
        ];
        for (body, says) in table {
            let err = read_answer(&body)
                .err()
                .unwrap_or_else(|| panic!("{says}: accepted"));
            assert!(err.contains(says), "want {says:?}, got {err:?}");
            assert!(
                !err.contains("web-secret") && !err.contains("web-session"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_endpoint_follows_the_sdks_variables() {
        let env = |vars: &[(&str, &str)]| {
            let mut env = MapEnvironment::new();
            for (k, v) in vars {
                env.set(*k, *v);
            }
            env
        };
        let url = |vars: &[(&str, &str)], region: &str| {
            sts_endpoint(&env(vars), region).map(|u| u.to_string())
        };
        assert_eq!(
            url(&[], "eu-west-1").expect("ok"),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            url(&[], "cn-north-1").expect("ok"),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        let both = [
            ("AWS_ENDPOINT_URL", "https://vpce.example/"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/sts"),
        ];
        assert_eq!(
            url(&both, "us-east-1").expect("ok"),
            "http://127.0.0.1:9/sts"
        );
        assert_eq!(
            url(&both[..1], "us-east-1").expect("ok"),
            "https://vpce.example/"
        );
        let ignored = [
            both[0],
            both[1],
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ];
        assert_eq!(
            url(&ignored, "us-east-1").expect("ok"),
            "https://sts.us-east-1.amazonaws.com/"
        );
        for (bad, says) in [
            ("http://sts.example/", "https"),
            ("sts.example", "not a valid URL"),
            ("https://u:p@sts.example/", "user info"),
        ] {
            let err = url(&[("AWS_ENDPOINT_URL_STS", bad)], "us-east-1").expect_err(bad);
            assert!(err.to_string().contains(says), "{bad}: {err}");
            assert!(err.to_string().contains("AWS_ENDPOINT_URL_STS"), "{err}");
            assert!(!err.to_string().contains("u:p"), "{err}");
        }
    }
}
