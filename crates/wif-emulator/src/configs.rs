//! Ready-to-use credential configurations for a running emulator: the `external_account` files
//! `gcloud iam workload-identity-pools create-cred-config` would write, with every Google and AWS
//! metadata URL pointing at the emulator, so any client (wif, Python google-auth, Go x/oauth2)
//! can run the whole chain against it.
//!
//! [`write_configs`] writes into a directory:
//!
//! | file | source |
//! |---|---|
//! | `aws-lambda.json` | AWS, credentials and region from the environment (`aws-lambda.env`) |
//! | `aws-lambda.env` | `export AWS_ACCESS_KEY_ID=…` lines for the Lambda case |
//! | `aws-ecs.env` | an ECS task's environment: its role's container credentials endpoint |
//! | `aws-eks-pod-identity.env` + `eks-pod-identity-token` | an EKS pod with Pod Identity: the agent's endpoint and the authorization token file |
//! | `aws-eks-irsa.env` + `eks-irsa-token.jwt` | an EKS pod with IRSA: the role, the projected token file, AWS STS at the emulator |
//! | `aws-ec2-imdsv2.json` | AWS, region and role credentials from the emulated IMDSv2 |
//! | `file.json` + `oidc-token.jwt` | an OIDC token in a file (minted by the emulator) |
//! | `url.json` | an OIDC token from `GET {base}/oidc/token` (`{"id_token": …}`) |
//! | `executable.json` + `executable-token.sh` | an OIDC token printed by a `#!/bin/sh` script (pluggable auth) |
//!
//! The `aws-*.env` files all go with `aws-lambda.json`, the configuration gcloud writes for AWS:
//! only the environment differs from one platform to the next, as on AWS. Each sets `AWS_REGION`,
//! as Lambda, ECS and the IRSA webhook do.
//!
//! The executable source runs only where `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1` is set,
//! and its script needs a POSIX shell. For X.509 federation, [`certificate_config`] gives the
//! configuration of a workload certificate (the emulator must serve mTLS, and the certificate
//! comes from your own CA, so it is not written here).
//!
//! `regional_cred_verification_url` keeps AWS's `https://sts.{region}.amazonaws.com?…`: clients
//! require https there and only sign it, never call it; the emulator's Google STS verifies the
//! signature itself.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::RunningEmulator;
use crate::config::DEFAULT_SERVICE_ACCOUNT;
use crate::oidc;

/// The AWS `subject_token_type`.
const AWS_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
/// The OIDC `subject_token_type`.
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The X.509 `subject_token_type`.
const MTLS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:mtls";
/// What gcloud writes (and AWS's regional endpoint shape).
const REGIONAL_CRED_VERIFICATION_URL: &str =
    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
/// Lifetime of the OIDC token written to `oidc-token.jwt`: long enough for a working session.
/// (A token only ever verifies at the emulator that minted it.)
pub const FILE_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The subject of the OIDC token written for the file source.
pub const FILE_TOKEN_SUBJECT: &str = "wif-demo-file-workload";
/// The subject of the OIDC token the executable source's script prints.
pub const EXECUTABLE_TOKEN_SUBJECT: &str = "wif-demo-executable-workload";

/// The files [`write_configs`] wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WrittenConfigs {
    /// The directory written into.
    pub dir: PathBuf,
    /// `aws-lambda.json`: AWS source with environment credentials.
    pub aws_lambda: PathBuf,
    /// `aws-lambda.env`: the AWS environment of the Lambda case (`export NAME=value` lines).
    pub aws_lambda_env: PathBuf,
    /// `aws-ecs.env`: an ECS task's environment (`AWS_CONTAINER_CREDENTIALS_FULL_URI` at the
    /// emulated ECS agent; on ECS itself, `_RELATIVE_URI` at 169.254.170.2).
    pub aws_ecs_env: PathBuf,
    /// `aws-eks-pod-identity.env`: an EKS pod's Pod Identity environment (the agent's URI and
    /// [`Self::eks_pod_identity_token`]).
    pub aws_eks_pod_identity_env: PathBuf,
    /// `eks-pod-identity-token`: the Pod Identity agent's authorization token.
    pub eks_pod_identity_token: PathBuf,
    /// `aws-eks-irsa.env`: an EKS pod's IRSA environment (`AWS_ROLE_ARN`, the token file, AWS STS
    /// at the emulator through `AWS_ENDPOINT_URL_STS`).
    pub aws_eks_irsa_env: PathBuf,
    /// `eks-irsa-token.jwt`: the projected service-account token of IRSA.
    pub eks_irsa_token: PathBuf,
    /// `aws-ec2-imdsv2.json`: AWS source through IMDSv2.
    pub aws_ec2_imdsv2: PathBuf,
    /// `file.json`: file source reading [`Self::oidc_token`].
    pub file: PathBuf,
    /// `oidc-token.jwt`: the subject token of the file source.
    pub oidc_token: PathBuf,
    /// `url.json`: URL source at the emulator's `/oidc/token`.
    pub url: PathBuf,
    /// `executable.json`: executable source running [`Self::executable_script`].
    pub executable: PathBuf,
    /// `executable-token.sh`: prints a pluggable-auth response with an OIDC token.
    pub executable_script: PathBuf,
}

