//! URL-sourced subject tokens (OIDC/SAML from a local metadata endpoint) for Google Workload Identity Federation.
