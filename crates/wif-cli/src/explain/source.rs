//! Step 2 of `wif explain`: the subject token. For AWS, where region and credentials came from,
//! what was signed and, with `--call-aws`, who AWS says signed it; for file, URL and executable
//! sources, what kind of token it is and what its (unverified) JWT claims say. Never a secret:
//! no secret key, session token, signature or token value is put into the report. The source is
//! always the chain's own.

use std::time::SystemTime;

use serde_json::Value;
use wif::Chain;
use wif::layers::core::Clock;
use wif::layers::core::jwt::UnverifiedJwt;
use wif::layers::source_aws::{
    AwsSource, CallerIdentity, CredentialsFrom, GOOGLE_SUBJECT_MAX_BYTES, RegionFrom,
    get_caller_identity,
};
use wif::plan::{AwsSourcePlan, SourcePlan};
use wif::secrecy::ExposeSecret;
use wif::{Error, SubjectToken};

use super::report::StepId;
use super::{Walk, describe_duration};

/// A plan URL for display: scheme, host, port and path.
fn shown(url: &url::Url) -> String {
    wif::layers::core::http::describe_url(url)
}

impl Walk {
    /// The chain's AWS source, taken apart: resolve, sign, and optionally ask AWS who signed.
    pub(super) async fn aws_source(
        &mut self,
        chain: &Chain,
        source: &AwsSource,
    ) -> Result<SubjectToken, Error> {
        let step = self.step(StepId::Source);
        step.fact(
            "kind",
            "kind",
            "aws (SigV4-signed GetCallerIdentity request)",
        );
        if let SourcePlan::Aws(aws) = &chain.plan().source.value {
            describe_metadata(step, aws);
        }
        let resolved = source.resolve().await?;
        self.redactor.add(resolved.credentials.secret_access_key());
        if let Some(t) = resolved.credentials.session_token() {
            self.redactor.add(t);
        }
        let provenance = &resolved.provenance;
        let region_from = match &provenance.region_from {
            RegionFrom::Environment(var) => (*var).to_owned(),
            RegionFrom::Metadata { imdsv2: true } => "instance metadata (IMDSv2)".to_owned(),
            RegionFrom::Metadata { imdsv2: false } => "instance metadata (IMDSv1)".to_owned(),
            RegionFrom::Profile { name } => format!("profile {name}"),
            _ => "set explicitly".to_owned(),
        };
        let credentials_from = &provenance.credentials_from;
        let (credentials_from_words, role) = match credentials_from {
            CredentialsFrom::Environment { .. } => (
                "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_owned(),
                None,
            ),
            CredentialsFrom::Metadata { imdsv2, role } => (
                format!(
                    "instance metadata ({}), role {role}",
                    if *imdsv2 { "IMDSv2" } else { "IMDSv1" }
                ),
                Some(role.clone()),
            ),
            CredentialsFrom::WebIdentity { role_arn, .. } => (
                format!(
                    "web identity (EKS IRSA): AWS STS AssumeRoleWithWebIdentity with AWS_WEB_IDENTITY_TOKEN_FILE, role {role_arn}"
                ),
                None,
            ),
            CredentialsFrom::Container {
                pod_identity: true,
                ..
            } => (
                "container credentials: the EKS Pod Identity agent (AWS_CONTAINER_CREDENTIALS_FULL_URI)".to_owned(),
                None,
            ),
            CredentialsFrom::Container { .. } => (
                "container credentials: the ECS task role (AWS_CONTAINER_CREDENTIALS_*_URI)"
                    .to_owned(),
                None,
            ),
            CredentialsFrom::Profile { name } => (format!("shared-config profile {name}"), None),
            _ => ("a credentials provider given in code".to_owned(), None),
        };
        let step = self.step(StepId::Source);
        step.fact(
            "aws_provider",
            "AWS provider",
            credentials_from.provider().name(),
        );
        step.optional(
            "role_arn",
            "role ARN",
            credentials_from.role_arn().map(str::to_owned),
        );
        self.known.imds_role = role.clone();
        let step = self.step(StepId::Source);
        step.fact("region", "region", resolved.region.clone());
        step.fact("region_from", "region from", region_from);
        step.fact(
            "credentials_from",
            "credentials from",
            credentials_from_words,
        );
        step.optional("instance_role", "instance role", role);
        step.fact(
            "access_key_id",
            "access key id",
            resolved.credentials.access_key_id().to_owned(),
        );
        step.fact(
            "session_token_present",
            "session token present",
            resolved.credentials.session_token().is_some(),
        );
        if resolved.credentials.session_token().is_none() {
            step.warn(
                "no session token: these are long-term access keys (AKIA…); prefer a role's temporary credentials",
            );
        }

        let signed = source.sign(&resolved, &chain.plan().audience.value)?;
        self.redactor.add(signed.authorization());
        let bound = signed
            .signed_headers()
            .iter()
            .any(|h| h == "x-goog-cloud-target-resource");
        let step = self.step(StepId::Source);
        step.fact(
            "signed_request",
            "signed request",
            format!("{} {}", signed.method(), signed.url()),
        );
        step.fact(
            "signed_headers",
            "signed headers",
            signed.signed_headers().to_vec(),
        );
        step.fact(
            "signed_at",
            "signed at (x-amz-date)",
            signed.amz_date().to_owned(),
        );
        step.fact("bound_to_audience", "bound to the audience", bound);
        let mut proved = "a SigV4 signature over AWS STS GetCallerIdentity, made with the role's secret key (which never leaves this machine); Google STS sends the request to AWS to learn who signed it".to_owned();

        if self.args.call_aws {
            let endpoint = self.args.aws_sts_endpoint.clone();
            match get_caller_identity(chain.http_client(), &signed, endpoint.as_deref()).await {
                Ok(caller) => {
                    proved.push_str(&format!("; AWS confirmed the signature: {}", caller.arn));
                    self.describe_caller(&caller);
                    self.known.caller = Some(caller);
                }
                Err(e) if e.status().is_some() => {
                    // AWS answered and refused: Google would get the same answer.
                    return Err(e);
                }
                Err(e) => self.step(StepId::Source).warn(format!(
                    "could not ask AWS STS who signed ({e}); Google calls AWS itself, so the chain may still work"
                )),
            }
        } else {
            proved.push_str(" (add --call-aws to ask AWS now)");
        }
        self.step(StepId::Source).ok(proved);
        let subject = signed.subject_token();
        self.redactor.add(subject.secret());
        Ok(subject)
    }

