//! The emulator as an OIDC identity provider: it mints the JWTs that file and URL credential
//! sources read (the subject tokens of the OIDC provider), and Google STS verifies them.
//!
//! Tokens are HS256 JWTs signed with a key drawn at random for each emulator, so a token from one
//! emulator (or a tampered one) is refused by another. Issuer: [`ISSUER`].
//!
//! Routes:
//! - `GET /_emulator/oidc-token?sub=…&aud=…&lifetime=…` answers the bare token (`text/plain`);
//! - `GET /oidc/token?sub=…` answers `{"id_token": "…"}` for the OIDC provider's audience, the
//!   shape a URL-sourced credential config with `format.type = json` reads.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::state::State;

/// The `iss` of every token the emulator mints.
pub const ISSUER: &str = "https://oidc.wif-emulator.invalid";

/// The subject of tokens minted when the caller names none.
pub const DEFAULT_SUBJECT: &str = "wif-demo-workload";

/// Lifetime of tokens minted by the routes when the caller names none.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The claims of a verified emulator-issued OIDC token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcClaims {
    /// Subject (mapped to `google.subject`).
    pub sub: String,
    /// Issuer ([`ISSUER`]).
    pub iss: String,
    /// Audience (the workload identity pool provider).
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

/// The HS256 key of one emulator. Its `Debug` never shows the key.
pub(crate) struct SigningKey([u8; 64]);

impl SigningKey {
    pub(crate) fn random() -> Self {
        SigningKey(std::array::from_fn(|_| fastrand::u8(..)))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // The HMAC-SHA256 block size is 64 bytes, so the key is used as is, infallibly.
        <Hmac<Sha256> as KeyInit>::new(&self.0.into())
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// The registered claims (RFC 7519 §4.1) of every JWT the emulator mints: its own OIDC tokens
/// carry these alone, its AWS STS web identity tokens flatten them into their own claims.
#[derive(Serialize, Deserialize)]
pub(crate) struct RegisteredClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: Audience,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
}

/// A JWT `aud`: one string, or (RFC 7519 §4.1.3, as AWS STS mints with several audiences) an array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// The audiences, in token order.
    pub(crate) fn values(&self) -> &[String] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
}

/// "Unable to parse the ID Token.": Google's words for a token that is not a JWT.
pub(crate) const UNPARSABLE: &str = "Unable to parse the ID Token.";

/// Google's exact words for an `aud` that is not the provider's (verified against the real service).
const AUDIENCE_MISMATCH: &str = "The audience in ID Token does not match the expected audience.";

/// Google's words for a token of another issuer than the provider's.
fn issuer_mismatch(got: &str, expected: &str) -> String {
    format!("The issuer in ID Token {got} does not match the expected ISSUER {expected}.")
}

/// Google's words for an expired token.
fn stale(iat: u64) -> String {
    format!("ID Token issued at {iat} is stale to sign-in.")
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints a token for `subject`, for `audience`, valid for `lifetime` from now.
pub fn mint(state: &State, subject: &str, audience: &str, lifetime: Duration) -> String {
    let iat = unix_now();
    mint_at(
        state,
        subject,
        audience,
        iat,
        iat.saturating_add(lifetime.as_secs()),
    )
}

fn mint_at(state: &State, subject: &str, audience: &str, iat: u64, exp: u64) -> String {
    let header = Header {
        alg: "HS256".into(),
        typ: "JWT".into(),
    };
    let claims = RegisteredClaims {
        iss: ISSUER.into(),
        sub: subject.into(),
        aud: Audience::One(audience.into()),
        iat,
        exp,
    };
    sign(state, &header, &claims)
}

/// `header.claims.signature`, HS256 with the emulator's key: every JWT the emulator mints (its
/// own OIDC tokens and its AWS STS web identity tokens) is signed here.
pub(crate) fn sign<H: Serialize, C: Serialize>(state: &State, header: &H, claims: &C) -> String {
    let signing_input = format!("{}.{}", encode_json(header), encode_json(claims));
    let mut mac = state.oidc_key.mac();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

fn encode_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail; an empty segment would fail verification anyway.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// Verifies a token this emulator minted for `audience`: signature, issuer, audience and expiry.
/// The error is Google STS's `error_description` for the failure.
pub fn verify(state: &State, token: &str, audience: &str) -> Result<OidcClaims, String> {
    let payload = verified_payload(state, token)?;
    let claims: RegisteredClaims =
        serde_json::from_slice(&payload).map_err(|_| UNPARSABLE.to_owned())?;
    check_claims(
        (&claims.iss, ISSUER),
        (&claims.aud, &[audience]),
        claims.iat,
        claims.exp,
    )?;
    Ok(OidcClaims {
        sub: claims.sub,
        iss: claims.iss,
        aud: audience.to_owned(),
        exp: claims.exp,
    })
}

/// Google STS's checks of a verified token's claims, in its order: the issuer is the provider's
/// (`(got, expected)`), one `aud` is among the accepted ones (`(aud, accepted)`), and the token
/// has not expired. The error is Google's `error_description`.
pub(crate) fn check_claims(
    (iss, issuer): (&str, &str),
    (aud, accepted): (&Audience, &[&str]),
    iat: u64,
    exp: u64,
) -> Result<(), String> {
    if iss != issuer {
        return Err(issuer_mismatch(iss, issuer));
    }
    if !aud.values().iter().any(|a| accepted.contains(&a.as_str())) {
        return Err(AUDIENCE_MISMATCH.into());
    }
    if exp <= unix_now() {
        return Err(stale(iat));
    }
    Ok(())
}

/// The payload (JSON bytes) of a JWT this emulator signed: checks the form, the algorithm and the
/// signature, nothing of the claims. The error is Google STS's `error_description`.
pub(crate) fn verified_payload(state: &State, token: &str) -> Result<Vec<u8>, String> {
    let token = token.trim();
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return Err(UNPARSABLE.into());
    };
    let Some((header, payload)) = signing_input
        .split_once('.')
        .filter(|(_, p)| !p.contains('.'))
    else {
        return Err(UNPARSABLE.into());
    };
    let decode = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| UNPARSABLE.to_owned())
    };
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| UNPARSABLE.to_owned())?;
    if header.alg != "HS256" {
        return Err(format!(
            "The ID Token's signing algorithm {} is not supported.",
            header.alg
        ));
    }
    let mut mac = state.oidc_key.mac();
    mac.update(signing_input.as_bytes());
    if mac.verify_slice(&decode(signature)?).is_err() {
        return Err(
            "Invalid ID Token signature: the token was not issued by this emulator.".into(),
        );
    }
    decode(payload)
}

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/_emulator/oidc-token", get(token_text))
        .route("/oidc/token", get(token_json))
}

