#!/usr/bin/env python3
"""Loopback benchmark of service-mesh passes: real Envoy in the configurations that mirror
each mesh placement's pass, with mTLS from a throwaway CA made here.

One command measures, on 127.0.0.1 only:

- per-pass CPU (ns of run time from /proc/<pid>/task/*/schedstat, clock ticks as a check)
  and added latency (oha percentiles minus a no-proxy baseline at equal load), over a grid
  of configurations x HTTP/1.1 and HTTP/2 x pooled or new connection per request x
  payload sizes x request rates x 1 and 2 worker threads;
- memory: idle RSS, RSS with N idle connections open, with a cluster of N endpoints, and
  with N requests in flight (a backend that holds each request);

and writes tidy CSVs (one row per run and configuration, units in column names) plus the
machine, versions and exact command. Runs hold a quiet lock in chunks so that builds
started through /work/tools/quiet wait, and every run records the CPU other processes used
while it ran, so that disturbed runs are flagged (and repeated once).

Python 3 standard library; drives envoy, oha, nginx and openssl. See README.md here.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import datetime as _dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (  # noqa: E402
    BODY,
    LOOPBACK,
    NGINX_HEAD,
    NGINX_TEMP_PATHS,
    Children,
    command_version,
    cpu_model,
    descendants,
    free_port,
    parse_host_cpu,
    parse_oha_json,
    parse_proc_stat,
    parse_vmrss,
    wait_http_ok,
)

# --------------------------------------------------------------------------- limits

MAX_POINTS = 2000
MAX_RUNS = 10
MAX_RPS = 50_000
MAX_IDLE_CONNECTIONS = 8000
MAX_ENDPOINTS = 20_000
MAX_DURATION_S = 120.0
STARTUP_TIMEOUT_S = 20.0
PAYLOAD_SIZES = (100, 1024, 16384, 65536)
SPIFFE_DOMAIN = "spiffe://cluster.local/ns/bench/sa/"

# --------------------------------------------------------------------------- the grid


@dataclasses.dataclass(frozen=True)
class Point:
    """One measured load level: what the proxies run and what the load generator sends."""

    config: str          # baseline | sidecar | l4 | hbone | waypoint
    proto: str           # h1 | h2
    conn_mode: str       # pooled | new (a new connection per request)
    payload_bytes: int   # response body size
    concurrency: int     # Envoy worker threads (0 for the baseline: no proxy)
    rps: int             # target request rate (open loop)
    dimension: str       # which sweep of the grid this point belongs to

    def group(self) -> tuple:
        """Points of one group share the same running proxies."""
        return (self.config, self.proto, self.concurrency)


# What each configuration mirrors, and the proxy processes (roles) in its path, in order.
CONFIGS = {
    "baseline": ("no proxy: oha straight to the backend", []),
    "sidecar": ("sidecar pair: outbound Envoy (HTTP in, originates mTLS) -> inbound Envoy "
                "(terminates mTLS) -> backend", ["sidecar-out", "sidecar-in"]),
    "l4": ("L4-only mTLS TCP pair: tcp_proxy originating TLS -> tcp_proxy terminating TLS -> backend "
           "(a per-node L4 proxy pair)", ["l4-out", "l4-in"]),
    "hbone": ("ztunnel-like pair: tcp_proxy tunnelling into HTTP/2 CONNECT over mTLS -> "
              "CONNECT termination -> backend", ["hbone-out", "hbone-in"]),
    "waypoint": ("waypoint between two HBONE hops: hbone-out -> waypoint (terminates CONNECT, "
                 "L7 route, originates CONNECT) -> hbone-in -> backend",
                 ["hbone-out", "waypoint", "hbone-in"]),
    "ztunnel": ("ztunnel itself (--ztunnel-bin), local file-configured mode, fake CA: one process "
                "makes both L4 passes, outbound (from an iptables redirect) and HBONE inbound, as on "
                "one node", ["ztunnel"]),
}
# Passes per request where one process makes more than one.
ROLE_PASSES = {"ztunnel": 2}

# Which placement's pass each role measures.
ROLE_PASS = {
    "sidecar-out": "sidecar (client side, L7)",
    "sidecar-in": "sidecar (server side, L7)",
    "l4-out": "per-node L4 (client side, TLS TCP)",
    "l4-in": "per-node L4 (server side, TLS TCP)",
    "hbone-out": "ztunnel-like L4 (client side, HBONE)",
    "hbone-in": "ztunnel-like L4 (server side, HBONE)",
    "waypoint": "waypoint (L7, HBONE in and out)",
    "ztunnel": "ztunnel (client and server side L4 passes, HBONE, one process)",
}

H1_RATES = (100, 500, 1000, 2000, 4000, 8000)
C1_RATES = (100, 1000, 4000, 8000)
H2_RATES = (100, 1000, 4000)
NEW_CONN_RATES = (100, 500, 1000)
PAYLOAD_RATE = 1000
MAIN_PAYLOAD = 1024


def grid_points(name: str, configs: list[str]) -> list[Point]:
    """The measured grid. `full`: complete in protocol, connection mode, payload, rate and
    workers for every configuration (hbone only in the rate and connection sweeps, since
    its passes are measured again inside `waypoint`); `rates`: only the rate and
    new-connection sweeps (a shorter run for another proxy); `smoke`: one point each."""
    pts: list[Point] = []
    for cfg in configs:
        if cfg not in CONFIGS:
            raise ValueError(f"unknown configuration {cfg!r} (known: {', '.join(CONFIGS)})")
        k2 = 0 if cfg == "baseline" else 2
        if name == "smoke":
            pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, k2, 200, "smoke"))
            continue
        if name not in ("full", "rates"):
            raise ValueError(f"unknown grid {name!r} (full, rates or smoke)")
        for rps in H1_RATES:
            pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, k2, rps, "rate"))
        for rps in NEW_CONN_RATES:
            pts.append(Point(cfg, "h1", "new", MAIN_PAYLOAD, k2, rps, "new-connection"))
        if cfg == "hbone" or name == "rates":
            continue
        if cfg == "ztunnel":
            for rps in H2_RATES:
                pts.append(Point(cfg, "h2", "pooled", MAIN_PAYLOAD, k2, rps, "http2"))
            for rps in C1_RATES:
                pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, 1, rps, "one-worker"))
            continue
        for size in PAYLOAD_SIZES:
            if size != MAIN_PAYLOAD:
                pts.append(Point(cfg, "h1", "pooled", size, k2, PAYLOAD_RATE, "payload"))
        for rps in H2_RATES:
            pts.append(Point(cfg, "h2", "pooled", MAIN_PAYLOAD, k2, rps, "http2"))
        if cfg != "baseline":  # the baseline has no workers to vary
            for rps in C1_RATES:
                pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, 1, rps, "one-worker"))
    if len(pts) > MAX_POINTS:
        raise ValueError(f"grid has {len(pts)} points, at most {MAX_POINTS}")
    return pts


def run_duration_s(rps: int, base_s: float) -> float:
    """Low rates run longer so every run has at least ~1000 requests for its percentiles."""
    return min(MAX_DURATION_S, max(base_s, 1000.0 / rps))


def estimate_seconds(points: list[Point], runs: int, base_s: float, per_run_overhead_s: float = 2.0,
                     per_group_s: float = 6.0) -> float:
    groups = {p.group() for p in points}
    return sum(runs * (run_duration_s(p.rps, base_s) + per_run_overhead_s) for p in points) + per_group_s * len(groups)


# ------------------------------------------------------------------------ certificates


def identities_for(configs: list[str]) -> list[str]:
    """The workload identities (one leaf certificate each) the configurations use."""
    return ["client", "server", "waypoint"]


def spiffe_id(identity: str) -> str:
    return SPIFFE_DOMAIN + identity


def cert_commands(openssl: str, d: Path, key_type: str, identities: list[str]) -> list[list[str]]:
    """openssl command lines for a throwaway CA and one leaf per identity, each with a
    SPIFFE URI SAN and both client and server use (mTLS)."""
    if key_type == "rsa2048":
        keygen = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    elif key_type == "ec-p256":
        keygen = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        raise ValueError(f"unknown key type {key_type!r} (rsa2048 or ec-p256)")
    cmds = [
        [openssl, "genpkey", *keygen, "-out", str(d / "ca.key")],
        [openssl, "req", "-x509", "-new", "-key", str(d / "ca.key"), "-days", "2", "-sha256",
         "-subj", "/O=meshsim-bench/CN=meshsim bench CA", "-out", str(d / "ca.crt"),
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ]
    for ident in identities:
        cmds += [
            [openssl, "genpkey", *keygen, "-out", str(d / f"{ident}.key")],
            [openssl, "req", "-new", "-key", str(d / f"{ident}.key"), "-subj", "/O=meshsim-bench",
             "-out", str(d / f"{ident}.csr")],
            [openssl, "x509", "-req", "-in", str(d / f"{ident}.csr"), "-CA", str(d / "ca.crt"),
             "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-sha256",
             "-extfile", str(d / f"{ident}.ext"), "-out", str(d / f"{ident}.crt")],
        ]
    return cmds


def leaf_extensions(identity: str) -> str:
    return (f"subjectAltName=URI:{spiffe_id(identity)}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n")


def make_certs(openssl: str, d: Path, key_type: str, identities: list[str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for ident in identities:
        (d / f"{ident}.ext").write_text(leaf_extensions(ident))
    for argv in cert_commands(openssl, d, key_type, identities):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed: {out.stderr.strip()[-500:]}")


# --------------------------------------------------------------------- Envoy configs

TLS_SOCKET = "envoy.transport_sockets.tls"
T = "type.googleapis.com/envoy.extensions."


def _addr(port: int) -> dict:
    return {"socket_address": {"address": LOOPBACK, "port_value": port}}


def _certs(certdir: Path, own: str) -> dict:
    return {"certificate_chain": {"filename": str(certdir / f"{own}.crt")},
            "private_key": {"filename": str(certdir / f"{own}.key")}}


def _validation(certdir: Path, peer: str) -> dict:
    return {"trusted_ca": {"filename": str(certdir / "ca.crt")},
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": spiffe_id(peer)}}]}


def upstream_tls(certdir: Path, own: str, peer: str, alpn: list[str]) -> dict:
    """Originates mTLS: presents `own`'s certificate, accepts only `peer`'s SPIFFE id."""
    return {"name": TLS_SOCKET, "typed_config": {
        "@type": T + "transport_sockets.tls.v3.UpstreamTlsContext",
        "sni": "outbound.bench.local",
        "common_tls_context": {"tls_certificates": [_certs(certdir, own)],
                               "validation_context": _validation(certdir, peer),
                               "alpn_protocols": alpn}}}


def downstream_tls(certdir: Path, own: str, peer: str, alpn: list[str]) -> dict:
    """Terminates mTLS: requires a client certificate carrying `peer`'s SPIFFE id."""
    return {"name": TLS_SOCKET, "typed_config": {
        "@type": T + "transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {"tls_certificates": [_certs(certdir, own)],
                               "validation_context": _validation(certdir, peer),
                               "alpn_protocols": alpn}}}


