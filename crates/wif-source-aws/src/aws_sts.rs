//! Calling AWS STS ourselves (its Query protocol): the headers of a signed `POST`, and AWS's XML
//! answers and `ErrorResponse`s turned into [`Error`]s with AWS's code and message, a hint, a
//! [cause](crate::causes) and the right retry flag.
//!
//! Two calls use it: `GetCallerIdentity`, the diagnostic of `wif explain --call-aws`
//! ([`crate::get_caller_identity`]), and `GetWebIdentityToken`, the call of
//! [`crate::AwsJwtSource`]. AWS's answers are flat, so a few string searches read them: there is
//! no XML library, hence no DTD processing and no entity expansion beyond the five predefined
//! entities and character references.

use std::time::SystemTime;

use reqwest::header::HeaderValue;
use wif_core::http::{Response, is_loopback};
use wif_core::{Cause, Error, ErrorKind, ServerError, Step};

use crate::causes;

/// Builds a header value of a signed request; `Authorization` and `x-amz-security-token` are
/// marked sensitive so neither `http` nor `reqwest` ever prints them.
pub(crate) fn header_value(name: &str, value: &str) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!("the signed header {name} is not a valid HTTP header value"),
        )
    })?;
    header.set_sensitive(
        name.eq_ignore_ascii_case("authorization")
            || name.eq_ignore_ascii_case("x-amz-security-token"),
    );
    Ok(header)
}

/// Where a request carrying credentials (a SigV4 signature with its session token, which for
/// `GetCallerIdentity` is a live subject token) may go: `https`, or plain `http` only to a
/// loopback address, where it cannot leave the machine. The `Err` says why not.
pub(crate) fn check_transport(url: &url::Url) -> Result<(), String> {
    if url.host().is_none() {
        return Err("has no host".to_owned());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        scheme => Err(format!(
            "must be an https URL (is {scheme}://…), or http to a loopback address"
        )),
    }
}

/// A non-success answer of AWS STS `action` as an [`Error`]: see [`aws_error`]; the server's
/// `Date` and `Retry-After` are kept.
pub(crate) fn response_error(action: &str, response: &Response) -> Error {
    let body = String::from_utf8_lossy(&response.body);
    let mut err = aws_error(action, response.status, &body, response.date());
    if let Some(after) = response.retry_after() {
        err = err.with_retry_after(after);
    }
    err
}

/// AWS's XML `ErrorResponse` as an [`Error`] with AWS's `Code` and `Message` as the server's
/// words (nothing else of the body is kept), a hint and a cause for the known codes, and
/// retryable for 408, 429, 5xx and AWS's throttling codes (which come with a 400).
pub(crate) fn aws_error(action: &str, status: u16, body: &str, date: Option<SystemTime>) -> Error {
    // Lenient reads of a body that may be garbled (or hostile): a `Code` that is not an AWS
    // error code (a letter-and-digit identifier) is dropped rather than shown, since it could
    // span into other elements — the echoed canonical request among them.
    let code = xml_text(body, "Code").filter(|c| is_error_code(c));
    let message = xml_text(body, "Message").map(|m| scrub_message(&m));
    let mut err = if code.is_some() || message.is_some() {
        let server = ServerError::new(code.clone(), message.clone());
        Error::http_with_server_error(Step::Source, status, server)
    } else {
        // Nothing recognisable: described by size only.
        Error::http(Step::Source, status, body.as_bytes())
    };
    if let Some(date) = date {
        err = err.with_server_date(date);
    }
    let code = code.unwrap_or_default();
    if THROTTLING_CODES.contains(&code.as_str()) {
        err = err.retryable(true);
    }
    match known_error(action, &code, &message.unwrap_or_default()) {
        Some((cause, hint)) => err.with_known_cause(cause).with_hint(hint),
        None => err,
    }
}

