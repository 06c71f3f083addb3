"""The only package that touches the kernel: netlink, nftables, network namespaces,
conntrack. Everything else computes desired state and hands it here."""
