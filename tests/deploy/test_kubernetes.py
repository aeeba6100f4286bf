"""deploy/kubernetes/, checked without a cluster.

Every built-in resource is validated against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict, Kubernetes 1.30). KEDA's and the Prometheus
Operator's resources are custom, and the one PyPI source of their CRD schemas
(cloudcoil's generated models) installs a pytest plugin that needs packages this
suite does not have, so their CRDs' required fields and their cross-references are
checked here one by one. The sweepctl containers' arguments are parsed by the real
click commands, their SWEEPCTL_* variables compared with the names the code reads,
and the controller, exporter and workers run as plain processes with the manifests'
arguments against a test Redis. The redis and sentinel containers' start scripts run
as real redis-server processes (mounts mapped to temporary folders, pod names to
loopback addresses): a master, its replica and a sentinel that fails them over.
"""

from __future__ import annotations

import copy
import functools
import re
import shlex
import signal
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import kubernetes_validate
import pytest
import redis
import yaml

from sweepctl.embedded import EmbeddedRedis, find_redis_server, free_port
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.exporter import scrape
from tests.support.processes import REPO, Processes, child_env, kill_group, wait_for

MANIFESTS = REPO / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30"  # the oldest minor still in the upstream support window when this was written
OPTIONAL = {"keda.yaml", "servicemonitor.yaml"}  # need CRDs: applied on their own
NOT_RESOURCES = {"kustomization.yaml", "secret.example.yaml"}
CUSTOM_GROUPS = ("keda.sh/", "monitoring.coreos.com/")
SECRET_NAME = "sweepctl-redis"
# What an operator puts in the Secret (URL-safe, as the README asks).
TEST_SECRET = {
    "controller-password": "test-controller-pw.4f2a~9",
    "worker-password": "test-worker-pw.4f2a~9",
    "exporter-password": "test-exporter-pw.4f2a~9",
    "replica-password": "test-replica-pw.4f2a~9",
    "sentinel-password": "test-sentinel-pw.4f2a~9",
    "sentinel-clients-password": "test-sentinel-clients-pw.4f2a~9",
    "worker-username": "worker",
}
SWEEPCTL_IMAGE_DEFAULT = re.compile(r"\$\{SWEEPCTL_IMAGE:-(?P<image>[^}]+)\}")
VAR_REFERENCE = re.compile(r"\$\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)")


# ---- reading the manifests ----------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name not in NOT_RESOURCES)


@functools.cache
def _parsed(path: Path) -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML has it: the files are read often
    return tuple(doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc)


def load(path: Path) -> list[dict[str, Any]]:
    """The documents of one file, a fresh copy for each caller (a test may change its copy)."""
    return copy.deepcopy(list(_parsed(path)))


def resources() -> list[dict[str, Any]]:
    return [doc for path in manifest_files() for doc in load(path)]


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def secret_example() -> dict[str, Any]:
    (secret,) = load(MANIFESTS / "secret.example.yaml")
    return secret


def workloads() -> list[dict[str, Any]]:
    return [r for r in resources() if r["kind"] in ("Deployment", "StatefulSet")]


def containers() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) for every container of every workload."""
    return [(w, c) for w in workloads() for c in w["spec"]["template"]["spec"]["containers"]]


@functools.cache
def compose_image() -> str:
    """The image compose.yaml builds from deploy/Dockerfile, as named when SWEEPCTL_IMAGE is unset."""
    match = SWEEPCTL_IMAGE_DEFAULT.search((REPO / "compose.yaml").read_text())
    assert match, "compose.yaml names no ${SWEEPCTL_IMAGE:-...} image"
    return match["image"]


def is_sweepctl(container: Mapping[str, Any]) -> bool:
    return bool(container["image"] == compose_image())


def sweepctl_containers() -> dict[str, dict[str, Any]]:
    return {w["metadata"]["name"]: c for w, c in containers() if is_sweepctl(c)}


def option_value(args: list[str], option: str) -> str | None:
    return args[args.index(option) + 1] if option in args else None


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: names defined earlier in the container's env are replaced."""
    return VAR_REFERENCE.sub(lambda m: env.get(m["name"], m[0]), value)