/// AWS error codes are identifiers (`SignatureDoesNotMatch`, `AccessDenied`,
/// `OutboundWebIdentityFederationDisabledException`, `InvalidParameterValue.Format`).
fn is_error_code(code: &str) -> bool {
    (1..=128).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// AWS's codes for "slow down" or "try again": retryable whatever the status.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalFailure",
    // AssumeRoleWithWebIdentity: AWS could not reach the token's issuer to verify it.
    "IDPCommunicationError",
];

/// The cause and hint of a known AWS error code (and message).
fn known_error(action: &str, code: &str, message: &str) -> Option<(&'static Cause, String)> {
    let message = message.to_ascii_lowercase();
    let clock = message.contains("signature expired")
        || message.contains("not yet current")
        || code == "RequestExpired";
    let known = match code {
        _ if clock => (
            &causes::CLOCK_SKEW,
            "the signing time is more than 15 minutes from AWS's clock: this machine's clock is \
             wrong (sync it with NTP)"
                .to_owned(),
        ),
        "OutboundWebIdentityFederationDisabledException" => (
            &causes::OUTBOUND_FEDERATION_DISABLED,
            "outbound identity federation is not enabled in this AWS account: an account \
             administrator must run `aws iam enable-outbound-web-identity-federation` once"
                .to_owned(),
        ),
        "AccessDenied" if action == "AssumeRoleWithWebIdentity" => (
            &causes::WEB_IDENTITY_NOT_TRUSTED,
            "the role's trust policy does not allow sts:AssumeRoleWithWebIdentity for this token's \
             issuer, subject (the service account) or audience"
                .to_owned(),
        ),
        "InvalidIdentityToken" | "ExpiredTokenException" | "IDPRejectedClaim" => (
            &causes::WEB_IDENTITY_TOKEN_REJECTED,
            "AWS STS did not accept the web identity token: its issuer must be registered as an \
             IAM OIDC identity provider for the audience sts.amazonaws.com, and the token must be \
             current (the file is read on every exchange; something must keep it fresh)"
                .to_owned(),
        ),
        "AccessDenied" | "AccessDeniedException" => (
            &causes::AWS_ACCESS_DENIED,
            format!(
                "the IAM policy of the calling role (or user) must allow `sts:{action}`, and no \
                 SCP or permissions boundary may deny it"
            ),
        ),
        "SessionDurationEscalationException" => (
            &causes::DURATION_EXCEEDS_SESSION,
            "the token may not outlive the AWS session whose credentials sign the request: \
             lower `duration_seconds` (the builder's `duration`)"
                .to_owned(),
        ),
        "JWTPayloadSizeExceededException" => (
            &causes::JWT_PAYLOAD_TOO_LARGE,
            "the token's claims are too large: send fewer or shorter tags".to_owned(),
        ),
        "ExpiredToken" => (
            &causes::AWS_CREDENTIALS_EXPIRED,
            "the AWS credentials have expired: temporary credentials must be refreshed (they are \
             read afresh on every refresh; check where they come from)"
                .to_owned(),
        ),
        "InvalidClientTokenId" => (
            &causes::AWS_CREDENTIALS_INVALID,
            "AWS does not know this access key, or temporary credentials (ASIA…) were used \
             without their session token (AWS_SESSION_TOKEN)"
                .to_owned(),
        ),
        "SignatureDoesNotMatch" => (
            &causes::AWS_SIGNATURE_MISMATCH,
            "the secret access key does not belong to the access key id, the region does not \
             match the STS host, or this machine's clock is wrong"
                .to_owned(),
        ),
        _ => return None,
    };
    Some(known)
}

/// AWS's `SignatureDoesNotMatch` message goes on with "The Canonical String for this request
/// should have been …", which holds the signed headers' values — `x-amz-security-token`
/// among them. Only the sentence before it is kept.
fn scrub_message(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    // ASCII lower-casing keeps byte offsets, so `at` is a char boundary of `message` too.
    let end = lower.find("the canonical string").unwrap_or(message.len());
    message[..end].trim().to_owned()
}

