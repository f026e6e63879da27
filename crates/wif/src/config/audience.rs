//! The STS `audience`: what it names (a workload or workforce pool provider) and the mistakes
//! people commonly make in it. Used for validation (`workforce_pool_user_project`) and by
//! `wif explain`.
//!
//! Formats (`docs/protocol.md#audience`):
//! * workload: `//iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{POOL}/providers/{PROVIDER}`
//! * workforce: `//iam.googleapis.com/locations/{LOCATION}/workforcePools/{POOL}/providers/{PROVIDER}`

const IAM_PREFIX: &str = "//iam.googleapis.com/";

/// What an audience names.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudienceKind {
    /// A workload identity pool provider (machines: AWS, OIDC, SAML workloads).
    WorkloadPool {
        /// The project **number** that owns the pool (as written; see the warnings if it is not numeric).
        project_number: String,
        /// The pool's location (always `global` for workload pools).
        location: String,
        /// The pool ID.
        pool: String,
        /// The provider ID, when the audience names one.
        provider: Option<String>,
    },
    /// A workforce identity pool provider (people, through an IdP).
    WorkforcePool {
        /// The pool's location (usually `global`).
        location: String,
        /// The pool ID.
        pool: String,
        /// The provider ID, when the audience names one.
        provider: Option<String>,
    },
    /// Anything else (for example an OAuth client ID): sent to STS verbatim.
    Other,
}

/// A parsed view of an STS audience, with warnings about likely mistakes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience {
    /// What the audience names. Parsed leniently (after dropping a stray `https:`), so this
    /// says what the user *meant*; [`warnings`](Self::warnings) say what is wrong with it.
    pub kind: AudienceKind,
    /// Human-readable problems: a project ID where the number belongs, an `https:` prefix,
    /// a missing `/providers/…`, surrounding whitespace, unexpected segments.
    pub warnings: Vec<String>,
}

impl Audience {
    /// Whether the audience is a workforce pool, exactly as Python google-auth decides
    /// (`re.match(r"//iam\.googleapis\.com/locations/[^/]+/workforcePools/", audience)`).
    pub fn is_workforce_pool(audience: &str) -> bool {
        is_workforce_pool(audience)
    }

    /// The project number of a workload pool audience.
    pub fn project_number(&self) -> Option<&str> {
        match &self.kind {
            AudienceKind::WorkloadPool { project_number, .. } => Some(project_number),
            _ => None,
        }
    }
}

/// Python's anchored workforce regex, hand-parsed: `//iam.googleapis.com/locations/` then one
/// or more non-`/` characters, then `/workforcePools/`.
pub(crate) fn is_workforce_pool(audience: &str) -> bool {
    let Some(rest) = audience.strip_prefix("//iam.googleapis.com/locations/") else {
        return false;
    };
    match rest.split_once('/') {
        Some((location, tail)) => !location.is_empty() && tail.starts_with("workforcePools/"),
        None => false,
    }
}

