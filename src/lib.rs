//! executor: deploys, validates and tears down a Kubernetes platform.
