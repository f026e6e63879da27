//! What `wif explain` found, step by step, and how it is written: numbered text for people, or
//! one JSON document (`wif-explain/v1`, documented in the crate README) for tooling.
//!
//! Every value put into a report is chosen not to be a secret (an access key id, a region, JWT
//! claims, URLs without their query, our own error messages). As a second line of defence, the
//! written text is scrubbed of every secret the run held ([`Redactor`]).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;
use wif::secrecy::{ExposeSecret, SecretString};
use wif::{Cause, Error};

/// Version tag of the JSON document; bumped only for incompatible changes.
pub(crate) const SCHEMA: &str = "wif-explain/v1";

/// The five steps of the chain, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepId {
    Config,
    Source,
    Exchange,
    Impersonation,
    Token,
}

impl StepId {
    pub(crate) const ALL: [StepId; 5] = [
        StepId::Config,
        StepId::Source,
        StepId::Exchange,
        StepId::Impersonation,
        StepId::Token,
    ];

    fn title(self) -> &'static str {
        match self {
            StepId::Config => "Configuration",
            StepId::Source => "Subject token",
            StepId::Exchange => "Google STS token exchange",
            StepId::Impersonation => "Service account impersonation",
            StepId::Token => "Access token",
        }
    }

    /// The one line of "why" each step prints.
    fn why(self) -> &'static str {
        match self {
            StepId::Config => {
                "the credential configuration says where the identity comes from and which Google pool trusts it"
            }
            StepId::Source => {
                "the workload's proof of identity, made from what its platform gives it; no Google secret exists anywhere"
            }
            StepId::Exchange => {
                "Google STS checks that proof against the pool provider and its attribute condition, and answers with a federated token"
            }
            StepId::Impersonation => {
                "IAM Credentials lets the federated identity borrow a service account, if it holds roles/iam.workloadIdentityUser on it"
            }
            StepId::Token => "what your code sends to Google APIs as `Authorization: Bearer …`",
        }
    }
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    Failed,
    /// Not run because an earlier step failed.
    Skipped,
    /// Not part of this configuration (impersonation without an impersonation URL).
    NotConfigured,
}

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
            Status::NotConfigured => "not configured",
        }
    }
}

/// One named cause of a failure (or of a failure to come), and what to do about it. In JSON:
/// `{"cause": ID, "summary", "explanation", "fix"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Diagnosis {
    /// The cause, from the catalogue (its id is listed in docs/troubleshooting.md).
    pub(crate) cause: &'static Cause,
    /// Why this happens, with what we saw.
    pub(crate) explanation: String,
    /// What to change.
    pub(crate) fix: String,
}

impl Serialize for Diagnosis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("cause", self.cause.id)?;
        map.serialize_entry("summary", self.cause.summary)?;
        map.serialize_entry("explanation", &self.explanation)?;
        map.serialize_entry("fix", &self.fix)?;
        map.end()
    }
}

/// One thing a step used or learned: a JSON key, a label for text, a value.
#[derive(Clone, Debug)]
pub(crate) struct Fact {
    key: &'static str,
    label: &'static str,
    value: Value,
    /// How the text shows the value, when not as the JSON value reads.
    text: Option<String>,
    shown: Shown,
}

/// When a fact appears in the text (the JSON always has every fact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    Always,
    /// Only when not `null` or `false`.
    WhenSet,
    /// Never: a value for tools (the text says it another way).
    JsonOnly,
}

/// An ordered list of facts, serialized as one JSON object in this order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts(Vec<Fact>);

impl Serialize for Facts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for fact in &self.0 {
            map.serialize_entry(fact.key, &fact.value)?;
        }
        map.end()
    }
}

/// The error of a failed step, in the shape of `wif_core::Error`'s accessors.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ErrorReport {
    message: String,
    kind: String,
    status: Option<u16>,
    server: Option<ServerWords>,
    retryable: bool,
    hint: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
struct ServerWords {
    code: Option<String>,
    message: Option<String>,
    reason: Option<String>,
}

