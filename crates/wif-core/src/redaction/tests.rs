use super::*;
use crate::spelling::Spelling;
use crate::{Error, Step};

/// A secret with every character class a spelling treats specially: `/`, `+`, `=`, `"`, `\`,
/// `%`, a space and a non-ASCII letter.
const NASTY: &str = "Ab/c+d=e\"f\\g%h i-é~";

/// Every way a server might spell `secret` (see the module docs): the shared list, and `\uXXXX`
/// with uppercase hex, which the redactor must also take.
fn spellings_of(secret: &str) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = Spelling::ALL
        .iter()
        .map(|s| (format!("{s:?}"), s.of(secret)))
        .collect();
    let upper = Spelling::JsonUnicode.of(secret).replace("\\u", "\\U");
    let upper = upper.to_uppercase().replace("\\U", "\\u");
    all.push(("json \\u, uppercase hex".to_owned(), upper));
    all
}

#[test]
fn every_spelling_of_a_secret_is_scrubbed() {
    for secret in [
        NASTY,
        "ya29.a0AfB_byC-federated-token",
        "{\"url\":\"https://sts.amazonaws.com\",\"sig\":\"x y\"}",
    ] {
        let r = Redactor::new().secret(secret);
        for (how, spelled) in spellings_of(secret) {
            let text = format!("before {spelled} after");
            let scrubbed = r.scrub(&text);
            assert_eq!(
                scrubbed, "before [REDACTED] after",
                "{how} spelling of {secret:?}: {spelled}"
            );
        }
    }
}

#[test]
fn mixed_spellings_within_one_secret_are_scrubbed() {
    let r = Redactor::new().secret("a b/c\"d-0");
    for text in [
        "a+b%2Fc\\\"d-0",
        "a%20b\\/c%22d%2D0",
        "a\\u0020b/c\\u0022d-\\u0030",
    ] {
        assert_eq!(r.scrub(text), "[REDACTED]", "{text}");
    }
}

#[test]
fn innocent_text_and_short_values_are_left_alone() {
    let r = Redactor::new().secret("short").secret("the-long-secret");
    assert!(!r.is_empty());
    for text in [
        "short answer",
        "the-long-secre",
        "the-long-%73ecre",
        "%zz \\q \\u12 + %",
        "",
    ] {
        assert!(matches!(r.scrub(text), Cow::Borrowed(_)), "{text}");
    }
    assert!(Redactor::new().secret("1234567").is_empty());
}

#[test]
fn overlapping_secrets_redact_the_longest_and_every_occurrence() {
    let r = Redactor::new()
        .secret("signature-0123456789")
        .secret("Authorization: signature-0123456789 more");
    let text = "x Authorization: signature-0123456789 more y signature-0123456789 z";
    assert_eq!(r.scrub(text), "x [REDACTED] y [REDACTED] z");
}

#[test]
fn a_secret_cut_short_by_a_clip_is_redacted() {
    let r = Redactor::new().secret("0123456789abcdef0123");
    assert_eq!(
        r.scrub_clipped("message 0123456789ab…"),
        "message [REDACTED]…"
    );
    // Fewer than 8 characters left by the clip: not a meaningful leak, and not certainly it.
    assert_eq!(r.scrub_clipped("message 0123456…"), "message 0123456…");
    // Without the clip mark a prefix is not a match.
    assert_eq!(r.scrub("message 0123456789ab"), "message 0123456789ab");
}

/// What the AWS source serializes (Python google-auth's format, percent-encoded).
fn aws_subject_token() -> SubjectToken {
    let json = r#"{"headers":[{"key":"Authorization","value":"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200811/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"},{"key":"host","value":"sts.us-east-1.amazonaws.com"},{"key":"x-amz-date","value":"20200811T065522Z"},{"key":"x-amz-security-token","value":"IQoJb3JpZ2luX2VjEAcaCXVzLWVhc3QtMSJHSESSION"}],"method":"POST","url":"https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}"#;
    let encoded = percent_encoding::utf8_percent_encode(json, percent_encoding::NON_ALPHANUMERIC);
    SubjectToken::new(encoded.to_string())
}

