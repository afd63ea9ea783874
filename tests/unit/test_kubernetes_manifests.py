"""ops/kubernetes: the core manifests validate against the Kubernetes schemas (offline, from
kubernetes-validate), the KEDA objects carry what KEDA requires and name the consumer group
and topic the code uses, and the pieces fit: probes on /health, secrets from the Secret as
files in FRAUD_SECRETS_DIR, budgets and Service selecting the Deployments' pods."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fraud.application.stream.pipeline import STAGE_TOPICS, STAGES, stage_consumers
from fraud.domain.ports import Topic
from fraud.secret_files import SECRET_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "ops" / "kubernetes"
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
KUSTOMIZATION = ("kustomize.config.k8s.io/v1beta1", "Kustomization")
KAFKA_TRIGGER_REQUIRED = ("bootstrapServers", "consumerGroup", "topic", "lagThreshold")


def documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, document)
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        doc for _, doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    return found


def pod_specs() -> list[dict[str, Any]]:
    specs = []
    for _, doc in documents():
        if doc["kind"] in ("Deployment", "Job"):
            specs.append(doc["spec"]["template"]["spec"])
        elif doc["kind"] == "CronJob":
            specs.append(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return specs


@pytest.mark.parametrize(
    ("source", "document"),
    [
        (source, document)
        for source, document in documents()
        if (document["apiVersion"], document["kind"]) not in CUSTOM_KINDS | {KUSTOMIZATION}
    ],
    ids=lambda value: (
        value if isinstance(value, str) else f"{value['kind']}/{value['metadata']['name']}"
    ),
)
def test_each_core_manifest_validates_against_the_kubernetes_schema(
    source: str, document: dict[str, Any]
) -> None:
    version = kubernetes_validate.utils.latest_version()
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as invalid:
        pytest.fail(f"{source}: {invalid.message} at {'.'.join(map(str, invalid.path))}")


def test_the_kustomization_lists_every_manifest_but_the_secrets_example() -> None:
    (kustomization,) = [doc for _, doc in documents() if doc["kind"] == "Kustomization"]
    listed = set(kustomization["resources"])
    on_disk = {path.name for path in MANIFESTS.glob("*.yaml")}
    assert listed == on_disk - {"kustomization.yaml", "secret.example.yaml"}


def test_the_scaled_object_names_the_group_and_topic_the_workers_consume() -> None:
    scaled = one("ScaledObject", "fraud-worker")
    worker = one("Deployment", "fraud-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    stage = container["args"][container["args"].index("--stage") + 1]
    # `--stage all` is the pass of every stage where the code has one, else all three.
    stages = [stage] if stage in STAGE_TOPICS else list(STAGES)
    consumed = {(c.group, topic) for c in stage_consumers(stages) for topic in c.topics}
    settings = one("ConfigMap", "fraud-settings")["data"]

    spec = scaled["spec"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert spec["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["triggers"]
    for trigger in spec["triggers"]:
        assert trigger["type"] == "kafka"
        metadata = trigger["metadata"]
        assert all(metadata.get(field) for field in KAFKA_TRIGGER_REQUIRED), metadata
        assert int(metadata["lagThreshold"]) > 0
        assert metadata["bootstrapServers"] == settings["FRAUD_KAFKA_BOOTSTRAP"]
        assert (metadata["consumerGroup"], metadata["topic"]) in consumed
        mechanism = settings["FRAUD_KAFKA_SASL_MECHANISM"]  # SCRAM-SHA-512 is scram_sha512
        assert metadata["sasl"] == mechanism.lower().replace("-", "_").replace("sha_", "sha")
        assert (metadata["tls"] == "enable") == settings["FRAUD_KAFKA_SECURITY_PROTOCOL"].endswith(
            "SSL"
        )
        auth = one("TriggerAuthentication", trigger["authenticationRef"]["name"])
        assert {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]} == {
            "username",
            "password",
        }
    topics = {trigger["metadata"]["topic"] for trigger in spec["triggers"]}
    assert Topic.TRANSACTIONS in topics  # the pipeline's entry: where a backlog shows first


def test_the_trigger_reads_credentials_the_secret_holds() -> None:
    secret = one("Secret", "fraud-secrets")
    auth = one("TriggerAuthentication", "fraud-kafka")
    for reference in auth["spec"]["secretTargetRef"]:
        assert reference["name"] == secret["metadata"]["name"]
        assert reference["key"] in secret["stringData"]


def test_secrets_come_from_the_secret_as_files_and_settings_from_the_configmap() -> None:
    secret = one("Secret", "fraud-secrets")
    settings = one("ConfigMap", "fraud-settings")["data"]
    # FRAUD_SECRETS_DIR reads each FRAUD_ key (and refuses one it does not know); it leaves
    # the others (the setup Job's admin-password) alone.
    settings_in_secret = {key for key in secret["stringData"] if key.startswith("FRAUD_")}
    assert settings_in_secret <= set(SECRET_SETTINGS)
    assert {"FRAUD_DATABASE_URL", "FRAUD_ARCHIVE_KEY", "FRAUD_KAFKA_SASL_PASSWORD"} <= set(
        secret["stringData"]
    )
    assert not set(settings) & set(SECRET_SETTINGS), "a secret in the ConfigMap"
    for spec in pod_specs():
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        for container in spec["containers"]:
            assert {"configMapRef": {"name": "fraud-settings"}} in container["envFrom"]
            assert "env" not in container, "settings belong in the ConfigMap, secrets in files"
            mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
            mount = mounts[settings["FRAUD_SECRETS_DIR"]]
            assert volumes[mount["name"]]["secret"]["secretName"] == secret["metadata"]["name"]
            assert mount["readOnly"] is True
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_the_api_is_probed_on_health_and_served_on_the_images_port() -> None:
    api = one("Deployment", "fraud-api")
    service = one("Service", "fraud-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    exposed = re.search(r"^EXPOSE (\d+)", (ROOT / "Containerfile").read_text(), re.MULTILINE)
    assert exposed
    port = int(exposed.group(1))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
        assert ports[container[probe]["httpGet"]["port"]] == port
    assert str(port) in container["args"]
    assert ports[service["spec"]["ports"][0]["targetPort"]] == port
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]


def test_the_workers_are_probed_and_scraped_on_their_probe_port() -> None:
    (container,) = one("Deployment", "fraud-worker")["spec"]["template"]["spec"]["containers"]
    template = one("Deployment", "fraud-worker")["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = container["args"]
    host, _, port = args[args.index("--probes") + 1].rpartition(":")
    assert host == "0.0.0.0" and int(port) == ports["probes"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "probes"}
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["probes"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_each_disruption_budget_selects_a_deployments_pods() -> None:
    budgets = [doc for _, doc in documents() if doc["kind"] == "PodDisruptionBudget"]
    deployments = {
        doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"]
        for _, doc in documents()
        if doc["kind"] == "Deployment"
    }
    covered = set()
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"]
        matched = [
            name for name, labels in deployments.items() if selector.items() <= labels.items()
        ]
        assert len(matched) == 1, (budget["metadata"]["name"], matched)
        covered.update(matched)
    assert covered == set(deployments)
