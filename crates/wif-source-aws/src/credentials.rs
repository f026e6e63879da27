//! AWS security credentials: the key pair (and session token) the subject token is signed with.
//!
//! They come from the environment (Lambda, or `AWS_*` variables set by hand), from the EC2 instance
//! metadata service, or from any `aws_credential_types` provider; see the [`crate`] docs for the order.
//! The secret key and the session token live in [`SecretString`]s and never print.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use wif_core::Environment;

/// Name of the provider recorded on `aws_credential_types::Credentials` built from ours.
const PROVIDER_NAME: &str = "wif-source-aws";

/// An AWS access key id, secret access key and (for temporary credentials) session token.
///
/// `Debug` shows the access key id (an identifier, like the AWS SDKs do) and redacts the rest.
///
/// ```
/// use wif_source_aws::AwsCredentials;
///
/// let creds = AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
/// assert!(!format!("{creds:?}").contains("EXAMPLEKEY"));
/// ```
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: Option<SecretString>,
}

impl AwsCredentials {
    /// Credentials from their parts. An empty session token counts as none.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        AwsCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: SecretString::from(secret_access_key.into()),
            session_token: session_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
        }
    }

    /// The access key id (`AKIA…` for long-term keys, `ASIA…` for temporary ones).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key. Handle with care.
    pub fn secret_access_key(&self) -> &SecretString {
        &self.secret_access_key
    }

    /// The session token of temporary credentials, if any. Handle with care.
    pub fn session_token(&self) -> Option<&SecretString> {
        self.session_token.as_ref()
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (what Lambda sets).
    ///
    /// Both keys must be non-empty, else `None`. An empty `AWS_SESSION_TOKEN` is treated as unset
    /// (as Go does; Python would sign an empty `x-amz-security-token`, which AWS rejects).
    pub fn from_environment(env: &dyn Environment) -> Option<AwsCredentials> {
        let id = env.non_empty_var("AWS_ACCESS_KEY_ID")?;
        let secret = env.non_empty_var("AWS_SECRET_ACCESS_KEY")?;
        Some(AwsCredentials::new(
            id,
            secret,
            env.var("AWS_SESSION_TOKEN"),
        ))
    }

    /// The same credentials in the AWS SDK's type, for `aws-sigv4`.
    pub(crate) fn to_sdk(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose_secret().to_owned(),
            self.session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            PROVIDER_NAME,
        )
    }
}

/// The error of a local file named by the variable `variable` that cannot be used (missing,
/// empty, not a regular file, too large): a configuration error before any network call, naming
/// the variable, with `cause`.
pub(crate) fn unusable_file(
    variable: &str,
    cause: &'static wif_core::Cause,
    problem: String,
) -> wif_core::Error {
    wif_core::Error::new(
        wif_core::Step::Source,
        wif_core::ErrorKind::InvalidConfig,
        format!("{variable}: {problem}"),
    )
    .with_known_cause(cause)
}

/// The error of an answer that came back but cannot be read: `what` names the call (never the
/// answer itself, which holds secrets), `problem` what is wrong with it.
pub(crate) fn unreadable_answer(what: &str, problem: &str) -> wif_core::Error {
    wif_core::Error::invalid_response(
        wif_core::Step::Source,
        format!("{what}: the answer {problem}"),
    )
}

/// Credentials from a provider of the chain, with when they stop working: what the resolver
/// caches until shortly before then.
#[derive(Clone, Debug)]
pub(crate) struct Expiring {
    pub(crate) credentials: AwsCredentials,
    /// `None`: the provider said nothing (long-term keys of a profile).
    pub(crate) expires_at: Option<std::time::SystemTime>,
    /// The role (or assumed-role session) the credentials are of, when the provider says.
    pub(crate) role_arn: Option<String>,
}

impl From<aws_credential_types::Credentials> for AwsCredentials {
    fn from(c: aws_credential_types::Credentials) -> Self {
        AwsCredentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token().map(str::to_owned),
        )
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[REDACTED]")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use wif_core::MapEnvironment;

    use super::*;

    #[test]
    fn environment_needs_both_keys_and_drops_an_empty_session_token() {
        let only_id = MapEnvironment::new().with("AWS_ACCESS_KEY_ID", "AKID");
        assert!(AwsCredentials::from_environment(&only_id).is_none());

        let empty_secret = only_id.clone().with("AWS_SECRET_ACCESS_KEY", "");
        assert!(AwsCredentials::from_environment(&empty_secret).is_none());

        let keys = only_id
            .with("AWS_SECRET_ACCESS_KEY", "s3cr3t")
            .with("AWS_SESSION_TOKEN", "");
        let creds = AwsCredentials::from_environment(&keys).expect("both keys set");
        assert_eq!(creds.access_key_id(), "AKID");
        assert_eq!(creds.secret_access_key().expose_secret(), "s3cr3t");
        assert!(
            creds.session_token().is_none(),
            "empty session token is none"
        );

        let with_token = keys.with("AWS_SESSION_TOKEN", "tok");
        let creds = AwsCredentials::from_environment(&with_token).expect("both keys set");
        assert_eq!(
            creds.session_token().map(|t| t.expose_secret()),
            Some("tok")
        );
    }

    #[test]
    fn debug_redacts_secret_and_session_token() {
        let creds = AwsCredentials::new(
            "AKIDSHOWN",
            "secret-key-value",
            Some("session-value".into()),
        );
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKIDSHOWN"), "{shown}");
        assert!(!shown.contains("secret-key-value"), "{shown}");
        assert!(!shown.contains("session-value"), "{shown}");
    }

    #[test]
    fn round_trips_through_the_sdk_type() {
        let creds = AwsCredentials::new("AKID", "secret", Some("tok".into()));
        let back = AwsCredentials::from(creds.to_sdk());
        assert_eq!(back.access_key_id(), "AKID");
        assert_eq!(back.secret_access_key().expose_secret(), "secret");
        assert_eq!(back.session_token().map(|t| t.expose_secret()), Some("tok"));
    }
}