impl WrittenConfigs {
    /// The five credential configurations with their names: `aws-lambda`, `aws-ec2-imdsv2`,
    /// `file`, `url`, `executable`.
    pub fn all(&self) -> [(&'static str, &Path); 5] {
        [
            ("aws-lambda", &self.aws_lambda),
            ("aws-ec2-imdsv2", &self.aws_ec2_imdsv2),
            ("file", &self.file),
            ("url", &self.url),
            ("executable", &self.executable),
        ]
    }
}

/// Writes the credential configurations for `emulator` into `dir` (created if missing); existing
/// files of the same names are replaced.
///
/// Every path written (into the configurations, and in the returned [`WrittenConfigs`]) is
/// absolute, so the files work from any working directory even when `dir` is relative.
pub fn write_configs(emulator: &RunningEmulator, dir: &Path) -> io::Result<WrittenConfigs> {
    std::fs::create_dir_all(dir)?;
    let dir = &std::path::absolute(dir)?;
    let written = WrittenConfigs {
        dir: dir.to_path_buf(),
        aws_lambda: dir.join("aws-lambda.json"),
        aws_lambda_env: dir.join("aws-lambda.env"),
        aws_ecs_env: dir.join("aws-ecs.env"),
        aws_eks_pod_identity_env: dir.join("aws-eks-pod-identity.env"),
        eks_pod_identity_token: dir.join("eks-pod-identity-token"),
        aws_eks_irsa_env: dir.join("aws-eks-irsa.env"),
        eks_irsa_token: dir.join("eks-irsa-token.jwt"),
        aws_ec2_imdsv2: dir.join("aws-ec2-imdsv2.json"),
        file: dir.join("file.json"),
        oidc_token: dir.join("oidc-token.jwt"),
        url: dir.join("url.json"),
        executable: dir.join("executable.json"),
        executable_script: dir.join("executable-token.sh"),
    };
    let token = oidc::mint(
        emulator.state(),
        FILE_TOKEN_SUBJECT,
        &emulator.config().oidc_audience(),
        FILE_TOKEN_LIFETIME,
    );
    std::fs::write(&written.oidc_token, token)?;
    write_json(&written.aws_lambda, &aws_config(emulator, false))?;
    write_json(&written.aws_ec2_imdsv2, &aws_config(emulator, true))?;
    write_json(&written.file, &file_config(emulator, &written.oidc_token))?;
    write_json(&written.url, &url_config(emulator))?;
    write_executable_script(emulator, &written.executable_script)?;
    write_json(
        &written.executable,
        &executable_config(emulator, &written.executable_script),
    )?;
    std::fs::write(&written.aws_lambda_env, env_file(&aws_lambda_env(emulator)))?;
    std::fs::write(&written.aws_ecs_env, env_file(&aws_ecs_env(emulator)))?;
    std::fs::write(
        &written.eks_pod_identity_token,
        emulator.pod_identity_token(),
    )?;
    std::fs::write(
        &written.aws_eks_pod_identity_env,
        env_file(&aws_eks_pod_identity_env(
            emulator,
            &written.eks_pod_identity_token,
        )),
    )?;
    std::fs::write(
        &written.eks_irsa_token,
        emulator.mint_irsa_token(
            crate::aws_web_identity::DEFAULT_SERVICE_ACCOUNT,
            FILE_TOKEN_LIFETIME,
        ),
    )?;
    std::fs::write(
        &written.aws_eks_irsa_env,
        env_file(&aws_eks_irsa_env(emulator, &written.eks_irsa_token)),
    )?;
    Ok(written)
}

fn write_json(path: &Path, value: &Value) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

/// The `service_account_impersonation_url` of `email` at the emulator.
pub fn impersonation_url(emulator: &RunningEmulator, email: &str) -> String {
    format!(
        "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
        emulator.base_url()
    )
}

/// The fields every configuration shares, for `audience` and `subject_token_type`.
fn common(emulator: &RunningEmulator, audience: String, token_type: &str, source: Value) -> Value {
    // Key order as gcloud writes it (serde_json keeps insertion order only with
    // `preserve_order`, so this is cosmetic at most).
    json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": audience,
        "subject_token_type": token_type,
        "token_url": format!("{}/v1/token", emulator.base_url()),
        "credential_source": source,
        "service_account_impersonation_url": impersonation_url(emulator, DEFAULT_SERVICE_ACCOUNT),
    })
}

