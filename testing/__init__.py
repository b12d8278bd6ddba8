"""Test infrastructure: the network-namespace lab and nftables listing helpers (type-checked)."""
