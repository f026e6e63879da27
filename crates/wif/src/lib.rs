//! Keyless Google Cloud access from AWS and any OIDC/SAML identity, via Workload Identity Federation: credential config, ADC, builder.
