//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! instance-metadata answers of the source step (role name, role credentials) and AWS STS's answers
//! to `GetWebIdentityToken` (the JWT, or an `ErrorResponse`) without a network. The zone → region
//! rule is public already ([`crate::region_from_zone`]). Only with the `fuzzing` feature (which
//! `fuzz/Cargo.toml` turns on) and in this crate's own tests; not part of the API: hidden from the
//! documentation, and free to change.

use wif_core::{Error, SubjectToken};

use crate::credentials::AwsCredentials;

/// Reads the answer of `GET …/iam/security-credentials/` (one IAM role name).
pub fn role_name_response(body: &[u8]) -> Result<String, Error> {
    crate::imds::parse_role_name(body)
}

/// Reads the answer of `GET …/iam/security-credentials/<role>` (the role's credentials JSON).
pub fn credentials_response(body: &[u8]) -> Result<AwsCredentials, Error> {
    crate::imds::parse_credentials(body)
}

/// Reads the answer of AWS STS `GetWebIdentityToken` (the JWT and its expiry); the error is
/// the description the source reports (never the answer itself).
pub fn web_identity_token_response(body: &[u8]) -> Result<SubjectToken, String> {
    crate::jwt_request::read_answer(body).map(|(token, _)| token)
}

/// AWS STS's non-success answer (`ErrorResponse` XML) with `status`, as the source reports it.
pub fn aws_error_response(status: u16, body: &[u8]) -> Error {
    crate::aws_sts::aws_error(
        wif_core::protocol::GET_WEB_IDENTITY_TOKEN_ACTION,
        status,
        &String::from_utf8_lossy(body),
        None,
    )
}
