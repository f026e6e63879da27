//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! instance-metadata answers of step 1 (role name, role credentials) without a network. The
//! zone → region rule is public already ([`crate::region_from_zone`]). Not part of the API:
//! hidden from the documentation, and free to change.

use wif_core::Error;

use crate::AwsCredentials;

/// Reads the answer of `GET …/iam/security-credentials/` (one IAM role name).
pub fn role_name_response(body: &[u8]) -> Result<String, Error> {
    crate::imds::parse_role_name(body)
}

/// Reads the answer of `GET …/iam/security-credentials/<role>` (the role's credentials JSON).
pub fn credentials_response(body: &[u8]) -> Result<AwsCredentials, Error> {
    crate::imds::parse_credentials(body)
}
