"""The reference's §2.7 table (/work/shared/reference/talos-firewall.md): the documents, the
node, what the reference loaded with ``nft -f`` and what ``nft list ruleset`` printed back.

Shared by the compiler, text and kernel tests (tests/nft/).
"""

from __future__ import annotations

from talospatch.nft.compile import NodeContext
from testing.documents import ip, rule

NODE = NodeContext(node_ips=(ip("10.3.4.5"),), host_dns=False)
KUBELET_2_7 = rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8 except 10.3.0.0/16", "192.168.0.0/16")
APID_2_7 = rule("apid-ingress", [50000], "tcp", "0.0.0.0/0")

# §2.7, verbatim: what the reference loaded with nft -f.
REFERENCE_2_7 = """
table inet talos {
  chain ingress {
    type filter hook input priority -140; policy drop;
    iifname { "lo", "siderolink", "kubespan" } counter accept
    ct state { established, related } counter accept
    ct state invalid counter drop
    meta l4proto icmp icmp type { timestamp-request, timestamp-reply, address-mask-request, address-mask-reply } counter drop
    meta l4proto icmp limit rate 5/second burst 5 packets counter accept
    meta l4proto ipv6-icmp limit rate 5/second burst 5 packets counter accept
    ip saddr { 10.244.0.0/16, 10.96.0.0/12 } ip daddr { 10.244.0.0/16, 10.96.0.0/12 } counter accept
    ip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport { 10250 } counter accept
    meta nfproto ipv4 tcp dport { 50000 } counter accept
  }
  chain prerouting {
    type filter hook prerouting priority -110; policy accept;
    iifname { "lo", "siderolink", "kubespan" } counter accept
    ip daddr != { 10.3.4.5 } counter accept
    meta nfproto ipv6 counter accept
    ct state new ip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport { 10250 } counter accept
    ct state new meta nfproto ipv4 tcp dport { 50000 } counter accept
    ct state new meta l4proto tcp counter drop
    ct state new meta l4proto udp counter drop
  }
}
"""

# The same table as `nft list ruleset` (nftables 1.0.6) printed it after loading
# REFERENCE_2_7 into a namespace, with the counters' "packets 0 bytes 0" removed.
LISTED_2_7 = """\
table inet talos {
\tchain ingress {
\t\ttype filter hook input priority mangle + 10; policy drop;
\t\tiifname { "lo", "kubespan", "siderolink" } counter accept
\t\tct state { established, related } counter accept
\t\tct state invalid counter drop
\t\ticmp type { timestamp-request, timestamp-reply, address-mask-request, address-mask-reply } counter drop
\t\tmeta l4proto icmp limit rate 5/second counter accept
\t\tmeta l4proto ipv6-icmp limit rate 5/second counter accept
\t\tip saddr { 10.96.0.0/12, 10.244.0.0/16 } ip daddr { 10.96.0.0/12, 10.244.0.0/16 } counter accept
\t\tip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport 10250 counter accept
\t\tmeta nfproto ipv4 tcp dport 50000 counter accept
\t}

\tchain prerouting {
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tiifname { "lo", "kubespan", "siderolink" } counter accept
\t\tip daddr != 10.3.4.5 counter accept
\t\tmeta nfproto ipv6 counter accept
\t\tct state new ip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport 10250 counter accept
\t\tct state new meta nfproto ipv4 tcp dport 50000 counter accept
\t\tct state new meta l4proto tcp counter drop
\t\tct state new meta l4proto udp counter drop
\t}
}
"""
