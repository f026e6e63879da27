//! Seeing what Google will see: sending the signed `GetCallerIdentity` request to AWS STS
//! ourselves (`wif explain --call-aws`), reading the caller's assumed-role ARN from AWS's answer,
//! and checking it against Google's 127-byte limit on `google.subject`.
//!
//! In the normal flow this crate never sends the request: Google STS does, to verify it (see
//! [`crate::signing`]). Sending it once ourselves is a diagnostic: AWS answers with exactly the
//! ARN Google's attribute mapping and condition will be evaluated on. AWS accepts a signed request
//! for 15 minutes, so the same request can still be exchanged afterwards.
//!
//! The default AWS attribute mapping, `google.subject=assertion.arn`, breaks when the
//! assumed-role session ARN (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) is longer than
//! 127 bytes — common on Lambda, whose session name is the function name.

use std::time::Duration;

use url::Url;
use wif_core::http::{describe_url, send};
use wif_core::{Error, ErrorKind, Redactor, Step};

use crate::aws_sts::{check_transport, header_value, response_error, xml_text};
use crate::signing::SignedRequest;

/// Google STS refuses a mapped `google.subject` longer than this many bytes.
pub const GOOGLE_SUBJECT_MAX_BYTES: usize = 127;

/// The header that tells a stand-in for AWS STS (the wif emulator) which host the request was
/// signed for, when it is sent to another address. Never sent to AWS itself.
pub const SIGNED_HOST_HEADER: &str = "x-wif-signed-host";

/// How long the one `GetCallerIdentity` call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Who AWS says signed a request: the answer of `GetCallerIdentity`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallerIdentity {
    /// The caller's ARN; for a role, the assumed-role *session* ARN
    /// (`arn:aws:sts::123456789012:assumed-role/ROLE/SESSION`) that Google maps as `assertion.arn`.
    pub arn: String,
    /// The AWS account id (`assertion.account`).
    pub account: String,
    /// The unique id (`AROA…:SESSION` for a role session).
    pub user_id: String,
}

impl CallerIdentity {
    /// Reads AWS's XML `GetCallerIdentityResponse`. `None` when it has no `Arn` or `Account`.
    ///
    /// ```
    /// let xml = "<GetCallerIdentityResponse><GetCallerIdentityResult>\
    ///     <Arn>arn:aws:sts::123456789012:assumed-role/app/fn</Arn>\
    ///     <UserId>AROAEXAMPLE:fn</UserId><Account>123456789012</Account>\
    ///     </GetCallerIdentityResult></GetCallerIdentityResponse>";
    /// let who = wif_source_aws::CallerIdentity::from_xml(xml).unwrap();
    /// assert_eq!(who.assumed_role(), Some(("app", "fn")));
    /// assert_eq!(who.aws_role_attribute(), "arn:aws:sts::123456789012:assumed-role/app");
    /// ```
    pub fn from_xml(xml: &str) -> Option<CallerIdentity> {
        Some(CallerIdentity {
            arn: xml_text(xml, "Arn")?,
            account: xml_text(xml, "Account")?,
            user_id: xml_text(xml, "UserId").unwrap_or_default(),
        })
    }

    /// The role and session names, when the caller is an assumed-role session.
    pub fn assumed_role(&self) -> Option<(&str, &str)> {
        let (_, rest) = self.arn.split_once(":assumed-role/")?;
        let (role, session) = rest.split_once('/')?;
        // Role paths are not part of an assumed-role ARN; the session is the last segment.
        Some((role, session))
    }

    /// The value of Google's default `attribute.aws_role` mapping: the assumed-role ARN without
    /// the session (`arn:aws:sts::ACCOUNT:assumed-role/ROLE`), or the ARN itself for other
    /// callers. This is what a `principalSet://…/attribute.aws_role/…` binding names.
    pub fn aws_role_attribute(&self) -> String {
        match self.arn.split_once(":assumed-role/") {
            Some((account_arn, rest)) => {
                let role = rest.split('/').next().unwrap_or(rest);
                format!("{account_arn}:assumed-role/{role}")
            }
            None => self.arn.clone(),
        }
    }

    /// The IAM role's own ARN (`arn:aws:iam::ACCOUNT:role/ROLE`), for assumed-role callers.
    pub fn role_arn(&self) -> Option<String> {
        let (role, _) = self.assumed_role()?;
        let partition = self.arn.split(':').nth(1).unwrap_or("aws");
        Some(format!("arn:{partition}:iam::{}:role/{role}", self.account))
    }

    /// Whether Google's default mapping (`google.subject=assertion.arn`) would exceed
    /// [`GOOGLE_SUBJECT_MAX_BYTES`] for this caller.
    pub fn exceeds_google_subject_limit(&self) -> bool {
        exceeds_google_subject_limit(&self.arn)
    }

    /// A `google.subject` mapping that fits the limit, with the value it gives this caller:
    /// the assumed-role ARN without the session (the same value as `attribute.aws_role`, at most
    /// 103 bytes since role names are at most 64). `None` for callers that are not assumed roles.
    pub fn short_subject_mapping(&self) -> Option<SubjectMapping> {
        self.assumed_role()?;
        Some(SubjectMapping {
            mapping: SHORT_SUBJECT_MAPPING,
            value: self.aws_role_attribute(),
        })
    }
}

/// A `google.subject` attribute mapping that leaves the session out of the ARN, as written in
/// the provider's `--attribute-mapping`.
pub const SHORT_SUBJECT_MAPPING: &str = "google.subject=assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/')";

/// A suggested attribute mapping and the value it gives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectMapping {
    /// The mapping, as written in the provider's `--attribute-mapping`.
    pub mapping: &'static str,
    /// The `google.subject` it gives the caller.
    pub value: String,
}