const SIGNATURE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const SESSION: &str = "IQoJb3JpZ2luX2VjEAcaCXVzLWVhc3QtMSJHSESSION";

#[test]
fn an_aws_subject_token_brings_its_signature_and_session_token() {
    let token = aws_subject_token();
    let r = Redactor::new().subject_token(&token);
    let decoded = percent_encoding::percent_decode_str(token.secret().expose_secret())
        .decode_utf8()
        .map(Cow::into_owned)
        .unwrap_or_default();
    for text in [
        format!("echo: {}", token.secret().expose_secret()),
        format!("decoded: {decoded}"),
        format!("only the header x-amz-security-token: {SESSION}"),
        format!("only the signature {SIGNATURE}."),
        format!("form body subject_token={}", {
            let form: String =
                url::form_urlencoded::byte_serialize(token.secret().expose_secret().as_bytes())
                    .collect();
            form
        }),
    ] {
        let scrubbed = r.scrub(&text);
        for secret in [SIGNATURE, SESSION, "Signature="] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(scrubbed.contains("[REDACTED]"), "{scrubbed}");
    }
}

#[test]
fn header_values_bring_their_credentials() {
    let bearer = http::HeaderValue::from_static("Bearer ya29.federated-token-value");
    // base64("client-id:client-secret-value")
    let basic = http::HeaderValue::from_static("Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQtdmFsdWU=");
    let r = Redactor::new().header_value(&bearer).header_value(&basic);
    for text in [
        "authorization: Bearer ya29.federated-token-value",
        "token ya29.federated-token-value",
        "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQtdmFsdWU=",
        "password client-secret-value",
    ] {
        let scrubbed = r.scrub(text);
        assert!(scrubbed.contains("[REDACTED]"), "{text} -> {scrubbed}");
        for secret in ["federated-token", "Y2xpZW50", "client-secret-value"] {
            assert!(!scrubbed.contains(secret), "{text} -> {scrubbed}");
        }
    }
}

#[test]
fn errors_lose_secrets_in_every_part_and_debug_never_shows_them() {
    let secret = "ya29.secret-bearer-token";
    let body = format!(
        r#"{{"error":{{"code":403,"status":"PERMISSION_DENIED","message":"headers: {{\"authorization\": \"Bearer {secret}\"}}","errors":[{{"reason":"{secret}"}}]}}}}"#
    );
    let io = std::io::Error::other(format!("socket said {secret}"));
    let err = Error::http(Step::Impersonation, 403, body.as_bytes())
        .with_hint(format!("hint quoting {secret}"))
        .with_source(io)
        .context(format!("POST url with {secret}"));
    let r = Redactor::new().secret(secret);
    let err = err.redact(&r);
    let shown = format!(
        "{err} {err:?} {:?}",
        std::error::Error::source(&err).map(|s| s.to_string())
    );
    assert!(!shown.contains("secret-bearer"), "{shown}");
    assert!(shown.contains("Bearer [REDACTED]"), "{shown}");
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        err.server_error().and_then(|s| s.reason.as_deref()),
        Some("[REDACTED]")
    );
    assert!(format!("{r:?}").contains("1 secrets"), "{r:?}");
}

#[test]
fn a_secret_beyond_the_server_text_limit_leaves_no_prefix() {
    let secret = "S".repeat(5) + &"0123456789".repeat(20);
    // The secret starts 1000 bytes in: ServerError clips it at 1024 bytes.
    let message = format!("{}{secret}", "x".repeat(1000));
    let body = serde_json::json!({"error": "invalid_grant", "error_description": message});
    let err = Error::http(Step::Exchange, 400, body.to_string().as_bytes())
        .redact(&Redactor::new().secret(&secret));
    let shown = err.to_string();
    assert!(!shown.contains("SSSSS01234"), "{shown}");
    assert!(shown.ends_with("[REDACTED]… (not retryable)"), "{shown}");
}

#[test]
fn an_empty_redactor_changes_nothing() {
    let err = Error::http(
        Step::Exchange,
        400,
        br#"{"error":"x","error_description":"y"}"#,
    );
    let same = err.clone().redact(&Redactor::new());
    assert_eq!(same.to_string(), err.to_string());
}