def _router() -> dict:
    return {"name": "envoy.filters.http.router",
            "typed_config": {"@type": T + "filters.http.router.v3.Router"}}


def hcm(stat: str, cluster: str, codec: str = "AUTO") -> dict:
    """HTTP connection manager: one route, everything to `cluster`."""
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": T + "filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat, "codec_type": codec,
        "route_config": {"name": stat, "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "30s"}}]}]},
        "http_filters": [_router()]}}


def connect_terminating_hcm(stat: str, cluster: str) -> dict:
    """HTTP/2 CONNECT termination as HBONE's receiving side: the CONNECT stream's payload
    goes on as a raw TCP stream to `cluster`."""
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": T + "filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat, "codec_type": "HTTP2",
        "http2_protocol_options": {"allow_connect": True},
        "upgrade_configs": [{"upgrade_type": "CONNECT"}],
        "route_config": {"name": stat, "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"connect_matcher": {}},
                        "route": {"cluster": cluster, "timeout": "0s",
                                  "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}]}}]}]},
        "http_filters": [_router()]}}


def tcp_proxy(stat: str, cluster: str, tunnel_host: str | None = None) -> dict:
    cfg = {"@type": T + "filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": stat, "cluster": cluster}
    if tunnel_host:
        # With an HTTP/2 upstream cluster this originates an HTTP/2 CONNECT stream, as HBONE does.
        cfg["tunneling_config"] = {"hostname": tunnel_host}
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": cfg}


def _protocol_options(proto: str) -> dict:
    http = {"http2_protocol_options": {}} if proto == "h2" else {"http_protocol_options": {}}
    return {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": T + "upstreams.http.v3.HttpProtocolOptions", "explicit_http_config": http}}


# High enough that the idle-connection and in-flight tests never trip them.
CIRCUIT_BREAKERS = {"thresholds": [{"max_connections": 100000, "max_pending_requests": 100000,
                                    "max_requests": 100000, "max_retries": 3}]}


def cluster(name: str, port: int | None = None, *, internal: str | None = None, proto: str | None = None,
            tls: dict | None = None, endpoints: list[tuple[str, int]] | None = None) -> dict:
    """A STATIC cluster. `proto` h1/h2 makes it an HTTP cluster of that protocol (None: raw TCP
    upstream, as for tcp_proxy); `internal` points it at an internal listener of the same Envoy."""
    if internal:
        addrs = [{"envoy_internal_address": {"server_listener_name": internal}}]
    elif endpoints is not None:
        addrs = [{"socket_address": {"address": a, "port_value": p}} for a, p in endpoints]
    else:
        addrs = [_addr(port)]
    c = {"name": name, "type": "STATIC", "connect_timeout": "5s", "circuit_breakers": CIRCUIT_BREAKERS,
         "load_assignment": {"cluster_name": name, "endpoints": [
             {"lb_endpoints": [{"endpoint": {"address": a}} for a in addrs]}]}}
    if proto:
        c["typed_extension_protocol_options"] = _protocol_options(proto)
    if tls:
        c["transport_socket"] = tls
    return c


def listener(name: str, port: int | None, filters: list[dict], tls: dict | None = None) -> dict:
    """A listener on 127.0.0.1:port, or an internal listener (port None) that clusters of the
    same Envoy reach by name."""
    chain: dict = {"filters": filters}
    if tls:
        chain["transport_socket"] = tls
    out = {"name": name, "filter_chains": [chain]}
    if port is None:
        out["internal_listener"] = {}
    else:
        out["address"] = _addr(port)
    return out


def bootstrap(admin_port: int, listeners: list[dict], clusters: list[dict], internal: bool = False) -> dict:
    b = {"admin": {"address": _addr(admin_port)},
         "static_resources": {"listeners": listeners, "clusters": clusters}}
    if internal:
        b["bootstrap_extensions"] = [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
            "@type": T + "bootstrap.internal_listener.v3.InternalListener"}}]
    return b


TUNNEL_HOST = "backend.bench.svc.cluster.local:80"


def endpoint_addresses(n: int, port: int) -> list[tuple[str, int]]:
    """n distinct loopback addresses (127.1.x.y) that nothing listens on: a configured
    but idle cluster, as a mesh proxy holds for every service it can reach."""
    if not 0 <= n <= MAX_ENDPOINTS:
        raise ValueError(f"endpoints must be in 0..{MAX_ENDPOINTS}")
    return [(f"127.1.{i // 250}.{i % 250 + 1}", port) for i in range(n)]


@dataclasses.dataclass
class Role:
    name: str
    listen_port: int
    admin_port: int
    config: dict


def topology(config: str, proto: str, certdir: Path, backend_port: int, backend_h2_port: int,
             ports: list[int], extra_endpoints: int = 0) -> tuple[list[Role], int]:
    """The Envoy processes of a configuration, in path order, and the port the load goes to.

    `ports` supplies free ports (two per role: listener, admin). The inbound side always
    speaks HTTP/1.1 to the backend; the L4 pairs carry the client's bytes unchanged, so
    with HTTP/2 they go to the backend's h2c port. `extra_endpoints` adds, to the first
    role, an idle cluster of that many endpoints."""
    roles_names = CONFIGS[config][1]
    if not roles_names:
        return [], backend_h2_port if proto == "h2" else backend_port
    if len(ports) < 2 * len(roles_names):
        raise ValueError("not enough ports")
    lp = [ports[2 * i] for i in range(len(roles_names))]
    ap = [ports[2 * i + 1] for i in range(len(roles_names))]
    h2alpn = ["h2"]
    app_port = backend_h2_port if proto == "h2" else backend_port
    roles: list[Role] = []
    if config == "sidecar":
        alpn = ["h2"] if proto == "h2" else ["http/1.1"]
        out = bootstrap(ap[0], [listener("outbound", lp[0], [hcm("outbound", "to_inbound")])],
                        [cluster("to_inbound", lp[1], proto=proto,
                                 tls=upstream_tls(certdir, "client", "server", alpn))])
        inn = bootstrap(ap[1], [listener("inbound", lp[1], [hcm("inbound", "app")],
                                         tls=downstream_tls(certdir, "server", "client", alpn))],
                        [cluster("app", backend_port, proto="h1")])
        roles = [Role("sidecar-out", lp[0], ap[0], out), Role("sidecar-in", lp[1], ap[1], inn)]
    elif config == "l4":
        out = bootstrap(ap[0], [listener("l4_out", lp[0], [tcp_proxy("l4_out", "to_l4_in")])],
                        [cluster("to_l4_in", lp[1], tls=upstream_tls(certdir, "client", "server", []))])
        inn = bootstrap(ap[1], [listener("l4_in", lp[1], [tcp_proxy("l4_in", "app")],
                                         tls=downstream_tls(certdir, "server", "client", []))],
                        [cluster("app", app_port)])
        roles = [Role("l4-out", lp[0], ap[0], out), Role("l4-in", lp[1], ap[1], inn)]
    elif config in ("hbone", "waypoint"):
        first_hop = lp[1]  # hbone-in, or the waypoint
        peer_of_out = "server" if config == "hbone" else "waypoint"
        out = bootstrap(ap[0], [listener("hbone_out", lp[0], [tcp_proxy("hbone_out", "to_peer", TUNNEL_HOST)])],
                        [cluster("to_peer", first_hop, proto="h2",
                                 tls=upstream_tls(certdir, "client", peer_of_out, h2alpn))])
        roles.append(Role("hbone-out", lp[0], ap[0], out))
        if config == "waypoint":
            # Terminate CONNECT -> L7 (internal listener) -> originate CONNECT (internal
            # listener), all in one Envoy, as Istio's waypoint does.
            wp = bootstrap(ap[1], [
                listener("waypoint_hbone", lp[1], [connect_terminating_hcm("waypoint_hbone", "to_l7")],
                         tls=downstream_tls(certdir, "waypoint", "client", h2alpn)),
                listener("waypoint_l7", None, [hcm("waypoint_l7", "to_originate")]),
                listener("waypoint_originate", None, [tcp_proxy("waypoint_originate", "to_dest", TUNNEL_HOST)]),
            ], [
                cluster("to_l7", internal="waypoint_l7"),
                cluster("to_originate", internal="waypoint_originate", proto="h1"),
                cluster("to_dest", lp[2], proto="h2", tls=upstream_tls(certdir, "waypoint", "server", h2alpn)),
            ], internal=True)
            roles.append(Role("waypoint", lp[1], ap[1], wp))
        last = len(roles_names) - 1
        peer_of_in = "client" if config == "hbone" else "waypoint"
        # Behind a waypoint the backend gets the waypoint's HTTP/1.1; a bare pair carries the client's bytes.
        in_app_port = backend_port if config == "waypoint" else app_port
        inn = bootstrap(ap[last], [listener("hbone_in", lp[last], [connect_terminating_hcm("hbone_in", "app")],
                                            tls=downstream_tls(certdir, "server", peer_of_in, h2alpn))],
                        [cluster("app", in_app_port)])
        roles.append(Role("hbone-in", lp[last], ap[last], inn))
    else:
        raise ValueError(f"unknown configuration {config!r}")
    if extra_endpoints:
        roles[0].config["static_resources"]["clusters"].append(
            cluster("idle_endpoints", endpoints=endpoint_addresses(extra_endpoints, 8080), proto="h1"))
    return roles, roles[0].listen_port


