//! kube-sim placeholder.
fn main() {}
