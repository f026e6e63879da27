//! `wif demo`: the seed's story, end to end, on this machine.
//!
//! A Lambda function's environment (AWS role credentials in env vars) → a SigV4-signed
//! `GetCallerIdentity` request as the subject token → Google STS → service-account impersonation
//! → BigQuery insert and query → Cloud Storage upload and read-back; then the other AWS way, an
//! AWS-issued JWT (outbound identity federation) for an OIDC provider; then the same
//! configuration on an ECS task, an EKS pod with Pod Identity and one with IRSA. AWS and Google are played by
//! the in-process emulator, which verifies every signature and token for real, so a demo that
//! succeeds proves the chain works. Each step says what it proved, who checked it, and how long
//! it took; no secret is ever printed.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wif::layers::source_aws::{AwsJwtSource, JWT_SUBJECT_TOKEN_TYPE};
use wif::{Credentials, Error, ErrorKind, MapEnvironment, Step};
use wif_emulator::{Emulator, EmulatorConfig, Endpoint};

/// Runs the demo, narrating to `out`. Fails (and says where) if any step fails.
pub(crate) async fn run(out: &mut dyn Write) -> Result<(), Error> {
    let emulator = Emulator::new(EmulatorConfig::default())
        .start_local()
        .await
        .map_err(|e| internal("could not start the emulator on 127.0.0.1").with_source(e))?;
    let mut n = Narrator { out, step: 0 };
    n.title(&format!(
        "wif demo — AWS Lambda → Google Cloud with no service-account key\n\
         (AWS and Google are emulated at {}; every signature and token is checked for real)",
        emulator.base_url()
    ));
    let config = emulator.config().clone();
    let env = lambda_environment(&config);
    let service_account = wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;

    // 1. The Lambda runtime hands the function its role's temporary credentials.
    n.step(
        "Lambda runtime",
        &format!(
            "AWS_ACCESS_KEY_ID={}…, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN set (never shown), AWS_REGION={}",
            &config.aws.access_key_id[..8],
            config.aws.region
        ),
        &format!(
            "the function runs as role {} in account {}",
            config.aws.role, config.aws.account
        ),
        None,
    );

    // 2. The facade resolves the configuration gcloud would write for this function: every
    // setting, and where it came from. The chain below is assembled from exactly this plan.
    let dir = tempfile::tempdir()
        .map_err(|e| internal("could not create a temporary directory").with_source(e))?;
    wif_emulator::configs::write_configs(&emulator, dir.path()).map_err(|e| {
        internal("could not write the emulator's credential configurations").with_source(e)
    })?;
    let builder = Credentials::builder()
        .environment(Arc::new(env))
        .config_file(dir.path().join("aws-lambda.json"))?;
    let plan = builder.plan()?;
    n.step(
        "Resolve the settings (the plan)",
        "Credentials::builder().config_file(\"aws-lambda.json\") and the function's environment",
        &format!(
            "STS at {}, the {} source, impersonating {}; each setting says where it came from:",
            wif::layers::core::http::describe_url(&plan.token_url.value),
            plan.source_kind(),
            plan.impersonation
                .as_ref()
                .map_or("nobody", |i| i.service_account.as_str())
        ),
        None,
    );
    n.detail(&plan.to_string());
    let impersonation_url = plan
        .impersonation
        .as_ref()
        .map(|i| i.url.value.to_string())
        .ok_or_else(|| internal("the demo's configuration does not impersonate"))?;
    let chain = builder.build_chain()?;
    let source = chain
        .aws_source()
        .ok_or_else(|| internal("the demo's configuration has no AWS source"))?;

    // 3. Sign GetCallerIdentity: AWS's proof of who is calling, made locally, never sent by us.
    let audience = plan.audience.value.clone();
    let started = Instant::now();
    let signed = source.signed_request(&audience).await?;
    n.step(
        "Sign AWS GetCallerIdentity (the subject token)",
        &format!(
            "{} {} — signed headers: {}",
            signed.method(),
            signed.url(),
            signed.signed_headers().join(";")
        ),
        "a SigV4 signature only the role's secret can make; we never send it — Google does, to verify",
        Some(started.elapsed()),
    );

    // 4. Google STS verifies the signature with AWS and checks the pool's attribute condition.
    let started = Instant::now();
    let federated = chain.exchange(&signed.subject_token()).await?;
    n.step(
        "Google STS token exchange (RFC 8693)",
        &format!("audience {audience}"),
        &format!(
            "Google checked the AWS signature and the attribute condition (account {}); federated token for {}",
            config.aws.account,
            config.aws.assumed_role_arn()
        ),
        Some(started.elapsed()),
    );

    // 5. Impersonation: the federated identity borrows a service account.
    let started = Instant::now();
    let sa_token = chain.impersonate(&federated).await?;
    n.step(
        "Service account impersonation (IAM Credentials generateAccessToken)",
        service_account,
        &format!(
            "the role's principalSet holds roles/iam.workloadIdentityUser on it; token valid {} s",
            sa_token.remaining().map(|d| d.as_secs()).unwrap_or(0)
        ),
        Some(started.elapsed()),
    );
    drop(sa_token);

    // 6. What applications use: the same chain, cached.
    let creds = chain.into_credentials();
    let started = Instant::now();
    creds.token().await?;
    let cold = started.elapsed();
    let started = Instant::now();
    creds.token().await?;
    let warm = started.elapsed();
    n.step(
        "Credentials (what your code calls): cached, single-flight",
        "the same chain, wrapped in its cache (Credentials::from_file(\"aws-lambda.json\") builds it so) → token() twice",
        &format!(
            "first call {} ms over the network, second call {} µs from the cache",
            cold.as_millis(),
            warm.as_micros()
        ),
        None,
    );

    crate::demo_apis::run(&mut n, &emulator, creds).await?;

    // The other AWS way: the account issues the role a JWT (outbound identity federation), which
    // an ordinary OIDC provider of the pool accepts; no signed request is serialized.
    let source = AwsJwtSource::builder()
        .audience(config.aws_jwt_allowed_audience())
        .endpoint(format!("{}/aws/sts", emulator.base_url()))
        .environment(Arc::new(lambda_environment(&config)))
        .build()?;
    let jwt_creds = Credentials::builder()
        .source(source)
        .audience(config.aws_jwt_audience())
        .subject_token_type(JWT_SUBJECT_TOKEN_TYPE)
        // The emulator's endpoints, as the Lambda configuration's plan has them.
        .token_url(plan.token_url.value.as_str())
        .impersonation_url(impersonation_url)
        .environment(Arc::new(MapEnvironment::new()))
        .build()?;
    let started = Instant::now();
    let token = jwt_creds.token().await?;
    n.step(
        "The other AWS way: an AWS-issued JWT (outbound identity federation)",
        &format!(
            "AwsJwtSource: one signed AWS STS GetWebIdentityToken call → Google STS with provider \
             {} (OIDC) → impersonation",
            config.aws_jwt_provider
        ),
        &format!(
            "AWS signed a JWT for {}; Google verified its issuer and audience; token valid {} s",
            config.aws.iam_role_arn(),
            token.remaining().map(|d| d.as_secs()).unwrap_or(0)
        ),
        Some(started.elapsed()),
    );
    drop(token);

    // Where else an AWS workload runs: the same gcloud configuration, only the platform's
    // environment differs, and the source finds the identity where the platform puts it.
    let configs = dir.path();
    for (platform, env_file, how) in [
        (
            "an ECS task (task role)",
            "aws-ecs.env",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI → the ECS agent's container credentials",
        ),
        (
            "an EKS pod (EKS Pod Identity)",
            "aws-eks-pod-identity.env",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE → the Pod Identity agent",
        ),
        (
            "an EKS pod (EKS IRSA)",
            "aws-eks-irsa.env",
            "AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE → AWS STS AssumeRoleWithWebIdentity",
        ),
    ] {
        let vars = wif_emulator::configs::read_env_file(&configs.join(env_file)).map_err(|e| {
            internal("could not read the emulator's environment file").with_source(e)
        })?;
        let mut env = MapEnvironment::new();
        for (name, value) in vars {
            env.set(name, value);
        }
        let metadata_before = emulator.requests(Endpoint::Imds);
        let started = Instant::now();
        let creds = Credentials::builder()
            .environment(Arc::new(env))
            .config_file(configs.join("aws-lambda.json"))?
            .build()?;
        let token = creds.token().await?;
        n.step(
            &format!("The same aws-lambda.json on {platform}"),
            &format!("{env_file}: {how}"),
            &format!(
                "a token for {service_account}, valid {} s; instance metadata calls: {}",
                token.remaining().map(|d| d.as_secs()).unwrap_or(0),
                emulator.requests(Endpoint::Imds) - metadata_before
            ),
            Some(started.elapsed()),
        );
    }

    n.title(&format!(
        "every step succeeded. Requests the emulator served: AWS STS {}, Google STS {}, \
         IAM Credentials {}, BigQuery {}, Cloud Storage {}, container credentials {}, \
         instance metadata {} (Lambda, ECS and EKS have none to call)",
        emulator.requests(Endpoint::AwsSts),
        emulator.requests(Endpoint::GoogleSts),
        emulator.requests(Endpoint::IamCredentials),
        emulator.requests(Endpoint::BigQuery),
        emulator.requests(Endpoint::Storage),
        emulator.requests(Endpoint::ContainerCredentials),
        emulator.requests(Endpoint::Imds),
    ));
    emulator.shutdown().await;
    Ok(())
}

