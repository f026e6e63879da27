//! AWS STS at `/aws/sts`: `GetCallerIdentity`, what Google STS asks AWS when it receives an AWS
//! subject token, served so that `wif explain --call-aws` and tests can see the ARN Google would
//! see without an AWS account; and `GetWebIdentityToken`, the JWT of AWS's outbound identity
//! federation ([`crate::aws_sts_jwt`]); and `AssumeRoleWithWebIdentity`, unsigned, for EKS IRSA
//! ([`crate::aws_web_identity`]).
//!
//! `POST /aws/sts` (or `GET`) with `Action=GetCallerIdentity&Version=2011-06-15` (or
//! `Action=GetWebIdentityToken&…`) in the query or a form body. The SigV4 signature of the
//! request *as received* is verified ([`crate::sigv4`]) and the answer is AWS's XML
//! `GetCallerIdentityResponse`, or AWS's XML `ErrorResponse` (`SignatureDoesNotMatch`,
//! `InvalidClientTokenId`, `ExpiredToken`, …).
//!
//! **Which host is verified.** A request signed for AWS names `sts.{region}.amazonaws.com` in its
//! signed `host` header, but reaches the emulator at `127.0.0.1:PORT`. The signed host is taken
//! from an `x-wif-signed-host` header when present, else from the `Host` header (a client may send
//! the AWS host as `Host` itself). When the signed host is AWS STS's, the emulator's `/aws/sts`
//! stands for AWS's `/`, so the canonical URI is `/`. A request signed for the emulator's own
//! address (`Host` = the address it was sent to) is accepted too, with its path as is and no
//! region check. `x-wif-signed-host` itself is never part of the canonical request.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::config::AwsIdentity;
use crate::sigv4::{KnownKey, Rejection, SignedRequest, VerifiedCaller, Verifier, sts_host_region};
use crate::state::State;

/// The header carrying the host a request was signed for, when it differs from `Host`.
pub const SIGNED_HOST_HEADER: &str = "x-wif-signed-host";

const PREFIX: &str = "/aws/sts";
pub(crate) const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(PREFIX, get(handle).post(handle))
        .route("/aws/sts/", get(handle).post(handle))
}

async fn handle(
    AxState(state): AxState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    params.extend(url::form_urlencoded::parse(&body).into_owned());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let web_identity_token = match (param("Action"), param("Version")) {
        (None, _) => return error_response(400, "Sender", "MissingAction", "Missing Action"),
        (Some("GetCallerIdentity"), None | Some("2011-06-15")) => false,
        (Some("GetWebIdentityToken"), None | Some("2011-06-15")) => true,
        // Unsigned: the web identity token is the proof.
        (Some("AssumeRoleWithWebIdentity"), Some("2011-06-15")) => {
            return crate::aws_web_identity::assume_role(&state, &params);
        }
        (Some(action), version) => {
            return error_response(
                400,
                "Sender",
                "InvalidAction",
                &format!(
                    "Could not find operation {} for version {}",
                    clip(action),
                    clip(version.unwrap_or("NO_VERSION_SPECIFIED"))
                ),
            );
        }
    };
    let caller = match verify(&state, &method, &uri, &headers, &body) {
        Ok(caller) => caller,
        Err(rejection) => {
            tracing::info!(reason = %rejection, "aws sts refused a request");
            return rejection_response(&rejection);
        }
    };
    if web_identity_token {
        return crate::aws_sts_jwt::get_web_identity_token(&state, &caller, &params);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml")],
        caller_identity_xml(&state.config.aws),
    )
        .into_response()
}

/// Verifies the SigV4 signature of the request as received (see the module doc for the host).
fn verify(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<VerifiedCaller, Rejection> {
    let received_host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let signed_host = headers
        .get(SIGNED_HOST_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| received_host.clone());
    let mut list: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| *name != header::HOST && name.as_str() != SIGNED_HOST_HEADER)
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    list.push(("host".to_owned(), signed_host.clone()));

    let path = if sts_host_region(&signed_host).is_some() {
        match uri.path().strip_prefix(PREFIX) {
            Some("") | None => "/",
            Some(rest) => rest,
        }
    } else {
        uri.path()
    };
    let url = match uri.query() {
        Some(q) => format!("https://{signed_host}{path}?{q}"),
        None => format!("https://{signed_host}{path}"),
    };
    let config = &state.config;
    let verifier = Verifier {
        keys: vec![KnownKey::of(&config.aws)],
        now: SystemTime::now(),
        max_clock_skew: config.max_clock_skew,
        // Signed for the emulator's own address: accepted, with no region to check. (A client
        // that sends the AWS host as `Host` gets the full AWS host checks.)
        also_host: Some(received_host.as_str()).filter(|h| sts_host_region(h).is_none()),
    };
    let request = SignedRequest {
        method: method.as_str(),
        url: &url,
        headers: &list,
        body,
    };
    verifier.verify(&request)
}

/// `AROA` + 17 characters derived from the role, as stable as AWS's role ids.
pub(crate) fn role_id(identity: &AwsIdentity) -> String {
    let digest = Sha256::digest(format!("{}/{}", identity.account, identity.role).as_bytes());
    let tail: String = digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>()
        .chars()
        .take(17)
        .collect();
    format!("AROA{tail}")
}

/// AWS's `GetCallerIdentityResponse` for the emulated role's session.
pub(crate) fn caller_identity_xml(identity: &AwsIdentity) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}:{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml_escape(&identity.assumed_role_arn()),
        role_id(identity),
        xml_escape(&identity.session_name),
        xml_escape(&identity.account),
        request_id()
    )
}

fn rejection_response(rejection: &Rejection) -> Response {
    error_response(
        rejection.status(),
        "Sender",
        rejection.aws_code(),
        &rejection.aws_message(),
    )
}

/// AWS's XML `ErrorResponse`.
pub(crate) fn error_response(status: u16, kind: &str, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        xml_escape(message),
        request_id()
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
        [(header::CONTENT_TYPE, "text/xml")],
        body,
    )
        .into_response()
}

/// A fresh `RequestId`, shaped like AWS's UUIDs.
pub(crate) fn request_id() -> String {
    let hex = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;

    #[test]
    fn the_caller_identity_names_the_assumed_role_session() {
        let config = EmulatorConfig::default();
        let xml = caller_identity_xml(&config.aws);
        assert!(xml.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        ));
        assert!(xml.contains(
            "<Arn>arn:aws:sts::123456789012:assumed-role/wif-demo-lambda-role/wif-demo-function</Arn>"
        ));
        assert!(xml.contains("<Account>123456789012</Account>"));
        let id = role_id(&config.aws);
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        assert!(xml.contains(&format!("<UserId>{id}:wif-demo-function</UserId>")));
    }

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }

    #[test]
    fn request_ids_look_like_aws_uuids() {
        let id = request_id();
        let lens: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12]);
    }
}
