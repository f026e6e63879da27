//! How a [`Plan`] is printed: one row per setting, for people (`Display`) and tools (JSON). URLs
//! lose their query and user info; nothing secret is in a plan to begin with.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};
use url::Url;
use wif_core::TokenFormat;
use wif_core::http::describe_url;

use super::{AwsSourcePlan, Entry, Origin, Plan, Setting, SourcePlan, TrustOutcome, WarningKind};

fn row(key: &'static str, label: &'static str, value: Value, origin: Option<Origin>) -> Entry {
    Entry {
        key,
        label,
        value,
        origin,
    }
}

fn setting<T>(
    key: &'static str,
    label: &'static str,
    s: &Setting<T>,
    show: impl Fn(&T) -> Value,
) -> Entry {
    row(key, label, show(&s.value), Some(s.origin))
}

fn optional<T>(
    key: &'static str,
    label: &'static str,
    s: Option<&Setting<T>>,
    show: impl Fn(&T) -> Value,
) -> Entry {
    match s {
        Some(s) => setting(key, label, s, show),
        None => row(key, label, Value::Null, None),
    }
}

fn text<S: AsRef<str>>(s: &S) -> Value {
    Value::String(s.as_ref().to_owned())
}

fn url(u: &Url) -> Value {
    Value::String(describe_url(u))
}

fn list<T: serde::Serialize>(v: &T) -> Value {
    json!(v)
}

fn format_name(format: &TokenFormat) -> String {
    match format {
        TokenFormat::Json {
            subject_token_field_name,
        } => format!("json (field {subject_token_field_name})"),
        _ => "text".to_owned(),
    }
}

pub(super) fn entries(plan: &Plan) -> Vec<Entry> {
    let mut out = Vec::new();
    let (path, found_by) = match &plan.configuration {
        Some(c) => (
            c.path
                .as_ref()
                .map_or(Value::Null, |p| json!(p.display().to_string())),
            Some(c.found_by),
        ),
        None => (Value::Null, None),
    };
    out.push(row("configuration", "configuration", path, found_by));
    out.push(setting(
        "universe_domain",
        "universe domain",
        &plan.universe_domain,
        text,
    ));
    out.push(optional(
        "endpoint_base_url",
        "endpoint base URL",
        plan.endpoint_base_url.as_ref(),
        url,
    ));
    out.push(setting("audience", "audience", &plan.audience, text));
    out.push(setting(
        "subject_token_type",
        "subject token type",
        &plan.subject_token_type,
        text,
    ));
    out.push(setting("token_url", "STS token URL", &plan.token_url, url));
    out.push(setting("scopes", "scopes", &plan.scopes, list));
    out.push(setting("sts_scopes", "STS scopes", &plan.sts_scopes, list));
    let imp = plan.impersonation.as_ref();
    out.push(optional(
        "impersonation_url",
        "impersonation URL",
        imp.map(|i| &i.url),
        url,
    ));
    out.push(match imp {
        Some(i) => row(
            "service_account",
            "service account",
            json!(i.service_account),
            Some(i.url.origin),
        ),
        None => row("service_account", "service account", Value::Null, None),
    });
    out.push(optional(
        "token_lifetime_seconds",
        "token lifetime (s)",
        imp.map(|i| &i.lifetime),
        |d| json!(d.as_secs()),
    ));
    out.push(optional(
        "quota_project",
        "quota project",
        plan.quota_project.as_ref(),
        text,
    ));
    out.push(optional(
        "client_id",
        "client id",
        plan.client_id.as_ref(),
        text,
    ));
    out.push(row(
        "client_secret_set",
        "client secret set",
        json!(plan.client_secret_set),
        plan.client_id.as_ref().map(|c| c.origin),
    ));
    out.push(optional(
        "workforce_pool_user_project",
        "workforce user project",
        plan.workforce_pool_user_project.as_ref(),
        text,
    ));
    let trust = match &plan.trust {
        TrustOutcome::Trusted => "none: the configuration is trusted".to_owned(),
        TrustOutcome::NothingToCheck => "set; no configuration to check".to_owned(),
        TrustOutcome::Accepted { exempt } if exempt.is_empty() => "accepted".to_owned(),
        TrustOutcome::Accepted { exempt } => {
            format!(
                "accepted (set on the builder, not checked: {})",
                exempt.join(", ")
            )
        }
    };
    out.push(row("trust_policy", "trust policy", json!(trust), None));
    out.push(row(
        "http_client",
        "HTTP client",
        json!(match plan.http.client {
            Origin::Builder(_) => "yours",
            _ => "default",
        }),
        Some(plan.http.client),
    ));
    out.push(row(
        "extra_root_certificates",
        "extra root certificates",
        json!(plan.http.extra_root_certificates),
        (plan.http.extra_root_certificates > 0)
            .then_some(Origin::Builder("add_root_certificates_pem")),
    ));
    out.push(row(
        "mtls",
        "STS and IAM over mTLS",
        json!(plan.http.mtls),
        plan.http.mtls.then_some(Origin::Rule(
            "a certificate source presents its certificate",
        )),
    ));
    out.push(setting("retry", "retries", &plan.retry, |r| {
        json!(format!(
            "at most {} attempts within {}",
            r.max_attempts(),
            duration(r.deadline())
        ))
    }));
    out.push(setting("cache", "cache", &plan.cache, |c| {
        json!(format!(
            "refresh {} before expiry, never hand out a token with less than {} left",
            duration(c.refresh_ahead),
            duration(c.min_validity)
        ))
    }));
    out.push(setting(
        "chain_deadline",
        "chain deadline",
        &plan.chain_deadline,
        |d| match *d {
            Duration::MAX => json!("none"),
            d => json!(duration(d)),
        },
    ));
    out.push(setting("source", "source", &plan.source, |s| {
        json!(s.kind())
    }));
    source_entries(&plan.source.value, &mut out);
    out
}

