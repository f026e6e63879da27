//! Steps 3 to 5 of `wif explain`: the Google STS exchange, service-account impersonation and the
//! resulting token, built from the configuration the way the facade builds them, but called one
//! at a time so each can be timed and diagnosed on its own. Tokens are held, never shown.

use std::time::SystemTime;

use wif::config::ExternalAccountConfig;
use wif::layers::core::{Clock, StaticTokenProvider};
use wif::layers::impersonate::Impersonation;
use wif::layers::sts::StsExchange;
use wif::{
    AccessToken, CLOUD_PLATFORM_SCOPE, Error, SourceContext, Step, SubjectToken,
    SubjectTokenSource, TokenProvider, async_trait,
};

use super::diagnose;
use super::report::StepId;
use super::{Walk, describe_duration, shown_url};

/// Stands in for the source inside [`StsExchange`]: the walk hands the exchange the subject
/// token it already looked at, so this is only asked for its kind (for the metrics header).
#[derive(Debug)]
struct AlreadyObtained(&'static str);

#[async_trait]
impl SubjectTokenSource for AlreadyObtained {
    async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
        Err(Error::not_supported(
            Step::Source,
            "wif explain obtains the subject token itself",
        ))
    }

    fn kind(&self) -> &'static str {
        self.0
    }
}

/// The scopes of the final token: `wif explain` asks for what `wif token` asks by default.
fn scopes() -> Vec<String> {
    vec![CLOUD_PLATFORM_SCOPE.to_owned()]
}

