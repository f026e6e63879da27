//! Google STS (RFC 8693) token-exchange client for Workload Identity Federation.
