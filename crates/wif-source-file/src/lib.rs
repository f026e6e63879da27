//! File-sourced subject tokens (OIDC/SAML in a text or JSON file) for Google Workload Identity Federation.
