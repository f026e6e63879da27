//! IAM Credentials generateAccessToken client: service-account impersonation for Workload Identity Federation.
