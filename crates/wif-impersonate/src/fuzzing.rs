//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! response half of the impersonation step (`generateAccessToken` success bodies) without a
//! network. Only with the `fuzzing` feature (which `fuzz/Cargo.toml` turns on) and in this crate's
//! own tests; not part of the API: hidden from the documentation, and free to change.

use wif_core::{AccessToken, Error};

/// Reads a `generateAccessToken` success body (`accessToken`, RFC 3339 `expireTime`) as an
/// impersonation call does.
pub fn generate_access_token_response(body: &[u8]) -> Result<AccessToken, Error> {
    crate::impersonation::parse_response(body, std::time::SystemTime::now(), None)
}