impl ErrorReport {
    fn of(err: &Error) -> Self {
        // The message without the hint line: the hint has its own field.
        let shown = err.to_string();
        let message = shown
            .split("\n  hint: ")
            .next()
            .unwrap_or(&shown)
            .to_owned();
        ErrorReport {
            message,
            kind: kind_name(err.kind()).to_owned(),
            status: err.status(),
            server: err.server_error().map(|s| ServerWords {
                code: s.code.clone(),
                message: s.message.clone(),
                reason: s.reason.clone(),
            }),
            retryable: err.is_retryable(),
            hint: err.hint().map(str::to_owned),
        }
    }
}

/// `ErrorKind` in snake case, as the JSON shows it.
fn kind_name(kind: wif::ErrorKind) -> &'static str {
    use wif::ErrorKind as K;
    match kind {
        K::InvalidConfig => "invalid_config",
        K::NotSupported => "not_supported",
        K::Transport => "transport",
        K::Timeout => "timeout",
        K::Http => "http",
        K::InvalidResponse => "invalid_response",
        K::Io => "io",
        K::InvalidToken => "invalid_token",
        _ => "internal",
    }
}

/// One step of the walk.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StepReport {
    number: u8,
    step: StepId,
    title: &'static str,
    why: &'static str,
    status: Status,
    elapsed_ms: Option<f64>,
    used: Facts,
    proved: Option<String>,
    warnings: Vec<String>,
    error: Option<ErrorReport>,
    diagnoses: Vec<Diagnosis>,
    #[serde(skip)]
    note: Option<String>,
}

impl StepReport {
    pub(crate) fn new(step: StepId) -> Self {
        let number = StepId::ALL
            .iter()
            .position(|s| *s == step)
            .map_or(0, |i| u8::try_from(i + 1).unwrap_or(0));
        StepReport {
            number,
            step,
            title: step.title(),
            why: step.why(),
            status: Status::Skipped,
            elapsed_ms: None,
            used: Facts::default(),
            proved: None,
            warnings: Vec::new(),
            error: None,
            diagnoses: Vec::new(),
            note: None,
        }
    }

    /// Records a fact; `None` values are recorded as JSON `null` so the key set stays stable.
    pub(crate) fn fact(&mut self, key: &'static str, label: &'static str, value: impl Into<Value>) {
        self.used.0.push(Fact {
            key,
            label,
            value: value.into(),
            text: None,
            shown: Shown::Always,
        });
    }

    /// A fact whose text differs from its JSON value (a number or an id in the JSON, words in
    /// the text).
    pub(crate) fn fact_with_text(
        &mut self,
        key: &'static str,
        label: &'static str,
        value: impl Into<Value>,
        text: Option<String>,
    ) {
        self.used.0.push(Fact {
            key,
            label,
            value: value.into(),
            text,
            shown: Shown::WhenSet,
        });
    }

    /// Like [`fact`](Self::fact), for settings most configurations leave unset: the text shows
    /// them only when set.
    pub(crate) fn optional(
        &mut self,
        key: &'static str,
        label: &'static str,
        value: impl Into<Value>,
    ) {
        self.used.0.push(Fact {
            key,
            label,
            value: value.into(),
            text: None,
            shown: Shown::WhenSet,
        });
    }

    /// A resolved setting: its JSON value, and a text that says where it came from. Shown in
    /// the text only when set.
    pub(crate) fn setting(
        &mut self,
        key: &'static str,
        label: &'static str,
        value: Value,
        text: String,
    ) {
        self.used.0.push(Fact {
            key,
            label,
            value,
            text: Some(text),
            shown: Shown::WhenSet,
        });
    }

    /// A fact for tools only, such as a number the text already says in words.
    pub(crate) fn json_only(&mut self, key: &'static str, value: impl Into<Value>) {
        self.used.0.push(Fact {
            key,
            label: key,
            value: value.into(),
            text: None,
            shown: Shown::JsonOnly,
        });
    }

    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    pub(crate) fn diagnose(&mut self, diagnoses: impl IntoIterator<Item = Diagnosis>) {
        for d in diagnoses {
            if !self.diagnoses.iter().any(|have| have.cause == d.cause) {
                self.diagnoses.push(d);
            }
        }
    }

    pub(crate) fn took(&mut self, elapsed: Duration) {
        self.elapsed_ms = Some((elapsed.as_secs_f64() * 10_000.0).round() / 10.0);
    }

