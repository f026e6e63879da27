//! The fixed names of the protocols the chain speaks, declared once for every wif-rs crate: the
//! token-type URNs of the Google STS exchange ([RFC 8693]), Google's default universe and the
//! endpoints derived from it, the OAuth scopes, and the AWS STS action the AWS subject token
//! signs. The crates that own a step re-export the ones their users need under their old paths
//! (`wif_sts::DEFAULT_TOKEN_URL`, `wif::config::AWS_SUBJECT_TOKEN_TYPE`, …); those are the same
//! constants.
//!
//! `docs/protocol.md` explains each value and links the public sources it comes from.
//!
//! ```
//! use wif_core::protocol;
//!
//! assert_eq!(protocol::sts_token_url(""), protocol::DEFAULT_STS_TOKEN_URL);
//! assert_eq!(
//!     protocol::sts_mtls_token_url("s3nsapis.fr"),
//!     "https://sts.mtls.s3nsapis.fr/v1/token",
//! );
//! ```
//!
//! [RFC 8693]: https://www.rfc-editor.org/rfc/rfc8693

// ---- RFC 8693 token exchange ------------------------------------------------------------------

/// The `grant_type` of a token exchange (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The `requested_token_type` (and the `issued_token_type` Google STS answers): an OAuth 2.0
/// access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// `subject_token_type` of the AWS source: a serialized, SigV4-signed `GetCallerIdentity`
/// request (Google's own URN).
pub const AWS_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
/// `subject_token_type` of an OIDC JWT (RFC 8693 §3).
pub const JWT_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// `subject_token_type` of an OIDC ID token (RFC 8693 §3).
pub const ID_TOKEN_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// `subject_token_type` of a base64-encoded SAML 2.0 assertion (RFC 8693 §3).
pub const SAML2_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:saml2";
/// `subject_token_type` of the X.509 certificate source: the certificate chain, proven by the
/// mTLS connection that carries it (Google's own URN).
pub const MTLS_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:mtls";

// ---- Google ---------------------------------------------------------------------------------

/// The universe (domain) of Google's public cloud, used when a configuration names none.
pub const DEFAULT_UNIVERSE_DOMAIN: &str = "googleapis.com";

/// Google STS's token endpoint in the default universe.
pub const DEFAULT_STS_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";

/// The OAuth scope that grants access to all Google Cloud APIs the principal is allowed to use.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The IAM scope (what Python's google-auth requests for the STS leg of impersonation).
pub const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";

/// Google STS's token endpoint in a universe, `https://sts.{universe_domain}/v1/token`, as
/// Google's clients derive it. An empty (or blank) domain means [`DEFAULT_UNIVERSE_DOMAIN`].
pub fn sts_token_url(universe_domain: &str) -> String {
    format!(
        "https://sts.{}/v1/token",
        universe_or_default(universe_domain)
    )
}

/// Google STS's mTLS endpoint in a universe, `https://sts.mtls.{universe_domain}/v1/token`: where
/// a certificate-sourced (`mtls`) subject token is exchanged. An empty (or blank) domain means
/// [`DEFAULT_UNIVERSE_DOMAIN`].
pub fn sts_mtls_token_url(universe_domain: &str) -> String {
    format!(
        "https://sts.mtls.{}/v1/token",
        universe_or_default(universe_domain)
    )
}

/// IAM Credentials' `generateAccessToken` URL for `service_account_email` in a universe:
/// `https://iamcredentials.{universe_domain}/v1/projects/-/serviceAccounts/{email}:generateAccessToken`,
/// the form gcloud writes into `service_account_impersonation_url`. An empty (or blank) domain
/// means [`DEFAULT_UNIVERSE_DOMAIN`]; the email is put in as given.
pub fn impersonation_url(universe_domain: &str, service_account_email: &str) -> String {
    format!(
        "https://iamcredentials.{}/v1/projects/-/serviceAccounts/{service_account_email}{GENERATE_ACCESS_TOKEN_METHOD}",
        universe_or_default(universe_domain)
    )
}

/// The method suffix that ends every `generateAccessToken` URL's path.
pub const GENERATE_ACCESS_TOKEN_METHOD: &str = ":generateAccessToken";

fn universe_or_default(universe_domain: &str) -> &str {
    match universe_domain.trim() {
        "" => DEFAULT_UNIVERSE_DOMAIN,
        domain => domain,
    }
}

// ---- AWS STS ---------------------------------------------------------------------------------

/// The AWS STS API version every call names (`Version=2011-06-15`).
pub const AWS_STS_API_VERSION: &str = "2011-06-15";
/// The AWS STS action the AWS subject token signs; Google STS sends it on to AWS to learn who
/// signed it.
pub const GET_CALLER_IDENTITY_ACTION: &str = "GetCallerIdentity";
/// The AWS STS action that issues an AWS-signed JWT (outbound identity federation).
pub const GET_WEB_IDENTITY_TOKEN_ACTION: &str = "GetWebIdentityToken";
/// The query of the signed `GetCallerIdentity` request, and the only one a
/// `regional_cred_verification_url` may carry.
pub const GET_CALLER_IDENTITY_QUERY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
/// The default `regional_cred_verification_url` (what gcloud writes, and Go's default):
/// `{region}` is replaced by the workload's region when signing.
pub const DEFAULT_REGIONAL_CRED_VERIFICATION_URL: &str =
    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
/// AWS STS's regional endpoint, `{region}` replaced by the workload's region.
pub const DEFAULT_AWS_STS_ENDPOINT: &str = "https://sts.{region}.amazonaws.com/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_urls_follow_the_universe() {
        assert_eq!(
            sts_token_url(DEFAULT_UNIVERSE_DOMAIN),
            DEFAULT_STS_TOKEN_URL
        );
        assert_eq!(sts_token_url("  "), DEFAULT_STS_TOKEN_URL);
        assert_eq!(
            sts_token_url(" s3nsapis.fr "),
            "https://sts.s3nsapis.fr/v1/token"
        );
        assert_eq!(
            sts_mtls_token_url(""),
            "https://sts.mtls.googleapis.com/v1/token"
        );
        assert_eq!(
            impersonation_url("", "sa@p.iam.gserviceaccount.com"),
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
        );
    }

    /// The spelled-out AWS strings agree with their parts.
    #[test]
    fn aws_strings_agree() {
        assert_eq!(
            GET_CALLER_IDENTITY_QUERY,
            format!("Action={GET_CALLER_IDENTITY_ACTION}&Version={AWS_STS_API_VERSION}")
        );
        assert_eq!(
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            format!("https://sts.{{region}}.amazonaws.com?{GET_CALLER_IDENTITY_QUERY}")
        );
        assert!(
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL
                .starts_with(DEFAULT_AWS_STS_ENDPOINT.trim_end_matches('/'))
        );
    }
}