fn source_entries(source: &SourcePlan, out: &mut Vec<Entry>) {
    let origin = |field: &'static str| Some(Origin::Config(field));
    match source {
        SourcePlan::File(f) => {
            out.push(row(
                "source_file",
                "token file",
                json!(f.path.display().to_string()),
                origin("credential_source.file"),
            ));
            out.push(row(
                "source_format",
                "token format",
                json!(format_name(&f.format)),
                origin("credential_source.format"),
            ));
        }
        SourcePlan::Url(u) => {
            out.push(row(
                "source_url",
                "token URL",
                url(&u.url),
                origin("credential_source.url"),
            ));
            out.push(row(
                "source_headers",
                "headers (values not shown)",
                json!(u.header_names),
                origin("credential_source.headers"),
            ));
            out.push(row(
                "source_format",
                "token format",
                json!(format_name(&u.format)),
                origin("credential_source.format"),
            ));
        }
        SourcePlan::Aws(a) => aws_entries(a, out),
        SourcePlan::Executable(e) => {
            out.push(row(
                "source_command",
                "command",
                json!(e.command),
                origin("credential_source.executable.command"),
            ));
            out.push(setting(
                "source_timeout_millis",
                "timeout (ms)",
                &e.timeout,
                |t| json!(t.as_millis()),
            ));
            out.push(setting(
                "source_executables_allowed",
                "executables allowed",
                &e.allowed,
                |a| json!(a),
            ));
        }
        SourcePlan::Certificate(c) => {
            out.push(row(
                "source_certificate_config",
                "certificate configuration",
                json!(
                    c.certificate_config
                        .as_ref()
                        .map_or("gcloud's default location".to_owned(), |p| p
                            .display()
                            .to_string())
                ),
                origin("credential_source.certificate"),
            ));
            out.push(row(
                "source_trust_chain",
                "trust chain",
                c.trust_chain
                    .as_ref()
                    .map_or(Value::Null, |p| json!(p.display().to_string())),
                c.trust_chain
                    .as_ref()
                    .and(origin("credential_source.certificate.trust_chain_path")),
            ));
        }
        SourcePlan::Custom(_) => {}
    }
}

fn aws_entries(a: &AwsSourcePlan, out: &mut Vec<Entry>) {
    let (region, region_from) = a.region.describe();
    out.push(row("aws_region", "AWS region", json!(region), region_from));
    let (credentials, credentials_from) = a.credentials.describe();
    out.push(row(
        "aws_credentials",
        "AWS credentials",
        json!(credentials),
        credentials_from,
    ));
    let metadata = a.metadata_service();
    out.push(row(
        "aws_metadata_service",
        "metadata service",
        json!(metadata),
        metadata.and(Some(Origin::Config("credential_source"))),
    ));
    out.push(setting(
        "aws_verification_url",
        "signed URL",
        &a.regional_cred_verification_url,
        text,
    ));
}

/// "30 s", "3 min 45 s".
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        _ if s.is_multiple_of(60) => format!("{} min", s / 60),
        _ => format!("{} min {} s", s / 60, s % 60),
    }
}

pub(super) fn to_json(plan: &Plan) -> Value {
    let mut settings = serde_json::Map::new();
    for entry in entries(plan) {
        let mut item = serde_json::Map::new();
        item.insert("value".into(), entry.value);
        if let Some(origin) = entry.origin
            && let Value::Object(o) = origin.to_json()
        {
            item.extend(o);
        }
        settings.insert(entry.key.to_owned(), Value::Object(item));
    }
    let warnings: Vec<Value> = plan
        .warnings
        .iter()
        .map(|w| json!({"kind": w.kind.name(), "setting": w.setting, "message": w.message}))
        .collect();
    json!({"settings": settings, "warnings": warnings})
}

pub(super) fn write_text(plan: &Plan, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let rows = entries(plan);
    let width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    for r in rows {
        let from = r.origin.map(|o| format!("  [{o}]")).unwrap_or_default();
        writeln!(
            f,
            "  {:<width$}  {}{from}",
            r.label,
            super::value_text(&r.value)
        )?;
    }
    for w in &plan.warnings {
        let what = match w.kind {
            WarningKind::UnknownField => "unknown field",
            WarningKind::Suspicious => "suspicious",
            WarningKind::Ignored => "ignored",
            WarningKind::Fallback => "fallback",
        };
        writeln!(f, "  warning ({what}): {w}")?;
    }
    Ok(())
}