    fn describe_caller(&mut self, caller: &CallerIdentity) {
        let step = self.step(StepId::Source);
        step.fact(
            "caller_arn",
            "caller ARN (assertion.arn)",
            caller.arn.clone(),
        );
        step.fact(
            "account",
            "account (assertion.account)",
            caller.account.clone(),
        );
        step.fact("user_id", "user id", caller.user_id.clone());
        step.fact("role_arn", "IAM role", caller.role_arn());
        step.fact(
            "aws_role_attribute",
            "attribute.aws_role",
            caller.aws_role_attribute(),
        );
        step.fact_with_text(
            "google_subject_bytes",
            "google.subject length (default mapping)",
            caller.arn.len(),
            Some(format!(
                "{} bytes (limit {GOOGLE_SUBJECT_MAX_BYTES})",
                caller.arn.len()
            )),
        );
        if caller.exceeds_google_subject_limit() {
            let suggestion = caller
                .short_subject_mapping()
                .map(|m| {
                    format!(
                        "; map the role without the session instead: {} (gives {}, {} bytes)",
                        m.mapping,
                        m.value,
                        m.value.len()
                    )
                })
                .unwrap_or_default();
            step.warn(format!(
                "the session ARN is {} bytes: with the default mapping google.subject=assertion.arn, Google STS refuses it (limit {GOOGLE_SUBJECT_MAX_BYTES}){suggestion}",
                caller.arn.len()
            ));
        }
    }

    /// File, URL and executable sources (and yours): the chain's source.
    pub(super) async fn token_source(&mut self, chain: &Chain) -> Result<SubjectToken, Error> {
        self.describe_token_source(&chain.plan().source.value);
        if self.args.call_aws {
            self.step(StepId::Source)
                .warn("--call-aws applies to AWS credential sources only; ignored");
        }
        let subject = chain.subject_token().await?;
        self.redactor.add(subject.secret());
        self.describe_token(chain, &subject);
        Ok(subject)
    }

    fn describe_token_source(&mut self, source: &SourcePlan) {
        let step = self.step(StepId::Source);
        match source {
            SourcePlan::File(f) => {
                step.fact("kind", "kind", "file");
                step.fact("file", "file", f.path.display().to_string());
                step.fact("format", "format", format_name(&f.format));
            }
            SourcePlan::Url(u) => {
                step.fact("kind", "kind", "url");
                step.fact("url", "URL", shown(&u.url));
                let names: Vec<Value> = u.header_names.iter().map(|n| n.clone().into()).collect();
                step.fact("headers", "headers (values not shown)", names);
                step.fact("format", "format", format_name(&u.format));
            }
            SourcePlan::Executable(e) => {
                step.fact("kind", "kind", "executable");
                step.fact("command", "command", e.command.clone());
                step.fact(
                    "timeout_millis",
                    "timeout (ms)",
                    u64::try_from(e.timeout.value.as_millis()).unwrap_or(u64::MAX),
                );
            }
            other => step.fact("kind", "kind", other.kind()),
        }
    }

