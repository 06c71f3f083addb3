"""The upstream e2e NetworkPolicy scenario families, checked on the offline truth table.

World: namespaces x, y, z (label ns=<name>), pods a, b, c (label pod=<name>) each
serving 80 and 81 over TCP and UDP. Every expected table is written out; keys
not listed in a ``check`` must be fully open.
"""

from __future__ import annotations

from policy_world import ALL_KEYS, ALL_OPEN, World, check, policy

SEL_A = {"matchLabels": {"pod": "a"}}

DENY_INTO_X = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   .   .   .   .   .   .
x/b  X   .   X   .   .   .   .   .   .
x/c  X   X   .   .   .   .   .   .   .
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
"""

DENY_FROM_X = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   X   X   X   X   X   X
x/b  X   .   X   X   X   X   X   X   X
x/c  X   X   .   X   X   X   X   X   X
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
"""

DENY_X_BOTH = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   X   X   X   X   X   X
x/b  X   .   X   X   X   X   X   X   X
x/c  X   X   .   X   X   X   X   X   X
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
"""

INTO_XA_SELF_ONLY = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""

FROM_XA_SELF_ONLY = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
"""

INTO_XA_FROM_Y = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""

INTO_XA_FROM_Z = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
"""

INTO_XA_FROM_B_PODS = """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""


def ingress_to_a(name: str, rules: list[dict[str, object]], ns: str = "x") -> dict[str, object]:
    return policy(ns, name, {"podSelector": SEL_A, "ingress": rules})


def test_no_policies_everything_open() -> None:
    check(World().analyze(), {})