/// The text of the first `<tag>…</tag>`, entities decoded: lenient, for error bodies and
/// answers where a missing field has a fallback.
pub(crate) fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(decode_entities(xml[start..start + len].trim()))
}

/// The text of the one `<tag>…</tag>` of `xml`, entities decoded; `Ok(None)` when absent. Strict,
/// for answers that carry a credential: a second element (which one would AWS have meant?) or
/// an unterminated one is an error that names the tag.
pub(crate) fn xml_unique(xml: &str, tag: &str) -> Result<Option<String>, String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let empty = format!("<{tag}/>");
    let mut opens = xml.match_indices(&open).map(|(at, _)| at);
    let first = opens.next();
    let count = usize::from(first.is_some()) + opens.count() + xml.matches(&empty).count();
    if count > 1 {
        return Err(format!("has {count} <{tag}> elements, expected one"));
    }
    let Some(at) = first else {
        return Ok((count == 1).then(String::new));
    };
    let start = at + open.len();
    let len = xml[start..]
        .find(&close)
        .ok_or_else(|| format!("has an unterminated <{tag}> element"))?;
    Ok(Some(decode_entities(xml[start..start + len].trim())))
}

/// Decodes the five predefined XML entities and character references (`&#38;`, `&#x26;`) in one
/// pass (so `&amp;lt;` is `&lt;`, not `<`). Anything else, including unknown entities, is kept
/// as written: nothing is expanded from a DTD.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // The longest reference we decode is `&#x10FFFF;`: look no further for its `;`.
        let decoded = rest[1..]
            .char_indices()
            .take(10)
            .find(|&(_, c)| c == ';')
            .and_then(|(semi, _)| Some((entity(&rest[1..=semi])?, semi + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_xml(code: &str, message: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        )
    }

    #[test]
    fn aws_errors_carry_code_message_hint_and_cause() {
        let table = [
            (
                "SignatureDoesNotMatch",
                "Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z",
                "clock",
                causes::CLOCK_SKEW,
            ),
            (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match",
                "secret access key",
                causes::AWS_SIGNATURE_MISMATCH,
            ),
            (
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
                "session token",
                causes::AWS_CREDENTIALS_INVALID,
            ),
            (
                "ExpiredToken",
                "The security token included in the request is expired",
                "expired",
                causes::AWS_CREDENTIALS_EXPIRED,
            ),
            (
                "AccessDenied",
                "User is not authorized to perform: sts:GetWebIdentityToken",
                "sts:GetWebIdentityToken",
                causes::AWS_ACCESS_DENIED,
            ),
            (
                "OutboundWebIdentityFederationDisabledException",
                "Outbound web identity federation is disabled",
                "aws iam enable-outbound-web-identity-federation",
                causes::OUTBOUND_FEDERATION_DISABLED,
            ),
        ];
        for (code, message, hint, cause) in table {
            let err = aws_error("GetWebIdentityToken", 403, &error_xml(code, message), None);
            assert_eq!(err.step(), Step::Source);
            assert_eq!(err.status(), Some(403));
            let words = err.server_error().expect("server words");
            assert_eq!(words.code.as_deref(), Some(code));
            assert_eq!(words.message.as_deref(), Some(message));
            assert!(
                err.hint().is_some_and(|h| h.contains(hint)),
                "{code}: {err}"
            );
            assert_eq!(err.known_cause(), Some(&cause), "{code}");
            assert!(!err.is_retryable(), "{code}");
        }
        let err = aws_error("GetCallerIdentity", 500, "<html>oops</html>", None);
        assert!(err.hint().is_none());
        assert!(err.is_retryable());
        let throttled = aws_error(
            "GetWebIdentityToken",
            400,
            &error_xml("Throttling", "Rate exceeded"),
            None,
        );
        assert!(throttled.is_retryable(), "{throttled}");
    }

    #[test]
    fn the_canonical_string_aws_echoes_is_cut_from_the_message() {
        let message = "The request signature we calculated does not match the signature you \
            provided.\n\nThe Canonical String for this request should have been\n'POST\n/\n\n\
            host:sts.us-east-1.amazonaws.com\nx-amz-security-token:SESSION-SECRET\n'";
        let err = aws_error(
            "GetWebIdentityToken",
            403,
            &error_xml("SignatureDoesNotMatch", message),
            None,
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("SESSION-SECRET"), "{shown}");
        assert!(shown.contains("does not match the signature"), "{shown}");
    }

    #[test]
    fn without_a_code_the_message_still_reaches_the_error_and_garbage_is_described_by_size() {
        let body = "<ErrorResponse><Error><Message>Rate exceeded</Message></Error></ErrorResponse>";
        let err = aws_error("GetWebIdentityToken", 400, body, None);
        let server = err.server_error().expect("the server's words");
        assert_eq!(server.message.as_deref(), Some("Rate exceeded"));
        assert_eq!(server.code, None);
        assert!(err.to_string().contains("Rate exceeded"), "{err}");

        let garbage = "<html>gateway timeout</html>";
        let err = aws_error("GetWebIdentityToken", 504, garbage, None);
        assert!(err.server_error().is_none());
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("{} bytes", garbage.len())),
            "{shown}"
        );
        assert!(!shown.contains("gateway timeout"), "{shown}");
        assert!(err.is_retryable());
    }

    /// Found by the fuzzer: an unterminated `<Code>` read leniently ran on to the next `</Code>`,
    /// through the echoed canonical request, and the "code" showed the session token.
    #[test]
    fn a_garbled_code_never_carries_the_echoed_canonical_request() {
        let echoed = error_xml(
            "SignatureDoesNotMatch",
            "The Canonical String for this request should have been\n\
             x-amz-security-token:SESSION-SECRET\n",
        );
        let body = format!(
            "<ErrorResponse><Error><Code>SignatureDoesNot<tode>\n<Message>The Canonical String \
             for this request should have been x-amz-security-token:SESSION-SECRET {echoed}"
        );
        let err = aws_error("GetWebIdentityToken", 403, &body, None);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("SESSION-SECRET"), "{shown}");
        assert_eq!(err.status(), Some(403));
        assert!(is_error_code("InvalidParameterValue.Format"));
        assert!(!is_error_code("SignatureDoesNot<tode>"));
        assert!(!is_error_code(""));
    }

    #[test]
    fn strict_reads_refuse_duplicates_and_unterminated_elements() {
        let one = "<R><T> a &amp;lt; b &#x41;&#66; </T></R>";
        assert_eq!(xml_unique(one, "T"), Ok(Some("a &lt; b AB".to_owned())));
        assert_eq!(xml_unique("<R></R>", "T"), Ok(None));
        assert_eq!(xml_unique("<R><T/></R>", "T"), Ok(Some(String::new())));
        for (bad, says) in [
            ("<T>a</T><T>b</T>", "2 <T> elements"),
            ("<T>a</T><T/>", "2 <T> elements"),
            ("<T>a", "unterminated"),
            ("<T></X>", "unterminated"),
        ] {
            let err = xml_unique(bad, "T").expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn entities_decode_once_and_unknown_ones_stay() {
        for (raw, want) in [
            ("&lt;&gt;&quot;&apos;&amp;", "<>\"'&"),
            ("&amp;amp;", "&amp;"),
            (
                "&xxe;&#xD800;&#99999999;&#;&",
                "&xxe;&#xD800;&#99999999;&#;&",
            ),
            ("é&#233;&", "éé&"),
            ("&&&lt", "&&&lt"),
            ("&lt;éééééé&gt;", "<éééééé>"),
        ] {
            assert_eq!(decode_entities(raw), want, "{raw}");
        }
    }
}