/// The AWS configuration: `imdsv2` adds `imdsv2_session_token_url` (gcloud's `--enable-imdsv2`).
pub fn aws_config(emulator: &RunningEmulator, imdsv2: bool) -> Value {
    let base = emulator.base_url();
    let mut source = json!({
        "environment_id": "aws1",
        "region_url": format!("{base}/latest/meta-data/placement/availability-zone"),
        "url": format!("{base}/latest/meta-data/iam/security-credentials"),
        "regional_cred_verification_url": REGIONAL_CRED_VERIFICATION_URL,
    });
    if imdsv2 {
        source["imdsv2_session_token_url"] = json!(format!("{base}/latest/api/token"));
    }
    common(
        emulator,
        emulator.config().aws_audience(),
        AWS_TOKEN_TYPE,
        source,
    )
}

/// The fields every configuration for the emulator's OIDC provider shares, around `source`.
fn oidc_common(emulator: &RunningEmulator, source: Value) -> Value {
    common(
        emulator,
        emulator.config().oidc_audience(),
        JWT_TOKEN_TYPE,
        source,
    )
}

/// The file-source configuration reading the OIDC token at `token_file`.
pub fn file_config(emulator: &RunningEmulator, token_file: &Path) -> Value {
    let source = json!({
        "file": token_file.to_string_lossy(),
        "format": { "type": "text" },
    });
    oidc_common(emulator, source)
}

/// The URL-source configuration reading `{"id_token": …}` from `{base}/oidc/token`.
pub fn url_config(emulator: &RunningEmulator) -> Value {
    let source = json!({
        "url": format!("{}/oidc/token", emulator.base_url()),
        "format": { "type": "json", "subject_token_field_name": "id_token" },
    });
    oidc_common(emulator, source)
}

/// The executable-source configuration running `script` (gcloud's `--executable-command`),
/// with a 30 s timeout and no output file.
pub fn executable_config(emulator: &RunningEmulator, script: &Path) -> Value {
    let source = json!({
        "executable": {
            "command": shell_word(&script.to_string_lossy()),
            "timeout_millis": 30_000,
        }
    });
    oidc_common(emulator, source)
}

/// The pluggable-auth response (version 1) carrying `id_token`, a JWT expiring at
/// `expiration_time` (seconds since the Unix epoch): what an executable prints.
pub fn executable_response(id_token: &str, expiration_time: u64) -> Value {
    json!({
        "version": 1,
        "success": true,
        "token_type": JWT_TOKEN_TYPE,
        "id_token": id_token,
        "expiration_time": expiration_time,
    })
}

/// A `#!/bin/sh` script printing a response with a fresh OIDC token for the OIDC provider,
/// valid for [`FILE_TOKEN_LIFETIME`]; executable by its owner.
fn write_executable_script(emulator: &RunningEmulator, path: &Path) -> io::Result<()> {
    let audience = emulator.config().oidc_audience();
    let token = oidc::mint(
        emulator.state(),
        EXECUTABLE_TOKEN_SUBJECT,
        &audience,
        FILE_TOKEN_LIFETIME,
    );
    let expiry = oidc::verify(emulator.state(), &token, &audience)
        .map_err(io::Error::other)?
        .exp;
    // JSON of a JWT and numbers holds no single quote: safe inside '…'.
    let script = format!(
        "#!/bin/sh
         # Pluggable-auth executable for the wif emulator at {base}: prints an OIDC token it minted.
         echo '{response}'
",
        base = emulator.base_url(),
        response = executable_response(&token, expiry),
    );
    std::fs::write(path, script)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// `word` as one word of a POSIX command line (`shlex.split` gives it back): single-quoted
/// unless it is made of characters no shell treats specially.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@%=".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The certificate-source configuration (X.509 federation) for the emulator's X.509 provider,
/// reading the certificate configuration at `certificate_config` and appending the
/// intermediates of `trust_chain` to the subject token. STS and impersonation go to the mTLS
/// listener (clients present the workload certificate on both); `None` when the emulator has
/// no mTLS listener ([`crate::Emulator::with_mtls`]).
pub fn certificate_config(
    emulator: &RunningEmulator,
    certificate_config: &Path,
    trust_chain: Option<&Path>,
) -> Option<Value> {
    let base = emulator.mtls_base_url()?;
    let mut certificate = json!({
        "certificate_config_location": certificate_config.to_string_lossy(),
    });
    if let Some(chain) = trust_chain {
        certificate["trust_chain_path"] = json!(chain.to_string_lossy());
    }
    Some(json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": emulator.config().x509_audience(),
        "subject_token_type": MTLS_TOKEN_TYPE,
        "token_url": format!("{base}/v1/token"),
        "credential_source": { "certificate": certificate },
        "service_account_impersonation_url": format!(
            "{base}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}:generateAccessToken"
        ),
    }))
}

