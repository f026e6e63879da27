//! Unit tests of the request, the endpoint rules and the answer reader.

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

#[test]
fn endpoints() {
    let url = endpoint_url(DEFAULT_AWS_STS_ENDPOINT, "eu-west-1")
        .ok()
        .expect("ok");
    assert_eq!(url.as_str(), "https://sts.eu-west-1.amazonaws.com/");
    let china = endpoint_url(DEFAULT_AWS_STS_ENDPOINT, "cn-north-1")
        .ok()
        .expect("ok");
    assert_eq!(china.as_str(), "https://sts.cn-north-1.amazonaws.com.cn/");
    for ok in [
        "http://127.0.0.1:8080/aws/sts",
        "http://[::1]:1/",
        "http://localhost:9/x",
        "https://sts-fips.{region}.amazonaws.com/",
    ] {
        assert!(endpoint_url(ok, "us-east-1").is_ok(), "{ok}");
    }
    for (bad, says) in [
        ("https://sts.amazonaws.com", "global"),
        ("https://STS.amazonaws.com./", "global"),
        ("http://sts.us-east-1.amazonaws.com/", "https"),
        ("http://10.0.0.1/", "https"),
        ("https://sts.us-east-1.amazonaws.com/?Action=X", "query"),
        ("https://u:p@sts.us-east-1.amazonaws.com/", "user info"),
        ("sts.us-east-1.amazonaws.com", "not a valid URL"),
        ("unix:/run/sts", "no host"),
    ] {
        let err = endpoint_url(bad, "us-east-1").expect_err(bad);
        assert!(err.problem.contains(says), "{bad}: {}", err.problem);
        let err = err.into_config();
        assert!(err.to_string().contains("`endpoint`"), "{err}");
        assert_eq!(
            err.known_cause() == Some(&causes::GLOBAL_STS_ENDPOINT),
            says == "global",
            "{bad}"
        );
    }
}

#[test]
fn audiences_durations_and_tags() {
    let aud = |n: usize| vec!["a".repeat(n)];
    assert!(validate_audiences(&aud(1)).is_ok());
    assert!(validate_audiences(&aud(1000)).is_ok());
    assert!(
        validate_audiences(&["é".repeat(1000)]).is_ok(),
        "chars, not bytes"
    );
    for bad in [vec![], aud(0), aud(1001), vec!["a".to_owned(); 11]] {
        let err = validate_audiences(&bad).expect_err("invalid");
        assert!(err.to_string().contains("`audience`"), "{err}");
    }
    for ok in [60, 300, 3600] {
        assert!(validate_duration(Duration::from_secs(ok)).is_ok(), "{ok}");
    }
    for bad in [
        Duration::ZERO,
        Duration::from_secs(59),
        Duration::from_secs(3601),
        Duration::from_millis(60_500),
    ] {
        let err = validate_duration(bad).expect_err("invalid");
        assert!(err.to_string().contains("`duration`"), "{err}");
    }
    let tag = |k: &str| (k.to_owned(), "v".to_owned());
    let long_value = ("k".to_owned(), "SECRETISH".repeat(29));
    assert!(validate_tags(&[tag("team"), tag("env")]).is_ok());
    assert!(validate_tags(&[tag(&"é".repeat(128)), ("v".into(), "é".repeat(256))]).is_ok());
    for bad in [
        vec![tag("")],
        vec![tag("a"), tag("a")],
        vec![tag("Team"), tag("team")],
        vec![tag("k"); 51],
        vec![tag(&"k".repeat(129))],
        vec![long_value],
    ] {
        let err = validate_tags(&bad).expect_err("invalid");
        assert!(err.to_string().contains("`tags`"), "{err}");
        assert!(
            !err.to_string().contains("SECRETISH"),
            "values are not shown: {err}"
        );
    }
}
