"""podnet: Kubernetes networking built for real on one Linux host.

Packages, from the bottom up (import-linter checks the order):
``api`` (object kinds, YAML loading, validation, defaulting, selectors),
``store`` (the Store protocol and its memory/SQLite/etcd backends),
``apiserver`` (admission registry, HTTP server, client), ``controllers``,
``offline`` (the in-process pipeline), ``cli``. ``kernel`` is the only package
that touches netlink, nftables, network namespaces or conntrack.
"""

__version__ = "0.1.0"
