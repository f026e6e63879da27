//! aws-config integration (feature `aws-config`): take region and credentials from an AWS SDK
//! `SdkConfig`, so ECS/Fargate container credentials, EKS IRSA web identity and Pod Identity, SSO
//! and profiles all work — the environments Google's own libraries leave out.
//!
//! The HTTP client aws-config needs is built on rustls with `ring`, never `aws-lc-sys`, to keep
//! the C build out of the dependency tree (aws-config panics at load without one).
//!
//! The builders' `sdk_config` setter is one of their shared resolver settings (`resolver_setters!`).

use aws_config::{BehaviorVersion, ConfigLoader};
use wif_core::Error;

use crate::aws_http::https_client;

use crate::jwt_source::{AwsJwtSource, AwsJwtSourceBuilder};
use crate::source::{AwsSource, AwsSourceBuilder};

#[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
impl AwsSource {
    /// A builder preset from aws-config's default chains (environment, profiles, SSO, web
    /// identity, ECS/EKS container endpoints, IMDS). Add config-file settings before `build()`.
    pub async fn default_chain_builder() -> AwsSourceBuilder {
        let config = config_loader().load().await;
        AwsSource::builder().sdk_config(&config)
    }

    /// An `AwsSource` using aws-config's default credential and region chains.
    pub async fn from_default_chain() -> Result<AwsSource, Error> {
        AwsSource::default_chain_builder().await.build()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
impl AwsJwtSource {
    /// A builder preset from aws-config's default chains (see
    /// [`AwsSource::default_chain_builder`]); add the audience before `build()`.
    pub async fn default_chain_builder() -> AwsJwtSourceBuilder {
        let config = config_loader().load().await;
        AwsJwtSource::builder().sdk_config(&config)
    }
}

/// `aws_config::defaults(BehaviorVersion::latest())` with a rustls/ring HTTP client already set:
/// adjust it (profile, region, …) and `load()` it, then pass the result to
/// [`AwsSourceBuilder::sdk_config`].
///
/// ```no_run
/// # async fn f() -> Result<(), wif_core::Error> {
/// let config = wif_source_aws::config_loader().profile_name("ci").load().await;
/// let source = wif_source_aws::AwsSource::builder().sdk_config(&config).build()?;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}