    pub(crate) fn ok(&mut self, proved: impl Into<String>) {
        self.status = Status::Ok;
        self.proved = Some(proved.into());
    }

    pub(crate) fn fail(&mut self, err: &Error) {
        self.status = Status::Failed;
        self.error = Some(ErrorReport::of(err));
    }

    pub(crate) fn not_configured(&mut self, note: impl Into<String>) {
        self.status = Status::NotConfigured;
        self.proved = Some(note.into());
    }

    pub(crate) fn skipped(&mut self, why: impl Into<String>) {
        self.status = Status::Skipped;
        self.note = Some(why.into());
    }
}

/// The whole walk.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    schema: &'static str,
    ok: bool,
    failed_step: Option<StepId>,
    credentials: Option<String>,
    /// The facade's plan (`Plan::to_json`), when step 1 resolved one.
    plan: Option<Value>,
    steps: Vec<StepReport>,
}

impl Report {
    pub(crate) fn new(
        credentials: Option<String>,
        plan: Option<Value>,
        steps: Vec<StepReport>,
    ) -> Self {
        let failed_step = steps
            .iter()
            .find(|s| s.status == Status::Failed)
            .map(|s| s.step);
        Report {
            schema: SCHEMA,
            ok: failed_step.is_none()
                && steps
                    .iter()
                    .all(|s| matches!(s.status, Status::Ok | Status::NotConfigured)),
            failed_step,
            credentials,
            plan,
            steps,
        }
    }

    pub(crate) fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            // Only non-string map keys can fail, and the report has none.
            format!("{{\"schema\":\"{SCHEMA}\",\"ok\":false,\"error\":\"{e}\"}}")
        })
    }

    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "wif explain: from your workload's identity to a Google access token, step by step"
        );
        if let Some(c) = &self.credentials {
            let _ = writeln!(out, "credentials: {c}");
        }
        for step in &self.steps {
            out.push('\n');
            step.write_text(&mut out);
        }
        out.push('\n');
        match self.steps.iter().find(|s| s.status == Status::Failed) {
            None if self.ok => {
                let _ = writeln!(
                    out,
                    "result: ok, the whole chain works; your code gets this token from wif::Credentials"
                );
            }
            None => {
                let _ = writeln!(out, "result: FAILED");
            }
            Some(step) => {
                let causes: Vec<&str> = step.diagnoses.iter().map(|d| d.cause.summary).collect();
                let _ = writeln!(
                    out,
                    "result: FAILED at step {} ({}){}",
                    step.number,
                    step.title,
                    if causes.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", crate::terminal::escape_controls(&causes.join("; ")))
                    }
                );
            }
        }
        out
    }
}

impl StepReport {
    fn write_text(&self, out: &mut String) {
        let took = self
            .elapsed_ms
            .map(|ms| format!("  [{ms:.1} ms]"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}. {}: {}{took}",
            self.number,
            self.title,
            self.status.text()
        );
        let _ = writeln!(out, "   why: {}", self.why);
        if let Some(note) = &self.note {
            let _ = writeln!(out, "   ({note})");
            return;
        }
        let shown: Vec<&Fact> = self
            .used
            .0
            .iter()
            .filter(|f| match f.shown {
                Shown::Always => true,
                Shown::WhenSet => !matches!(f.value, Value::Null | Value::Bool(false)),
                Shown::JsonOnly => false,
            })
            .collect();
        let width = shown
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(0);
        for fact in shown {
            let _ = writeln!(
                out,
                "   {:<width$}  {}",
                fact.label,
                fact.text
                    .clone()
                    .unwrap_or_else(|| wif::plan::value_text(&fact.value))
            );
        }
        if let Some(proved) = &self.proved {
            let _ = writeln!(out, "   proved: {proved}");
        }
        // Errors, warnings and diagnoses can quote a server's words: escaped, one line each.
        let esc = crate::terminal::escape_controls;
        for w in &self.warnings {
            let _ = writeln!(out, "   warning: {}", esc(w));
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "   error: {}", esc(&e.message));
            if let Some(hint) = &e.hint {
                let _ = writeln!(out, "   hint: {}", esc(hint));
            }
        }
        for d in &self.diagnoses {
            let _ = writeln!(out, "   cause: {} [{}]", esc(d.cause.summary), d.cause.id);
            let _ = writeln!(out, "     why: {}", esc(&d.explanation));
            let _ = writeln!(out, "     fix: {}", esc(&d.fix));
        }
    }
}

