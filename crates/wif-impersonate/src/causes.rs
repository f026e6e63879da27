//! The known causes ([`Cause`](wif_core::Cause)) of a refused impersonation
//! ([`Step::Impersonation`](wif_core::Step::Impersonation)), attached to `generateAccessToken`'s
//! errors ([`wif_core::Error::known_cause`]) from IAM's status and reason. The error's hint names
//! the service account, lifetime and scopes that were asked for; the cause gives the general fix
//! and its section of `docs/troubleshooting.md`.

wif_core::causes! {
    /// The federated principal lacks `roles/iam.workloadIdentityUser` on the service account.
    MISSING_WORKLOAD_IDENTITY_USER = ("missing_workload_identity_user", "the federated identity may not impersonate the service account", "grant roles/iam.workloadIdentityUser on the service account to the federated principal (gcloud iam service-accounts add-iam-policy-binding SA --role=roles/iam.workloadIdentityUser --member=principal://… or principalSet://…, with the project NUMBER); IAM changes take a few minutes to apply");
    /// The service account does not exist, or its email is misspelled.
    SERVICE_ACCOUNT_NOT_FOUND = ("service_account_not_found", "the service account does not exist", "check the email in the impersonation URL: the full NAME@PROJECT_ID.iam.gserviceaccount.com, in the project that owns it (gcloud iam service-accounts describe EMAIL)");
    /// The IAM Service Account Credentials API is not enabled in the project.
    IAM_CREDENTIALS_API_DISABLED = ("iam_credentials_api_disabled", "the IAM Service Account Credentials API is disabled", "gcloud services enable iamcredentials.googleapis.com --project=PROJECT (the project the message names, usually the pool's), then wait a few minutes");
    /// IAM refused the requested lifetime or scopes.
    IMPERSONATION_REQUEST_INVALID = ("impersonation_request_invalid", "IAM Credentials refused the request's lifetime or scopes", "a lifetime above 3600 s needs the org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension for this service account; scopes must be valid OAuth scopes");
    /// IAM rejected the federated token itself.
    FEDERATED_TOKEN_REJECTED = ("federated_token_rejected", "IAM Credentials rejected the federated token", "the federated token expired or belongs to another universe: check universe_domain and the impersonation URL's host");
}
