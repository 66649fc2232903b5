#!/usr/bin/env python3
"""What `docker compose up` would run for one service of a compose file, as `podman run` options.

    python3 .ci/compose-run.py COMPOSE_FILE SERVICE DATA_DIR PREFIX

Prints JSON: {"options": [...], "command": [...], "ports": [container ports], "build": bool,
"depends_on": {service: condition}, "image": str}. podman-compose (Debian 1.0.3) cannot build these
files here (the build stage needs the Swift image, the sidecar pulls docker-mailserver), so the
container tests run each service through this: the settings file, environment, hostname, volumes,
stop grace period and command come from the compose file; relative host paths are placed under
DATA_DIR, named volumes become podman volumes named PREFIX-NAME (filled from the image, as
Docker's are). Ports are reported, not published: the tests run on the host network of a private
namespace, where the container's ports are the namespace's.
"""
import json
import os
import re
import sys

import yaml


def seconds(duration):
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    if not match:
        raise SystemExit("compose-run: unsupported duration %r" % duration)
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def volume_option(spec, base, data_dir, prefix, named):
    parts = spec.split(":")
    source, rest = parts[0], parts[1:]
    if source.startswith("./") or source.startswith("../"):
        source = os.path.normpath(os.path.join(data_dir, os.path.relpath(os.path.join(base, source), base)))
        os.makedirs(source, exist_ok=True)
    elif not source.startswith("/"):
        if source not in named:
            raise SystemExit("compose-run: volume %r is not declared under volumes:" % source)
        source = prefix + "-" + source
    return ["--volume", ":".join([source] + rest)]


def main():
    path, name, data_dir, prefix = sys.argv[1:5]
    base = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        compose = yaml.safe_load(f)
    service = compose["services"][name]
    named = set((compose.get("volumes") or {}).keys())
    options = []
    env_files = service.get("env_file", [])
    for env_file in [env_files] if isinstance(env_files, str) else env_files:
        options += ["--env-file", os.path.join(base, env_file)]
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    for key, value in environment.items():
        options += ["--env", "%s=%s" % (key, value)]
    if "hostname" in service:
        options += ["--hostname", service["hostname"]]
    for spec in service.get("volumes", []):
        options += volume_option(spec, base, data_dir, prefix, named)
    if "stop_grace_period" in service:
        options += ["--stop-timeout", str(seconds(service["stop_grace_period"]))]
    ports = sorted(int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports", []))
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        depends = {d: "service_started" for d in depends}
    else:
        depends = {d: (v or {}).get("condition", "service_started") for d, v in depends.items()}
    command = service.get("command") or []
    print(json.dumps({"options": options, "command": command if isinstance(command, list) else command.split(),
                      "ports": ports, "build": "build" in service, "depends_on": depends,
                      "image": service.get("image", "")}))


if __name__ == "__main__":
    main()