/// Secrets the run held, scrubbed from the written report should any slip into a message: in
/// any spelling (raw, percent- or form-encoded, JSON-escaped), by the one scrubbing facility
/// every layer uses ([`wif::layers::core::Redactor`]).
#[derive(Debug, Default)]
pub(crate) struct Redactor(wif::layers::core::Redactor);

impl Redactor {
    pub(crate) fn add(&mut self, secret: &SecretString) {
        self.0.add(secret.expose_secret());
    }

    pub(crate) fn add_str(&mut self, secret: &str) {
        self.0.add(secret);
    }

    pub(crate) fn scrub(&self, text: String) -> String {
        match self.0.scrub(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(scrubbed) => scrubbed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_fact_order_and_a_stable_shape() {
        let mut step = StepReport::new(StepId::Exchange);
        step.fact("zeta", "zeta", "last-sorted but first");
        step.fact("alpha", "alpha", Value::Null);
        step.ok("proved it");
        let mut skipped = StepReport::new(StepId::Impersonation);
        skipped.not_configured("no impersonation");
        let report = Report::new(None, None, vec![step, skipped]);
        let json: Value = serde_json::from_str(&report.json()).expect("valid JSON");
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["ok"], true);
        assert_eq!(json["steps"][0]["step"], "exchange");
        assert_eq!(json["steps"][0]["number"], 3);
        assert_eq!(json["steps"][1]["status"], "not_configured");
        let text = report.json();
        assert!(text.find("\"zeta\"") < text.find("\"alpha\""), "{text}");
    }

    #[test]
    fn text_names_the_failed_step_and_its_causes() {
        let mut step = StepReport::new(StepId::Source);
        step.fact("region", "region", "us-east-1");
        step.fail(&wif::Error::config("audience", "bad").with_hint("fix it"));
        step.diagnose([Diagnosis {
            cause: &wif::layers::source_aws::causes::NO_REGION,
            explanation: "because".into(),
            fix: "set AWS_REGION".into(),
        }]);
        let report = Report::new(None, None, vec![step]);
        let text = report.text();
        assert!(text.contains("2. Subject token: FAILED"), "{text}");
        assert!(text.contains("FAILED"), "{text}");
        assert!(text.contains("cause: no AWS region [no_region]"), "{text}");
        assert!(text.contains("hint: fix it"), "{text}");
        assert!(
            text.contains("result: FAILED at step 2 (Subject token): no AWS region"),
            "{text}"
        );
        assert!(!report.ok);
    }

    /// The text report quotes server words in its error and cause lines: escaped there too.
    #[test]
    fn text_escapes_control_characters_of_server_words() {
        let mut step = StepReport::new(StepId::Exchange);
        step.fail(&wif::Error::http_with_server_error(
            wif::Step::Exchange,
            400,
            wif::ServerError::new(
                Some("invalid_grant".into()),
                Some("no\u{1b}[2J\n   hint: forged".into()),
            ),
        ));
        // A cause's summary is ours; its explanation and fix may quote the server.
        step.diagnose([Diagnosis {
            cause: &wif::layers::sts::causes::TOKEN_AUDIENCE_MISMATCH,
            explanation: "the server said \u{1b}]0;x\u{7}".into(),
            fix: "check\r".into(),
        }]);
        let text = Report::new(None, None, vec![step]).text();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(text.contains("no\\e[2J\\n   hint: forged"), "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("   hint: forged")),
            "{text}"
        );
    }

    #[test]
    fn redactor_scrubs_raw_and_json_escaped_secrets() {
        let mut r = Redactor::default();
        r.add_str("s3cr3t\"value");
        r.add_str("short");
        let out = r.scrub("a s3cr3t\"value b s3cr3t\\\"value c s3cr3t%22value short".to_owned());
        assert_eq!(out, "a [REDACTED] b [REDACTED] c [REDACTED] short");
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }
}
