"""The container set-up: compose services, health checks, volumes, nginx and the image."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
APP_ENV = ("PAGEMILL_REDIS_URL", "PAGEMILL_DATABASE_URL", "PAGEMILL_STORAGE_DIR")
S3_ENV = ("PAGEMILL_S3_ENDPOINT_URL", "PAGEMILL_S3_PUBLIC_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
          "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")  # fmt: skip


def compose() -> dict[str, Any]:
    """The compose model, from `docker compose config` when the plugin exists, else the file."""
    if shutil.which("docker"):
        result = subprocess.run(
            ["docker", "compose", "config", "--format", "json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode == 0:
            model: dict[str, Any] = yaml.safe_load(result.stdout)
            return model
    with (ROOT / "docker-compose.yml").open() as fh:
        model = yaml.safe_load(fh)
    return model


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_has_every_role_with_a_health_check() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "minio", "bucket", "migrate", "api", "worker", "nginx"} <= set(
        services
    )
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no health check"
        if "python" in test:
            script, role = test[test.index("python") + 1 :][:2]
            assert (ROOT / script).is_file()
            assert role in ("api", "worker", "migrated")


def test_api_and_worker_share_the_image_settings_and_bucket_but_no_disk() -> None:
    model = compose()
    services = model["services"]
    api, worker, migrate = services["api"], services["worker"], services["migrate"]
    assert api["image"] == worker["image"] == migrate["image"]
    assert command_of(api)[:3] == ["serve", "--host", "0.0.0.0"]  # noqa: S104
    assert command_of(worker) == ["worker"]
    assert command_of(migrate) == ["migrate"]
    assert api["deploy"]["replicas"] == 2
    for service in (api, worker, migrate):
        env = service["environment"]
        assert all(env.get(name) for name in APP_ENV)
        assert env["PAGEMILL_DATABASE_URL"].startswith("postgres://")
        assert env["PAGEMILL_REDIS_URL"].startswith("redis://")
        assert env["PAGEMILL_STORAGE_URL"] == "s3://pagemill"
        assert all(env.get(name) for name in S3_ENV)
        assert env["PAGEMILL_S3_ENDPOINT_URL"] == "http://minio:9000"
        # Browsers follow presigned URLs: they are signed for the published MinIO port.
        assert env["PAGEMILL_S3_PUBLIC_ENDPOINT_URL"] == "http://localhost:9000"
        assert not service.get("volumes")  # scratch is private: nothing shared on disk
    assert {"minio-data", "pgdata"} <= set(model["volumes"])
    assert any("pgdata" in str(v) for v in services["postgres"]["volumes"])


def test_minio_holds_the_bucket_before_api_and_workers_start() -> None:
    services = compose()["services"]
    minio, bucket = services["minio"], services["bucket"]
    assert any("minio-data" in str(v) for v in minio["volumes"])
    assert (
        minio["environment"]["MINIO_ROOT_USER"]
        == services["api"]["environment"]["AWS_ACCESS_KEY_ID"]
    )
    published = [str(p.get("published")) if isinstance(p, dict) else p for p in minio["ports"]]
    assert any(p.startswith("9000") for p in published)
    assert "mc mb --ignore-existing local/pagemill" in " ".join(command_of(bucket))
    assert bucket["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["bucket"]["condition"] == "service_completed_successfully"


def test_workers_scale_and_start_after_migrations() -> None:
    services = compose()["services"]
    worker = services["worker"]
    # A fixed name or host port would make `--scale worker=N` fail.
    assert "container_name" not in worker and "ports" not in worker
    assert "ports" not in services["api"]
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_nginx_balances_api_replicas_and_upgrades_websockets() -> None:
    nginx = compose()["services"]["nginx"]
    mounted = [
        str(v["source"] if isinstance(v, dict) else v.split(":")[0]) for v in nginx["volumes"]
    ]
    assert any(m.endswith("deploy/nginx.conf") for m in mounted)
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server api:8000" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_http_version 1.1;" in conf


def test_image_runs_pagemill_as_a_user_with_the_project_policy() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert lines[[i for i, line in enumerate(lines) if line.startswith("FROM")][0]] == (
        "FROM python:3.11-slim-bookworm"
    )
    text = "\n".join(lines)
    for package in ("imagemagick", "ghostscript", "libmagickwand-dev"):
        assert package in text
    assert "uv sync --frozen" in text
    assert "deploy/install-policy.sh tasks/sandbox/policy/policy.xml" in text
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["pagemill"]' in text


def test_policy_install_step_replaces_the_target_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.xml"
    policy.write_text("<policymap/>\n")
    target = tmp_path / "etc-policy.xml"
    result = subprocess.run(
        [str(ROOT / "deploy" / "install-policy.sh"), str(policy), str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The copy lands; ImageMagick does not read a file outside its search path, so the
    # step refuses to call that a success.
    assert target.read_text() == "<policymap/>\n"
    assert result.returncode == 1
    assert "does not read" in result.stderr


def run_health(role: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), role],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_health_checks_follow_the_database_state(tmp_path: Path) -> None:
    env = {"PAGEMILL_DATABASE_URL": f"sqlite://{tmp_path / 'db.sqlite3'}", "PAGEMILL_PORT": "9"}
    assert run_health("migrated", env).returncode == 1
    migrated = subprocess.run(
        [sys.executable, "-m", "models.migrate", "apply"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert run_health("migrated", env).returncode == 0
    assert run_health("worker", env).returncode == 1  # no heartbeat from this host
    assert run_health("api", env).returncode == 1  # nothing serves on port 9
