//! Shared by the trust-policy suites (`trust_policy.rs`, `trust_loading.rs`): a gcloud-shaped
//! configuration, JSON edits, and what every policy refusal must look like.

#![allow(dead_code, clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use serde_json::{Value, json};
use wif::{Error, Step};

/// A workload identity pool provider.
pub const WORKLOAD: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/prov";
/// The OIDC subject token type.
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// gcloud's `--credential-source-file=…` output for an EKS projected token.
pub fn file_config() -> Value {
    json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": WORKLOAD,
        "subject_token_type": JWT,
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {
            "file": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
            "format": { "type": "text" }
        }
    })
}

/// Your own subject token source, of kind `mine`: for chains that never run it.
#[derive(Debug)]
pub struct Custom;

#[wif::async_trait]
impl wif::SubjectTokenSource for Custom {
    async fn subject_token(&self, _: &wif::SourceContext) -> Result<wif::SubjectToken, wif::Error> {
        Ok(wif::SubjectToken::new("unused"))
    }
    fn kind(&self) -> &'static str {
        "mine"
    }
}

/// `value` with `edits` applied: `"a.b": v` sets a nested key, `null` removes it.
pub fn with(mut value: Value, edits: &[(&str, Value)]) -> Value {
    for (key, new) in edits {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().unwrap();
        let mut at = &mut value;
        for p in parts {
            at = at.get_mut(p).unwrap();
        }
        let obj = at.as_object_mut().unwrap();
        if new.is_null() {
            obj.remove(last);
        } else {
            obj.insert(last.to_owned(), new.clone());
        }
    }
    value
}

/// A refusal by the trust policy: a configuration error naming `field` and `rule`, with a hint.
pub fn assert_policy_error(err: &Error, field: &str, rule: &str) {
    let shown = err.to_string();
    assert!(err.is_config(), "{shown}");
    assert_eq!(err.step(), Step::Config, "{shown}");
    assert!(
        shown.contains(&format!("`{field}`:")),
        "field {field}: {shown}"
    );
    assert!(
        shown.contains(&format!("refused by the trust policy (rule `{rule}`)")),
        "rule {rule}: {shown}"
    );
    assert!(err.hint().is_some(), "no hint: {shown}");
}