def container_env(container: Mapping[str, Any], secret: Mapping[str, str], pod_name: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it: in order, Secret and field references resolved."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = expand(str(item["value"]), env)
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET_NAME, item
            env[item["name"]] = secret[ref["key"]]
        elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = pod_name
        elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[item["name"]] = namespace()
        else:
            raise AssertionError(f"no model here for {item}")
    return env


@functools.cache
def namespace() -> str:
    """The namespace kustomization.yaml puts everything in."""
    return str(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["namespace"])


def env_names_the_code_reads() -> set[str]:
    """Every SWEEPCTL_* name the settings modules define, and every CLI option's envvar."""
    from sweepctl import local_store, settings, worker_settings
    from sweepctl.cli import cli

    names = {
        value
        for module in (settings, worker_settings, local_store)
        for key, value in vars(module).items()
        if key.endswith("_ENV") and isinstance(value, str)
    }

    def walk(command: click.Command) -> None:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(cli)
    return names


# ---- the files ----------------------------------------------------------------------------


def test_kustomization_applies_every_manifest_but_the_optional_ones_and_the_secret() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    # Then it lists every resource file except those that need CRDs, and never the example Secret
    assert set(kustomization["resources"]) == {p.name for p in manifest_files()} - OPTIONAL
    assert "secret.example.yaml" not in kustomization["resources"]
    # And the namespace it puts everything in is the one namespace.yaml creates
    assert find("Namespace", kustomization["namespace"])


def test_every_builtin_resource_validates_against_the_kubernetes_schema() -> None:
    checked = []
    for path in [*manifest_files(), MANIFESTS / "secret.example.yaml"]:
        for doc in load(path):
            if doc["apiVersion"].startswith(CUSTOM_GROUPS):
                continue
            # Strict: an unknown or misspelt field fails, as `kubectl apply --validate=strict` does
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            checked.append(f"{doc['kind']}/{doc['metadata']['name']}")
    assert {"StatefulSet/redis", "StatefulSet/sentinel", "Deployment/controller", "Deployment/worker-gpu"} <= set(checked)
    assert {"Deployment/worker-cpu", "Deployment/exporter", "Service/exporter", "ConfigMap/redis-config", "Secret/sweepctl-redis"} <= set(
        checked
    )


def test_the_schema_check_catches_a_misspelt_field() -> None:
    # Given a valid Deployment with one field misspelt
    broken = find("Deployment", "controller")
    broken["spec"]["template"]["spec"]["containers"][0]["argz"] = ["controller"]
    # Then the validator refuses it (the check above can fail)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_selector_matches_its_pod_template_and_every_service_its_pods() -> None:
    for workload in workloads():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        # Then each workload's selector selects its own pods
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items(), workload["metadata"]["name"]
    pods = [w["spec"]["template"]["metadata"]["labels"] for w in workloads()]
    for service in (r for r in resources() if r["kind"] == "Service"):
        # And every Service selects the pods of exactly one workload
        chosen = [p for p in pods if service["spec"]["selector"].items() <= p.items()]
        assert len(chosen) == 1, service["metadata"]["name"]
    # And every disruption budget covers the pods of exactly one workload
    for budget in (r for r in resources() if r["kind"] == "PodDisruptionBudget"):
        chosen = [p for p in pods if budget["spec"]["selector"]["matchLabels"].items() <= p.items()]
        assert len(chosen) == 1, budget["metadata"]["name"]
    # And the network policy guards the redis and sentinel pods, and lets every sweepctl pod in
    policy = find("NetworkPolicy", "redis")
    guarded = {e["values"][0] if len(e["values"]) == 1 else tuple(e["values"]) for e in policy["spec"]["podSelector"]["matchExpressions"]}
    assert ("redis", "sentinel") in guarded and "sweepctl" in guarded
    (rule,) = policy["spec"]["ingress"]
    allowed = [peer["podSelector"]["matchLabels"] for peer in rule["from"] if "podSelector" in peer]
    assert all(any(a.items() <= p.items() for a in allowed) for p in pods)
    # And each StatefulSet's governing Service exists and is headless (pod names: redis-0.redis)
    for workload in (w for w in workloads() if w["kind"] == "StatefulSet"):
        assert find("Service", workload["spec"]["serviceName"])["spec"]["clusterIP"] == "None"


# ---- images, commands, environment ----------------------------------------------------------


def test_every_image_is_ours_or_a_pinned_official_redis() -> None:
    compose_redis = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["redis"]["image"]
    for workload, container in containers():
        name = f"{workload['metadata']['name']}/{container['name']}"
        if is_sweepctl(container):
            # Then sweepctl's containers run the image compose builds from deploy/Dockerfile, with its ENTRYPOINT
            assert "command" not in container, f"{name}: `args` only: the image's ENTRYPOINT is sweepctl"
        else:
            # And the others run the official redis image, pinned to a release of compose's major version
            match = re.fullmatch(r"redis:(\d+)\.\d+\.\d+", container["image"])
            assert match, f"{name}: {container['image']} is neither {compose_image()} nor a pinned redis:X.Y.Z"
            assert f"redis:{match[1]}" == compose_redis, name
    assert set(sweepctl_containers()) == {"controller", "worker-gpu", "worker-cpu", "exporter"}


def test_every_sweepctl_container_args_are_accepted_by_the_cli() -> None:
    from sweepctl.cli import cli

    for name, container in sweepctl_containers().items():
        args = [str(a) for a in container["args"]]
        # When click parses the arguments as `sweepctl ARGS` (values converted to their types)
        group = cli.make_context("sweepctl", list(args), resilient_parsing=False)
        command = cli.get_command(group, args[0])
        # Then the subcommand exists and takes every option and value given
        assert command is not None, name
        command.make_context(args[0], args[1:], parent=group)
    # And a wrong option would have been refused (the check can fail)
    with pytest.raises(click.UsageError):
        worker = cli.get_command(cli.make_context("sweepctl", ["worker"]), "worker")
        assert worker is not None
        worker.make_context("worker", ["--gpu", "all"])


def test_every_sweepctl_variable_is_one_the_code_reads_and_every_reference_resolves() -> None:
    known = env_names_the_code_reads()
    assert {"SWEEPCTL_REDIS_URL", "SWEEPCTL_PRELOAD", "SWEEPCTL_SHUTDOWN_GRACE"} <= known  # the lookup finds them
    for workload, container in containers():
        defined: list[str] = []
        for item in container.get("env") or []:
            name = item["name"]
            # Then a SWEEPCTL_* variable is one sweepctl reads (a typo would be silently ignored)
            if name.startswith("SWEEPCTL_"):
                assert name in known, f"{workload['metadata']['name']}: {name} is read by nothing"
            # And a $(VAR) reference names a variable defined before it (Kubernetes expands only those)
            for reference in VAR_REFERENCE.findall(str(item.get("value", ""))):
                assert reference in defined, f"{workload['metadata']['name']}: {name} uses $({reference}) before it is defined"
            defined.append(name)
        # And every Secret key a container reads is in the example Secret
        for item in container.get("env") or []:
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == SECRET_NAME and ref["key"] in secret_example()["stringData"], item


def test_each_role_logs_in_as_its_own_acl_user_with_its_own_password() -> None:
    acl_users = {line.split()[1] for line in (REPO / "deploy/redis/users.acl").read_text().splitlines() if line.strip()}
    roles = {}
    for name, container in sweepctl_containers().items():
        url = urlsplit(container_env(container, TEST_SECRET, f"{name}-0")["SWEEPCTL_REDIS_URL"])
        # Then the URL names the role's ACL user and carries that user's password from the Secret
        assert url.username in acl_users and url.username != "default", name
        assert url.password == TEST_SECRET[f"{url.username}-password"], name
        # And it reaches Redis through the three sentinels, master `mymaster`, database 0
        assert url.scheme == "redis+sentinel", name
        assert url.netloc.split("@")[1] == "sentinel-0.sentinel:26379,sentinel-1.sentinel:26379,sentinel-2.sentinel:26379"
        assert url.path == "/mymaster/0", name
        # And it gives the sentinels their own password
        assert url.query == f"sentinel_password={TEST_SECRET['sentinel-clients-password']}", name
        roles[name] = url.username
    assert roles == {"controller": "controller", "worker-gpu": "worker", "worker-cpu": "worker", "exporter": "exporter"}
    # And the example Secret holds placeholders only, which Redis refuses (test_redis_refuses_the_example_secret)
    passwords = {k: v for k, v in secret_example()["stringData"].items() if k.endswith("-password")}
    assert passwords and all(v == f"CHANGE-ME-{k}" for k, v in passwords.items()), passwords


def test_every_redis_url_parses_as_sweepctl_takes_it() -> None:
    # Given each sweepctl container's URL with the example Secret's values substituted
    for name, container in sweepctl_containers().items():
        example = {k: str(v) for k, v in secret_example()["stringData"].items()}
        url = container_env(container, example, f"{name}-0")["SWEEPCTL_REDIS_URL"]
        # Then sweepctl's settings take it: the role's ACL user, through the three sentinels, waiting for a replica
        parsed = RedisSettings.from_url(url).parsed
        assert parsed.sentinel is not None, (name, url)
        assert len(parsed.sentinel.addresses) == 3 and parsed.sentinel.master_name == "mymaster", parsed.sentinel
        assert parsed.sentinel.password == example["sentinel-clients-password"], "the sentinels ask for a password of their own"
        assert parsed.username == ("worker" if name.startswith("worker") else name)
        assert parsed.password == example[f"{parsed.username}-password"]
        assert parsed.replica_wait.replicas >= 1


# ---- roles ---------------------------------------------------------------------------------


def test_the_controller_runs_twice_the_second_a_standby_by_its_ownership_lease() -> None:
    controller = find("Deployment", "controller")
    # Then two replicas run `sweepctl controller` (no --sweep: each may take any live sweep over)
    assert controller["spec"]["replicas"] == 2
    assert sweepctl_containers()["controller"]["args"] == ["controller"]


def test_gpu_workers_take_one_gpu_each_with_compute_and_utility_and_cpu_workers_none() -> None:
    gpu, cpu = sweepctl_containers()["worker-gpu"], sweepctl_containers()["worker-cpu"]
    # Then a GPU worker pod asks the device plugin for exactly one GPU ...
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    # ... runs one worker process for what it sees, which in the pod is that GPU alone ...
    assert option_value(gpu["args"], "--gpus") == "all"
    env = container_env(gpu, TEST_SECRET, "worker-gpu-0")
    # ... with the driver capabilities for CUDA (compute) and NVML (utility) ...
    assert {"compute", "utility"} <= set(env["NVIDIA_DRIVER_CAPABILITIES"].split(","))
    # ... and leaves NVIDIA_VISIBLE_DEVICES to the device plugin (set by hand, it would bypass the allocation)
    assert "NVIDIA_VISIBLE_DEVICES" not in env
    # And a CPU worker uses no GPU and asks for none
    assert option_value(cpu["args"], "--gpus") == "none"
    assert "nvidia.com/gpu" not in cpu["resources"].get("limits", {})
    # And each worker queue is its own, so that each Deployment scales on its own waiting trials
    assert option_value(gpu["args"], "--queues") != option_value(cpu["args"], "--queues")
    # And Kubernetes waits longer than a worker's --grace before it kills a stopping worker pod
    for name in ("worker-gpu", "worker-cpu"):
        args = sweepctl_containers()[name]["args"]
        grace = float(option_value(args, "--grace") or 60)
        assert find("Deployment", name)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= grace + 10


def test_every_pod_runs_unprivileged_with_a_read_only_root_and_bounded_resources() -> None:
    user = [line.split(None, 1)[1] for line in (REPO / "deploy/Dockerfile").read_text().splitlines() if line.startswith("USER ")][-1]
    for workload, container in containers():
        name = f"{workload['metadata']['name']}/{container['name']}"
        pod = workload["spec"]["template"]["spec"]
        # Then no pod runs as root, shares the node's network or gets an API token it does not use
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, name
        assert not pod.get("hostNetwork") and pod.get("automountServiceAccountToken") is False, name
        # And the sweepctl pods run as the image's own user
        if is_sweepctl(container):
            assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == user, name
        # And no container escalates, writes to its image, or keeps a capability
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        # And each asks for CPU and memory, and has a memory limit
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"], name
        # And every path it mounts is a volume of its pod
        volumes = {v["name"] for v in pod.get("volumes", [])} | {
            t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])
        }
        assert {m["name"] for m in container.get("volumeMounts", [])} <= volumes, name