/// Whether `subject` is longer than Google's 127-byte limit on `google.subject`.
pub fn exceeds_google_subject_limit(subject: &str) -> bool {
    subject.len() > GOOGLE_SUBJECT_MAX_BYTES
}

/// Sends `signed` to AWS STS and returns who AWS says signed it.
///
/// Sent to `signed.url()` (the real regional endpoint), or, with `endpoint`, to that URL
/// instead (its query replaced by the signed one) with the signed host in
/// [`SIGNED_HOST_HEADER`] — for a stand-in such as the wif emulator's `/aws/sts`. The request
/// is sent as signed: `POST`, empty body, the signed headers. One attempt, 10 s timeout.
///
/// Errors are [`Step::Source`] errors with AWS's `Code` and `Message` as the server's words and,
/// for the usual causes, a hint.
pub async fn get_caller_identity(
    http: &reqwest::Client,
    signed: &SignedRequest,
    endpoint: Option<&str>,
) -> Result<CallerIdentity, Error> {
    let signed_url = Url::parse(signed.url()).map_err(|e| {
        Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!("the signed GetCallerIdentity URL is not a URL ({e})"),
        )
    })?;
    let target = match endpoint {
        None => signed_url.clone(),
        Some(raw) => {
            let mut url = Url::parse(raw).map_err(|e| {
                Error::config("AWS STS endpoint", format!("is not a valid URL ({e})"))
            })?;
            url.set_query(signed_url.query());
            url
        }
    };
    // The signed request is a live subject token: it never travels in the clear.
    check_transport(&target).map_err(|why| {
        let field = if endpoint.is_some() {
            "AWS STS endpoint"
        } else {
            "credential_source.regional_cred_verification_url"
        };
        Error::config(field, why)
    })?;
    let what = format!("POST {} (AWS STS GetCallerIdentity)", describe_url(&target));
    let mut request = http.post(target).timeout(TIMEOUT);
    for (name, value) in signed.headers() {
        // reqwest derives `Host` from the URL, which is the signed host unless overridden.
        if name == "host" {
            continue;
        }
        request = request.header(name, header_value(name, value)?);
    }
    if endpoint.is_some() {
        request = request.header(SIGNED_HOST_HEADER, signed.host());
    }
    let answer = async {
        let response = send(Step::Source, &what, request).await?;
        if !response.is_success() {
            return Err(response_error("GetCallerIdentity", &response).context(&what));
        }
        let body = String::from_utf8_lossy(&response.body);
        CallerIdentity::from_xml(&body).ok_or_else(|| {
            Error::invalid_response(
                Step::Source,
                format!(
                    "{what}: the answer is not a GetCallerIdentityResponse with an Arn and Account ({} bytes, not shown)",
                    body.len()
                ),
            )
        })
    };
    // The request is the subject token: AWS (or a proxy) quoting it back must not show its
    // signature or session token.
    answer
        .await
        .map_err(|e| e.redact(&Redactor::new().subject_token(&signed.subject_token())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(arn: &str) -> CallerIdentity {
        CallerIdentity {
            arn: arn.to_owned(),
            account: "123456789012".to_owned(),
            user_id: "AROAEXAMPLE:s".to_owned(),
        }
    }

    #[test]
    fn reads_aws_xml() {
        let xml = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::123456789012:assumed-role/a&amp;b/sess</Arn>
    <UserId>AROAX:sess</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
</GetCallerIdentityResponse>"#;
        let who = CallerIdentity::from_xml(xml).expect("parses");
        assert_eq!(who.arn, "arn:aws:sts::123456789012:assumed-role/a&b/sess");
        assert_eq!(who.account, "123456789012");
        assert_eq!(who.user_id, "AROAX:sess");
        assert_eq!(CallerIdentity::from_xml("<ErrorResponse/>"), None);
        assert_eq!(CallerIdentity::from_xml("<Arn>unterminated"), None);
    }

    #[test]
    fn roles_sessions_and_attributes() {
        let who = identity("arn:aws:sts::123456789012:assumed-role/app-role/my-function");
        assert_eq!(who.assumed_role(), Some(("app-role", "my-function")));
        assert_eq!(
            who.aws_role_attribute(),
            "arn:aws:sts::123456789012:assumed-role/app-role"
        );
        assert_eq!(
            who.role_arn().as_deref(),
            Some("arn:aws:iam::123456789012:role/app-role")
        );
        let gov = identity("arn:aws-us-gov:sts::123456789012:assumed-role/r/s");
        assert_eq!(
            gov.role_arn().as_deref(),
            Some("arn:aws-us-gov:iam::123456789012:role/r")
        );
        let user = identity("arn:aws:iam::123456789012:user/alice");
        assert_eq!(user.assumed_role(), None);
        assert_eq!(user.aws_role_attribute(), user.arn);
        assert_eq!(user.short_subject_mapping(), None);
    }

    #[test]
    fn the_127_byte_limit_and_the_short_mapping() {
        let prefix = "arn:aws:sts::123456789012:assumed-role/";
        let role = "r".repeat(64);
        let fits = identity(&format!(
            "{prefix}{role}/{}",
            "s".repeat(127 - prefix.len() - 65)
        ));
        assert_eq!(fits.arn.len(), GOOGLE_SUBJECT_MAX_BYTES);
        assert!(!fits.exceeds_google_subject_limit());
        let long = identity(&format!("{prefix}{role}/{}", "s".repeat(64)));
        assert!(long.exceeds_google_subject_limit());
        let short = long.short_subject_mapping().expect("an assumed role");
        assert_eq!(short.value, format!("{prefix}{role}"));
        assert!(!exceeds_google_subject_limit(&short.value));
        assert!(short.mapping.starts_with("google.subject="));
    }
}
