#!/usr/bin/env bash
# The baseline the executor is compared with: what a script of
# `kubectl apply` + `kubectl wait` per wave does. Every Application of a wave
# (a dependency level) is applied, then the script waits until all of them
# are Synced and Healthy before starting the next wave.
#
# usage: wave-baseline.sh <dir with wave-0.yaml, wave-1.yaml, ...> <namespace>
# (KUBECONFIG must point at the cluster; benches/platform.rs generates the
# wave files from the reference plan and runs this against kube-sim.)
set -euo pipefail
dir=$1
namespace=$2
for wave in $(ls "$dir"/wave-*.yaml | sort -V); do
  kubectl apply --server-side --field-manager=baseline -f "$wave" >/dev/null
  names=$(grep '^  name: ' "$wave" | awk '{print "application/" $2}')
  # shellcheck disable=SC2086
  kubectl wait --namespace "$namespace" --timeout=10m --for=jsonpath='{.status.health.status}'=Healthy $names >/dev/null
  # shellcheck disable=SC2086
  kubectl wait --namespace "$namespace" --timeout=10m --for=jsonpath='{.status.sync.status}'=Synced $names >/dev/null
done