def test_the_exporter_listens_on_the_pod_and_is_scraped_where_it_serves() -> None:
    container = sweepctl_containers()["exporter"]
    args = container["args"]
    service = find("Service", "exporter")
    (container_port,) = container["ports"]
    (service_port,) = service["spec"]["ports"]
    # Then it binds every interface of the pod (it binds loopback unless told)
    assert option_value(args, "--bind") == "0.0.0.0"
    # And its --port is the container port, the Service's target and the scrape annotation's port
    assert option_value(args, "--port") == str(container_port["containerPort"]) == service["metadata"]["annotations"]["prometheus.io/port"]
    assert service_port["targetPort"] == container_port["name"] and service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    # And the probes, the annotation and the ServiceMonitor all read /metrics (served: test_the_sweepctl_containers_...)
    path = service["metadata"]["annotations"]["prometheus.io/path"]
    assert path == container["readinessProbe"]["httpGet"]["path"] == container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    monitor = find("ServiceMonitor", "sweepctl")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == path and endpoint["port"] == service_port["name"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # And the ServiceMonitor names the job "sweepctl", the job deploy/prometheus' alert rules select
    job = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"][0]["job_name"]
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == job == "sweepctl"
    # And the scrape timeout leaves the exporter's --scrape-deadline time to answer
    assert float(endpoint["scrapeTimeout"].rstrip("s")) > 5.0


# ---- KEDA ----------------------------------------------------------------------------------


def scaled_objects() -> dict[str, dict[str, Any]]:
    return {r["spec"]["scaleTargetRef"]["name"]: r for r in load(MANIFESTS / "keda.yaml") if r["kind"] == "ScaledObject"}


# The fields of KEDA's ScaledObject CRD (v1alpha1) and of the scalers' metadata that these manifests may use,
# from KEDA's documentation (ScaledObject specification; redis-sentinel and prometheus scalers, KEDA 2.16).
SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
ADVANCED = {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig", "scalingModifiers"}
SCALING_MODIFIERS = {"formula", "target", "activationTarget", "metricType"}
TRIGGER = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
SCALER_METADATA = {
    "redis-sentinel": {
        "addresses",
        "addressesFromEnv",
        "hosts",
        "ports",
        "sentinelMaster",
        "sentinelMasterFromEnv",
        "usernameFromEnv",
        "passwordFromEnv",
        "listName",
        "listLength",
        "activationListLength",
        "enableTLS",
        "unsafeSsl",
        "databaseIndex",
    },
    "prometheus": {"serverAddress", "query", "threshold", "activationThreshold", "namespace", "ignoreNullValues", "unsafeSsl"},
}


def test_keda_resources_use_only_fields_keda_knows() -> None:
    for target, scaled in scaled_objects().items():
        spec = scaled["spec"]
        # Then the ScaledObject's fields are the CRD's (a misspelt one would be dropped by the API server)
        assert set(spec) <= SCALED_OBJECT_SPEC, target
        assert set(spec.get("advanced", {})) <= ADVANCED and set(spec["advanced"].get("scalingModifiers", {})) <= SCALING_MODIFIERS
        for trigger in spec["triggers"]:
            # And each trigger's, and its scaler's metadata, are what KEDA reads (metadata values are strings)
            assert set(trigger) <= TRIGGER and set(trigger["metadata"]) <= SCALER_METADATA[trigger["type"]], trigger
            assert all(isinstance(value, str) for value in trigger["metadata"].values()), trigger
        # And the HPA settings KEDA passes on are a valid HorizontalPodAutoscaler's (the Kubernetes schema, strict)
        hpa_config = spec["advanced"]["horizontalPodAutoscalerConfig"]
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}, "maxReplicas": 1, **hpa_config},
        }
        kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)