def test_default_deny_ingress() -> None:
    w = World().apply(policy("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    check(w.analyze(), {" ".join(ALL_KEYS): DENY_INTO_X})


def test_default_deny_egress() -> None:
    w = World().apply(policy("x", "deny", {"podSelector": {}, "policyTypes": ["Egress"]}))
    check(w.analyze(), {" ".join(ALL_KEYS): DENY_FROM_X})


def test_default_deny_ingress_and_egress() -> None:
    w = World().apply(policy("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
    check(w.analyze(), {" ".join(ALL_KEYS): DENY_X_BOTH})


def test_pod_selector_in_policy_namespace() -> None:
    w = World().apply(ingress_to_a("from-b", [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""})


def test_namespace_selector() -> None:
    w = World().apply(ingress_to_a("from-y", [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_Y})


def test_namespace_and_pod_selector_in_one_peer_is_and() -> None:
    peer = {"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {"matchLabels": {"pod": "b"}}}
    w = World().apply(ingress_to_a("and", [{"from": [peer]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""})


def test_separate_peers_are_or() -> None:
    peers = [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}, {"podSelector": {"matchLabels": {"pod": "b"}}}]
    w = World().apply(ingress_to_a("or", [{"from": peers}]))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""})


def test_match_expressions_in_and_notin() -> None:
    peer = {"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]},
            "podSelector": {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["b", "c"]}]}}
    w = World().apply(ingress_to_a("expr", [{"from": [peer]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
"""})


def test_match_expressions_exists_and_does_not_exist() -> None:
    w = World().label_pod("y", "c", {"pod": "c", "extra": "1"}).label_pod("x", "c", {})
    exists = {"namespaceSelector": {}, "podSelector": {"matchExpressions": [{"key": "extra", "operator": "Exists"}]}}
    w.apply(ingress_to_a("exists", [{"from": [exists]}]),
            policy("x", "unlabelled", {"podSelector": {"matchExpressions": [
                {"key": "pod", "operator": "DoesNotExist"}]}}))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   X   .   .   .   .   .   .
x/b  X   .   X   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   X   .   .   .   .   .   .
y/b  X   .   X   .   .   .   .   .   .
y/c  .   .   X   .   .   .   .   .   .
z/a  X   .   X   .   .   .   .   .   .
z/b  X   .   X   .   .   .   .   .   .
z/c  X   .   X   .   .   .   .   .   .
"""})


def test_named_port_ingress() -> None:
    w = World().apply(ingress_to_a("named", [{"ports": [{"port": "serve-81-tcp"}]}]))
    check(w.analyze(), {"80/TCP 80/UDP 81/UDP": INTO_XA_SELF_ONLY})


def test_named_port_egress() -> None:
    w = World().apply(policy("x", "named-egress", {
        "podSelector": SEL_A, "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "serve-80-udp", "protocol": "UDP"}]}]}))
    check(w.analyze(), {"80/TCP 81/TCP 81/UDP": FROM_XA_SELF_ONLY})


def test_named_port_resolves_per_destination_pod() -> None:
    w = World()
    zc = w.pods[("z", "c")]["spec"]["containers"][0]
    zc["ports"] = [{"name": "serve-80-tcp", "containerPort": 81}, {"name": "other", "containerPort": 80}]
    w.apply(policy("x", "named-egress", {
        "podSelector": SEL_A, "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "serve-80-tcp"}]}]}))
    check(w.analyze(), {
        "80/UDP 81/UDP": FROM_XA_SELF_ONLY,
        "80/TCP": """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   X
""" + "\n".join(ALL_OPEN.splitlines()[2:]),
        "81/TCP": """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   X   X   X   X   X   .
""" + "\n".join(ALL_OPEN.splitlines()[2:]),
    })


def test_end_port_ranges() -> None:
    w = World().apply(ingress_to_a("range", [{"ports": [
        {"port": 81, "endPort": 90}, {"protocol": "UDP", "port": 70, "endPort": 80}]}]))
    check(w.analyze(), {"80/TCP 81/UDP": INTO_XA_SELF_ONLY})


def test_ip_block_with_except_matches_pod_ips() -> None:
    block = {"cidr": "10.244.0.0/16", "except": ["10.244.3.0/24", "10.244.2.11/32"]}
    w = World().apply(ingress_to_a("cidr", [{"from": [{"ipBlock": block}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""})


def test_egress_ip_block() -> None:
    w = World().apply(policy("x", "to-y", {
        "podSelector": SEL_A, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.244.2.0/24"}}]}]}))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   .   .   .   X   X   X
""" + "\n".join(ALL_OPEN.splitlines()[2:])})


def test_egress_deny_for_one_pod() -> None:
    w = World().apply(policy("x", "deny-a", {"podSelector": SEL_A, "policyTypes": ["Egress"]}))
    check(w.analyze(), {" ".join(ALL_KEYS): FROM_XA_SELF_ONLY})


def test_egress_to_namespace_and_pod() -> None:
    peer = {"namespaceSelector": {"matchLabels": {"ns": "z"}}, "podSelector": {"matchLabels": {"pod": "c"}}}
    w = World().apply(policy("x", "to-zc", {"podSelector": SEL_A, "policyTypes": ["Egress"],
                                            "egress": [{"to": [peer], "ports": [{"port": 80}]}]}))
    check(w.analyze(), {
        "80/UDP 81/TCP 81/UDP": FROM_XA_SELF_ONLY,
        "80/TCP": """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   X   X   X   X   X   .
""" + "\n".join(ALL_OPEN.splitlines()[2:])})


def test_stacked_policies_are_unioned() -> None:
    w = World().apply(
        policy("x", "deny", {"podSelector": {}}),
        ingress_to_a("from-y", [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]),
        ingress_to_a("from-z", [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   .   .   .   .   .   .
x/b  X   .   X   .   .   .   .   .   .
x/c  X   X   .   .   .   .   .   .   .
y/a  .   X   X   .   .   .   .   .   .
y/b  .   X   X   .   .   .   .   .   .
y/c  .   X   X   .   .   .   .   .   .
z/a  .   X   X   .   .   .   .   .   .
z/b  .   X   X   .   .   .   .   .   .
z/c  .   X   X   .   .   .   .   .   .
"""})


def test_updated_then_deleted_policy() -> None:
    w = World().apply(ingress_to_a("p", [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_Y})
    w.apply(ingress_to_a("p", [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_Z})
    w.delete("x", "p")
    check(w.analyze(), {})


def test_relabelled_pods() -> None:
    peer = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"pod": "b"}}}
    w = World().apply(ingress_to_a("from-b", [{"from": [peer]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_B_PODS})
    w.label_pod("y", "a", {"pod": "b"})
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_B_PODS.replace("y/a  X", "y/a  .")})
    w.label_pod("y", "a", {"pod": "a"})
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_B_PODS})
    # the policy's own target relabelled away: x/a is no longer isolated
    w.label_pod("x", "a", {"pod": "other"})
    check(w.analyze(), {})


def test_relabelled_namespaces() -> None:
    w = World().apply(ingress_to_a("from-y", [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]))
    w.label_ns("z", {"ns": "y"}).label_ns("y", {"ns": "other"})
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_Z})


def test_implicit_namespace_name_label() -> None:
    w = World().label_ns("y", {})
    w.apply(ingress_to_a("by-name", [{"from": [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "y"}}}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_Y})


def test_protocol_only_port() -> None:
    w = World().apply(ingress_to_a("udp", [{"ports": [{"protocol": "UDP"}]}]))
    check(w.analyze(), {"80/TCP 81/TCP": INTO_XA_SELF_ONLY})


def test_sctp_port() -> None:
    w = World().apply(ingress_to_a("sctp", [{"ports": [{"protocol": "SCTP", "port": 80}]}]))
    a = w.analyze(protocols=["TCP", "UDP", "SCTP"])
    t = a.table
    assert t.allowed("y/b", "x/a", 80, "SCTP")
    assert not t.allowed("y/b", "x/a", 81, "SCTP")
    assert not t.allowed("y/b", "x/a", 80, "TCP")
    assert not t.allowed("y/b", "x/a", 80, "UDP")
    assert t.allowed("y/b", "x/b", 81, "SCTP")


def test_egress_rules_without_policy_types_isolate_both_directions() -> None:
    w = World().apply(policy("x", "eg", {"podSelector": SEL_A, "egress": [
        {"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   .   .   .   X   X   X
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""})


def test_unlisted_policy_type_ignores_its_rules() -> None:
    w = World().apply(policy("x", "in-only", {
        "podSelector": SEL_A, "policyTypes": ["Ingress"], "ingress": [{}],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "nobody"}}}]}]}))
    check(w.analyze(), {})


def test_empty_egress_list_without_policy_types_is_ingress_only() -> None:
    w = World().apply(policy("x", "p", {"podSelector": SEL_A, "egress": []}))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_SELF_ONLY})


def test_missing_pod_selector_selects_whole_namespace_and_empty_rule_allows_all() -> None:
    w = World().apply(policy("x", "deny", {"policyTypes": ["Ingress"]}))
    check(w.analyze(), {" ".join(ALL_KEYS): DENY_INTO_X})
    w.apply(policy("x", "allow-all", {"podSelector": {}, "ingress": [{}]}))
    check(w.analyze(), {})


def test_empty_pod_selector_peer_means_policy_namespace() -> None:
    w = World().apply(policy("x", "same-ns", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}))
    check(w.analyze(), {" ".join(ALL_KEYS): """
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
"""})


# -- regressions for bugs real CNIs had ------------------------------------------


def test_missing_protocol_defaults_to_tcp() -> None:
    w = World().apply(ingress_to_a("p80", [{"ports": [{"port": 80}]}]))
    check(w.analyze(), {"80/UDP 81/TCP 81/UDP": INTO_XA_SELF_ONLY})


def test_specific_port_never_wipes_out_all_ports_rule() -> None:
    from_y = [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]
    w = World().apply(ingress_to_a("two-rules", [{"from": from_y, "ports": [{"port": 80}]}, {"from": from_y}]))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_Y})
    for order in (("a-specific", "b-all"), ("b-specific", "a-all")):
        w = World().apply(ingress_to_a(order[0], [{"from": from_y, "ports": [{"port": 80}]}]),
                          ingress_to_a(order[1], [{"from": from_y}]))
        check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_FROM_Y})
    w = World().apply(ingress_to_a("tcp", [{"from": from_y, "ports": [{"port": 80}, {"protocol": "TCP"}]}]))
    check(w.analyze(), {"80/TCP 81/TCP": INTO_XA_FROM_Y, "80/UDP 81/UDP": INTO_XA_SELF_ONLY})


def test_deleting_every_policy_restores_connectivity() -> None:
    w = World()
    for ns in ("x", "y", "z"):
        w.apply(policy(ns, "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
    a = w.analyze()
    assert sum(1 for _ in a.table.denied()) == 4 * (81 - 9)
    for ns in ("x", "y", "z"):
        w.delete(ns, "deny")
    check(w.analyze(), {})


def test_named_port_with_wrong_protocol_matches_nothing() -> None:
    w = World().apply(ingress_to_a("wrong", [{"ports": [{"port": "serve-80-tcp", "protocol": "UDP"}]}]))
    check(w.analyze(), {" ".join(ALL_KEYS): INTO_XA_SELF_ONLY})