/// The environment of the emulated Lambda function: the role's temporary credentials and region.
pub fn aws_lambda_env(emulator: &RunningEmulator) -> Vec<(String, String)> {
    let aws = &emulator.config().aws;
    vec![
        ("AWS_ACCESS_KEY_ID".into(), aws.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            aws.secret_access_key.clone(),
        ),
        ("AWS_SESSION_TOKEN".into(), aws.session_token.clone()),
        ("AWS_REGION".into(), aws.region.clone()),
    ]
}

/// The environment of an emulated ECS task with a task role: the emulated agent's endpoint
/// (where ECS itself sets `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, relative to 169.254.170.2)
/// and the region.
pub fn aws_ecs_env(emulator: &RunningEmulator) -> Vec<(String, String)> {
    vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            format!(
                "{}{}wif-demo-task",
                emulator.base_url(),
                crate::aws_container::ECS_PATH
            ),
        ),
        ("AWS_REGION".into(), emulator.config().aws.region.clone()),
    ]
}

/// The environment of an emulated EKS pod with a Pod Identity association: the emulated agent's
/// endpoint, the authorization token file at `token_file`, and the region.
pub fn aws_eks_pod_identity_env(
    emulator: &RunningEmulator,
    token_file: &Path,
) -> Vec<(String, String)> {
    vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            format!(
                "{}{}",
                emulator.base_url(),
                crate::aws_container::POD_IDENTITY_PATH
            ),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(),
            token_file.display().to_string(),
        ),
        ("AWS_REGION".into(), emulator.config().aws.region.clone()),
    ]
}

/// The environment of an emulated EKS pod with IRSA: what the pod identity webhook sets (the
/// role, the projected token file at `token_file`, the region), and AWS STS at the emulator.
pub fn aws_eks_irsa_env(emulator: &RunningEmulator, token_file: &Path) -> Vec<(String, String)> {
    let aws = &emulator.config().aws;
    vec![
        ("AWS_ROLE_ARN".into(), aws.iam_role_arn()),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
            token_file.display().to_string(),
        ),
        ("AWS_REGION".into(), aws.region.clone()),
        ("AWS_DEFAULT_REGION".into(), aws.region.clone()),
        (
            "AWS_ENDPOINT_URL_STS".into(),
            format!("{}/aws/sts", emulator.base_url()),
        ),
    ]
}

/// `export NAME='value'` lines, sourceable by any POSIX shell.
fn env_file(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(name, value)| format!("export {name}='{}'\n", value.replace('\'', r"'\''")))
        .collect()
}

/// Reads an env file as [`write_configs`] writes it (`[export ]NAME=value` lines, values optionally
/// in single or double quotes; blank lines and `#` comments skipped).
pub fn read_env_file(path: &Path) -> io::Result<Vec<(String, String)>> {
    Ok(parse_env(&std::fs::read_to_string(path)?))
}

fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let (name, value) = line.split_once('=')?;
            let value = if let Some(quoted) =
                value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))
            {
                quoted.replace(r"'\''", "'")
            } else if let Some(quoted) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                quoted.to_owned()
            } else {
                value.to_owned()
            };
            Some((name.trim().to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_shlex() {
        assert_eq!(
            shell_word("/tmp/x/executable-token.sh"),
            "/tmp/x/executable-token.sh"
        );
        assert_eq!(shell_word("/tmp/my dir/t.sh"), "'/tmp/my dir/t.sh'");
        assert_eq!(shell_word("/tmp/it's"), r"'/tmp/it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn env_files_round_trip() {
        let vars = vec![
            ("A".to_owned(), "plain".to_owned()),
            ("B".to_owned(), "with/slash+and=equals".to_owned()),
            ("C".to_owned(), "it's quoted".to_owned()),
        ];
        assert_eq!(parse_env(&env_file(&vars)), vars);
        assert_eq!(
            parse_env("# comment\n\nX=1\nexport Y=\"two\"\n"),
            vec![
                ("X".to_owned(), "1".to_owned()),
                ("Y".to_owned(), "two".to_owned())
            ]
        );
    }
}
