//! The trust policy's rules for each URL of a configuration: where tokens are sent (Google
//! endpoints), what the AWS source fetches and signs, and what a URL source may fetch.

use url::Url;
use wif_core::Error;
use wif_core::http::describe_url;

use super::canonical::EmptyPath;
use super::hosts::{
    check_aws_sts_host, is_aws_metadata_host, is_azure_metadata_host, is_google_host,
    normalize_host, sample_region,
};
use super::{Rule, TrustPolicy, domain, parse, plain_authority, refuse};
use crate::config::UrlSourceConfig;

/// What the AWS source fetches from the metadata service, per field: the paths gcloud writes
/// (`placement/region` is what some hand-written configurations use for the region).
const AWS_METADATA_PATHS: [(&str, &[&str]); 3] = [
    (
        "credential_source.region_url",
        &[
            "/latest/meta-data/placement/availability-zone",
            "/latest/meta-data/placement/region",
        ],
    ),
    (
        "credential_source.url",
        &["/latest/meta-data/iam/security-credentials"],
    ),
    (
        "credential_source.imdsv2_session_token_url",
        &["/latest/api/token"],
    ),
];

/// The only query a `regional_cred_verification_url` may carry: the request Google STS sends on
/// to AWS is the signed `GetCallerIdentity` call, nothing else.
const GET_CALLER_IDENTITY_QUERY: &str = wif_core::protocol::GET_CALLER_IDENTITY_QUERY;

/// Azure's managed-identity token endpoint on the instance metadata service.
const AZURE_IDENTITY_PATH: &str = "/metadata/identity/oauth2/token";
/// The query parameters it takes: the API version, the token's audience, and which
/// user-assigned identity to use.
const AZURE_IDENTITY_QUERY: [&str; 5] = [
    "api-version",
    "resource",
    "client_id",
    "object_id",
    "msi_res_id",
];
/// The one header Azure's metadata service needs.
const AZURE_METADATA_HEADER: &str = "metadata";
/// Headers no URL source may set: `Host` sends the request to another virtual host than the
/// URL names, `Metadata-Flavor: Google` is what unlocks GCE's metadata server.
const FORBIDDEN_HEADERS: [&str; 2] = ["host", "metadata-flavor"];

impl TrustPolicy {
    /// `token_url`, `token_info_url` and the impersonation URL: https to `service`'s hosts in
    /// `universe`.
    pub(super) fn google_endpoint(
        &self,
        field: &str,
        value: &str,
        service: &str,
        universe: &str,
    ) -> Result<Url, Error> {
        let rule = Rule::GoogleEndpoint;
        let url = parse(field, value, EmptyPath::Refused)?;
        if self.loopback(field, &url)? {
            return Ok(url);
        }
        let shown = describe_url(&url);
        let expected = format!(
            "{service}.{universe}, {service}.mtls.{universe}, {service}.REGION.rep.{universe}, {service}.REGION.rep.mtls.{universe} or {service}-NAME.p.{universe}"
        );
        if url.scheme() != "https" {
            return Err(refuse(
                field,
                rule,
                format!("{shown} is not https; Google endpoints take tokens over https only"),
            ));
        }
        plain_authority(field, &url, rule)?;
        if !domain(&url).is_some_and(|host| is_google_host(host, service, universe)) {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown} is not a Google `{service}` endpoint of universe {universe} (expected host {expected})"
                ),
            ));
        }
        Ok(url)
    }

    /// The AWS source's metadata URLs: the instance metadata service, at the field's path.
    pub(super) fn aws_metadata(&self, field: &str, value: &str) -> Result<(), Error> {
        let rule = Rule::AwsMetadata;
        let url = parse(field, value, EmptyPath::Refused)?;
        if self.loopback(field, &url)? {
            return Ok(());
        }
        let shown = describe_url(&url);
        if !is_aws_metadata_host(&url) {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown} is not the instance metadata service (expected host 169.254.169.254 or [fd00:ec2::254])"
                ),
            ));
        }
        if url.scheme() != "http" {
            return Err(refuse(
                field,
                rule,
                format!("{shown}: the instance metadata service is plain http"),
            ));
        }
        plain_authority(field, &url, rule)?;
        let paths = AWS_METADATA_PATHS
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(&[][..], |(_, paths)| *paths);
        if !paths.contains(&url.path()) || url.query().is_some() {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown}{}: this field reads only {}",
                    if url.query().is_some() { "?…" } else { "" },
                    paths.join(" or ")
                ),
            ));
        }
        Ok(())
    }

    /// The URL signed into the AWS subject token (never contacted by us, but Google STS sends
    /// the signed request to it): AWS STS's `GetCallerIdentity` only. `{region}` may stand for
    /// the region label; the region filled in later comes from the environment or the metadata
    /// service, both trusted.
    pub(super) fn aws_verification(&self, field: &str, template: &str) -> Result<(), Error> {
        let rule = Rule::AwsSts;
        // Where `{region}` may appear: as the whole second label of the host. Elsewhere (the
        // query) it is replaced as Python does, and then checked like any other text.
        let authority = template
            .split_once("://")
            .map(|(_, rest)| &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]);
        if let Some(authority) = authority
            && authority.contains("{region}")
        {
            let labels: Vec<&str> = authority.split('.').collect();
            if labels.get(1) != Some(&"{region}")
                || labels.iter().filter(|l| l.contains("{region}")).count() != 1
            {
                return Err(refuse(
                    field,
                    rule,
                    "`{region}` may only stand for the region label: sts.{region}.amazonaws.com",
                ));
            }
        }
        let china = authority.is_some_and(|a| a.ends_with(".amazonaws.com.cn"));
        let expanded = template.replace("{region}", sample_region(china));
        let url = parse(field, &expanded, EmptyPath::Allowed)?;
        if self.loopback(field, &url)? {
            return Ok(());
        }
        let shown = describe_url(&url);
        if url.scheme() != "https" {
            return Err(refuse(field, rule, format!("{shown} is not https")));
        }
        plain_authority(field, &url, rule)?;
        if let Err(problem) = check_aws_sts_host(domain(&url).unwrap_or_default()) {
            return Err(refuse(field, rule, problem));
        }
        if url.path() != "/" || url.query() != Some(GET_CALLER_IDENTITY_QUERY) {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown}: the signed request must be AWS STS GetCallerIdentity (`?{GET_CALLER_IDENTITY_QUERY}` and no path)"
                ),
            ));
        }
        Ok(())
    }

    /// A URL source: an allowed host over https, or (opted in) Azure's identity endpoint.
    pub(super) fn source_url(&self, source: &UrlSourceConfig) -> Result<Url, Error> {
        let field = "credential_source.url";
        let rule = Rule::SourceUrl;
        let url = parse(field, &source.url, EmptyPath::Refused)?;
        let headers = header_names(source)?;
        if self.loopback(field, &url)? {
            return Ok(url);
        }
        let shown = describe_url(&url);
        plain_authority(field, &url, rule)?;
        if is_aws_metadata_host(&url) {
            if !self.azure_imds {
                return Err(refuse(
                    field,
                    rule,
                    format!(
                        "{shown} is the instance metadata service; URL sources may fetch it only after TrustPolicy::allow_azure_imds()"
                    ),
                ));
            }
            azure_identity_request(&url, &headers)?;
            return Ok(url);
        }
        let host = url.host_str().map(normalize_host).unwrap_or_default();
        if !self.source_url_hosts.contains(&host) {
            return Err(refuse(
                field,
                rule,
                format!("{shown}: host `{host}` is not an allowed host"),
            ));
        }
        if url.scheme() != "https" {
            return Err(refuse(
                field,
                rule,
                format!("{shown} is not https; an allowed host must be reached over https"),
            ));
        }
        Ok(url)
    }
}

