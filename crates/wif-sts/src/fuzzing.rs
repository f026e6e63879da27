//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! response half of the exchange step (success bodies and error bodies) without a network. Only
//! with the `fuzzing` feature (which `fuzz/Cargo.toml` turns on) and in this crate's own tests; not
//! part of the API: hidden from the documentation, and free to change.

use tokio::time::Instant;
use wif_core::{AccessToken, Error, Redactor, SubjectToken};

use crate::hints::{Sent, http_error};
use crate::response;

/// Handles an STS answer the way an exchange attempt does: a 2xx `body` becomes a token,
/// anything else an error with the server's words (scrubbed of the `subject_token` as the
/// attempt scrubs them) and a hint.
pub fn token_response(status: u16, body: &[u8], subject_token: &str) -> Result<AccessToken, Error> {
    if (200..300).contains(&status) {
        return response::parse(body, Instant::now());
    }
    let sent = Sent {
        audience: "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/aws",
        subject_token_type: wif_core::protocol::AWS_SUBJECT_TOKEN_TYPE,
    };
    let redactor = Redactor::new().subject_token(&SubjectToken::new(subject_token));
    Err(http_error(status, body, &sent).redact(&redactor))
}
