//! Step 1 of `wif explain`: the plan the facade resolved, shown setting by setting with where
//! each came from, plus what the audience names (pool, provider, project number) and the plan's
//! warnings. Settings of the source are shown in step 2, where the source runs.

use wif::config::{AudienceKind, parse_audience};
use wif::plan::{Origin, Plan, SourcePlan};

use super::report::StepId;
use super::{Walk, origin_text};

/// "workload identity pool", "workforce identity pool" or "not a pool provider".
pub(super) fn pool_type(audience: &str) -> &'static str {
    match parse_audience(audience).kind {
        AudienceKind::WorkloadPool { .. } => "workload identity pool",
        AudienceKind::WorkforcePool { .. } => "workforce identity pool",
        _ => "not a pool provider",
    }
}

/// Plan entries step 1 leaves to step 2 (the source's own settings).
fn is_source_detail(key: &str) -> bool {
    key.starts_with("source_") || key.starts_with("aws_")
}

impl Walk {
    pub(super) fn describe_plan(&mut self, plan: &Plan) {
        let audience = parse_audience(&plan.audience.value);
        let step = self.step(StepId::Config);
        let (file, found_by) = match &plan.configuration {
            Some(c) => (
                c.path.as_ref().map(|p| p.display().to_string()),
                Some(match c.found_by {
                    // The CLI hands --credentials to the builder's config_file.
                    Origin::Builder(_) => "--credentials".to_owned(),
                    Origin::Environment(var) => var.to_owned(),
                    _ => "gcloud's application_default_credentials.json".to_owned(),
                }),
            ),
            None => (None, None),
        };
        step.fact("file", "file", file);
        step.fact("found_by", "found by", found_by);
        step.fact("type", "type", "external_account");
        let (kind, project, location, pool, provider) = match &audience.kind {
            AudienceKind::WorkloadPool {
                project_number,
                location,
                pool,
                provider,
            } => (
                "workload",
                Some(project_number.clone()),
                Some(location.clone()),
                Some(pool.clone()),
                provider.clone(),
            ),
            AudienceKind::WorkforcePool {
                location,
                pool,
                provider,
            } => (
                "workforce",
                None,
                Some(location.clone()),
                Some(pool.clone()),
                provider.clone(),
            ),
            _ => ("other", None, None, None, None),
        };
        step.fact_with_text(
            "pool_type",
            "pool type",
            kind,
            Some(pool_type(&plan.audience.value).to_owned()),
        );
        step.fact("project_number", "project number", project);
        step.fact("location", "location", location);
        step.fact("pool", "pool", pool);
        step.fact("provider", "provider", provider);
        for entry in plan.entries() {
            if entry.key == "configuration" || is_source_detail(entry.key) {
                continue;
            }
            // The keys of `wif-explain/v1` before the plan existed.
            let key = match entry.key {
                "service_account" => "impersonate",
                other => other,
            };
            let text = wif::plan::value_text(&entry.value) + &origin_text(entry.origin);
            step.setting(key, entry.label, entry.value, text);
        }
        for w in &plan.warnings {
            step.warn(w.to_string());
        }
        let universe = &plan.universe_domain.value;
        if universe != wif::config::DEFAULT_UNIVERSE_DOMAIN {
            step.warn(format!(
                "universe domain {universe} is not googleapis.com: tokens are issued by and only work in that universe (sts.{universe}, iamcredentials.{universe})"
            ));
        }
        self.known.aws_source = matches!(plan.source.value, SourcePlan::Aws(_));
        self.known.audience = Some(audience);
        self.known.impersonate = plan
            .impersonation
            .as_ref()
            .map(|i| i.service_account.clone());
    }
}
