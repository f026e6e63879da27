//! Finding secrets in text, for leak tests: the tokens this emulator issues have a fixed shape
//! (`emu-federated.<32 hex>`, `emu-sa.<32 hex>`), so a test can sweep any output for them without
//! knowing their values; JWTs and SigV4 signatures are found by shape too.

/// Prefix of the federated tokens the emulated Google STS issues.
pub const FEDERATED_PREFIX: &str = "emu-federated.";
/// Prefix of the service-account tokens the emulated IAM Credentials issues.
pub const SERVICE_ACCOUNT_PREFIX: &str = "emu-sa.";

/// Every emulator-issued access token in `text`. A bare prefix (as in prose) is not a token.
pub fn issued_tokens(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in [FEDERATED_PREFIX, SERVICE_ACCOUNT_PREFIX] {
        for (at, _) in text.match_indices(prefix) {
            let hex = leading(&text[at + prefix.len()..], |c| c.is_ascii_hexdigit());
            if hex.len() >= 8 {
                found.push(format!("{prefix}{hex}"));
            }
        }
    }
    found
}

/// Substrings of `text` shaped like an emulator-issued access token, a JWT (three
/// base64url parts of 8+ characters) or a SigV4 signature (64 hex digits after `Signature=`).
pub fn secret_shapes(text: &str) -> Vec<String> {
    let mut found = issued_tokens(text);
    for (at, _) in text.match_indices("eyJ") {
        let candidate = leading(&text[at..], |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
        });
        let parts: Vec<&str> = candidate.split('.').collect();
        if parts.len() >= 3 && parts[..3].iter().all(|p| p.len() >= 8) {
            found.push(candidate.to_owned());
        }
    }
    for marker in ["Signature=", "Signature%3D", "signature="] {
        for (at, _) in text.match_indices(marker) {
            let hex = leading(&text[at + marker.len()..], |c| c.is_ascii_hexdigit());
            if hex.len() == 64 {
                found.push(format!("{marker}{hex}"));
            }
        }
    }
    found
}

/// The longest prefix of `text` whose characters all satisfy `keep`.
fn leading(text: &str, keep: impl Fn(char) -> bool) -> &str {
    let end = text.find(|c: char| !keep(c)).unwrap_or(text.len());
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_issued_tokens_and_ignores_bare_prefixes() {
        let text = "Bearer emu-sa.0123456789abcdef0123456789abcdef, emu-federated.deadbeef00; emu-sa. tokens";
        assert_eq!(
            issued_tokens(text),
            [
                "emu-federated.deadbeef00",
                "emu-sa.0123456789abcdef0123456789abcdef"
            ]
        );
        assert!(issued_tokens("emu-sa.xyz and emu-federated.").is_empty());
    }

    #[test]
    fn finds_secret_shapes_and_ignores_prose() {
        let text = "Bearer emu-sa.0123456789abcdef, eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl \
                    Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(secret_shapes(text).len(), 3, "{:?}", secret_shapes(text));
        let prose =
            "emu-sa. tokens; a JWT starts with eyJ; SignedHeaders=host;x-amz-date, Signature=...";
        assert!(secret_shapes(prose).is_empty());
    }

    #[test]
    fn issued_tokens_have_the_shape_the_detector_finds() {
        let state = crate::State::new(crate::EmulatorConfig::default());
        let (token, _) = state.issue(
            crate::TokenKind::ServiceAccount,
            "sa@p.iam.gserviceaccount.com".into(),
            vec![],
            vec![],
            std::time::Duration::from_secs(60),
        );
        assert_eq!(issued_tokens(&format!("x {token} y")), [token]);
    }
}
