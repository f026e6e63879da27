//! Steps 3 to 5 of `wif explain`: the Google STS exchange, service-account impersonation and the
//! resulting token — the chain's layers, called one at a time so each can be timed and diagnosed
//! on its own, and described by the plan they were assembled from. Tokens are held, never shown.

use std::time::SystemTime;

use wif::layers::core::Clock;
use wif::layers::core::http::describe_url;
use wif::plan::SourcePlan;
use wif::{AccessToken, Chain, Error, SubjectToken};

use super::diagnose;
use super::report::StepId;
use super::{Walk, describe_duration, origin_text, shown_url};

impl Walk {
    /// Step 3: the RFC 8693 exchange at Google STS.
    pub(super) async fn exchange_step(
        &mut self,
        chain: &Chain,
        subject: &SubjectToken,
    ) -> Result<AccessToken, Error> {
        let plan = chain.plan();
        let step = self.step(StepId::Exchange);
        // The endpoint the chain calls: for a certificate source, the universe's mTLS host.
        let url = describe_url(&plan.token_url.value);
        let text = format!("{url}{}", origin_text(Some(plan.token_url.origin)));
        step.fact_with_text("token_url", "token URL", url, Some(text));
        step.fact("audience", "audience", plan.audience.value.clone());
        step.fact(
            "subject_token_type",
            "subject token type",
            plan.subject_token_type.value.clone(),
        );
        step.fact("scopes", "scopes", plan.sts_scopes.value.clone());
        step.optional(
            "client_id",
            "client id",
            plan.client_id.as_ref().map(|c| c.value.clone()),
        );
        let started = tokio::time::Instant::now();
        // A certificate source's exchange presents the workload certificate (the chain's
        // mTLS client), exactly as `wif token` does.
        let result = chain.exchange(subject).await;
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
                let what = match plan.source.value {
                    SourcePlan::Aws(_) => {
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
                let diagnoses =
                    diagnose::google_failure(&e, &self.known, diagnose::exchange_failure);
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

    /// Step 4: impersonation, when the configuration asks for it; else the federated token is
    /// the result.
    pub(super) async fn impersonation_step(
        &mut self,
        chain: &Chain,
        federated: AccessToken,
    ) -> Result<AccessToken, Error> {
        let Some(imp) = chain.impersonation() else {
            self.step(StepId::Impersonation).not_configured(
                "no service_account_impersonation_url: the federated token is the result; grant roles to its principal:// or principalSet:// directly",
            );
            return Ok(federated);
        };
        let quota_project = chain.info().quota_project_id.clone();
        // What the layer will request, not what the configuration file says.
        let (sa, url, lifetime, scopes) = (
            imp.service_account_email().to_owned(),
            shown_url(imp.url()),
            imp.lifetime().as_secs(),
            imp.scopes().to_vec(),
        );
        let step = self.step(StepId::Impersonation);
        step.fact("service_account", "service account", sa.clone());
        step.fact("url", "URL", url);
        step.fact("lifetime_seconds", "requested lifetime (s)", lifetime);
        step.fact("scopes", "scopes", scopes);
        step.optional("quota_project", "quota project", quota_project);
        let started = tokio::time::Instant::now();
        let result = chain.impersonate(&federated).await;
        let elapsed = started.elapsed();
        self.known.local_now = Some(self.clock.now());
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
                let diagnoses =
                    diagnose::google_failure(&e, &self.known, diagnose::impersonation_failure);
                let step = self.step(StepId::Impersonation);
                step.took(elapsed);
                step.fail(&e);
                step.diagnose(diagnoses);
                Err(e)
            }
        }
    }

    /// Step 5: what the caller gets.
    pub(super) fn token_step(&mut self, chain: &Chain, token: &AccessToken) {
        let now = self.clock.now();
        let plan = chain.plan();
        let sa = plan.impersonation.as_ref().map(|i| &i.service_account);
        let kind = match &sa {
            Some(sa) => format!("service account token of {sa}"),
            None => "federated token (no impersonation)".to_owned(),
        };
        let step = self.step(StepId::Token);
        step.fact("kind", "kind", kind);
        step.fact("token_type", "type", token.token_type().to_owned());
        step.fact("scopes", "scopes", plan.scopes.value.clone());
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
