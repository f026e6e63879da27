//! Recipes: wif-rs credentials under GCP clients that get no bridge crate of their own. Each is
//! a few lines of glue to copy (docs/integrations.md shows them), compiled and tested here.
//!
//! | client | its auth trait | recipe |
//! |---|---|---|
//! | gcp_auth 0.12 | `TokenProvider` | [`gcp_auth_recipe::WifGcpAuth`] |
//! | google-apis-common 8 (every `google-*-api` generated crate) | `GetToken` | [`google_apis_recipe::WifGetToken`] |
//! | gcp-bigquery-client 0.28 | `Authenticator` | [`bigquery_client_recipe::WifAuthenticator`] |
//! | opendal 0.59 (GCS service) | reqsign's `ProvideCredential` | [`opendal_recipe::WifGcsCredential`], [`opendal_recipe::gcs_operator`] |

pub mod bigquery_client_recipe;
pub mod gcp_auth_recipe;
pub mod google_apis_recipe;
pub mod opendal_recipe;

/// The snippets of `docs/integrations.md`, compiled (and the runnable ones run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/integrations.md")]
pub struct IntegrationsGuide;
