"""``podnet describe`` text for pods and services, in kubectl's layout."""

from __future__ import annotations

from podnet.api.kinds import Obj


def _kv(d: dict[str, str] | None) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted((d or {}).items())) or "<none>"


def _block(title: str, value: str, width: int = 20) -> list[str]:
    lines = value.split("\n")
    out = [f"{title + ':':<{width}}{lines[0]}"]
    out += [" " * width + rest for rest in lines[1:]]
    return out


def describe_pod(pod: Obj) -> str:
    m, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    out: list[str] = []
    out += _block("Name", str(m.get("name")))
    out += _block("Namespace", str(m.get("namespace")))
    out += _block("Node", f"{spec.get('nodeName') or '<none>'}/{st.get('hostIP') or ''}".rstrip("/"))
    out += _block("Labels", _kv(m.get("labels")))
    out += _block("Annotations", _kv(m.get("annotations")))
    out += _block("Status", str(st.get("phase") or "Pending"))
    out += _block("IP", str(st.get("podIP") or ""))
    if spec.get("hostname"):
        out += _block("Hostname", f"{spec['hostname']}.{spec.get('subdomain', '')}".rstrip("."))
    out.append("Containers:")
    for c in spec.get("containers") or []:
        out.append(f"  {c.get('name')}:")
        ports = ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}"
                          + (f" ({p['name']})" if p.get("name") else "")
                          for p in c.get("ports") or [])
        out.append(f"    Ports:    {ports or '<none>'}")
        cmd = " ".join([*(c.get("command") or []), *(c.get("args") or [])])
        out.append(f"    Command:  {cmd or '<built-in netexec server>'}")
    out.append("Conditions:")
    out.append("  Type              Status")
    for c in st.get("conditions") or []:
        out.append(f"  {c.get('type', ''):<18}{c.get('status', '')}")
    return "\n".join(out)


def describe_service(svc: Obj, slices: list[Obj]) -> str:
    m, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    out: list[str] = []
    out += _block("Name", str(m.get("name")))
    out += _block("Namespace", str(m.get("namespace")))
    out += _block("Labels", _kv(m.get("labels")))
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    out += _block("Selector", selector or "<none>")
    out += _block("Type", str(spec.get("type", "ClusterIP")))
    out += _block("IP", str(spec.get("clusterIP") or "<none>"))
    if spec.get("externalName"):
        out += _block("External Name", str(spec["externalName"]))
    out += _block("Session Affinity", str(spec.get("sessionAffinity", "None")))
    for p in spec.get("ports") or []:
        pname = p.get("name") or "<unset>"
        out += _block("Port", f"{pname}  {p.get('port')}/{p.get('protocol', 'TCP')}")
        out += _block("TargetPort", f"{p.get('targetPort', p.get('port'))}/{p.get('protocol', 'TCP')}")
        if p.get("nodePort"):
            out += _block("NodePort", f"{pname}  {p['nodePort']}/{p.get('protocol', 'TCP')}")
        eps = []
        for es in slices:
            nums = [sp.get("port") for sp in es.get("ports") or [] if sp.get("name", "") == p.get("name", "")]
            for e in es.get("endpoints") or []:
                ready = (e.get("conditions") or {}).get("ready", True)
                for a in e.get("addresses") or []:
                    eps += [f"{a}:{n}" + ("" if ready else " (not ready)") for n in nums]
        out += _block("Endpoints", ",".join(eps) or "<none>")
    return "\n".join(out)