    fn describe_token(&mut self, chain: &Chain, subject: &SubjectToken) {
        let plan = chain.plan();
        let now = self.clock.now();
        let token = subject.secret().expose_secret();
        let step = self.step(StepId::Source);
        step.fact_with_text(
            "token_bytes",
            "token length",
            subject.len(),
            Some(format!("{} bytes", subject.len())),
        );
        let jwt = match UnverifiedJwt::decode(token) {
            Ok(jwt) => jwt,
            Err(why) => {
                let what = if plan.subject_token_type.value.ends_with(":saml2") {
                    "a SAML assertion (not decoded)".to_owned()
                } else {
                    format!("not a JWT ({why})")
                };
                step.fact("token_format", "token format", what);
                step.ok("a token from the configured source; Google STS verifies it with the provider's issuer keys");
                return;
            }
        };
        if let Some(signature) = token.rsplit('.').next() {
            self.redactor.add_str(signature);
        }
        let step = self.step(StepId::Source);
        step.fact(
            "token_format",
            "token format",
            format!(
                "JWT, claims decoded without verification (alg {}, kid {}); the signature is not shown",
                jwt.algorithm.as_deref().unwrap_or("?"),
                jwt.key_id.as_deref().unwrap_or("none")
            ),
        );
        step.fact("issuer", "issuer (iss)", jwt.issuer.clone());
        step.fact("subject", "subject (sub)", jwt.subject.clone());
        let auds: Vec<Value> = jwt.audiences.iter().map(|a| a.clone().into()).collect();
        step.fact("token_audience", "audience (aud)", auds);
        for (key, label, at) in [
            ("expires_at", "expires (exp)", jwt.expires_at),
            ("issued_at", "issued (iat)", jwt.issued_at),
            ("not_before", "not before (nbf)", jwt.not_before),
        ] {
            step.fact_with_text(key, label, at.map(crate::rfc3339), at.map(when(now)));
        }
        if jwt.is_expired_at(now) {
            step.warn("the token has expired (exp is in the past): STS will refuse it; whatever writes the token must refresh it");
        }
        if jwt.not_before.is_some_and(|nbf| nbf > now)
            || jwt
                .issued_at
                .is_some_and(|iat| iat > now + std::time::Duration::from_secs(60))
        {
            step.warn("the token is not valid yet by this machine's clock (iat/nbf in the future): check the clocks of this machine and the issuer");
        }
        let audience = &plan.audience.value;
        let default_audience = format!("https:{audience}");
        if !jwt.audiences.is_empty()
            && !jwt
                .audiences
                .iter()
                .any(|a| a == audience || *a == default_audience)
        {
            step.warn(format!(
                "the token's aud is neither the audience nor the provider's default audience ({default_audience}): the OIDC provider must list it in its allowed audiences"
            ));
        }
        step.ok(format!(
            "a token in which {} asserts the workload is {}; Google STS verifies its signature with the issuer's keys",
            jwt.issuer.as_deref().unwrap_or("the issuer"),
            jwt.subject.as_deref().unwrap_or("(no sub)")
        ));
        self.known.jwt_subject = jwt.subject;
        self.known.jwt_audiences = jwt.audiences;
    }
}

/// "2026-01-01T00:00:00Z (in 59 min 58 s)" / "(3 min 2 s ago)".
fn when(now: SystemTime) -> impl Fn(SystemTime) -> String {
    move |at| {
        let relative = match at.duration_since(now) {
            Ok(ahead) => format!("in {}", describe_duration(ahead)),
            Err(past) => format!("{} ago", describe_duration(past.duration())),
        };
        format!("{} ({relative})", crate::rfc3339(at))
    }
}

fn format_name(format: &wif::TokenFormat) -> String {
    match format {
        wif::TokenFormat::Json {
            subject_token_field_name,
        } => format!("json (field {subject_token_field_name})"),
        _ => "text".to_owned(),
    }
}

/// What the plan says about the metadata service: which URLs, and which IMDS version.
fn describe_metadata(step: &mut super::report::StepReport, aws: &AwsSourcePlan) {
    step.optional(
        "metadata_region_url",
        "metadata region_url",
        aws.region_url.as_ref().map(shown),
    );
    step.optional(
        "metadata_credentials_url",
        "metadata url",
        aws.credentials_url.as_ref().map(shown),
    );
    step.optional(
        "metadata_version",
        "metadata service",
        aws.metadata_service(),
    );
}