/// Parses an audience into what it names, plus warnings about likely mistakes. Never fails:
/// STS accepts audiences we don't recognise (OAuth client IDs, for one).
pub fn parse_audience(audience: &str) -> Audience {
    let mut warnings = Vec::new();
    let trimmed = audience.trim();
    if trimmed != audience {
        warnings.push(
            "the audience has leading or trailing whitespace, which STS will not ignore".to_owned(),
        );
    }
    let mut text = trimmed;
    for scheme in ["https:", "http:"] {
        if let Some(rest) = text.strip_prefix(scheme) {
            warnings.push(format!(
                "the audience starts with `{scheme}`; STS expects the resource name `//iam.googleapis.com/…` without a scheme"
            ));
            text = rest;
        }
    }
    let Some(path) = text.strip_prefix(IAM_PREFIX) else {
        if text.contains("workloadIdentityPools") || text.contains("workforcePools") {
            warnings.push(format!(
                "the audience mentions an identity pool but does not start with `{IAM_PREFIX}`"
            ));
        }
        return Audience {
            kind: AudienceKind::Other,
            warnings,
        };
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let kind = match segments.as_slice() {
        [
            "projects",
            project,
            "locations",
            location,
            "workloadIdentityPools",
            pool,
            rest @ ..,
        ] => {
            if !project.bytes().all(|b| b.is_ascii_digit()) || project.is_empty() {
                warnings.push(format!(
                    "`projects/{project}` must be the project NUMBER, not the project ID; find it with `gcloud projects describe {project} --format='value(projectNumber)'`"
                ));
            }
            if *location != "global" {
                warnings.push(format!(
                    "workload identity pools live in location `global`, not `{location}`"
                ));
            }
            AudienceKind::WorkloadPool {
                project_number: (*project).to_owned(),
                location: (*location).to_owned(),
                pool: (*pool).to_owned(),
                provider: provider(rest, &mut warnings),
            }
        }
        ["locations", location, "workforcePools", pool, rest @ ..] => AudienceKind::WorkforcePool {
            location: (*location).to_owned(),
            pool: (*pool).to_owned(),
            provider: provider(rest, &mut warnings),
        },
        _ => {
            warnings.push(
                "the audience starts with `//iam.googleapis.com/` but names neither a workload pool (`projects/N/locations/global/workloadIdentityPools/POOL/providers/ID`) nor a workforce pool (`locations/L/workforcePools/POOL/providers/ID`)".to_owned(),
            );
            AudienceKind::Other
        }
    };
    Audience { kind, warnings }
}

/// The provider from the segments after the pool, warning when it is missing or followed by
/// anything.
fn provider(rest: &[&str], warnings: &mut Vec<String>) -> Option<String> {
    match rest {
        ["providers", id] if !id.is_empty() => Some((*id).to_owned()),
        ["providers", id, extra @ ..] if !id.is_empty() => {
            warnings.push(format!(
                "unexpected segments after the provider: `/{}`",
                extra.join("/")
            ));
            Some((*id).to_owned())
        }
        _ => {
            warnings.push(
                "the audience names the pool but no provider; append `/providers/PROVIDER_ID`"
                    .to_owned(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_workload_and_workforce() {
        let a = parse_audience(
            "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws",
        );
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        assert_eq!(a.project_number(), Some("123456"));
        assert_eq!(
            a.kind,
            AudienceKind::WorkloadPool {
                project_number: "123456".into(),
                location: "global".into(),
                pool: "pool".into(),
                provider: Some("aws".into()),
            }
        );
        let a =
            parse_audience("//iam.googleapis.com/locations/eu/workforcePools/wf/providers/okta");
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        assert_eq!(
            a.kind,
            AudienceKind::WorkforcePool {
                location: "eu".into(),
                pool: "wf".into(),
                provider: Some("okta".into()),
            }
        );
        let a = parse_audience("32555940559.apps.googleusercontent.com");
        assert_eq!(a.kind, AudienceKind::Other);
        assert!(a.warnings.is_empty());
    }

    #[test]
    fn warns_about_common_mistakes() {
        let table = [
            (
                "//iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/p/providers/x",
                "project NUMBER",
            ),
            (
                "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
                "`https:`",
            ),
            (
                "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p",
                "no provider",
            ),
            (
                "//iam.googleapis.com/locations/global/workforcePools/p/",
                "no provider",
            ),
            (
                " //iam.googleapis.com/locations/global/workforcePools/p/providers/x\n",
                "whitespace",
            ),
            (
                "//iam.googleapis.com/projects/1/locations/us/workloadIdentityPools/p/providers/x",
                "`global`",
            ),
            (
                "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x/extra",
                "unexpected segments",
            ),
            ("//iam.googleapis.com/something/else", "names neither"),
            (
                "iam.googleapis.com/locations/global/workforcePools/p/providers/x",
                "does not start with",
            ),
        ];
        for (audience, needle) in table {
            let a = parse_audience(audience);
            assert!(
                a.warnings.iter().any(|w| w.contains(needle)),
                "{audience}: want a warning containing {needle:?}, got {:?}",
                a.warnings
            );
        }
        // The https-prefixed form still tells what was meant.
        let a = parse_audience(
            "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
        );
        assert_eq!(a.project_number(), Some("1"));
    }
}
