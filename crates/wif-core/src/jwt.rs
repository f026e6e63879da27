//! Reading — never verifying — the claims of a JWT subject token, so a diagnosis (`wif explain`)
//! can say who the token names, for which audience, and whether it is already expired, before
//! Google STS says it in fewer words. Only the header's `alg`/`kid`/`typ` and the registered
//! claims `iss`, `sub`, `aud`, `exp`, `iat`, `nbf` are kept; the signature is never decoded or
//! kept, and other claims (which may hold personal data) are dropped. Nothing here checks a
//! signature: these values are claims, not facts (RFC 7519).

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The header and registered claims of a JWT, decoded without verification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnverifiedJwt {
    /// Header `alg` (`RS256`, `ES256`, …).
    pub algorithm: Option<String>,
    /// Header `kid`: which of the issuer's keys signed it.
    pub key_id: Option<String>,
    /// Header `typ` (`JWT`).
    pub token_type: Option<String>,
    /// `iss`: who issued it (the OIDC provider's issuer URL must match it).
    pub issuer: Option<String>,
    /// `sub`: whom it names (mapped to `google.subject` by default).
    pub subject: Option<String>,
    /// `aud`, as a list (a single string becomes one entry).
    pub audiences: Vec<String>,
    /// `exp`.
    pub expires_at: Option<SystemTime>,
    /// `iat`.
    pub issued_at: Option<SystemTime>,
    /// `nbf`.
    pub not_before: Option<SystemTime>,
}

/// Why a token could not be read as a JWT. Says which part is wrong, never what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAJwt(&'static str);

impl fmt::Display for NotAJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for NotAJwt {}

impl UnverifiedJwt {
    /// Decodes the header and claims of a compact JWS (`header.claims.signature`). A JWE
    /// (five parts) or anything else is [`NotAJwt`].
    ///
    /// ```
    /// use wif_core::jwt::UnverifiedJwt;
    /// // {"alg":"HS256"}.{"sub":"workload","aud":"x","exp":2000000000}.sig
    /// let jwt = UnverifiedJwt::decode(
    ///     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCIsImF1ZCI6IngiLCJleHAiOjIwMDAwMDAwMDB9.c2ln",
    /// )?;
    /// assert_eq!(jwt.subject.as_deref(), Some("workload"));
    /// assert_eq!(jwt.audiences, ["x"]);
    /// assert!(UnverifiedJwt::decode("<saml:Assertion/>").is_err());
    /// # Ok::<(), wif_core::jwt::NotAJwt>(())
    /// ```
    pub fn decode(token: &str) -> Result<UnverifiedJwt, NotAJwt> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(NotAJwt(
                "a JWT has three dot-separated parts (header.claims.signature)",
            ));
        };
        let header = json_part(header).ok_or(NotAJwt(
            "the first part is not a base64url-encoded JSON object (the JWT header)",
        ))?;
        let claims = json_part(claims).ok_or(NotAJwt(
            "the second part is not a base64url-encoded JSON object (the JWT claims)",
        ))?;
        let text = |map: &Map<String, Value>, key: &str| {
            map.get(key).and_then(Value::as_str).map(str::to_owned)
        };
        let audiences = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(UnverifiedJwt {
            algorithm: text(&header, "alg"),
            key_id: text(&header, "kid"),
            token_type: text(&header, "typ"),
            issuer: text(&claims, "iss"),
            subject: text(&claims, "sub"),
            audiences,
            expires_at: time_claim(&claims, "exp"),
            issued_at: time_claim(&claims, "iat"),
            not_before: time_claim(&claims, "nbf"),
        })
    }

    /// Whether `exp` is at or before `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|exp| exp <= now)
    }
}

fn json_part(part: &str) -> Option<Map<String, Value>> {
    // Some issuers pad their base64url; the spec says not to, and the decoder is strict.
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A NumericDate claim (seconds since the epoch, possibly fractional). Negative or absurd values
/// are dropped rather than wrapped.
fn time_claim(claims: &Map<String, Value>, key: &str) -> Option<SystemTime> {
    let secs = claims.get(key)?.as_f64()?;
    if !(0.0..1e12).contains(&secs) {
        return None;
    }
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.SIGNATURE-never-kept", b64(header), b64(claims))
    }

    #[test]
    fn reads_header_and_registered_claims() {
        let jwt = UnverifiedJwt::decode(&token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"https://issuer.example","sub":"system:serviceaccount:ns:app","aud":["a","b"],"exp":1700000000,"iat":1699996400.5,"nbf":1699996400,"email":"someone@example.com"}"#,
        ))
        .expect("decodes");
        assert_eq!(jwt.algorithm.as_deref(), Some("RS256"));
        assert_eq!(jwt.key_id.as_deref(), Some("k1"));
        assert_eq!(jwt.token_type.as_deref(), Some("JWT"));
        assert_eq!(jwt.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(jwt.subject.as_deref(), Some("system:serviceaccount:ns:app"));
        assert_eq!(jwt.audiences, ["a", "b"]);
        let exp = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(jwt.expires_at, Some(exp));
        assert!(jwt.is_expired_at(exp));
        assert!(!jwt.is_expired_at(exp - Duration::from_secs(1)));
        let shown = format!("{jwt:?}");
        assert!(!shown.contains("SIGNATURE"), "{shown}");
        assert!(
            !shown.contains("someone@"),
            "other claims are dropped: {shown}"
        );
    }

    #[test]
    fn tolerates_padding_and_odd_claims() {
        let padded = format!(
            "{}==.{}=.sig",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"aud":"x","exp":-5,"iat":"soon"}"#)
        );
        let jwt = UnverifiedJwt::decode(&padded).expect("decodes");
        assert_eq!(jwt.audiences, ["x"]);
        assert_eq!(jwt.expires_at, None);
        assert_eq!(jwt.issued_at, None);
        assert!(!jwt.is_expired_at(SystemTime::now()));
    }

    #[test]
    fn non_jwts_say_which_part_is_wrong() {
        let table = [
            ("", "three"),
            ("opaque-token", "three"),
            ("a.b.c.d.e", "three"),
            ("!!.e30.sig", "first part"),
            (&format!("{}.bm90IGpzb24.sig", b64("{}")), "second part"),
            (&format!("{}.{}.sig", b64("[1]"), b64("{}")), "first part"),
        ];
        for (text, says) in table {
            let err = UnverifiedJwt::decode(text).expect_err(text);
            assert!(err.to_string().contains(says), "{text}: {err}");
        }
    }
}
