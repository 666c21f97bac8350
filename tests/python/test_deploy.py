"""The deployment as an operator would apply it: every kustomize overlay
renders, validates against the Kubernetes schemas (offline), and the
production overlay carries the settings Threadgate depends on. The
Dockerfile passes hadolint and builds the binary the workspace builds."""

import pathlib
import re
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = pathlib.Path(sys.executable).parent
KUBERNETES_VERSION = "1.33.0"


def render(overlay: str) -> list[dict]:
    output = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(DEPLOY / "kubernetes" / "overlays" / overlay)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def one(docs: list[dict], kind: str, name: str = "threadgate") -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


BASE_KINDS = [
    "ConfigMap", "CronJob", "Deployment", "HorizontalPodAutoscaler", "Job", "NetworkPolicy",
    "PodDisruptionBudget", "Service", "ServiceAccount",
]


@pytest.mark.parametrize("overlay, extra", [("dev", []), ("production", ["ServiceMonitor"])])
def test_overlays_render_and_validate(overlay, extra):
    docs = render(overlay)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(BASE_KINDS + extra)
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked against the objects it scrapes below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_production_metrics_are_scraped_from_the_metrics_port():
    docs = render("production")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == "threadgate"
    service = one(docs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    labels = service["metadata"].get("labels", {})
    assert selector.items() <= labels.items(), (selector, labels)
    [endpoint] = monitor["spec"]["endpoints"]
    ports = {port["name"]: port for port in service["spec"]["ports"]}
    assert endpoint["port"] == "metrics" and ports["metrics"]["port"] == 9464
    assert endpoint["path"] == "/metrics"
    # The network policy lets the monitoring namespace reach that port.
    ingress = one(docs, "NetworkPolicy")["spec"]["ingress"]
    assert any(
        port["port"] == 9464
        and any(peer.get("namespaceSelector", {}).get("matchLabels", {}).get(
            "kubernetes.io/metadata.name") == "monitoring" for peer in rule["from"])
        for rule in ingress for port in rule["ports"]
    )


def test_production_is_hardened_and_scaled():
    docs = render("production")
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["terminationGracePeriodSeconds"] >= 45
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert pod["serviceAccountName"] == "threadgate"
    assert spec["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "startupProbe" in container
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["args"][0] == "serve"
    database = next(e for e in container["env"] if e["name"] == "THREADGATE_DATABASE__URL")
    assert database["valueFrom"]["secretKeyRef"]["name"] == "threadgate-database"

    assert one(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3
    assert one(docs, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 5432, 443, 4317, 4318}
    job = one(docs, "Job", "threadgate-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"
    assert one(docs, "ServiceAccount")["metadata"]["annotations"]["azure.workload.identity/client-id"]
    reconcile = one(docs, "CronJob", "threadgate-reconcile")["spec"]
    assert reconcile["concurrencyPolicy"] == "Forbid"
    assert reconcile["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0] == "reconcile"

    # No secret in the manifests: credentials come from Secrets and workload identity.
    config = one(docs, "ConfigMap")["data"]["threadgate.toml"]
    assert "client_secret" not in config and "api_key" not in config and "password" not in config


def test_the_dockerfile_lints_and_builds_the_workspace_binary():
    dockerfile = DEPLOY / "Dockerfile"
    subprocess.run([str(BIN / "hadolint"), str(dockerfile)], check=True)
    text = dockerfile.read_text()
    assert "cargo build --release --locked --bin threadgate" in text
    assert "target/release/threadgate" in text
    assert re.search(r"^USER 10001", text, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/threadgate"]' in text and 'CMD ["serve"]' in text
    server = (ROOT / "crates" / "server" / "Cargo.toml").read_text()
    assert re.search(r'\[\[bin\]\]\s*name = "threadgate"', server), "the workspace builds a `threadgate` binary"