impl Walk {
    /// Step 3: the RFC 8693 exchange at Google STS.
    pub(super) async fn exchange_step(
        &mut self,
        cfg: &ExternalAccountConfig,
        subject: &SubjectToken,
    ) -> Result<AccessToken, Error> {
        let step = self.step(StepId::Exchange);
        step.fact("token_url", "token URL", shown_url(&cfg.token_url));
        step.fact("audience", "audience", cfg.audience.clone());
        step.fact(
            "subject_token_type",
            "subject token type",
            cfg.subject_token_type.clone(),
        );
        step.fact("scopes", "scopes", scopes());
        step.optional("client_id", "client id", cfg.client_id.clone());
        let started = tokio::time::Instant::now();
        let result = match self.sts(cfg) {
            // The exchange of a certificate source is authenticated by the workload
            // certificate (mTLS), which this walk's client does not present.
            Ok(_) if cfg.source_kind() == "x509" => Err(Error::not_supported(
                Step::Exchange,
                "wif explain cannot run the mTLS exchange of an X.509 certificate source yet",
            )
            .with_hint("run `wif token` to test the whole chain")),
            Ok(sts) => sts.exchange(subject).await,
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        self.known.local_now = Some(self.clock.now());
        match result {
            Ok(token) => {
                self.redactor.add(token.secret());
                let lifetime = token.remaining().map(describe_duration);
                let step = self.step(StepId::Exchange);
                step.took(elapsed);
                step.fact(
                    "federated_token_type",
                    "federated token type",
                    token.token_type().to_owned(),
                );
                step.fact(
                    "federated_token_expires_in",
                    "federated token expires in",
                    lifetime.clone(),
                );
                let what = match cfg.credential_source {
                    wif::CredentialSource::Aws(_) => {
                        "Google STS replayed the signed request to AWS, which confirmed the caller"
                    }
                    _ => "Google STS verified the token's signature with the issuer's keys",
                };
                step.ok(format!(
                    "{what}; the provider's attribute condition accepted the identity; federated token issued (valid {})",
                    lifetime.unwrap_or_else(|| "for an unknown time".into())
                ));
                Ok(token)
            }
            Err(e) => {
                let diagnoses = if e.is_config() {
                    diagnose::config_failure(&e)
                } else {
                    diagnose::exchange_failure(&e, &self.known)
                };
                let skew = self.known.skew(&e);
                let step = self.step(StepId::Exchange);
                step.took(elapsed);
                if let Some(skew) = skew {
                    step.fact(
                        "clock_skew",
                        "this clock (by the Date header)",
                        diagnose::describe_skew(skew),
                    );
                    step.json_only("clock_skew_seconds", skew);
                    if let Some(w) = diagnose::skew_warning(skew) {
                        step.warn(w);
                    }
                }
                step.fail(&e);
                step.diagnose(diagnoses);
                Err(e)
            }
        }
    }

    fn sts(&self, cfg: &ExternalAccountConfig) -> Result<StsExchange, Error> {
        let impersonate = cfg.impersonated_email();
        let mut b = StsExchange::builder()
            .source(AlreadyObtained(cfg.source_kind()))
            .audience(cfg.audience.clone())
            .subject_token_type(cfg.subject_token_type.clone())
            .token_url(cfg.token_url.clone())
            // Both with and without impersonation the facade asks STS for cloud-platform.
            .scopes(scopes())
            .metrics(impersonate.is_some(), cfg.token_lifetime_seconds.is_some())
            .http_client(self.http.clone());
        if let Some(id) = &cfg.client_id {
            b = b.client_auth(id.clone(), cfg.client_secret.clone());
        }
        if let Some(p) = &cfg.workforce_pool_user_project {
            b = b.workforce_pool_user_project(p.clone());
        }
        if let Some(email) = impersonate {
            b = b.impersonated_email(email);
        }
        b.build()
    }

    /// Step 4: impersonation, when the configuration asks for it; else the federated token is
    /// the result.
    pub(super) async fn impersonation_step(
        &mut self,
        cfg: &ExternalAccountConfig,
        federated: AccessToken,
    ) -> Result<AccessToken, Error> {
        let Some(url) = cfg.service_account_impersonation_url.clone() else {
            self.step(StepId::Impersonation).not_configured(
                "no service_account_impersonation_url: the federated token is the result; grant roles to its principal:// or principalSet:// directly",
            );
            return Ok(federated);
        };
        let quota_project = cfg.quota_project_id.clone().or_else(|| {
            self.env
                .var("GOOGLE_CLOUD_QUOTA_PROJECT")
                .filter(|v| !v.is_empty())
        });
        let lifetime = cfg.token_lifetime_seconds.unwrap_or(3600);
        let step = self.step(StepId::Impersonation);
        step.fact(
            "service_account",
            "service account",
            cfg.impersonated_email(),
        );
        step.fact("url", "URL", shown_url(&url));
        step.fact("lifetime_seconds", "requested lifetime (s)", lifetime);
        step.fact("scopes", "scopes", scopes());
        step.optional("quota_project", "quota project", quota_project.clone());
        let mut b = Impersonation::builder()
            .federated(StaticTokenProvider::new(federated))
            .url(url)
            .universe_domain(cfg.universe_domain.clone())
            .scopes(scopes())
            .lifetime(std::time::Duration::from_secs(u64::from(lifetime)))
            .http_client(self.http.clone());
        if let Some(q) = quota_project {
            b = b.quota_project(q);
        }
        let started = tokio::time::Instant::now();
        let result = match b.build() {
            Ok(imp) => imp.token().await,
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        self.known.local_now = Some(self.clock.now());
        let sa = cfg.impersonated_email().unwrap_or_default();
        match result {
            Ok(token) => {
                self.redactor.add(token.secret());
                let step = self.step(StepId::Impersonation);
                step.took(elapsed);
                step.ok(format!(
                    "the federated identity holds roles/iam.workloadIdentityUser on {sa} (iam.serviceAccounts.getAccessToken); IAM issued its token"
                ));
                Ok(token)
            }
            Err(e) => {
                let diagnoses = if e.is_config() {
                    diagnose::config_failure(&e)
                } else {
                    diagnose::impersonation_failure(&e, &self.known)
                };
                let step = self.step(StepId::Impersonation);
                step.took(elapsed);
                step.fail(&e);
                step.diagnose(diagnoses);
                Err(e)
            }
        }
    }

    /// Step 5: what the caller gets.
    pub(super) fn token_step(&mut self, cfg: &ExternalAccountConfig, token: &AccessToken) {
        let now = self.clock.now();
        let sa = cfg.impersonated_email();
        let kind = match &sa {
            Some(sa) => format!("service account token of {sa}"),
            None => "federated token (no impersonation)".to_owned(),
        };
        let step = self.step(StepId::Token);
        step.fact("kind", "kind", kind);
        step.fact("token_type", "type", token.token_type().to_owned());
        step.fact("scopes", "scopes", scopes());
        step.fact(
            "expires_at",
            "expires at",
            token.expires_at_utc().map(crate::rfc3339),
        );
        let remaining = token.remaining();
        step.fact(
            "expires_in_seconds",
            "expires in (s)",
            remaining.map(|d| d.as_secs()),
        );
        if token
            .expires_at_utc()
            .is_some_and(|at| at <= now || at <= SystemTime::now())
        {
            step.warn("the token is already expired by this machine's clock: check the clock");
        }
        step.ok(format!(
            "a {} token valid {}; the value is never shown here (`wif token` prints it)",
            token.token_type(),
            remaining.map_or_else(|| "for an unknown time".to_owned(), describe_duration)
        ));
    }
}