def test_keda_resources_have_the_fields_their_crds_require() -> None:
    # (Not validated against the CRD schemas, see the module docstring: these are the fields the CRDs require.)
    docs = load(MANIFESTS / "keda.yaml")
    auths = {d["metadata"]["name"]: d for d in docs if d["kind"] == "TriggerAuthentication"}
    assert {d["kind"] for d in docs} == {"TriggerAuthentication", "ScaledObject"}
    for auth in auths.values():
        assert auth["apiVersion"] == "keda.sh/v1alpha1"
        for ref in auth["spec"]["secretTargetRef"]:
            # Then each secret reference names a parameter the redis scalers take and a key of our Secret
            assert ref["parameter"] in {"username", "password", "sentinelPassword"} and ref["name"] == SECRET_NAME, ref
            assert ref["key"] in secret_example()["stringData"], ref
    assert set(scaled_objects()) == {"worker-gpu", "worker-cpu"}
    for target, scaled in scaled_objects().items():
        spec = scaled["spec"]
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        # Then it scales a Deployment of ours, within bounds
        assert find("Deployment", target) and spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        assert 0 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        names = []
        for trigger in spec["triggers"]:
            assert {"type", "metadata"} <= set(trigger), trigger
            names.append(trigger.get("name"))
            if trigger["type"] == "redis-sentinel":
                meta = trigger["metadata"]
                # And the Redis trigger reads through the sentinels the pods use, as the worker user, by
                # names that resolve from KEDA's own namespace too
                assert {"addresses", "sentinelMaster", "listName", "listLength"} <= set(meta), meta
                url = container_env(sweepctl_containers()[target], TEST_SECRET, f"{target}-0")["SWEEPCTL_REDIS_URL"]
                pods_use = urlsplit(url).netloc.split("@")[1].split(",")
                assert meta["addresses"].split(",") == [
                    f"{host}.{namespace()}.svc:{port}" for host, port in (a.rsplit(":", 1) for a in pods_use)
                ]
                assert meta["sentinelMaster"] == urlsplit(url).path.split("/")[1]
                assert meta["databaseIndex"] == urlsplit(url).path.split("/")[2]
                assert trigger["authenticationRef"]["name"] in auths
                assert int(meta["listLength"]) >= 1
        # And a formula names only the triggers there are
        modifiers = spec.get("advanced", {}).get("scalingModifiers")
        if modifiers:
            assert set(re.findall(r"[A-Za-z_]\w*", modifiers["formula"])) <= set(names), modifiers
            assert {"target", "metricType"} <= set(modifiers)


