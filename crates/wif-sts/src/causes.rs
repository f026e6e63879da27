//! The known causes ([`Cause`](wif_core::Cause)) of a refused STS exchange
//! ([`Step::Exchange`](wif_core::Step::Exchange)), attached to the exchange's errors
//! ([`wif_core::Error::known_cause`]) from the server's words. STS's own words are terse and never
//! say which value was wrong; the error's hint names the setting and what was sent, the cause gives
//! the general fix and its section of `docs/troubleshooting.md`. AWS's answers that Google relays
//! (a wrong clock, refused AWS credentials) carry the shared causes of
//! [`wif_core::causes`](mod@wif_core::causes).

wif_core::causes! {
    /// STS throttled this project's exchanges (`quota_exceeded`, HTTP 429).
    STS_QUOTA = ("sts_quota", "STS rate limit for this project", "cache tokens and share one wif::Credentials per process (it refreshes once for all callers) instead of exchanging per request; retry after a few seconds");
    /// The provider's attribute condition evaluated to false for this identity.
    ATTRIBUTE_CONDITION = ("attribute_condition", "the provider's attribute condition rejected this identity", "read the condition with `gcloud iam workload-identity-pools providers describe PROVIDER_ID --workload-identity-pool=POOL_ID --location=global --format='value(attributeCondition)'` and make it accept this identity, or run the workload as an identity it accepts");
    /// The mapped `google.subject` is longer than Google's 127-byte limit.
    GOOGLE_SUBJECT_TOO_LONG = ("google_subject_too_long", "the mapped google.subject is longer than 127 bytes", "map the role without the session (google.subject=assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/')), or shorten the role or session name");
    /// The audience is not a provider's full resource name.
    AUDIENCE_FORMAT = ("audience_format", "the audience is not a provider's resource name", "use //iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID (the project NUMBER, no https: prefix), as gcloud writes it");
    /// The pool or provider named by the audience is disabled, deleted or misspelled.
    PROVIDER_NOT_FOUND = ("provider_not_found", "the pool or provider is disabled, deleted or misspelled", "check it with `gcloud iam workload-identity-pools providers describe PROVIDER_ID --workload-identity-pool=POOL_ID --location=global` (state must be ACTIVE, and the pool's too); undelete or re-enable it, or fix the audience");
    /// The OIDC token's `aud` is not among the provider's allowed audiences.
    TOKEN_AUDIENCE_MISMATCH = ("token_audience_mismatch", "the token's audience is not one the provider accepts", "add it to the OIDC provider's allowed audiences (gcloud iam workload-identity-pools providers update-oidc … --allowed-audiences=AUDIENCE), or have the issuer mint the token for the provider's default audience https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER");
    /// The `subject_token_type` does not fit the provider's kind.
    SUBJECT_TOKEN_TYPE_MISMATCH = ("subject_token_type_mismatch", "the subject token type does not fit the provider", "AWS providers take urn:ietf:params:aws:token-type:aws4_request; OIDC providers urn:ietf:params:oauth:token-type:jwt (or :id_token); SAML providers :saml2. Regenerate the configuration for the right provider with gcloud");
}