# ztunnel listens on fixed ports; the load goes to a service VIP that an iptables REDIRECT
# in a private network namespace sends to its outbound port, as istio-cni does in a pod.
ZTUNNEL_VIP = {"h1": "127.10.0.1", "h2": "127.10.0.2"}
ZTUNNEL_OUTBOUND_PORT = 15001
ZTUNNEL_READINESS_PORT = 15021
ZTUNNEL_ADMIN_PORT = 15000
ZTUNNEL_SERVICE_PORT = 80


def ztunnel_local_config(h1_port: int, h2_port: int, extra_endpoints: int = 0) -> dict:
    """ztunnel's local (file) xDS: this host as one HBONE workload behind two services,
    whose target ports are the backend's HTTP/1.1 and h2c ports. `extra_endpoints` adds
    idle workloads behind a third service (configured, never called)."""
    def workload(name, ip, services):
        return {"uid": f"cluster1//v1/Pod/bench/{name}", "name": name, "namespace": "bench",
                "serviceAccount": "server", "workloadIps": [ip], "protocol": "HBONE", "node": "local",
                "network": "", "services": services}
    services = {f"bench/backend-{proto}.bench.svc.cluster.local": {ZTUNNEL_SERVICE_PORT: port}
                for proto, port in (("h1", h1_port), ("h2", h2_port))}
    cfg = {"workloads": [workload("local", LOOPBACK, services)], "policies": [], "services": [
        {"name": f"backend-{proto}", "namespace": "bench", "hostname": f"backend-{proto}.bench.svc.cluster.local",
         "vips": [f"/{ZTUNNEL_VIP[proto]}"], "ports": {ZTUNNEL_SERVICE_PORT: port}}
        for proto, port in (("h1", h1_port), ("h2", h2_port))]}
    if extra_endpoints:
        svc = {"bench/idle.bench.svc.cluster.local": {ZTUNNEL_SERVICE_PORT: 8080}}
        cfg["workloads"] += [workload(f"idle-{i}", a, svc)
                             for i, (a, _) in enumerate(endpoint_addresses(extra_endpoints, 8080))]
        cfg["services"].append({"name": "idle", "namespace": "bench", "hostname": "idle.bench.svc.cluster.local",
                                "vips": ["/127.10.1.1"], "ports": {ZTUNNEL_SERVICE_PORT: 8080}})
    return cfg


def yaml_flow(obj) -> str:
    """JSON is YAML, but ztunnel's port maps need integer keys: unquote numeric keys."""
    return re.sub(r'"(\d+)":', r"\1:", json.dumps(obj, indent=1)) + "\n"


def ztunnel_env(config_path: Path, concurrency: int) -> dict[str, str]:
    """Environment of ztunnel's local mode (no istiod, no CA: its own fake CA)."""
    return {"FAKE_CA": "true", "XDS_ADDRESS": "", "CA_ADDRESS": "", "LOCAL_XDS_PATH": str(config_path),
            "PROXY_MODE": "dedicated", "PROXY_WORKLOAD_INFO": "bench/local/server",
            "ZTUNNEL_WORKER_THREADS": str(concurrency), "RUST_LOG": "warn"}


def netns_commands(iptables: str) -> list[list[str]]:
    """Inside a fresh network namespace: loopback up, service VIPs redirected to ztunnel."""
    return [["ip", "link", "set", "lo", "up"],
            [iptables, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.10.0.0/24", "--dport",
             str(ZTUNNEL_SERVICE_PORT), "-j", "REDIRECT", "--to-ports", str(ZTUNNEL_OUTBOUND_PORT)]]


def envoy_argv(envoy: str, config_path: Path, concurrency: int, log_path: Path) -> list[str]:
    return [envoy, "-c", str(config_path), "--concurrency", str(concurrency), "--disable-hot-restart",
            "--log-level", "warn", "--log-path", str(log_path)]


# ------------------------------------------------------------------------ the backend

NGINX_CONF = NGINX_HEAD + """\
worker_rlimit_nofile 40000;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    sendfile on;
    tcp_nodelay on;
""" + NGINX_TEMP_PATHS + """\
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    default_type application/octet-stream;
    root {workdir}/www;
    server {{ listen 127.0.0.1:{h1_port} backlog=8192; }}
    server {{ listen 127.0.0.1:{h2_port} http2 backlog=8192; }}
}}
"""


def payload(size: int) -> bytes:
    """The response body of `/{size}`: the 1 KiB body of bench.py repeated and cut."""
    return (BODY * (size // len(BODY) + 1))[:size]


def write_www(workdir: Path) -> None:
    www = workdir / "www"
    www.mkdir(parents=True, exist_ok=True)
    # nginx workers run as an unprivileged user when started by root: let them read.
    for d in (workdir, www):
        d.chmod(0o755)
    for size in PAYLOAD_SIZES:
        (www / str(size)).write_bytes(payload(size))


class SlowBackend(asyncio.Protocol):
    """HTTP/1.1 keep-alive server that answers each GET after a fixed delay: requests
    stay in flight in the proxies in front of it for a known time."""

    delay_s = 0.1

    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, _, self.buf = self.buf.partition(b"\r\n\r\n")
            asyncio.get_running_loop().call_later(self.delay_s, self._answer)

    def _answer(self):
        if not self.transport.is_closing():
            body = payload(1024)
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body) + body)


def serve_slow_backend(port: int, delay_ms: float) -> None:
    SlowBackend.delay_s = delay_ms / 1000.0

    async def main():
        server = await asyncio.get_running_loop().create_server(SlowBackend, LOOPBACK, port, backlog=8192)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


# ------------------------------------------------------------------------ /proc reading


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None


def parse_schedstat(text: str) -> int:
    """Run time in ns: the first field of /proc/<pid>/task/<tid>/schedstat."""
    return int(text.split()[0])


def proc_table() -> dict[int, dict]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            text = _read(f"/proc/{name}/stat")
            if text:
                try:
                    table[int(name)] = parse_proc_stat(text)
                except (ValueError, IndexError):
                    pass
    return table


def tree_run_ns(pids: set[int]) -> int:
    """Run time (ns) of every thread of the given processes, from schedstat."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            text = _read(f"/proc/{pid}/task/{tid}/schedstat")
            if text:
                total += parse_schedstat(text)
    return total


def tree_rss(pids: set[int]) -> int:
    return sum(parse_vmrss(_read(f"/proc/{pid}/status") or "") for pid in pids)


def parse_status_kb(status_text: str, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (RssAnon, RssFile, ...) in bytes, 0 if absent."""
    for line in status_text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss_anon(pids: set[int]) -> int:
    """Anonymous resident memory: RSS less the mapped binary and libraries (shared pages)."""
    return sum(parse_status_kb(_read(f"/proc/{pid}/status") or "", "RssAnon") for pid in pids)


def parse_host_irq(proc_stat_text: str) -> int:
    """irq + softirq ticks of all CPUs (loopback networking is mostly softirq time)."""
    for line in proc_stat_text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]]
            return v[5] + v[6]
    raise ValueError("no cpu line in /proc/stat")


KTHREADD = 2


@dataclasses.dataclass
class Snapshot:
    t_s: float
    table: dict[int, dict]
    host_busy: int
    host_irq: int
    run_ns: dict[str, int]     # per measured group (role names, backend, load, harness)
    trees: dict[str, set[int]]


def take_snapshot(roots: dict[str, int]) -> Snapshot:
    table = proc_table()
    stat = _read("/proc/stat") or ""
    busy, _ = parse_host_cpu(stat)
    parent_of = {p: s["ppid"] for p, s in table.items()}
    trees = {name: descendants(pid, parent_of) for name, pid in roots.items()}
    return Snapshot(time.monotonic(), table, busy, parse_host_irq(stat),
                    {name: tree_run_ns(pids) for name, pids in trees.items()}, trees)


def other_cpu_ticks(before: Snapshot, after: Snapshot, ours: set[int]) -> tuple[int, int]:
    """CPU ticks of processes outside the bench during the window: (user processes,
    kernel threads). A process that started in the window counts all its ticks; one that
    exited in it is missed (short compiler jobs show up as host busy time instead)."""
    user = kernel = 0
    for pid, st in after.table.items():
        if pid in ours:
            continue
        ticks = st["utime"] + st["stime"]
        prev = before.table.get(pid)
        if prev is not None:
            ticks -= prev["utime"] + prev["stime"]
        if ticks <= 0:
            continue
        if pid == KTHREADD or st["ppid"] == KTHREADD:
            kernel += ticks
        else:
            user += ticks
    return user, kernel


def tree_ticks(snap: Snapshot, pids: set[int]) -> int:
    return sum(snap.table[p]["utime"] + snap.table[p]["stime"] for p in pids if p in snap.table)


class RssSampler(threading.Thread):
    """RSS of each role's process tree once every `interval_s` until stopped (bounded)."""

    def __init__(self, roots: dict[str, int], interval_s: float = 0.5, max_samples: int = 1000):
        super().__init__(daemon=True)
        self.roots = roots
        self.interval_s = interval_s
        self.max_samples = max_samples
        self.samples: dict[str, list[int]] = {k: [] for k in roots}
        self.stop_event = threading.Event()

    def run(self):
        for _ in range(self.max_samples):
            if self.stop_event.wait(self.interval_s):
                return
            for name, pid in self.roots.items():
                self.samples[name].append(tree_rss({pid}))


# ------------------------------------------------------------------------ quiet lock