/// The lower-case header names of a URL source: none twice (HTTP names are case-insensitive,
/// so `Host` and `host` would be one header with either value), none forbidden.
fn header_names(source: &UrlSourceConfig) -> Result<Vec<String>, Error> {
    let field = "credential_source.headers";
    let mut names: Vec<String> = Vec::new();
    for (name, _) in &source.headers {
        let lower = name.to_ascii_lowercase();
        let shown = format!("`{}`", crate::config::shown_key(name));
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
            return Err(refuse(
                field,
                Rule::SourceUrl,
                format!(
                    "the header {shown} may not be set (`Host` redirects the request to another virtual host, `Metadata-Flavor` unlocks a metadata server)"
                ),
            ));
        }
        if names.contains(&lower) {
            return Err(refuse(
                field,
                Rule::UniqueKeys,
                format!("the header {shown} is given twice (header names ignore case)"),
            ));
        }
        names.push(lower);
    }
    Ok(names)
}

/// Azure's managed-identity token request, and nothing else to the metadata address.
fn azure_identity_request(url: &Url, headers: &[String]) -> Result<(), Error> {
    let field = "credential_source.url";
    let rule = Rule::SourceUrl;
    let shown = describe_url(url);
    if !is_azure_metadata_host(url) || url.scheme() != "http" || url.path() != AZURE_IDENTITY_PATH {
        return Err(refuse(
            field,
            rule,
            format!(
                "{shown} is not Azure's identity endpoint http://169.254.169.254{AZURE_IDENTITY_PATH}"
            ),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (key, _) in url.query_pairs() {
        if !AZURE_IDENTITY_QUERY.contains(&key.as_ref()) || seen.iter().any(|k| *k == key) {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown}: the query may hold {} (each once), not `{}`",
                    AZURE_IDENTITY_QUERY.join(", "),
                    crate::config::shown_key(&key)
                ),
            ));
        }
        seen.push(key.into_owned());
    }
    if let Some(other) = headers.iter().find(|h| *h != AZURE_METADATA_HEADER) {
        return Err(refuse(
            "credential_source.headers",
            rule,
            format!(
                "the metadata service gets only the header `Metadata`, not `{}`",
                crate::config::shown_key(other)
            ),
        ));
    }
    Ok(())
}
