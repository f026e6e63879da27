//! A subject token source for tests: the first step of the chain, answered with a fixed token, so
//! an STS exchange (or a whole chain) can be tested without AWS, a token file or an identity
//! provider.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, SourceContext, SubjectToken, SubjectTokenSource, async_trait};

/// Hands out the same subject token on every call and counts the calls (clones share the
/// count). `Debug` never shows the token.
///
/// ```
/// use wif_core::testing::StaticSubjectToken;
/// use wif_core::{SourceContext, SubjectTokenSource};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
/// let source = StaticSubjectToken::new("eyJhbGciOi.oidc.token");
/// let ctx = SourceContext::new("//iam.googleapis.com/…", "urn:ietf:params:oauth:token-type:jwt");
/// assert_eq!(source.subject_token(&ctx).await?.len(), 21);
/// assert_eq!(source.calls(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StaticSubjectToken {
    token: SubjectToken,
    kind: &'static str,
    calls: Arc<AtomicU64>,
}

impl StaticSubjectToken {
    /// A source of `token`, of kind `programmatic`.
    pub fn new(token: impl Into<String>) -> Self {
        StaticSubjectToken {
            token: SubjectToken::new(token),
            kind: "programmatic",
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reports `kind` (sent in STS's metrics header as `source/{kind}`).
    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// How many subject tokens were handed out.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SubjectTokenSource for StaticSubjectToken {
    async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.token.clone())
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}

impl fmt::Debug for StaticSubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticSubjectToken")
            .field("token", &self.token)
            .field("kind", &self.kind)
            .field("calls", &self.calls())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hands_out_its_token_counts_and_never_shows_it() {
        let source = StaticSubjectToken::new("subject-SECRET-123").with_kind("aws");
        let copy = source.clone();
        let ctx = SourceContext::new("aud", "type");
        let token = source.subject_token(&ctx).await.expect("a token");
        assert_eq!(token.len(), "subject-SECRET-123".len());
        source.subject_token(&ctx).await.expect("again");
        assert_eq!(copy.calls(), 2, "clones share the count");
        assert_eq!(source.kind(), "aws");
        let shown = format!("{source:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("calls: 2"), "{shown}");
    }
}
