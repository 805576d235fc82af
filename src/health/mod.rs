//! Health assessment of Kubernetes objects (Argo CD parity) and aggregation.
