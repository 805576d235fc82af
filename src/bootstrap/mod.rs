//! The bootstrap bundle: Argo CD and Argo Workflows install manifests and the
//! configuration the platform needs, placed and labelled for this environment.
