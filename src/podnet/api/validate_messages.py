"""Kubernetes' validation messages (k8s.io/apimachinery/pkg/util/validation).

Each ``*_errors`` function returns the list of messages apimachinery's
``IsDNS1123Label``, ``IsValidPortName``, ``IsConfigMapKey``, ... would return,
worded exactly as Kubernetes words them (double spaces included), so podnet's
errors read like the API server's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from podnet.api.selectors import label_key_errors

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(f"^{DNS1123_LABEL_FMT}$")
_SUBDOMAIN_RE = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_RE = re.compile(f"^{DNS1035_LABEL_FMT}$")
_WILDCARD_FMT = "\\*\\." + DNS1123_SUBDOMAIN_FMT
_WILDCARD_RE = re.compile(f"^{_WILDCARD_FMT}$")
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY_FMT}$")
_PORT_NAME_CHARS = re.compile("^[-a-z0-9]+$")


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError, double space included."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_label_errors(value: str) -> list[str]:
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _LABEL_RE.match(value):
        if _SUBDOMAIN_RE.match(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = [max_len_error(253)] if len(value) > 253 else []
    if not _SUBDOMAIN_RE.match(value):
        errs.append(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _DNS1035_RE.match(value):
        errs.append(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def wildcard_subdomain_errors(value: str) -> list[str]:
    errs = [max_len_error(253)] if len(value) > 253 else []
    if not _WILDCARD_RE.match(value):
        errs.append(regex_error(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
            "subdomain, which must consist of lower case alphanumeric characters, '-' or '.' "
            "and end with an alphanumeric character", _WILDCARD_FMT, "*.example.com"))
    return errs


def port_num_errors(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def port_name_errors(name: str) -> list[str]:
    """IsValidPortName: an IANA_SVC_NAME."""
    errs = [max_len_error(15)] if len(name) > 15 else []
    if not _PORT_NAME_CHARS.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def config_key_errors(key: str) -> list[str]:
    errs = [max_len_error(253)] if len(key) > 253 else []
    if not _CONFIG_KEY_RE.match(key):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, "
                                "'-', '_' or '.'", _CONFIG_KEY_FMT, "key.name", "KEY_NAME",
                                "key-name"))
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName (label keys, annotation keys, appProtocol)."""
    if value.count("/") > 1:
        return ["a qualified name " + regex_error(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character", "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]",
            "MyName", "my.name", "123-abc") + " with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"]
    return label_key_errors(value)


IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


NameFn = Callable[[str], list[str]]