class QuietLock:
    """Holds `path` while measuring, in chunks of at most `max_hold_s`, with at least
    `min_gap_s` unlocked between chunks; always removed at exit (see release)."""

    def __init__(self, path: Path | None, max_hold_s: float = 480.0, min_gap_s: float = 120.0,
                 clock=time.monotonic, sleep=time.sleep, log=print):
        self.path = path
        self.max_hold_s = max_hold_s
        self.min_gap_s = min_gap_s
        self.clock = clock
        self.sleep = sleep
        self.log = log
        self.held_since: float | None = None
        self.released_at: float | None = None
        self.chunks = 0

    def ensure(self, need_s: float) -> None:
        """Be holding the lock for the next `need_s` seconds of measurement."""
        if self.path is None:
            return
        if need_s > self.max_hold_s:
            raise ValueError(f"a measurement of {need_s:.0f} s does not fit in a {self.max_hold_s:.0f} s chunk")
        now = self.clock()
        if self.held_since is not None and now - self.held_since + need_s > self.max_hold_s:
            self.release()
            now = self.clock()
        if self.held_since is None:
            if self.released_at is not None and now - self.released_at < self.min_gap_s:
                wait = self.min_gap_s - (now - self.released_at)
                self.log(f"quiet lock: released, waiting {wait:.0f} s before the next chunk", flush=True)
                self.sleep(wait)
            self.path.touch()
            self.held_since = self.clock()
            self.chunks += 1

    def release(self) -> None:
        if self.path is None or self.held_since is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self.held_since = None
        self.released_at = self.clock()


# ------------------------------------------------------------------------ load driver


Front = tuple[str, int]  # where the load generator sends: (address, port)


