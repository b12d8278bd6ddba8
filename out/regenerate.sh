#!/bin/sh
# Regenerate the patches of the reference cluster: Kubernetes VLAN 192.168.30.0/24, three
# control-plane nodes (.11, .12, .13), the admin workstation 196.45.28.20, Cilium with
# Geneve. --from refuses a patch that would cut the workstation off from apid or the API.
# Usage: sh out/regenerate.sh [FOLDER]   (default: out)
set -eu
out="${1:-out}"
talospatch gen --role controlplane --cni cilium --tunnel geneve \
    --subnet 192.168.30.0/24 \
    --controlplane 192.168.30.11 --controlplane 192.168.30.12 --controlplane 192.168.30.13 \
    --admin 196.45.28.20/32 --from 196.45.28.20 \
    -o "$out/controlplane.yaml"
talospatch gen --role worker --cni cilium --tunnel geneve \
    --subnet 192.168.30.0/24 \
    --admin 196.45.28.20/32 --from 196.45.28.20 \
    -o "$out/worker.yaml"
