"""Kubernetes object kinds, YAML loading, validation, defaulting and selectors.

Objects are plain JSON-like dicts (``Obj``) exactly as Kubernetes serialises
them, so unknown fields round-trip untouched. This package is pure: no I/O but
reading manifest files, no processes, no kernel.
"""