def oha_argv(oha: str, front: Front, pt: Point, duration_s: float, connections: int) -> list[str]:
    argv = [oha, f"http://{front[0]}:{front[1]}/{pt.payload_bytes}", "-z", f"{duration_s:g}s", "-q", str(pt.rps),
            "--latency-correction", "--no-tui", "--output-format", "json",
            # Requests still open at the deadline finish rather than count as errors.
            "-w"]
    if pt.proto == "h2":
        # 8 connections x 4 streams: the same 32 requests at most in flight as HTTP/1.1.
        argv += ["--http2", "-c", str(max(1, connections // 4)), "-p", "4"]
    else:
        argv += ["-c", str(connections)]
    if pt.conn_mode == "new":
        argv.append("--disable-keepalive")
    return argv


def oha_extra_percentiles(data: dict) -> dict:
    """p25, p75, p95 and p99.99 (us) from oha's JSON, for fitting a latency distribution."""
    pct = data.get("latencyPercentiles", {}) or {}
    out = {}
    for key, col in (("p25", "p25_us"), ("p75", "p75_us"), ("p95", "p95_us"), ("p99.99", "p9999_us")):
        v = pct.get(key)
        out[col] = None if v is None else float(v) * 1e6
    return out


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def http_get(port: int, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=timeout_s) as r:
        return r.status, r.read()


def envoy_stats(admin_port: int, pattern: str) -> dict[str, int]:
    """Counters and gauges matching `pattern` from Envoy's admin page (text format)."""
    try:
        _, body = http_get(admin_port, "/stats?filter=" + urllib.parse.quote(pattern), 5)
    except OSError:
        return {}
    return parse_envoy_stats(body.decode(errors="replace"))


def parse_envoy_stats(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and value.strip().lstrip("-").isdigit():
            out[name.strip()] = int(value)
    return out


def sum_stats(stats: dict[str, int], suffix: str) -> int:
    return sum(v for k, v in stats.items() if k.endswith(suffix))


# ------------------------------------------------------------------------ output files

RUNS_HEADER = [
    "run_id", "config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps", "run",
    "attempt", "passes", "duration_s", "window_s", "achieved_rps", "requests_ok", "requests_failed",
    "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us", "p25_us", "p75_us", "p95_us", "p9999_us",
    "proxies_cpu_s", "proxies_cpu_us_per_request", "cpu_us_per_pass", "proxies_cpu_ticks_s",
    "proxies_rss_mean_bytes", "backend_cpu_s", "load_cpu_s", "harness_cpu_s",
    "host_busy_cpu_s", "host_irq_cpu_s", "other_procs_cpu_s", "kernel_threads_cpu_s", "other_procs_mc",
    "disturbed", "started_utc",
]
PASSES_HEADER = [
    "run_id", "config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps", "run",
    "attempt", "role", "pass", "requests_ok", "cpu_s", "cpu_us_per_request", "cpu_ticks_s",
    "rss_mean_bytes", "rss_max_bytes", "disturbed",
]
MEMORY_HEADER = [
    "config", "role", "pass", "test", "concurrency", "level", "level_unit", "run", "rss_bytes", "rss_anon_bytes",
    "envoy_allocated_bytes", "envoy_heap_bytes", "downstream_cx_active", "upstream_cx_active",
    "in_flight_expected", "achieved_rps", "idle_cpu_mc", "other_procs_mc", "disturbed",
]


class CsvSink:
    """Appends rows as runs finish, so an interrupted bench keeps what it measured."""

    def __init__(self, path: Path, header: list[str], resume: bool = False):
        self.path = path
        self.header = header
        if resume and path.exists():
            with open(path, newline="") as f:
                if next(csv.reader(f), None) != header:
                    raise ValueError(f"{path}: not a file of this bench's format, cannot resume")
            return
        with open(path, "w", newline="") as f:
            csv.writer(f).writerow(header)

    def write(self, row: dict) -> None:
        unknown = set(row) - set(self.header)
        if unknown:
            raise ValueError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([fmt_cell(row.get(k)) for k in self.header])


def point_key(pt: Point) -> tuple:
    return (pt.config, pt.dimension, pt.proto, pt.conn_mode, str(pt.payload_bytes), str(pt.concurrency), str(pt.rps))


def runs_done(rows: list[dict]) -> set[tuple]:
    """(point, run) pairs an earlier, interrupted bench already finished: with an
    undisturbed attempt, or with its repeat."""
    done = set()
    for r in rows:
        if str(r.get("disturbed")) == "0" or str(r.get("attempt")) == "2":
            done.add(((r["config"], r["dimension"], r["proto"], r["conn_mode"], r["payload_bytes"],
                       r["concurrency"], r["target_rps"]), int(r["run"])))
    return done


def fmt_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
    return str(v)


# ------------------------------------------------------------------------ aggregation


def _f(row: dict, key: str) -> float | None:
    v = row.get(key)
    return None if v in (None, "") else float(v)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _stdev(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.stdev(vals) if len(vals) >= 2 else None


def _mc(row: dict, key: str, window_row: dict) -> float | None:
    """CPU seconds in `row[key]` as millicores over the run window of `window_row`."""
    cpu, window = _f(row, key), _f(window_row, "window_s")
    return None if cpu is None or not window else cpu / window * 1000


def usable(rows: list[dict]) -> list[dict]:
    """Undisturbed runs; if every run of a point was disturbed, all of them (flagged)."""
    clean = [r for r in rows if str(r.get("disturbed")) in ("0", "False", "")]
    return clean or rows


PERCENTILES = ("p50", "p90", "p99", "p999")


def aggregate(runs: list[dict], passes: list[dict]) -> list[dict]:
    """One row per (point, role): mean CPU per request and per pass over the usable runs,
    and added latency against the baseline at equal protocol, connection mode, payload
    and rate (the baseline runs no proxy, so its worker count does not matter)."""
    key_fields = ("config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps")
    by_point: dict[tuple, list[dict]] = {}
    for r in runs:
        by_point.setdefault(tuple(str(r[k]) for k in key_fields), []).append(r)
    base: dict[tuple, list[dict]] = {}
    for r in runs:
        if r["config"] == "baseline":
            base.setdefault((r["proto"], r["conn_mode"], str(r["payload_bytes"]), str(r["target_rps"])), []).append(r)
    passes_by_run: dict[str, list[dict]] = {}
    for p in passes:
        passes_by_run.setdefault(str(p["run_id"]), []).append(p)
    out = []
    for key, rows in sorted(by_point.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3],
                                                              int(kv[0][4]), int(kv[0][5]), int(kv[0][6]))):
        use = usable(rows)
        cfg = key[0]
        brows = usable(base.get((key[2], key[3], key[4], key[6]), []))
        common = dict(zip(key_fields, key))
        common.update({
            "runs_used": len(use), "runs_disturbed": sum(1 for r in rows if str(r.get("disturbed")) == "1"),
            "achieved_rps": _mean([_f(r, "achieved_rps") for r in use]),
            "requests_ok": sum(int(float(r["requests_ok"] or 0)) for r in use),
        })
        for pc in PERCENTILES:
            v = _mean([_f(r, f"{pc}_us") for r in use])
            common[f"{pc}_us"] = v
            b = _mean([_f(r, f"{pc}_us") for r in brows]) if brows else None
            common[f"added_{pc}_us"] = None if (cfg == "baseline" or v is None or b is None) else v - b
        common["host_busy_mc"] = _mean([_mc(r, "host_busy_cpu_s", r) for r in use])
        bh = _mean([_mc(r, "host_busy_cpu_s", r) for r in brows])
        common["added_host_busy_mc"] = (None if cfg == "baseline" or bh is None or common["host_busy_mc"] is None
                                        else common["host_busy_mc"] - bh)
        # All proxies of the path together, then each role (pass).
        total = dict(common, role="all", **{"pass": f"{int(_f(use[0], 'passes') or 0)} passes"})
        total["cpu_us_per_request"] = _mean([_f(r, "proxies_cpu_us_per_request") for r in use])
        total["cpu_us_per_request_sd"] = _stdev([_f(r, "proxies_cpu_us_per_request") for r in use])
        total["cpu_us_per_pass"] = _mean([_f(r, "cpu_us_per_pass") for r in use])
        total["cpu_mc"] = _mean([_mc(r, "proxies_cpu_s", r) for r in use])
        total["rss_mean_bytes"] = _mean([_f(r, "proxies_rss_mean_bytes") for r in use])
        out.append(total)
        roles: dict[str, list[dict]] = {}
        for r in use:
            for p in passes_by_run.get(str(r["run_id"]), []):
                roles.setdefault(p["role"], []).append((r, p))
        for role, pairs in roles.items():
            row = dict(common, role=role, **{"pass": pairs[0][1]["pass"]})
            row["cpu_us_per_request"] = _mean([_f(p, "cpu_us_per_request") for _, p in pairs])
            row["cpu_us_per_request_sd"] = _stdev([_f(p, "cpu_us_per_request") for _, p in pairs])
            row["cpu_us_per_pass"] = row["cpu_us_per_request"]
            row["cpu_mc"] = _mean([_mc(p, "cpu_s", r) for r, p in pairs])
            row["rss_mean_bytes"] = _mean([_f(p, "rss_mean_bytes") for _, p in pairs])
            out.append(row)
    return out


SUMMARY_HEADER = [
    "config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps", "role", "pass",
    "runs_used", "runs_disturbed", "achieved_rps", "requests_ok", "cpu_us_per_request", "cpu_us_per_request_sd",
    "cpu_us_per_pass", "cpu_mc", "rss_mean_bytes", "p50_us", "p90_us", "p99_us", "p999_us",
    "added_p50_us", "added_p90_us", "added_p99_us", "added_p999_us", "host_busy_mc", "added_host_busy_mc",
]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([fmt_cell(r.get(k)) for k in header])
    tmp.replace(path)


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares (intercept, slope), or None with fewer than two distinct x."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def memory_slopes(mem: list[dict]) -> list[dict]:
    """Per (test, config, role, concurrency): RSS intercept and bytes per unit of level."""
    groups: dict[tuple, list[dict]] = {}
    for r in mem:
        if r["test"] in ("connections", "endpoints", "in-flight"):
            groups.setdefault((r["test"], r["config"], r["role"], r["concurrency"]), []).append(r)
    out = []
    for (test, cfg, role, conc), all_rows in sorted(groups.items()):
        rows = usable(all_rows)
        xkey = "in_flight_expected" if test == "in-flight" else "level"
        pts = [(_f(r, xkey), _f(r, "rss_bytes")) for r in rows if _f(r, xkey) is not None and _f(r, "rss_bytes")]
        fit = linear_fit([p[0] for p in pts], [p[1] for p in pts])
        anon = [(_f(r, xkey), _f(r, "rss_anon_bytes")) for r in rows if _f(r, xkey) is not None and _f(r, "rss_anon_bytes")]
        nfit = linear_fit([p[0] for p in anon], [p[1] for p in anon])
        alloc = [(_f(r, xkey), _f(r, "envoy_allocated_bytes")) for r in rows
                 if _f(r, xkey) is not None and _f(r, "envoy_allocated_bytes")]
        afit = linear_fit([p[0] for p in alloc], [p[1] for p in alloc])
        out.append({"test": test, "config": cfg, "role": role, "pass": ROLE_PASS.get(role, role),
                    "concurrency": conc, "points": len(pts),
                    "points_disturbed": sum(1 for r in rows if str(r.get("disturbed")) == "1"),
                    "level_unit": rows[0]["level_unit"] if test != "in-flight" else "requests in flight",
                    "rss_intercept_bytes": None if fit is None else fit[0],
                    "rss_bytes_per_unit": None if fit is None else fit[1],
                    "rss_anon_intercept_bytes": None if nfit is None else nfit[0],
                    "rss_anon_bytes_per_unit": None if nfit is None else nfit[1],
                    "allocated_bytes_per_unit": None if afit is None else afit[1]})
    return out


MEMORY_SUMMARY_HEADER = ["test", "config", "role", "pass", "concurrency", "level_unit", "points", "points_disturbed",
                         "rss_intercept_bytes", "rss_bytes_per_unit", "rss_anon_intercept_bytes",
                         "rss_anon_bytes_per_unit", "allocated_bytes_per_unit"]


def _cell(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def headline(summary: list[dict], mem: list[dict], slopes: list[dict]) -> str:
    """Markdown tables of the figures a cost model needs, from the summaries."""
    def pick(**want):
        return [r for r in summary if all(str(r[k]) == str(v) for k, v in want.items())]
    rates = sorted({int(r["target_rps"]) for r in pick(dimension="rate")})
    # (config, role): the HBONE hops are measured both as a bare pair and around the waypoint.
    roles = [(cfg, role) for cfg in CONFIGS for role in CONFIGS[cfg][1] if pick(config=cfg, role=role)]
    lines = ["CPU per pass, us of CPU per request (mean of usable runs; 1 KiB, HTTP/1.1 pooled, 2 workers "
             "unless the column says otherwise; achieved rps below target means saturation)", ""]
    extra = [("new conn 1000", dict(dimension="new-connection", target_rps=1000)),
             ("HTTP/2 1000", dict(dimension="http2", target_rps=1000)),
             ("1 worker 1000", dict(dimension="one-worker", target_rps=1000)),
             ("64 KiB 1000", dict(dimension="payload", target_rps=1000, payload_bytes=65536))]
    lines.append("| pass (role) | " + " | ".join(f"{r} rps" for r in rates) + " | "
                 + " | ".join(x for x, _ in extra) + " |")
    lines.append("| --- " * (1 + len(rates) + len(extra)) + "|")
    for cfg, role in roles:
        cells = []
        for rate in rates:
            rows = pick(config=cfg, role=role, dimension="rate", target_rps=rate)
            cells.append(_cell(_mean([_f(r, "cpu_us_per_pass") for r in rows])))
        for _, want in extra:
            rows = pick(config=cfg, role=role, **want)
            cells.append(_cell(_mean([_f(r, "cpu_us_per_pass") for r in rows])))
        lines.append(f"| {ROLE_PASS[role]} ({cfg}: {role}) | " + " | ".join(cells) + " |")
    lines += ["", "Achieved rps of the rate sweep (all passes of a configuration together)", "",
              "| config | " + " | ".join(f"{r}" for r in rates) + " |", "| --- " * (1 + len(rates)) + "|"]
    for cfg in CONFIGS:
        if cfg != "baseline" and pick(config=cfg, role="all", dimension="rate"):
            lines.append(f"| {cfg} | " + " | ".join(_cell(_mean([_f(r, "achieved_rps") for r in pick(
                config=cfg, role="all", dimension="rate", target_rps=rate)])) for rate in rates) + " |")
    lines += ["", "Added latency over the no-proxy baseline at equal load, us (whole path; HTTP/1.1 pooled, "
              "1 KiB, 2 workers)", "",
              "| config | passes | rps | added p50 | added p90 | added p99 | added p99.9 |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for cfg in CONFIGS:
        if cfg == "baseline":
            continue
        for rate in (100, 1000, 2000):
            for r in pick(config=cfg, role="all", dimension="rate", target_rps=rate):
                lines.append(f"| {cfg} | {ROLE_PASSES.get(cfg, 0) or len(CONFIGS[cfg][1])} | {rate} | "
                             + " | ".join(_cell(_f(r, f"added_{p}_us")) for p in PERCENTILES) + " |")
    base = [r for r in mem if r["test"] == "base"]
    if base:
        lines += ["", "Memory per proxy process (2 workers; RSS includes ~55 MiB of mapped binary, anonymous "
                  "RSS does not)", "",
                  "| pass (role) | idle RSS MiB | idle anon RSS MiB | idle CPU mC | per idle connection KiB (RSS) "
                  "| per endpoint bytes (RSS) | per in-flight request KiB (RSS) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for cfg, role in roles:
            b = [r for r in base if r["config"] == cfg and r["role"] == role and r["concurrency"] == "2"]

            def slope(test):
                return _mean([_f(x, "rss_bytes_per_unit") for x in slopes if x["test"] == test
                              and x["config"] == cfg and x["role"] == role and str(x["concurrency"]) == "2"])
            conn, ep, inf = slope("connections"), slope("endpoints"), slope("in-flight")
            lines.append(f"| {ROLE_PASS[role]} ({cfg}: {role}) | "
                         f"{_cell(_mean([_f(x, 'rss_bytes') / 1048576 for x in b]), 1)} | "
                         f"{_cell(_mean([_f(x, 'rss_anon_bytes') / 1048576 for x in b]), 1)} | "
                         f"{_cell(_mean([_f(x, 'idle_cpu_mc') for x in b]), 1)} | "
                         f"{_cell(None if conn is None else conn / 1024, 1)} | {_cell(ep)} | "
                         f"{_cell(None if inf is None else inf / 1024, 1)} |")
    return "\n".join(lines) + "\n"


def write_summaries(out: Path) -> None:
    runs, passes = read_csv(out / "runs.csv"), read_csv(out / "passes.csv")
    summary = aggregate(runs, passes)
    write_csv(out / "summary-cpu-latency.csv", SUMMARY_HEADER, summary)
    mem, slopes = [], []
    if (out / "memory.csv").exists():
        mem = read_csv(out / "memory.csv")
        slopes = memory_slopes(mem)
        write_csv(out / "summary-memory.csv", MEMORY_SUMMARY_HEADER, slopes)
    # Through a CSV round trip, so both come from the files as written.
    text = headline(read_csv(out / "summary-cpu-latency.csv"), mem,
                    read_csv(out / "summary-memory.csv") if slopes else [])
    (out / "headline.md").write_text(text)


# ------------------------------------------------------------------------ the bench


class Bench:
    def __init__(self, args, out: Path, workdir: Path, children: Children, lock: QuietLock):
        self.args = args
        self.out = out
        self.workdir = workdir
        self.children = children
        self.lock = lock
        self.certdir = workdir / "certs"
        self.clk_tck = os.sysconf("SC_CLK_TCK")
        self.runs = CsvSink(out / "runs.csv", RUNS_HEADER, args.resume)
        self.passes = CsvSink(out / "passes.csv", PASSES_HEADER, args.resume)
        self.memory = CsvSink(out / "memory.csv", MEMORY_HEADER, args.resume)
        previous = read_csv(out / "runs.csv") if args.resume else []
        self.done_runs = runs_done(previous)
        self.done_memory = {(r["config"], r["test"], r["concurrency"]) for r in
                            (read_csv(out / "memory.csv") if args.resume else [])}
        self.run_id = max((int(r["run_id"]) for r in previous), default=0)
        self.disturbed_total = 0
        self.backend_proc = None
        self.slow_proc = None

    # ---- processes

    def start_backend(self) -> None:
        write_www(self.workdir)
        self.h1_port, self.h2_port = free_port(), free_port()
        conf = self.workdir / "backend-nginx.conf"
        conf.write_text(NGINX_CONF.format(workdir=self.workdir, h1_port=self.h1_port, h2_port=self.h2_port))
        self.backend_proc = self.children.start("backend", [self.args.nginx, "-p", str(self.workdir), "-c", str(conf)],
                                                self.workdir / "backend.log")
        wait_http_ok(self.h1_port, self.backend_proc, path="/1024", expect=payload(1024))
        self.slow_port = free_port()
        self.slow_proc = self.children.start(
            "slow-backend", [sys.executable, os.path.abspath(__file__), "--serve-slow-backend", str(self.slow_port),
                             "--slow-delay-ms", str(self.args.slow_delay_ms)], self.workdir / "slow-backend.log")
        wait_http_ok(self.slow_port, self.slow_proc, path="/1024", expect=payload(1024))

    def start_proxies(self, config: str, proto: str, concurrency: int, backend_port: int | None = None,
                      extra_endpoints: int = 0) -> tuple[list[tuple[Role, subprocess.Popen]], Front]:
        if config == "ztunnel":
            return self.start_ztunnel(proto, concurrency, backend_port, extra_endpoints)
        ports = [free_port() for _ in range(8)]
        roles, front_port = topology(config, proto, self.certdir, backend_port or self.h1_port, self.h2_port,
                                     ports, extra_endpoints)
        front = (LOOPBACK, front_port)
        started = []
        try:
            for role in reversed(roles):  # inbound first, so the path is complete when probed
                path = self.workdir / f"{role.name}.yaml"
                path.write_text(json.dumps(role.config, indent=1))
                log = self.workdir / f"{role.name}.log"
                proc = self.children.start(role.name, envoy_argv(self.args.envoy, path, concurrency, log),
                                           self.workdir / f"{role.name}.out")
                started.append((role, proc))
                self.wait_ready(role, proc, log)
            started.reverse()
            self.probe(front, proto, started)
        except Exception:
            self.stop_proxies(started)
            raise
        return started, front

    def start_ztunnel(self, proto: str, concurrency: int, backend_port: int | None,
                      extra_endpoints: int) -> tuple[list[tuple[Role, subprocess.Popen]], Front]:
        cfg = ztunnel_local_config(backend_port or self.h1_port, self.h2_port, extra_endpoints)
        path = self.workdir / "ztunnel-local.yaml"
        path.write_text(yaml_flow(cfg))
        env = dict(os.environ, **ztunnel_env(path, concurrency))
        role = Role("ztunnel", ZTUNNEL_OUTBOUND_PORT, ZTUNNEL_ADMIN_PORT, cfg)
        proc = self.children.start("ztunnel", [self.args.ztunnel_bin], self.workdir / "ztunnel.log", env=env)
        started = [(role, proc)]
        front = (ZTUNNEL_VIP[proto], ZTUNNEL_SERVICE_PORT)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"ztunnel exited with code {proc.returncode}:\n"
                                       + (self.workdir / "ztunnel.log").read_text(errors="replace")[-3000:])
                try:
                    if http_get(ZTUNNEL_READINESS_PORT, "/healthz/ready", 1)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("ztunnel not ready:\n"
                                       + (self.workdir / "ztunnel.log").read_text(errors="replace")[-3000:])
                time.sleep(0.2)
            self.probe(front, proto, started)
        except Exception:
            self.stop_proxies(started)
            raise
        return started, front

    def wait_ready(self, role: Role, proc, log: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = (log.read_text(errors="replace") if log.exists() else "")
                text += (self.workdir / f"{role.name}.out").read_text(errors="replace")
                raise RuntimeError(f"envoy ({role.name}) exited with code {proc.returncode}:\n{text[-3000:]}")
            try:
                status, body = http_get(role.admin_port, "/ready", 1)
                if status == 200 and body.strip() == b"LIVE":
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"envoy ({role.name}) not ready after {STARTUP_TIMEOUT_S:g} s")

    def probe(self, front: Front, proto: str, procs) -> None:
        """A few requests through the whole path, with the protocol the load will use."""
        pt = Point("probe", proto, "pooled", 1024, 0, 50, "probe")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            argv = [self.args.oha, f"http://{front[0]}:{front[1]}/1024", "-n", "5", "-c", "1", "--no-tui",
                    "--output-format", "json"] + (["--http2"] if pt.proto == "h2" else [])
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if res.returncode == 0:
                r = parse_oha_json(json.loads(res.stdout))
                if r["status_codes"].get("200") == 5:
                    return
                last = f"status {r['status_codes']} errors {r['errors']}"
            else:
                last = res.stderr[-500:]
            time.sleep(0.3)
        logs = "".join((self.workdir / f"{role.name}.log").read_text(errors="replace")[-1500:]
                       for role, _ in procs if (self.workdir / f"{role.name}.log").exists())
        raise RuntimeError(f"requests through {front[0]}:{front[1]} ({proto}) fail: {last}\n{logs}")

    def stop_proxies(self, started) -> None:
        for _, proc in started:
            self.children.stop(proc)
            self.children.procs = [(n, p) for n, p in self.children.procs if p is not proc]

    # ---- load runs

    def measure_point(self, pt: Point, run: int, started, front: Front) -> None:
        """One run (and one repeat if other processes disturbed it)."""
        if (point_key(pt), run) in self.done_runs:
            return
        for attempt in (1, 2):
            disturbed = self.one_run(pt, run, attempt, started, front)
            if not disturbed:
                return
            self.disturbed_total += 1
            if attempt == 1:
                print(f"  run disturbed by other load; repeating once after {self.args.disturbed_wait:g} s", flush=True)
                time.sleep(self.args.disturbed_wait)

    def wait_for_quiet(self) -> None:
        """While holding the lock, give jobs that started before it up to --wait-quiet
        seconds to finish (new ones wait on the lock)."""
        deadline = time.monotonic() + self.args.wait_quiet
        while time.monotonic() < deadline:
            other_mc, _ = self.quiet_window(1.0)
            if other_mc <= self.args.disturbed_mc:
                return

    def one_run(self, pt: Point, run: int, attempt: int, started, front: Front) -> bool:
        duration = run_duration_s(pt.rps, self.args.duration)
        self.lock.ensure(duration + 5 + self.args.wait_quiet)
        self.wait_for_quiet()
        for role, proc in started:
            if proc.poll() is not None:
                raise RuntimeError(f"envoy ({role.name}) exited with code {proc.returncode}")
        self.run_id += 1
        run_id = self.run_id
        connections = self.args.connections
        argv = oha_argv(self.args.oha, front, pt, duration, connections)
        roots = {role.name: proc.pid for role, proc in started}
        roots["backend"] = self.backend_proc.pid
        roots["harness"] = os.getpid()
        rss = RssSampler({role.name: proc.pid for role, proc in started})
        started_utc = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        time.sleep(self.args.settle)
        before = take_snapshot(roots)
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.children.procs.append(("load", load))
        rss.start()
        load_ns_prev = 0
        try:
            deadline = time.monotonic() + duration + 60
            # oha's threads end with it: read its run time just before it exits.
            while load.poll() is None and time.monotonic() < deadline:
                load_ns_prev = max(load_ns_prev, tree_run_ns({load.pid}))
                time.sleep(0.25)
            stdout, stderr = load.communicate(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            rss.stop_event.set()
            rss.join(timeout=5)
            self.children.procs = [(n, p) for n, p in self.children.procs if p is not load]
        after = take_snapshot(roots)
        if load.returncode != 0:
            raise RuntimeError(f"oha failed ({load.returncode}): {stderr.decode(errors='replace')[-1500:]}")
        raw = json.loads(stdout)
        result = parse_oha_json(raw)
        extra_pct = oha_extra_percentiles(raw)
        window = after.t_s - before.t_s
        ok = int(result["status_codes"].get("200", 0))
        failed = result["requests"] - ok
        ours = set().union(*before.trees.values(), *after.trees.values(), {load.pid})
        other_user, other_kernel = other_cpu_ticks(before, after, ours)
        # oha itself: its final ticks are in `after` only if still listed; use its run time.
        load_ticks = (after.table.get(load.pid, {}).get("utime", 0) + after.table.get(load.pid, {}).get("stime", 0))
        other_user -= min(other_user, load_ticks)
        other_mc = other_user / self.clk_tck / window * 1000
        disturbed = other_mc > self.args.disturbed_mc
        roles = [role for role, _ in started]
        proxy_ns = sum(after.run_ns[r.name] - before.run_ns[r.name] for r in roles)
        proxy_ticks = sum(tree_ticks(after, after.trees[r.name]) - tree_ticks(before, before.trees[r.name]) for r in roles)
        passes = sum(ROLE_PASSES.get(r.name, 1) for r in roles)
        common = {"run_id": run_id, "config": pt.config, "dimension": pt.dimension, "proto": pt.proto,
                  "conn_mode": pt.conn_mode, "payload_bytes": pt.payload_bytes, "concurrency": pt.concurrency,
                  "target_rps": pt.rps, "run": run, "attempt": attempt}
        rss_means = {k: (statistics.fmean(v) if v else tree_rss({roots[k]})) for k, v in rss.samples.items()}
        self.runs.write(dict(common, **{
            "passes": passes, "duration_s": duration, "window_s": window,
            "achieved_rps": result["requests_per_sec"], "requests_ok": ok, "requests_failed": failed,
            **{f"{k}_us": (None if result[f"{k}_ms"] is None else result[f"{k}_ms"] * 1000)
               for k in ("p50", "p90", "p99", "p999", "max", "mean")},
            **extra_pct,
            "proxies_cpu_s": proxy_ns / 1e9 if passes else None,
            "proxies_cpu_us_per_request": proxy_ns / 1e3 / ok if passes and ok else None,
            "cpu_us_per_pass": proxy_ns / 1e3 / ok / passes if passes and ok else None,
            "proxies_cpu_ticks_s": proxy_ticks / self.clk_tck if passes else None,
            "proxies_rss_mean_bytes": sum(rss_means.values()) if passes else None,
            "backend_cpu_s": (after.run_ns["backend"] - before.run_ns["backend"]) / 1e9,
            "load_cpu_s": load_ns_prev / 1e9,
            "harness_cpu_s": (after.run_ns["harness"] - before.run_ns["harness"]) / 1e9,
            "host_busy_cpu_s": (after.host_busy - before.host_busy) / self.clk_tck,
            "host_irq_cpu_s": (after.host_irq - before.host_irq) / self.clk_tck,
            "other_procs_cpu_s": other_user / self.clk_tck, "kernel_threads_cpu_s": other_kernel / self.clk_tck,
            "other_procs_mc": other_mc, "disturbed": disturbed, "started_utc": started_utc}))
        for role in roles:
            ns = after.run_ns[role.name] - before.run_ns[role.name]
            ticks = tree_ticks(after, after.trees[role.name]) - tree_ticks(before, before.trees[role.name])
            samples = rss.samples.get(role.name) or [tree_rss({roots[role.name]})]
            self.passes.write(dict(common, **{
                "role": role.name, "pass": ROLE_PASS[role.name], "requests_ok": ok, "cpu_s": ns / 1e9,
                "cpu_us_per_request": ns / 1e3 / ok if ok else None, "cpu_ticks_s": ticks / self.clk_tck,
                "rss_mean_bytes": statistics.fmean(samples), "rss_max_bytes": max(samples), "disturbed": disturbed}))
        per_pass = f"{proxy_ns / 1e3 / ok / passes:.1f} us/pass" if passes and ok else "-"
        p50 = result["p50_ms"]
        p99 = result["p99_ms"]
        print(f"  {pt.config} {pt.dimension} {pt.proto} {pt.conn_mode} {pt.payload_bytes}B c{pt.concurrency} "
              f"{pt.rps} rps run {run}: {result['requests_per_sec']:.0f} rps ok={ok} fail={failed} "
              f"p50={p50 * 1000 if p50 is not None else float('nan'):.0f}us "
              f"p99={p99 * 1000 if p99 is not None else float('nan'):.0f}us {per_pass} "
              f"other={other_mc:.0f}mC{' DISTURBED' if disturbed else ''}", flush=True)
        return disturbed

    # ---- memory tests

    def mem_row(self, config, role: Role, proc, test, concurrency, level, unit, run, other_mc=0.0, **extra) -> dict:
        stats = envoy_stats(role.admin_port, r"server\.memory|cx_active")
        row = {"config": config, "role": role.name, "pass": ROLE_PASS[role.name], "test": test,
               "concurrency": concurrency, "level": level, "level_unit": unit, "run": run,
               "rss_bytes": tree_rss({proc.pid}), "rss_anon_bytes": tree_rss_anon({proc.pid}),
               "envoy_allocated_bytes": stats.get("server.memory_allocated"),
               "envoy_heap_bytes": stats.get("server.memory_heap_size"),
               # Listener counters only (the HTTP ones count the same connections again), not admin's.
               "downstream_cx_active": sum_stats({k: v for k, v in stats.items() if k.startswith("listener.")
                                                  and not k.startswith("listener.admin.")}, "downstream_cx_active"),
               "upstream_cx_active": sum_stats(stats, "upstream_cx_active"),
               "other_procs_mc": other_mc, "disturbed": other_mc > self.args.disturbed_mc}
        row.update(extra)
        return row

    def quiet_window(self, seconds: float) -> tuple[float, float]:
        """Sleep `seconds` and return (other processes' mC, length) over that time."""
        before = take_snapshot({"harness": os.getpid()})
        time.sleep(seconds)
        after = take_snapshot({"harness": os.getpid()})
        # Everything the bench started descends from it: proxies, backends, load.
        user, _ = other_cpu_ticks(before, after, before.trees["harness"] | after.trees["harness"])
        return user / self.clk_tck / (after.t_s - before.t_s) * 1000, after.t_s - before.t_s

    def memory_base_and_connections(self, config: str, concurrency: int, levels: list[int]) -> None:
        self.lock.ensure(30 + 3 * len(levels) + sum(levels) / 300 + self.args.wait_quiet)
        self.wait_for_quiet()
        started, front = self.start_proxies(config, "h1", concurrency)
        socks: list[socket.socket] = []
        try:
            time.sleep(2)
            # Idle CPU and base RSS: no traffic except the probe done at start.
            roots = {role.name: proc.pid for role, proc in started}
            before = take_snapshot(roots)
            other_mc, window = self.quiet_window(self.args.idle_seconds)
            after = take_snapshot(roots)
            for role, proc in started:
                idle_mc = (after.run_ns[role.name] - before.run_ns[role.name]) / 1e6 / window
                self.memory.write(self.mem_row(config, role, proc, "base", concurrency, 0, "connections", 1,
                                               other_mc, idle_cpu_mc=idle_mc))
            for level in levels:
                opened = open_idle_connections(front, level - len(socks), socks)
                if opened != level - (len(socks) - opened):
                    print(f"  opened only {len(socks)} of {level} connections", flush=True)
                time.sleep(2)
                other_mc, _ = self.quiet_window(1.0)
                for role, proc in started:
                    self.memory.write(self.mem_row(config, role, proc, "connections", concurrency, len(socks),
                                                   "idle connections", 1, other_mc))
                print(f"  {config} c{concurrency}: {len(socks)} idle connections: " + ", ".join(
                    f"{role.name} {tree_rss({proc.pid}) / 1048576:.1f} MiB" for role, proc in started), flush=True)
        finally:
            for s in socks:
                s.close()
            self.stop_proxies(started)

    def memory_endpoints(self, config: str, concurrency: int, levels: list[int]) -> None:
        for level in levels:
            self.lock.ensure(20 + self.args.wait_quiet)
            self.wait_for_quiet()
            started, _ = self.start_proxies(config, "h1", concurrency, extra_endpoints=level)
            try:
                time.sleep(2)
                other_mc, _ = self.quiet_window(1.0)
                role, proc = started[0]
                self.memory.write(self.mem_row(config, role, proc, "endpoints", concurrency, level,
                                               "endpoints in an idle cluster", 1, other_mc))
                print(f"  {role.name} c{concurrency} with {level} endpoints: {tree_rss({proc.pid}) / 1048576:.1f} MiB",
                      flush=True)
            finally:
                self.stop_proxies(started)

    def memory_in_flight(self, config: str, concurrency: int, rates: list[int]) -> None:
        started, front = self.start_proxies(config, "h1", concurrency, backend_port=self.slow_port)
        delay_s = self.args.slow_delay_ms / 1000
        try:
            for rps in rates:
                duration = self.args.in_flight_seconds
                self.lock.ensure(duration + 10 + self.args.wait_quiet)
                self.wait_for_quiet()
                pt = Point(config, "h1", "pooled", 1024, concurrency, rps, "in-flight")
                argv = oha_argv(self.args.oha, front, pt, duration, self.args.in_flight_connections)
                argv[1] = f"http://{front[0]}:{front[1]}/"
                load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
                self.children.procs.append(("load", load))
                try:
                    time.sleep(duration * 0.6)
                    other_mc, _ = self.quiet_window(1.0)
                    rows = [self.mem_row(config, role, proc, "in-flight", concurrency, rps, "rps at a "
                                         f"{self.args.slow_delay_ms:g} ms backend", 1, other_mc,
                                         in_flight_expected=rps * delay_s) for role, proc in started]
                    stdout, stderr = load.communicate(timeout=duration + 60)
                finally:
                    self.children.stop(load)
                    self.children.procs = [(n, p) for n, p in self.children.procs if p is not load]
                if load.returncode != 0:
                    raise RuntimeError(f"oha failed: {stderr.decode(errors='replace')[-1500:]}")
                res = parse_oha_json(json.loads(stdout))
                for row in rows:
                    row["achieved_rps"] = res["requests_per_sec"]
                    self.memory.write(row)
                print(f"  {config} c{concurrency} {rps} rps x {delay_s:g} s in flight: "
                      + ", ".join(f"{r['role']} {r['rss_bytes'] / 1048576:.1f} MiB" for r in rows)
                      + f" ({res['requests_per_sec']:.0f} rps achieved)", flush=True)
        finally:
            self.stop_proxies(started)


def open_idle_connections(front: Front, n: int, socks: list[socket.socket]) -> int:
    """Open n keep-alive HTTP/1.1 connections through the proxy path, one request each (so
    every hop has its upstream connection too), and leave them open. Bounded: 5 s a
    connection at most. Returns how many opened."""
    req = f"GET /100 HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    opened = 0
    for _ in range(max(0, n)):
        s = socket.create_connection(front, timeout=5)
        try:
            s.sendall(req)
            got = b""
            while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < 100:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("closed")
                got += chunk
        except OSError:
            s.close()
            continue
        socks.append(s)
        opened += 1
    return opened


# ------------------------------------------------------------------------ main


def parse_int_list(spec: str, lo: int, hi: int, what: str) -> list[int]:
    vals = [int(x) for x in spec.replace(" ", "").split(",") if x]
    for v in vals:
        if not lo <= v <= hi:
            raise ValueError(f"{what} {v} outside {lo}..{hi}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envoy", default="envoy", help="path of the envoy binary")
    p.add_argument("--oha", default="oha", help="path of the oha load generator")
    p.add_argument("--nginx", default="nginx", help="path of nginx (the backend)")
    p.add_argument("--openssl", default="openssl", help="path of the openssl CLI (certificates)")
    p.add_argument("--ztunnel-bin", help="path of a ztunnel binary built with its `testing` feature "
                   "(needed by the `ztunnel` configuration; run in a private network namespace)")
    p.add_argument("--iptables", default="iptables", help="path of iptables (the `ztunnel` configuration)")
    p.add_argument("--out", type=Path, help="output folder (created; must not hold results already)")
    p.add_argument("--grid", default="full", choices=["full", "rates", "smoke"])
    p.add_argument("--configs", default="baseline,sidecar,l4,hbone,waypoint",
                   help="configurations to measure, comma-separated")
    p.add_argument("--runs", type=int, default=3, help="runs per point")
    p.add_argument("--duration", type=float, default=6.0,
                   help="seconds of load per run (longer at low rates: at least 1000 requests)")
    p.add_argument("--settle", type=float, default=0.5, help="idle seconds before each run")
    p.add_argument("--connections", type=int, default=32, help="load generator connections (HTTP/1.1)")
    p.add_argument("--key-type", default="rsa2048", choices=["rsa2048", "ec-p256"],
                   help="workload key type (Istio's default is RSA 2048)")
    p.add_argument("--memory", default="on", choices=["on", "off", "only"], help="memory tests")
    p.add_argument("--idle-connections", default="0,100,1000,4000")
    p.add_argument("--endpoints", default="1,100,1000,5000")
    p.add_argument("--in-flight-rates", default="100,500,1000",
                   help="rates against the slow backend (in flight = rate x delay)")
    p.add_argument("--in-flight-connections", type=int, default=256)
    p.add_argument("--in-flight-seconds", type=float, default=8.0)
    p.add_argument("--slow-delay-ms", type=float, default=100.0)
    p.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU window per configuration")
    p.add_argument("--quiet-lock", type=Path, help="file held while measuring (e.g. /work/.bench-quiet)")
    p.add_argument("--lock-chunk", type=float, default=480.0, help="longest hold of the quiet lock, s")
    p.add_argument("--lock-gap", type=float, default=120.0, help="shortest release between chunks, s")
    p.add_argument("--disturbed-mc", type=float, default=50.0,
                   help="a run is disturbed when other processes used more CPU than this (millicores)")
    p.add_argument("--disturbed-wait", type=float, default=5.0)
    p.add_argument("--wait-quiet", type=float, default=60.0,
                   help="before each run, wait up to this long for other processes to go quiet, s")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted bench in --out: skip the runs and memory tests it finished")
    p.add_argument("--dry-run", action="store_true", help="print the grid and its estimated time, then stop")
    p.add_argument("--aggregate", type=Path, metavar="DIR", help="only recompute the summaries in DIR")
    p.add_argument("--serve-slow-backend", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p


def environment(args, argv: list[str]) -> dict:
    def ver(cmd):
        return command_version(cmd)
    return {
        "command": "python3 calibration/bench/mesh_bench.py " + shlex.join(argv),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(),
        "kernel": " ".join(platform.uname()[i] for i in (0, 2, 3, 4)),
        "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
        "memory_total": next((line.split(":", 1)[1].strip() for line in (_read("/proc/meminfo") or "").splitlines()
                              if line.startswith("MemTotal")), ""),
        "python": platform.python_version(),
        "envoy": ver([args.envoy, "--version"]) if shutil.which(args.envoy) else None, "oha": ver([args.oha, "--version"]),
        "nginx": ver([args.nginx, "-v"]), "openssl": ver([args.openssl, "version"]),
        "ztunnel": ver([args.ztunnel_bin, "version"]) if args.ztunnel_bin else None,
        "network_namespace": "private (unshare --net), iptables REDIRECT of 127.10.0.0/24:80 to 15001"
        if os.environ.get(NETNS_ENV) == "1" else "host",
        "key_type": args.key_type, "grid": args.grid, "runs": args.runs, "duration_s": args.duration,
        "connections_h1": args.connections, "connections_h2": f"{max(1, args.connections // 4)} x 4 streams",
        "slow_backend_delay_ms": args.slow_delay_ms,
        "configs": {k: CONFIGS[k][0] for k in args.configs.split(",")},
        "quiet_lock": str(args.quiet_lock) if args.quiet_lock else None,
        "disturbed_threshold_mc": args.disturbed_mc,
    }


NETNS_ENV = "MESH_BENCH_NETNS"


def run_in_netns(argv: list[str]) -> int:
    """Run this bench again inside a new network namespace (its own loopback and iptables),
    forwarding SIGTERM/SIGINT so that its clean-up (quiet lock included) runs."""
    cmd = ["unshare", "--net", "--", sys.executable, os.path.abspath(__file__), *argv]
    proc = subprocess.Popen(cmd, env=dict(os.environ, **{NETNS_ENV: "1"}))

    def forward(signum, frame):
        proc.send_signal(signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    return proc.wait()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.serve_slow_backend:
        serve_slow_backend(args.serve_slow_backend, args.slow_delay_ms)
        return 0
    if args.aggregate:
        write_summaries(args.aggregate)
        print((args.aggregate / "headline.md").read_text(), end="")
        return 0
    configs = [c for c in args.configs.split(",") if c]
    points = grid_points(args.grid, configs)
    if not 1 <= args.runs <= MAX_RUNS:
        raise SystemExit(f"--runs must be in 1..{MAX_RUNS}")
    for pt in points:
        if pt.rps > MAX_RPS:
            raise SystemExit(f"rate {pt.rps} above {MAX_RPS}")
    idle_levels = parse_int_list(args.idle_connections, 0, MAX_IDLE_CONNECTIONS, "idle connections")
    endpoint_levels = parse_int_list(args.endpoints, 0, MAX_ENDPOINTS, "endpoints")
    inflight_rates = parse_int_list(args.in_flight_rates, 1, MAX_RPS, "in-flight rate")
    est = estimate_seconds(points, args.runs, args.duration) if args.memory != "only" else 0
    print(f"{len(points)} points x {args.runs} runs, about {est / 60:.0f} min of load runs", flush=True)
    if args.dry_run:
        for pt in points:
            print(f"  {pt.config} {pt.dimension} {pt.proto} {pt.conn_mode} {pt.payload_bytes}B "
                  f"c{pt.concurrency} {pt.rps} rps")
        return 0
    if args.out is None:
        raise SystemExit("--out is required")
    tools = [("oha", "oha"), ("nginx", "nginx"), ("openssl", "openssl")]
    if any(c not in ("baseline", "ztunnel") for c in configs):
        tools.append(("envoy", "envoy"))
    for attr, name in tools:
        found = shutil.which(getattr(args, attr))
        if not found:
            raise SystemExit(f"{name} not found at {getattr(args, attr)!r}: see calibration/bench/README.md")
        setattr(args, attr, found)
    if args.out.exists() and any(args.out.glob("*.csv")) and not args.resume:
        raise SystemExit(f"{args.out} already holds results: give a new --out (or --resume)")
    if "ztunnel" in configs:
        if not args.ztunnel_bin or not shutil.which(args.ztunnel_bin):
            raise SystemExit("the ztunnel configuration needs --ztunnel-bin PATH")
        args.ztunnel_bin = shutil.which(args.ztunnel_bin)
        if os.environ.get(NETNS_ENV) != "1":
            return run_in_netns(argv)
        for cmd in netns_commands(args.iptables):
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if res.returncode != 0:
                raise SystemExit(f"{shlex.join(cmd)} failed: {res.stderr.strip()}")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    raise_fd_limit()
    args.out.mkdir(parents=True, exist_ok=True)
    env_path = args.out / "environment.json"
    env = environment(args, argv)
    if args.resume and env_path.exists():
        # The first command stays the record; each resumption is appended to it.
        first = json.loads(env_path.read_text())
        first.setdefault("resumed", []).append({"command": env["command"], "date_utc": env["date_utc"]})
        env = first
    env_path.write_text(json.dumps(env, indent=2) + "\n")
    children = Children()
    lock = QuietLock(args.quiet_lock, args.lock_chunk, args.lock_gap)
    workdir = Path(tempfile.mkdtemp(prefix="meshsim-mesh-bench-"))
    t0 = time.monotonic()
    try:
        make_certs(args.openssl, workdir / "certs", args.key_type, identities_for(configs))
        bench = Bench(args, args.out, workdir, children, lock)
        bench.start_backend()
        if args.memory != "only":
            groups: dict[tuple, list[Point]] = {}
            for pt in points:
                groups.setdefault(pt.group(), []).append(pt)
            for (cfg, proto, conc), pts in groups.items():
                if all((point_key(pt), run) in bench.done_runs for pt in pts for run in range(1, args.runs + 1)):
                    continue
                print(f"{cfg} {proto} concurrency {conc}: {len(pts)} points", flush=True)
                started, front = ([], (LOOPBACK, bench.h2_port if proto == "h2" else bench.h1_port))
                if cfg != "baseline":
                    started, front = bench.start_proxies(cfg, proto, conc)
                try:
                    for pt in pts:
                        for run in range(1, args.runs + 1):
                            bench.measure_point(pt, run, started, front)
                finally:
                    bench.stop_proxies(started)
        if args.memory != "off":
            for cfg in configs:
                if cfg == "baseline":
                    continue
                for conc in (1, 2):
                    if (cfg, "connections", str(conc)) in bench.done_memory:
                        continue
                    print(f"memory: {cfg} concurrency {conc}", flush=True)
                    bench.memory_base_and_connections(cfg, conc, idle_levels)
            for cfg in ("sidecar", "ztunnel"):
                if cfg in configs:
                    for conc in (1, 2):
                        if (cfg, "endpoints", str(conc)) not in bench.done_memory:
                            bench.memory_endpoints(cfg, conc, endpoint_levels)
            for cfg in configs:
                if cfg in ("baseline", "hbone") or (cfg, "in-flight", "2") in bench.done_memory:
                    continue
                print(f"memory: {cfg} in flight", flush=True)
                bench.memory_in_flight(cfg, 2, inflight_rates)
        write_summaries(args.out)
        print(f"done in {(time.monotonic() - t0) / 60:.1f} min; {bench.disturbed_total} disturbed runs "
              f"(each repeated once); quiet-lock chunks: {lock.chunks}", flush=True)
        return 0
    except KeyboardInterrupt:
        print("interrupted; stopping", file=sys.stderr)
        return 130
    finally:
        lock.release()
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