#[derive(Deserialize)]
struct MintQuery {
    sub: Option<String>,
    aud: Option<String>,
    /// Seconds.
    lifetime: Option<u64>,
}

impl MintQuery {
    fn mint(self, state: &State) -> String {
        let audience = self.aud.unwrap_or_else(|| state.config.oidc_audience());
        let lifetime = self
            .lifetime
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        mint(
            state,
            self.sub.as_deref().unwrap_or(DEFAULT_SUBJECT),
            &audience,
            lifetime,
        )
    }
}

async fn token_text(AxState(state): AxState<Arc<State>>, Query(q): Query<MintQuery>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        q.mint(&state),
    )
        .into_response()
}

async fn token_json(AxState(state): AxState<Arc<State>>, Query(q): Query<MintQuery>) -> Response {
    let q = MintQuery { aud: None, ..q };
    Json(serde_json::json!({ "id_token": q.mint(&state) })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;

    fn state() -> State {
        State::new(EmulatorConfig::default())
    }

    const AUD: &str =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/o";

    /// Claims for `sub` at [`AUD`], issued now and valid for a minute.
    fn fresh_claims(sub: &str) -> RegisteredClaims {
        RegisteredClaims {
            iss: ISSUER.into(),
            sub: sub.into(),
            aud: Audience::One(AUD.into()),
            iat: unix_now(),
            exp: unix_now() + 60,
        }
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let state = state();
        let token = mint(&state, "alice", AUD, Duration::from_secs(60));
        let claims = verify(&state, &token, AUD).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, AUD);
        let now = unix_now();
        assert!(
            (now + 59..=now + 61).contains(&claims.exp),
            "exp {} now {now}",
            claims.exp
        );
        // Trailing whitespace (a token file ending in a newline) is tolerated.
        assert!(verify(&state, &format!("{token}\n"), AUD).is_ok());
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let state = state();
        let token = mint(&state, "alice", AUD, Duration::from_secs(60));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = encode_json(&fresh_claims("mallory"));
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        let err = verify(&state, &tampered, AUD).unwrap_err();
        assert!(err.contains("signature"), "{err}");
    }

    #[test]
    fn a_token_from_another_emulator_is_refused() {
        let token = mint(&state(), "alice", AUD, Duration::from_secs(60));
        let err = verify(&state(), &token, AUD).unwrap_err();
        assert!(err.contains("signature"), "{err}");
    }

    #[test]
    fn an_expired_token_is_stale() {
        let state = state();
        let iat = unix_now() - 7200;
        let token = mint_at(&state, "alice", AUD, iat, iat + 3600);
        assert_eq!(
            verify(&state, &token, AUD).unwrap_err(),
            format!("ID Token issued at {iat} is stale to sign-in.")
        );
    }

    #[test]
    fn the_wrong_audience_gets_googles_words() {
        let state = state();
        let token = mint(&state, "alice", "//other", Duration::from_secs(60));
        assert_eq!(
            verify(&state, &token, AUD).unwrap_err(),
            "The audience in ID Token does not match the expected audience."
        );
    }

    #[test]
    fn garbage_is_unparsable_not_a_panic() {
        let state = state();
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c",
            "a.b.c.d",
            "..",
            "é.é.é",
            "eyJhbGciOiJub25lIn0.e30.",
        ] {
            let err = verify(&state, bad, AUD).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let state = state();
        let header = encode_json(&Header {
            alg: "none".into(),
            typ: "JWT".into(),
        });
        let claims = encode_json(&fresh_claims("x"));
        let err = verify(&state, &format!("{header}.{claims}."), AUD).unwrap_err();
        assert!(err.contains("algorithm"), "{err}");
    }

    #[test]
    fn the_signing_key_is_not_in_debug() {
        let state = state();
        let debug = format!("{state:?}");
        assert!(debug.contains("SigningKey(<redacted>)"), "{debug}");
    }
}