/// The environment the Lambda runtime gives a function, with the emulated role's credentials.
fn lambda_environment(config: &EmulatorConfig) -> MapEnvironment {
    MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", &config.aws.access_key_id)
        .with("AWS_SECRET_ACCESS_KEY", &config.aws.secret_access_key)
        .with("AWS_SESSION_TOKEN", &config.aws.session_token)
        .with("AWS_REGION", &config.aws.region)
        .with("AWS_LAMBDA_FUNCTION_NAME", &config.aws.session_name)
}

fn internal(what: &str) -> Error {
    Error::new(Step::Config, ErrorKind::Internal, what)
}

/// Writes numbered steps.
pub(crate) struct Narrator<'a> {
    out: &'a mut dyn Write,
    step: u32,
}

impl Narrator<'_> {
    pub(crate) fn title(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}\n");
    }

    /// One step: what it used, what it proved (and who checked), how long it took.
    pub(crate) fn step(&mut self, name: &str, used: &str, proved: &str, took: Option<Duration>) {
        self.step += 1;
        let took = took
            .map(|d| format!("  [{:.1} ms]", d.as_secs_f64() * 1000.0))
            .unwrap_or_default();
        let _ = writeln!(self.out, "{:>2}. {name}{took}", self.step);
        let _ = writeln!(self.out, "    used:   {used}");
        let _ = writeln!(self.out, "    proved: {proved}\n");
    }

    /// Indented lines under the last step (the plan).
    pub(crate) fn detail(&mut self, text: &str) {
        for line in text.lines() {
            let _ = writeln!(self.out, "  {line}");
        }
        let _ = writeln!(self.out);
    }
}