def test_keda_watches_the_queues_the_workers_consume_and_the_busy_gpus_of_its_pods() -> None:
    from metrics.catalog import CATALOG

    for target, scaled in scaled_objects().items():
        (redis_trigger,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "redis-sentinel"]
        # Then each Deployment scales on the list of the one queue its workers consume
        assert option_value(sweepctl_containers()[target]["args"], "--queues") == redis_trigger["metadata"]["listName"], target
    # And the GPU workers' busy trigger counts the exporter's busy series of this Deployment's pods
    (busy,) = [t for t in scaled_objects()["worker-gpu"]["spec"]["triggers"] if t["type"] == "prometheus"]
    series = re.match(r"sum\((\w+)\{(\w+)=~\"([^\"]+)\"\}\)", busy["metadata"]["query"])
    assert series, busy["metadata"]["query"]
    metric = next(m for m in CATALOG if m.name == series[1])
    assert series[2] in metric.labels  # the worker's host name, which in a pod is the pod's name
    assert re.fullmatch(series[3], "worker-gpu-7d9f8b6c5d-x2k4q") and not re.fullmatch(series[3], "worker-cpu-7d9f8b6c5d-x2k4q")


# ---- the sweepctl containers, run as plain processes ------------------------------------------


def test_the_sweepctl_containers_run_with_their_arguments_and_fill_the_lists_keda_watches(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    # Given the test's Redis in place of the sentinel-managed one, and two sweeps: one on the
    # default queue, one on the CPU workers' queue
    store = Store.connect(RedisSettings.from_url(redis_server.url))
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    lists = {target: so["spec"]["triggers"][0]["metadata"]["listName"] for target, so in scaled_objects().items()}
    (tmp_path / "objectives.py").write_text((REPO / "examples" / "objectives.py").read_text())
    files = {}
    for target, queue in (("worker-gpu", None), ("worker-cpu", lists["worker-cpu"])):
        text = (REPO / "examples" / "branin.yaml").read_text().replace("run_cap: 40", "run_cap: 2")
        files[target] = tmp_path / f"{target}.yaml"
        files[target].write_text(text + (f"queue: {queue}\n" if queue else ""))
    manager = Processes(child_env({"SWEEPCTL_REDIS_URL": redis_server.url}), cwd=tmp_path)
    try:
        sweeps = {target: manager.run("submit", str(path), check=True).stdout.strip() for target, path in files.items()}
        exporter_port = free_port()
        containers_ = sweepctl_containers()
        # When the controller runs with its container's arguments (no worker yet)
        manager.start(*containers_["controller"]["args"], log=tmp_path / "controller.log")
        # Then the trials it sends wait in exactly the lists the ScaledObjects watch
        for target, queue in lists.items():
            wait_for(lambda q=queue: client.llen(q) >= 1, 30, f"a trial waiting in {queue!r}")  # type: ignore[misc]
            assert client.type(queue) == b"list"

        # When the exporter runs with its arguments (its port moved: 9839 may be taken here; click keeps the last)
        manager.start(*containers_["exporter"]["args"], "--port", str(exporter_port), log=tmp_path / "exporter.log")
        probe = containers_["exporter"]["readinessProbe"]["httpGet"]["path"]

        def served() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{exporter_port}{probe}", timeout=5) as answer:
                    return bool(answer.status == 200)
            except OSError:
                return False

        # Then its probe path answers, from this Redis
        wait_for(served, 30, f"the exporter's {probe}")
        assert scrape(exporter_port)["sweepctl_exporter_redis_up"][0][1] == 1.0

        # When each worker Deployment's container runs with its arguments
        for target in lists:
            manager.start(*containers_[target]["args"], log=tmp_path / f"{target}.log")
        # Then each takes its own sweep's trials off its list, and both sweeps finish
        for target, sweep_id in sweeps.items():
            wait_for(lambda s=sweep_id: store.sweep_state(s).value == "finished", 90, f"{target}'s sweep to finish")  # type: ignore[misc]
        assert all(client.llen(queue) == 0 for queue in lists.values())
    except AssertionError:
        logs = "\n".join(f"--- {p.name} ---\n{p.read_text(errors='replace')[-2000:]}" for p in tmp_path.glob("*.log"))
        raise AssertionError(logs) from None
    finally:
        manager.close()


# ---- Redis and Sentinel: the ConfigMap and the start scripts, run as plain processes -------------


def acl_rules(text: str) -> dict[str, list[str]]:
    """user -> its rules, passwords left out (the files hold placeholders, the pods the Secret's)."""
    users = {}
    for line in text.splitlines():
        if line.strip():
            _, user, *rules = line.split()
            users[user] = [rule for rule in rules if not rule.startswith(">")]
    return users


def conf_directives(text: str) -> dict[str, str]:
    return {
        line.split(None, 1)[0]: line.split(None, 1)[1] if " " in line.strip() else ""
        for line in map(str.strip, text.splitlines())
        if line and not line.startswith("#")
    }


def config_map() -> dict[str, str]:
    return dict(find("ConfigMap", "redis-config")["data"])


def test_redis_config_keeps_deploy_redis_durability_and_its_acl_roles() -> None:
    shipped = conf_directives((REPO / "deploy/redis/redis.conf").read_text())
    ours = conf_directives(config_map()["redis.conf"])
    # Then the durability and safety settings are the shipped redis.conf's: AOF fsynced every second, no eviction
    for directive in ("appendonly", "appendfsync", "appendfilename", "save", "maxmemory-policy", "protected-mode", "port", "tcp-keepalive"):
        assert ours[directive] == shipped[directive], directive
    assert ours["appendonly"] == "yes" and ours["maxmemory-policy"] == "noeviction"
    # And a memory limit below the container's, so a full Redis refuses writes rather than being killed
    limit = find("StatefulSet", "redis")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert int(ours["maxmemory"].removesuffix("mb")) < int(limit.removesuffix("Gi")) * 1024
    # And the roles of deploy/redis/users.acl, rule for rule, plus replication's and Sentinel's own users
    shipped_users = acl_rules((REPO / "deploy/redis/users.acl").read_text())
    our_users = acl_rules(config_map()["users.acl"])
    for user, rules in shipped_users.items():
        assert our_users[user] == rules, user
    assert set(our_users) - set(shipped_users) == {"replica", "sentinel"}
    # And every user but default has a placeholder password that a Secret key fills
    placeholders = re.findall(r">CHANGE-ME-([a-z]+)-password", config_map()["users.acl"])
    assert sorted(placeholders) == sorted(set(our_users) - {"default"})
    assert {f"{p}-password" for p in placeholders} <= set(secret_example()["stringData"])
    # And the sentinels watch `mymaster`, the master name in every URL, logging in as the sentinel user
    sentinel = config_map()["sentinel.conf"]
    assert re.search(r"^sentinel monitor mymaster redis-0\.redis 6379 2$", sentinel, re.MULTILINE)
    assert "sentinel auth-user mymaster sentinel" in sentinel and "sentinel auth-pass mymaster CHANGE-ME-sentinel-password" in sentinel
    # And they take a password of their own, from clients and from each other
    assert "requirepass CHANGE-ME-sentinel-clients-password" in sentinel
    assert "sentinel sentinel-pass CHANGE-ME-sentinel-clients-password" in sentinel
    assert "sentinel-clients-password" in secret_example()["stringData"]
    for directive in ("sentinel resolve-hostnames yes", "sentinel announce-hostnames yes"):
        assert directive in sentinel


def test_redis_and_sentinel_pods_are_known_by_names_every_namespace_resolves() -> None:
    # Sentinel hands clients the master's name as announced or configured; KEDA's operator asks
    # from its own namespace, where `redis-0.redis` would not resolve.
    for workload in ("redis", "sentinel"):
        (container,) = find("StatefulSet", workload)["spec"]["template"]["spec"]["containers"]
        env = container_env(container, TEST_SECRET, f"{workload}-1")
        suffix = f".{namespace()}.svc"
        # Then the pod's own name, the first master and the sentinels all carry the namespace
        assert env["ANNOUNCE_HOST"] == f"{workload}-1.{workload}{suffix}"
        assert env["REDIS_SEED"] == f"redis-0.redis{suffix}:6379"
        assert env["SENTINELS"].split(",") == [f"sentinel-{i}.sentinel{suffix}:26379" for i in range(3)]
        assert env["MASTER_NAME"] == "mymaster"


@dataclass(frozen=True)
class ScriptRun:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def start_script(workload: str, pod_name: str, root: Path, secret: Mapping[str, str], overrides: Mapping[str, str]) -> ScriptRun:
    """A redis/sentinel container's `sh -ec SCRIPT` with its mounts mapped to folders under `root`."""
    statefulset = find("StatefulSet", workload)
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    root.mkdir(parents=True)
    mapped = {}
    for mount in container["volumeMounts"]:
        folder = root / mount["name"]
        folder.mkdir()
        mapped[mount["mountPath"]] = str(folder)
        source = volumes.get(mount["name"], {}).get("configMap")
        if source:
            data = config_map() if source["name"] == "redis-config" else {}
            for item in source["items"]:
                (folder / item["path"]).write_text(data[item["key"]])

    def remap(text: str) -> str:
        for target in sorted(mapped, key=len, reverse=True):
            text = re.sub(rf"(?<![\w/]){re.escape(target)}(?=/|\b)", mapped[target], text)
        return text

    for folder in mapped.values():
        for path in Path(folder).iterdir():
            path.write_text(remap(path.read_text()))
    command = [remap(part) for part in container["command"]]
    assert command[:2] == ["sh", "-ec"], command
    assert not any(re.search(r"(?<![\w/])/(etc|run)/(redis|sentinel)\b", part) for part in command[2:]), "an unmapped path"
    env = {**child_env(), **container_env(container, secret, pod_name), **overrides}
    env["PATH"] = f"{Path(find_redis_server()).parent}:{env['PATH']}"
    return ScriptRun(command, env, root)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        kill_group(proc.pid, signal.SIGKILL)
        proc.wait(10)


def run_server(run: ScriptRun, args: list[str], started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    log = (run.cwd / "server.log").open("wb")
    proc = subprocess.Popen([*run.argv, *args], env=run.env, cwd=run.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    started.append(proc)
    return proc


def client(port: int, user: str | None = None, password: str | None = None, host: str = "127.0.0.1") -> redis.Redis:
    return redis.Redis(host=host, port=port, username=user, password=password, socket_timeout=5, decode_responses=True)


def answers(port: int, proc: subprocess.Popen[bytes], host: str = "127.0.0.1") -> bool:
    assert proc.poll() is None, f"exited {proc.returncode}: {shlex.join(proc.args)}"  # type: ignore[arg-type]
    try:
        return bool(client(port, "exporter", TEST_SECRET["exporter-password"], host).ping())
    except redis.exceptions.ConnectionError:
        return False


def probe_passes(workload: str, port: int, tmp_path: Path, host: str, secret: Mapping[str, str] = TEST_SECRET) -> bool:
    """Both probes of the workload's container, run as the kubelet runs them, with redis-cli pointed at `host:port`."""
    (container,) = find("StatefulSet", workload)["spec"]["template"]["spec"]["containers"]
    wrapper = tmp_path / f"probe-{workload}-{port}" / "redis-cli"
    wrapper.parent.mkdir(exist_ok=True)
    real = Path(find_redis_server()).with_name("redis-cli")
    # The probes name no port when the pod's default (6379) is meant; a sentinel's name 26379, replaced here
    wrapper.write_text(f'#!/bin/sh\n[ "$1" = -p ] && shift 2\nexec {shlex.quote(str(real))} -h {host} -p {port} "$@"\n')
    wrapper.chmod(0o755)
    env = {**child_env(), **container_env(container, secret, f"{workload}-0"), "PATH": f"{wrapper.parent}:/usr/bin:/bin"}
    results = []
    for probe in ("readinessProbe", "livenessProbe"):
        argv = container[probe]["exec"]["command"]
        results.append(subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False).returncode == 0)
    return all(results)


def test_redis_and_sentinel_start_replicate_and_fail_over_from_their_scripts(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # no sentinel answers there: a first start
    ports = {"redis-0": free_port(), "redis-1": free_port(), "sentinel-0": free_port()}
    # Pods are told apart by address, as their DNS names do in the cluster
    hosts = {"redis-0": "127.0.0.1", "redis-1": "127.0.0.2"}
    bind = ["--bind", "127.0.0.1", "127.0.0.2"]
    seed = f"127.0.0.1:{ports['redis-0']}"

    def redis_pod(pod: str, sentinels: str, folder: str) -> subprocess.Popen[bytes]:
        overrides = {"ANNOUNCE_HOST": hosts[pod], "REDIS_SEED": seed, "SENTINELS": sentinels}
        run = start_script("redis", pod, tmp_path / folder, TEST_SECRET, overrides)
        return run_server(run, ["--port", str(ports[pod]), *bind], started)

    # Given redis-0 and redis-1 started from the StatefulSet's script with no sentinel up yet
    master = redis_pod("redis-0", nobody, "redis-0")
    replica = redis_pod("redis-1", nobody, "redis-1")
    wait_for(lambda: answers(ports["redis-0"], master), 15, "redis-0")
    wait_for(lambda: answers(ports["redis-1"], replica, "127.0.0.2"), 15, "redis-1")
    # Then each role logs in with its password from the Secret, and no one without
    for user in ("controller", "worker", "exporter"):
        assert client(ports["redis-0"], user, TEST_SECRET[f"{user}-password"]).ping(), user
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(ports["redis-0"], "worker", TEST_SECRET["controller-password"]).ping()
    # And redis-0 is the master, redis-1 its replica, logged in as the replication user
    controller = client(ports["redis-0"], "controller", TEST_SECRET["controller-password"])
    controller.set("sweepctl:k8s-test", "1")
    replica_client = client(ports["redis-1"], "controller", TEST_SECRET["controller-password"], "127.0.0.2")
    wait_for(lambda: replica_client.get("sweepctl:k8s-test") == "1", 15, "the write to reach the replica")
    assert controller.info("replication")["role"] == "master"
    # And the readiness and liveness probes pass on a running server (redis-cli pointed at its port, as in the pod)
    for pod in ("redis-0", "redis-1"):
        assert probe_passes("redis", ports[pod], tmp_path, hosts[pod]), pod
    assert not probe_passes("redis", ports["redis-0"], tmp_path, "127.0.0.1", {**TEST_SECRET, "exporter-password": "wrong"})
    # And the append-only file is written to the data volume
    assert (tmp_path / "redis-0" / "data" / "appendonlydir").is_dir()

    # When a sentinel starts from its script
    overrides = {"ANNOUNCE_HOST": "127.0.0.1", "REDIS_SEED": seed, "SENTINELS": nobody}
    sentinel_run = start_script("sentinel", "sentinel-0", tmp_path / "sentinel-0", TEST_SECRET, overrides)
    sentinel_proc = run_server(sentinel_run, ["--port", str(ports["sentinel-0"]), "--bind", "127.0.0.1"], started)
    sentinel = client(ports["sentinel-0"], password=TEST_SECRET["sentinel-clients-password"])

    def watched() -> bool:
        assert sentinel_proc.poll() is None, (tmp_path / "sentinel-0" / "server.log").read_text()
        try:
            state = sentinel.sentinel_master("mymaster")
        except redis.exceptions.ConnectionError:
            return False
        return bool(state["is_master"] and not state["is_disconnected"] and state["num-slaves"] == 1)

    # Then it monitors the master (REDIS_SEED, by the name every namespace resolves: the test's address here)
    # as the sentinel ACL user, and finds the replica through it
    wait_for(watched, 30, "the sentinel to see the master and its replica")
    assert (tmp_path / "sentinel-0" / "run" / "sentinel.conf").read_text().count(TEST_SECRET["sentinel-password"]) == 1
    assert probe_passes("sentinel", ports["sentinel-0"], tmp_path, "127.0.0.1")
    # And it answers no client without its own password
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(ports["sentinel-0"]).sentinel_masters()

    # When it is told to fail over (what it does when the master is lost)
    def failing_over() -> bool:
        try:
            return bool(sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster"))
        except redis.exceptions.ResponseError as exc:  # until the sentinel has read the replica's INFO itself
            assert "NOGOODSLAVE" in str(exc), exc
            return False

    wait_for(failing_over, 30, "the sentinel to start a failover", interval=0.5)
    # Then its ACL user may do all a failover takes: redis-1 becomes the master
    promoted = f"127.0.0.2:{ports['redis-1']}"
    wait_for(lambda: ":".join(map(str, sentinel.sentinel_get_master_addr_by_name("mymaster"))) == promoted, 30, "the failover")
    wait_for(lambda: replica_client.info("replication")["role"] == "master", 30, "redis-1 to be master")

    # When redis-0 restarts (a rescheduled pod) while the sentinels know the new master
    kill_group(master.pid, signal.SIGKILL)
    master.wait(10)
    restarted = redis_pod("redis-0", f"127.0.0.1:{ports['sentinel-0']}", "redis-0-again")
    wait_for(lambda: answers(ports["redis-0"], restarted), 15, "redis-0 again")
    # Then it asks them and comes back as a replica of redis-1, not as a second master
    again = client(ports["redis-0"], "controller", TEST_SECRET["controller-password"])
    wait_for(lambda: again.info("replication").get("master_link_status") == "up", 30, "redis-0 to follow redis-1")
    assert again.info("replication")["role"] == "slave" and again.info("replication")["master_port"] == ports["redis-1"]


@pytest.mark.parametrize("workload", ["redis", "sentinel"])
def test_redis_and_sentinel_refuse_the_example_secret(tmp_path: Path, workload: str) -> None:
    # Given the example Secret as it is, placeholders and all
    example = {k: str(v) for k, v in secret_example()["stringData"].items()}
    run = start_script(workload, f"{workload}-0", tmp_path / workload, example, {"SENTINELS": f"127.0.0.1:{free_port()}"})
    # When the container starts
    done = subprocess.run([*run.argv, "--port", str(free_port())], env=run.env, cwd=run.cwd, capture_output=True, text=True, timeout=30)
    # Then it exits before any server runs, saying what a password must be
    assert done.returncode == 64, done
    assert "CHANGE-ME" in done.stderr and "openssl rand -hex 32" in done.stderr
