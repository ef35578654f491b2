"""Set-up of mesh_bench.py's processes: the throwaway CA and workload certificates, the
Envoy configurations of each placement (one bootstrap per role, in path order), ztunnel's
local-mode configuration and network namespace, the Envoy command line, and the backends
(nginx serving the payloads, and a slow backend that holds each request)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shlex
import subprocess
from pathlib import Path

from bench import BODY, LOOPBACK, NGINX_HEAD, NGINX_TEMP_PATHS
from mesh_grid import CONFIGS, MAX_ENDPOINTS, PAYLOAD_SIZES

# ------------------------------------------------------------------------ certificates

SPIFFE_DOMAIN = "spiffe://cluster.local/ns/bench/sa/"


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
