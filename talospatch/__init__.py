"""talospatch: Talos Linux host ingress-firewall patches from role profiles."""

__version__ = "0.1.0"
