#!/usr/bin/env python3
"""Static checks of deploy/: the Kubernetes manifests, the Dockerfile and the systemd units.

    check_deploy.py kubernetes|kustomize|dockerfile|systemd --source-dir DIR --binary-dir DIR
                    --weftd PATH [--weftctl PATH] [--kubectl PATH]

Each suite is a unittest run; the exit status is 0 when it passes, 1 when it fails, and 77
(ctest's SKIP_RETURN_CODE) when the systemd suite cannot run because systemd-analyze is not
installed. The kubernetes suite checks the manifest files, the kustomize suite runs the same
checks on what `kubectl kustomize deploy/kubernetes` renders (it fails if kubectl is missing).
Needs Debian's python3-yaml (deploy/build.sh installs it).

For other tests (import check_deploy; nothing here needs the command line):
  manifest_documents(directory), kustomize_documents(kubectl, directory): the Kubernetes objects
      as parsed YAML documents, from the manifest files or rendered by kubectl.
  weftd_container_security(documents): the weftd container's user, group, read-only root,
      capabilities, privilege escalation, seccomp and volume mounts (config, tokens, /tmp) in
      the Deployment among `documents`, as a dict; the container test runs weftd with these.
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import yaml
except ImportError:  # Fail with the fix, not a traceback.
    sys.exit("check_deploy.py: python3-yaml is missing: bash deploy/build.sh deps")

ARGS = None  # The parsed command line, for the test cases.

# Health service names that are not listeners: the overall status and the control service.
NON_LISTENER_HEALTH_SERVICES = {"", "weft.control.v1.Control"}
# `docker stop` waits this long before SIGKILL unless told otherwise.
DOCKER_STOP_TIMEOUT_S = 10


# --- helpers ------------------------------------------------------------------------------

def source_path(*parts):
    return os.path.join(ARGS.source_dir, *parts)


def read(*parts):
    with open(source_path(*parts), encoding="utf-8") as f:
        return f.read()


_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|[{}:;,\[\]<>]|[^\s{}:;,\[\]<>"#]+')


def parse_textproto(text):
    """Parses Protobuf text format into {field: [values]}; messages become nested dicts.

    Enough for weftd's config (scalars, strings, nested and repeated messages); weftd's own
    --check-config is the authority on validity.
    """
    tokens = [t for t in _TOKEN.findall(text) if t.strip() and not t.startswith("#")]
    pos = 0

    def message(closing):
        nonlocal pos
        fields = {}
        while pos < len(tokens) and tokens[pos] != closing:
            name = tokens[pos]
            pos += 1
            if tokens[pos] == ":":
                pos += 1
            if tokens[pos] in ("{", "<"):
                end = "}" if tokens[pos] == "{" else ">"
                pos += 1
                value = message(end)
                pos += 1
            else:
                raw = tokens[pos]
                pos += 1
                value = (bytes(raw[1:-1], "utf-8").decode("unicode_escape")
                         if raw.startswith('"') else raw)
            fields.setdefault(name, []).append(value)
            if pos < len(tokens) and tokens[pos] in (",", ";"):
                pos += 1
        return fields

    return message(None)


def first(fields, name, default=None):
    values = fields.get(name)
    return values[0] if values else default


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration, default=0.0):
    """A config duration ("500ms", "1m30s") in seconds; empty gives `default`."""
    if not duration:
        return default
    if duration == "0":
        return 0.0
    parts = _DURATION_PART.findall(duration)
    if "".join(n + u for n, u in parts) != duration:
        raise ValueError("not a duration: %r" % duration)
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


class WeftdConfig:
    """The facts the manifests must agree with, from one weftd config text."""

    def __init__(self, text):
        self.text = text
        fields = parse_textproto(text)
        control = first(fields, "control", {})
        self.control_address = first(control, "address", "127.0.0.1:7070")
        self.control_port = int(self.control_address.rsplit(":", 1)[1])
        self.drain_delay = seconds(first(control, "drain_delay"))
        self.token_files = [first(t, "token_file") for t in control.get("tokens", [])]
        admin = first(fields, "admin", None)
        self.admin_address = first(admin, "address", "") if admin is not None else ""
        self.admin_port = int(self.admin_address.rsplit(":", 1)[1]) if self.admin_address else None
        self.listeners = {}
        for listener in fields.get("listeners", []):
            self.listeners[first(listener, "name")] = {
                "address": first(listener, "address", "127.0.0.1"),
                "port": int(first(listener, "port", "0")),
                # weftd's default drain_timeout is 30s.
                "drain_timeout": seconds(first(listener, "drain_timeout"), 30.0),
            }
        self.longest_drain = max((l["drain_timeout"] for l in self.listeners.values()),
                                 default=0.0)


def check_config_with_weftd(test, text, name):
    with tempfile.NamedTemporaryFile("w", suffix=".textproto", prefix=name + "-") as f:
        f.write(text)
        f.flush()
        result = subprocess.run([ARGS.weftd, "--check-config", f.name],
                                capture_output=True, text=True, timeout=60)
    test.assertEqual(result.returncode, 0,
                     "%s fails weftd --check-config:\n%s" % (name, result.stderr))


class Dockerfile:
    """deploy/Dockerfile split into stages of (instruction, argument) with continuations."""

    def __init__(self, text):
        self.stages = {}
        logical, current = [], ""
        for line in text.splitlines():
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1] + " "
                continue
            logical.append(current + line)
            current = ""
        stage = None
        for line in logical:
            instruction, _, argument = line.strip().partition(" ")
            instruction = instruction.upper()
            argument = " ".join(argument.split())
            if instruction == "FROM":
                match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", argument, re.IGNORECASE)
                stage = match.group(2) or match.group(1)
                self.stages[stage] = [("FROM", match.group(1))]
            else:
                self.stages[stage].append((instruction, argument))
        self.final = stage

    def args(self, stage, instruction):
        return [a for i, a in self.stages[stage] if i == instruction]


def manifest_files(directory):
    """The YAML files in `directory` but the kustomization, sorted."""
    return sorted(f for f in os.listdir(directory)
                  if f.endswith((".yaml", ".yml")) and not f.startswith("kustomization"))


def manifest_documents(directory):
    """The documents of every manifest file in `directory`, as `kubectl apply -f` reads them."""
    documents = []
    for name in manifest_files(directory):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            documents += [d for d in yaml.safe_load_all(f) if d is not None]
    return documents


def kustomize_documents(kubectl, directory):
    """The documents `kubectl kustomize directory` renders: what `kubectl apply -k` sends.

    Raises AssertionError with kubectl's message when it cannot render.
    """
    result = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        raise AssertionError("%s kustomize %s failed (exit %d):\n%s" %
                             (kubectl, directory, result.returncode, result.stderr))
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


def objects_by_kind_and_name(documents):
    """{(kind, name): document}; a (kind, name) twice is an error."""
    objects = {}
    for document in documents:
        key = (document["kind"], document["metadata"]["name"])
        assert key not in objects, "%s/%s appears twice" % key
        objects[key] = document
    return objects


def weftd_container_security(documents):
    """The weftd container's security settings in the Deployment among `documents`.

    Returns a dict: user, group (runAsUser and runAsGroup, the container's over the pod's; None
    when left to the image), fs_group, run_as_non_root, read_only_root_filesystem,
    allow_privilege_escalation, capabilities_drop and capabilities_add (lists), seccomp_profile
    (its type), mounts ({mountPath: {"read_only": bool, "memory": bool}}, memory meaning a
    memory-backed emptyDir, i.e. a tmpfs), and config_dir, tokens_dir and tmp_dir: the mount
    paths weftd reads its config from (the ConfigMap's volume), reads its token files from (the
    config's token_file directory) and uses as TMPDIR. Raises AssertionError if the Deployment,
    the weftd container or one of those three mounts is missing.
    """
    objects = objects_by_kind_and_name(documents)
    deployments = [d for (kind, _), d in objects.items() if kind == "Deployment"]
    assert len(deployments) == 1, "expected one Deployment, found %d" % len(deployments)
    pod = deployments[0]["spec"]["template"]["spec"]
    weftd, = [c for c in pod["containers"] if c["name"] == "weftd"]
    pod_security = pod.get("securityContext", {})
    security = weftd.get("securityContext", {})
    merged = dict(pod_security, **security)
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {}
    config_dir = None
    for mount in weftd.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        mounts[mount["mountPath"]] = {
            "read_only": mount.get("readOnly", False),
            "memory": volume.get("emptyDir", {}).get("medium") == "Memory",
        }
        if "configMap" in volume:
            config_dir = mount["mountPath"]
    configmaps = [d for (kind, _), d in objects.items() if kind == "ConfigMap"]
    assert len(configmaps) == 1, "expected one ConfigMap, found %d" % len(configmaps)
    (_, text), = configmaps[0]["data"].items()
    token_dirs = {os.path.dirname(t) for t in WeftdConfig(text).token_files}
    assert len(token_dirs) == 1, "token files in %d directories" % len(token_dirs)
    env = {e["name"]: e.get("value") for e in weftd.get("env", [])}
    result = {
        "user": merged.get("runAsUser"),
        "group": merged.get("runAsGroup"),
        "fs_group": pod_security.get("fsGroup"),
        "run_as_non_root": merged.get("runAsNonRoot", False),
        "read_only_root_filesystem": security.get("readOnlyRootFilesystem", False),
        "allow_privilege_escalation": security.get("allowPrivilegeEscalation", True),
        "capabilities_drop": security.get("capabilities", {}).get("drop", []),
        "capabilities_add": security.get("capabilities", {}).get("add", []),
        "seccomp_profile": merged.get("seccompProfile", {}).get("type"),
        "mounts": mounts,
        "config_dir": config_dir,
        "tokens_dir": token_dirs.pop(),
        "tmp_dir": env.get("TMPDIR", "/tmp"),
    }
    for role in ("config_dir", "tokens_dir", "tmp_dir"):
        assert result[role] in mounts, "weftd has no volume mounted for its %s (%s)" % (
            role, result[role])
    return result


def kustomization():
    with open(source_path("deploy", "kubernetes", "kustomization.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


# --- Kubernetes ---------------------------------------------------------------------------

class KubernetesChecks:
    """The consistency checks of the Kubernetes objects, on the documents a subclass's
    documents() gives: the manifest files, or what kubectl renders from the kustomization."""

    @classmethod
    def documents(cls):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.objects = objects_by_kind_and_name(cls.documents())
        _, cls.deployment = cls.only("Deployment")
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.weftd = next(c for c in cls.pod["containers"] if c["name"] == "weftd")
        _, configmap = cls.only("ConfigMap")
        cls.configmap = configmap
        mount = next(m for m in cls.weftd["volumeMounts"]
                     if cls.volume(m["name"]).get("configMap", {}).get("name") ==
                     configmap["metadata"]["name"])
        cls.config_mount = mount
        (key, text), = configmap["data"].items()
        cls.config_key = key
        cls.config = WeftdConfig(text)

    @classmethod
    def only(cls, kind):
        found = [(name, obj) for (k, name), obj in cls.objects.items() if k == kind]
        assert len(found) == 1, "expected one %s, found %d" % (kind, len(found))
        return found[0]

    @classmethod
    def volume(cls, name):
        return next(v for v in cls.pod["volumes"] if v["name"] == name)

    def all_containers(self):
        return self.pod.get("initContainers", []) + self.pod["containers"]

    def container_port(self, name_or_number):
        for port in self.weftd["ports"]:
            if name_or_number in (port["name"], port["containerPort"]):
                return port["containerPort"]
        self.fail("no container port %r on weftd" % (name_or_number,))

    def test_every_object_is_labelled_and_no_secret_is_among_them(self):
        for (kind, name), obj in self.objects.items():
            self.assertIn("apiVersion", obj, "%s/%s" % (kind, name))
            self.assertIn("app.kubernetes.io/name", obj["metadata"].get("labels", {}),
                          "%s/%s" % (kind, name))
        kinds = {kind for kind, _ in self.objects}
        self.assertLessEqual({"Deployment", "ConfigMap", "Service", "PodDisruptionBudget"}, kinds)
        self.assertNotIn("Secret", kinds, "tokens never come from git (deploy/README.md, Deploy)")

    def test_the_config_passes_weftd_check_config(self):
        check_config_with_weftd(self, self.config.text, "configmap")

    def test_the_config_is_mounted_where_the_image_reads_it(self):
        image_config = self.image_config_path()
        self.assertEqual(os.path.join(self.config_mount["mountPath"], self.config_key),
                         image_config)
        self.assertNotIn("args", self.weftd, "the image's command already reads the config")
        self.assertNotIn("command", self.weftd)

    @staticmethod
    def image_config_path():
        docker = Dockerfile(read("deploy", "Dockerfile"))
        cmd = yaml.safe_load(docker.args(docker.final, "CMD")[-1])
        return cmd[cmd.index("--config") + 1]

    def test_ports_agree_between_config_container_services_and_probes(self):
        config = self.config
        self.assertTrue(config.control_address.startswith("0.0.0.0:"),
                        "kubelet's gRPC probes connect to the pod IP")
        container_ports = {p["containerPort"] for p in self.weftd["ports"]}
        listener_ports = {l["port"] for l in config.listeners.values()}
        self.assertEqual(container_ports,
                         listener_ports | {config.control_port, config.admin_port} - {None})
        for listener in config.listeners.values():
            self.assertEqual(listener["address"], "0.0.0.0", "listeners must take pod-IP traffic")

        services = {name: obj for (kind, name), obj in self.objects.items()
                    if kind == "Service"}
        headless = [s for s in services.values() if s["spec"].get("clusterIP") == "None"]
        data = [s for s in services.values() if s["spec"].get("clusterIP") != "None"]
        self.assertEqual(len(headless), 1, "one headless Service for the control port")
        self.assertEqual(len(data), 1, "one Service for the data port")
        self.assertEqual([self.container_port(p["targetPort"]) for p in headless[0]["spec"]["ports"]],
                         [config.control_port])
        self.assertEqual({self.container_port(p["targetPort"]) for p in data[0]["spec"]["ports"]},
                         listener_ports)

        for probe in ("readinessProbe", "livenessProbe"):
            self.assertIn("grpc", self.weftd[probe], "%s must be a native gRPC probe" % probe)
            self.assertEqual(self.weftd[probe]["grpc"]["port"], config.control_port, probe)

        docker = Dockerfile(read("deploy", "Dockerfile"))
        exposed = {int(p.split("/")[0]) for a in docker.args(docker.final, "EXPOSE")
                   for p in a.split()}
        self.assertLessEqual(container_ports, exposed, "the image EXPOSEs every port used")

    def test_prometheus_scrapes_the_admin_port_by_annotation(self):
        config = self.config
        self.assertIsNotNone(config.admin_port, "the config needs an admin block for /metrics")
        self.assertTrue(config.admin_address.startswith("0.0.0.0:"),
                        "Prometheus scrapes the pod IP")
        self.assertTrue(config.token_files, "a published admin endpoint needs tokens")
        annotations = self.deployment["spec"]["template"]["metadata"].get("annotations", {})
        self.assertEqual(annotations.get("prometheus.io/scrape"), "true")
        self.assertEqual(annotations.get("prometheus.io/port"), str(config.admin_port))
        self.assertEqual(annotations.get("prometheus.io/path"), "/metrics")
        self.assertEqual(self.container_port("admin"), config.admin_port,
                         "a port named admin, for a ServiceMonitor or PodMonitor")

    def test_probe_services_are_listener_names(self):
        readiness = self.weftd["readinessProbe"]["grpc"].get("service", "")
        self.assertIn(readiness, self.config.listeners,
                      "readiness must follow a listener: SERVING only while it accepts")
        liveness = self.weftd["livenessProbe"]["grpc"].get("service", "")
        self.assertIn(liveness, set(self.config.listeners) | NON_LISTENER_HEALTH_SERVICES)

    def test_the_drain_fits_in_the_grace_period(self):
        config = self.config
        grace = self.pod["terminationGracePeriodSeconds"]
        self.assertGreater(config.drain_delay, 0, "the drain needs a delay before closing")
        self.assertLess(config.drain_delay + config.longest_drain, grace)
        readiness = self.weftd["readinessProbe"]
        detection = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
        self.assertLess(detection, config.drain_delay,
                        "readiness must fail before the listener stops accepting")
        self.assertFalse(self.pod.get("shareProcessNamespace", False),
                         "the preStop signals PID 1, which must be weftd")
        command = " ".join(self.weftd["lifecycle"]["preStop"]["exec"]["command"])
        self.assertIn("kill -TERM 1", command)
        self.assertRegex(command, r"while kill -0 1\b", "the hook must wait for weftd to exit")
        strategy = self.deployment["spec"]["strategy"]["rollingUpdate"]
        self.assertEqual(strategy["maxUnavailable"], 0)

    def test_every_container_is_locked_down_and_bounded(self):
        pod_security = self.pod.get("securityContext", {})
        for container in self.all_containers():
            name = container["name"]
            security = container.get("securityContext", {})
            merged = dict(pod_security, **security)
            self.assertIs(merged.get("runAsNonRoot"), True, name)
            self.assertNotEqual(merged.get("runAsUser", 1), 0, name)
            self.assertIs(security.get("readOnlyRootFilesystem"), True, name)
            self.assertIs(security.get("allowPrivilegeEscalation"), False, name)
            self.assertEqual(security.get("capabilities", {}).get("drop"), ["ALL"], name)
            self.assertNotIn("add", security.get("capabilities", {}), name)
            self.assertEqual(merged.get("seccompProfile", {}).get("type"), "RuntimeDefault", name)
            for bound in ("requests", "limits"):
                self.assertLessEqual({"cpu", "memory"},
                                     set(container.get("resources", {}).get(bound, {})),
                                     "%s: resources.%s" % (name, bound))

    def test_selectors_match_the_pods(self):
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        self.assertGreaterEqual(self.deployment["spec"]["replicas"], 3)
        selectors = [self.deployment["spec"]["selector"]["matchLabels"]]
        for (kind, name), obj in self.objects.items():
            if kind == "Service":
                selectors.append(obj["spec"]["selector"])
            elif kind == "PodDisruptionBudget":
                selectors.append(obj["spec"]["selector"]["matchLabels"])
                spec = obj["spec"]
                if "minAvailable" in spec:
                    self.assertLess(spec["minAvailable"], self.deployment["spec"]["replicas"])
                else:
                    self.assertGreaterEqual(spec["maxUnavailable"], 1)
        for selector in selectors:
            self.assertTrue(selector)
            self.assertLessEqual(selector.items(), labels.items())

    def test_tokens_reach_weftd_owner_only_from_the_secret(self):
        config = self.config
        self.assertTrue(config.token_files, "a pod-IP control plane needs tokens")
        mounts = {m["mountPath"]: m for m in self.weftd["volumeMounts"]}
        token_dirs = {os.path.dirname(t) for t in config.token_files}
        self.assertEqual(len(token_dirs), 1)
        token_dir = token_dirs.pop()
        self.assertIn(token_dir, mounts, "token files must be on a mounted volume")
        tokens_volume = self.volume(mounts[token_dir]["name"])
        self.assertEqual(tokens_volume.get("emptyDir", {}).get("medium"), "Memory")

        # The Secret: created by the operator with deploy/README.md's command, one key per
        # token file.
        secret_volumes = [v for v in self.pod["volumes"] if "secret" in v]
        self.assertEqual(len(secret_volumes), 1)
        secret_volume = secret_volumes[0]
        self.assertEqual(secret_volume["secret"]["defaultMode"] & 0o077, 0)
        name, keys = readme_secret_command()
        self.assertEqual(secret_volume["secret"]["secretName"], name)
        self.assertEqual(keys, {os.path.basename(t) for t in config.token_files})

        # The init container copies the Secret's files into the token volume.
        init, = self.pod["initContainers"]
        init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
        self.assertEqual(init_mounts[mounts[token_dir]["name"]], token_dir)
        script = " ".join(init["command"])
        self.assertIn("umask 077", script)
        for token in config.token_files:
            self.assertIn(os.path.join(init_mounts[secret_volume["name"]],
                                       os.path.basename(token)), script)
        self.assertEqual(init["image"], self.weftd["image"])

    def test_weftd_container_security_is_the_images_user_locked_down(self):
        # What the container test runs weftd with; the image's USER must be the same user.
        # With a read-only root, weftd's TMPDIR must be a writable volume: its gRPC server
        # listens on a private unix socket there, behind the control gateway.
        security = weftd_container_security(self.objects.values())
        docker = Dockerfile(read("deploy", "Dockerfile"))
        user, = docker.args(docker.final, "USER")
        self.assertEqual("%s:%s" % (security["user"], security["group"]), user)
        self.assertTrue(security["run_as_non_root"])
        self.assertTrue(security["read_only_root_filesystem"])
        self.assertFalse(security["allow_privilege_escalation"])
        self.assertEqual(security["capabilities_drop"], ["ALL"])
        self.assertEqual(security["capabilities_add"], [])
        self.assertEqual(security["seccomp_profile"], "RuntimeDefault")
        mounts = security["mounts"]
        self.assertEqual(security["config_dir"], os.path.dirname(self.image_config_path()))
        self.assertEqual(mounts[security["config_dir"]], {"read_only": True, "memory": False})
        self.assertEqual(mounts[security["tokens_dir"]], {"read_only": True, "memory": True})
        self.assertEqual(mounts[security["tmp_dir"]], {"read_only": False, "memory": True})


def readme_secret_command():
    """The Secret name and keys of the `create secret generic` command in deploy/README.md."""
    text = read("deploy", "README.md")
    match = re.search(r"create secret generic (\S+)((?:[^\n]*\\\n)*[^\n]*)", text)
    assert match, "deploy/README.md has no `kubectl create secret generic` command"
    keys = set(re.findall(r"--from-(?:literal|file)=(\w+)=", match.group(2)))
    return match.group(1), keys


class KubernetesManifestTest(KubernetesChecks, unittest.TestCase):
    """The manifest files as `kubectl apply -f` would send them."""

    @classmethod
    def documents(cls):
        return manifest_documents(source_path("deploy", "kubernetes"))

    def test_the_kustomization_lists_every_manifest_once(self):
        self.assertEqual(sorted(kustomization()["resources"]),
                         manifest_files(source_path("deploy", "kubernetes")))


# What `kubectl apply -k deploy/kubernetes` creates.
KUSTOMIZED_OBJECTS = {
    ("Deployment", "weft"),
    ("ConfigMap", "weft-config"),
    ("Service", "weft"),
    ("Service", "weft-control"),
    ("PodDisruptionBudget", "weft"),
}


class KustomizeRenderTest(KubernetesChecks, unittest.TestCase):
    """What the real `kubectl kustomize deploy/kubernetes` renders, as `kubectl apply -k` would
    send it: the same checks, plus the object list and the image reference."""

    @classmethod
    def documents(cls):
        return kustomize_documents(ARGS.kubectl, source_path("deploy", "kubernetes"))

    def test_it_renders_exactly_the_expected_objects(self):
        self.assertEqual(set(self.objects), KUSTOMIZED_OBJECTS)

    def test_every_container_runs_the_image_of_this_version(self):
        version = re.search(r"^project\(weft VERSION (\S+)", read("CMakeLists.txt"),
                            re.MULTILINE).group(1)
        for container in self.all_containers():
            self.assertEqual(container["image"], "weft:" + version, container["name"])


# --- Dockerfile ---------------------------------------------------------------------------

def build_sh_release_commands():
    """What `deploy/build.sh run` executes before starting weftd, as argv lists, from the
    script's own text: install_deps, then configure_and_build for the release flavour."""
    script = read("deploy", "build.sh")
    run_case = re.search(r"^\s*run\)\n(.*?);;", script, re.MULTILINE | re.DOTALL).group(1)
    steps = [line.strip() for line in run_case.splitlines() if line.strip()]
    assert steps[0] == "install_deps", steps
    call = shlex.split(steps[1])
    assert call[0] == "configure_and_build" and "--" not in call, steps[1]
    flavour, build_type, extra_args = call[1], call[2], call[3:]
    body = re.search(r"^configure_and_build\(\) \{\n(.*?)^\}", script,
                     re.MULTILINE | re.DOTALL).group(1)
    variables = {"$root": ".", "$dir": "build/" + flavour, "$type": build_type}
    commands = [["bash", "deploy/build.sh", "deps"]]
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("cmake"):
            continue
        argv = []
        for word in shlex.split(line):
            if word == "${args[@]}":  # The extra cmake arguments of the call.
                argv += extra_args
                continue
            # The release flavour builds every target of its configuration.
            if word in ("$@", "${targets[@]}", ">/dev/null"):
                continue
            for name, value in variables.items():
                word = word.replace(name, value)
            argv.append(word)
        commands.append(argv)
    return commands


def readme_build_commands():
    """The commands in deploy/README.md between the build-commands markers."""
    text = read("deploy", "README.md")
    block = re.search(r"<!-- build-commands -->\s*```sh\n(.*?)```", text, re.DOTALL)
    assert block, "deploy/README.md has no <!-- build-commands --> block"
    return [shlex.split(line) for line in block.group(1).splitlines()
            if line.strip() and not line.startswith("#")]


class DockerfileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.docker = Dockerfile(read("deploy", "Dockerfile"))

    def test_the_build_stage_runs_the_readme_install_and_build_commands(self):
        stage = self.docker.stages["build"]
        self.assertEqual(stage[0], ("FROM", "debian:12"))
        dockerfile = [shlex.split(a) for a in self.docker.args("build", "RUN")]
        self.assertEqual(dockerfile, readme_build_commands())
        self.assertEqual(dockerfile, build_sh_release_commands(),
                         "deploy/build.sh's release build changed: update the Dockerfile and "
                         "deploy/README.md")
        self.assertIn("bash deploy/build.sh", read("README.md"))

    def test_the_runtime_stage_is_slim_unprivileged_and_drains_on_sigterm(self):
        final = self.docker.final
        self.assertEqual(self.docker.stages[final][0], ("FROM", "debian:12-slim"))
        user, = self.docker.args(final, "USER")
        uid = user.split(":")[0]
        self.assertTrue(uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid")
        self.assertEqual(self.docker.args(final, "STOPSIGNAL"), ["SIGTERM"])
        entrypoint = yaml.safe_load(self.docker.args(final, "ENTRYPOINT")[-1])
        self.assertEqual(entrypoint, ["/usr/local/bin/weftd"], "exec form: weftd is PID 1")
        for _, argument in self.docker.stages[final]:
            self.assertNotIn("build-essential", argument)
            self.assertNotIn("-dev", argument)

    def test_the_baked_in_config_is_valid_and_matches_the_exposed_ports(self):
        final = self.docker.final
        copies = [a.split() for a in self.docker.args(final, "COPY") if "--from" not in a]
        config_copy, = [c for c in copies if c[0] == "deploy/weftd.textproto"]
        self.assertEqual(config_copy[1], KubernetesManifestTest.image_config_path())
        text = read("deploy", "weftd.textproto")
        check_config_with_weftd(self, text, "image config")
        config = WeftdConfig(text)
        exposed = {int(p.split("/")[0]) for a in self.docker.args(final, "EXPOSE")
                   for p in a.split()}
        self.assertEqual(exposed, {l["port"] for l in config.listeners.values()} |
                         {config.control_port, config.admin_port} - {None})
        self.assertLess(config.drain_delay + config.longest_drain, DOCKER_STOP_TIMEOUT_S,
                        "a plain `docker stop` must not cut the drain short")

    def test_the_copied_binaries_are_where_cmake_builds_them(self):
        final = self.docker.final
        copied = [a.split() for a in self.docker.args(final, "COPY") if a.startswith("--from=build")]
        sources = {os.path.basename(c[1]): c[1] for c in copied}
        binaries = {"weftd": ARGS.weftd}
        if ARGS.weftctl:
            binaries["weftctl"] = ARGS.weftctl
        self.assertEqual(set(sources), set(binaries),
                         "the Dockerfile copies binaries this build does not make, or misses one")
        for name, built in binaries.items():
            relative = os.path.relpath(built, ARGS.binary_dir)
            self.assertEqual(sources.get(name), "/src/build/release/" + relative)

    def test_the_runtime_packages_provide_every_library_weftd_links(self):
        final = self.docker.final
        installed = set()
        for run in self.docker.args(final, "RUN"):
            for command in run.split("&&"):
                words = command.split()
                if "apt-get" in words and "install" in words:
                    installed |= {w for w in words[words.index("install") + 1:]
                                  if not w.startswith("-")}
        self.assertTrue(installed)
        binaries = [ARGS.weftd] + ([ARGS.weftctl] if ARGS.weftctl else [])
        for binary in binaries:
            for package in sorted(runtime_packages(binary)):
                self.assertIn(package, installed,
                              "%s links a library from %s" % (binary, package))


_SANITIZER_RUNTIMES = re.compile(r"^lib(asan|tsan|ubsan|lsan)\d*$")


def runtime_packages(binary):
    """The Debian packages that provide the shared libraries `binary` loads."""
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libraries = {}  # The resolved path -> the paths dpkg may know it by.
    for line in ldd.splitlines():
        match = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if match:
            path = os.path.realpath(match.group(1))
            # Merged /usr: dpkg may know /usr/lib/x/libc.so.6 as /lib/x/libc.so.6.
            libraries[path] = {path, path[len("/usr"):] if path.startswith("/usr/") else path}
    # One dpkg-query for every path (it is slow per call); unknown paths only go to stderr.
    query = subprocess.run(["dpkg-query", "-S"] + sorted(set().union(*libraries.values())),
                           capture_output=True, text=True)
    owner = {}
    for line in query.stdout.splitlines():
        packages, _, path = line.partition(": ")
        if not path or packages.startswith("diversion by"):
            continue
        owner[path.strip()] = packages.split(",")[0].split(":")[0].strip()
    packages = set()
    for path, names in libraries.items():
        found = [owner[name] for name in names if name in owner]
        if not found:
            raise AssertionError("no Debian package provides %s (linked by %s)" % (path, binary))
        if not _SANITIZER_RUNTIMES.match(found[0]):  # Sanitizer test builds only.
            packages.add(found[0])
    return packages


# --- systemd ------------------------------------------------------------------------------

def unit_settings(text):
    """{key: [values]} of a unit file (all sections)."""
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


class SystemdUnitTest(unittest.TestCase):
    UNIT = "weftd.service"
    SOCKET = "weftd.socket"

    @classmethod
    def setUpClass(cls):
        cls.text = read("deploy", "systemd", cls.UNIT)
        cls.settings = unit_settings(cls.text)
        cls.socket_settings = unit_settings(read("deploy", "systemd", cls.SOCKET))
        # systemd-analyze verify checks that ExecStart's program exists, so it runs against a
        # scratch root holding the units, systemd's own units, and weftd where the unit wants it.
        cls.root = tempfile.mkdtemp(prefix="weft-systemd-")
        unit_dir = os.path.join(cls.root, "etc", "systemd", "system")
        os.makedirs(unit_dir)
        for unit in (cls.UNIT, cls.SOCKET):
            shutil.copy(source_path("deploy", "systemd", unit), unit_dir)
        for system_units in ("/usr/lib/systemd/system", "/lib/systemd/system"):
            if os.path.isdir(system_units):
                shutil.copytree(system_units,
                                os.path.join(cls.root, "usr", "lib", "systemd", "system"),
                                symlinks=True)
                break
        for command in cls.settings["ExecStart"] + cls.settings.get("ExecStartPre", []):
            program = shlex.split(command.lstrip("-@:+!"))[0]
            target = os.path.join(cls.root, program.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                shutil.copy(ARGS.weftd, target)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                              timeout=60)

    def test_the_units_pass_systemd_analyze_verify(self):
        # --man=no: whether man(1) and the pages named in Documentation= are installed on the
        # machine running the test says nothing about the unit (minimal images have neither).
        result = self.analyze("verify", "--man=no", "--root=" + self.root, self.UNIT,
                              self.SOCKET)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # verify exits 0 even for unknown keys or unparsable values: any word about a unit is
        # a problem.
        complaints = [l for l in (result.stdout + result.stderr).splitlines()
                      if self.UNIT in l or self.SOCKET in l]
        self.assertEqual(complaints, [])

    def test_the_service_notifies_readiness_from_weftd_itself(self):
        self.assertEqual(self.settings.get("Type"), ["notify"])
        self.assertEqual(self.settings.get("NotifyAccess"), ["main"])

    def test_the_socket_is_the_default_configs_listener_of_its_name(self):
        # weftd refuses a socket whose name is no listener's, or whose address differs.
        self.assertEqual(self.socket_settings.get("Service"), [self.UNIT])
        [name] = self.socket_settings["FileDescriptorName"]
        default = subprocess.run([ARGS.weftd, "--print-default-config"], capture_output=True,
                                 text=True, check=True).stdout
        listeners = WeftdConfig(default).listeners
        self.assertIn(name, listeners)
        self.assertEqual(self.socket_settings["ListenStream"],
                         ["%s:%d" % (listeners[name]["address"], listeners[name]["port"])])

    def test_the_unit_is_hardened(self):
        expected = {
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "PrivateTmp": "yes",
            "PrivateDevices": "yes",
            "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
            "CapabilityBoundingSet": "",
            "KillSignal": "SIGTERM",
        }
        for key, value in expected.items():
            self.assertEqual(self.settings.get(key), [value], key)
        self.assertTrue(self.settings.get("DynamicUser") == ["yes"] or
                        self.settings.get("User", ["root"]) != ["root"])
        # The exposure score of `systemd-analyze security`, 0 (locked down) to 10 (none);
        # the threshold is in tenths.
        result = self.analyze("security", "--offline=yes", "--root=" + self.root,
                              "--threshold=20", self.UNIT)
        self.assertEqual(result.returncode, 0, result.stdout[-2000:] + result.stderr)

    def test_the_stop_timeout_outlasts_the_default_drain(self):
        default = subprocess.run([ARGS.weftd, "--print-default-config"], capture_output=True,
                                 text=True, check=True).stdout
        config = WeftdConfig(default)
        timeout = seconds(self.settings["TimeoutStopSec"][0])
        self.assertGreater(timeout, config.drain_delay + config.longest_drain)
        self.assertEqual(self.settings.get("KillMode"), ["mixed"])

    def test_the_sysusers_file_creates_the_units_user(self):
        if shutil.which("systemd-sysusers") is None:
            self.skipTest("systemd-sysusers is not installed")
        root = tempfile.mkdtemp(prefix="weft-sysusers-")
        try:
            os.makedirs(os.path.join(root, "etc"))
            result = subprocess.run(
                ["systemd-sysusers", "--root=" + root,
                 source_path("deploy", "systemd", "weft.sysusers")],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(os.path.join(root, "etc", "passwd"), encoding="utf-8") as f:
                users = {line.split(":")[0] for line in f}
            self.assertIn(self.settings["User"][0], users)
        finally:
            shutil.rmtree(root, ignore_errors=True)


# --- main ---------------------------------------------------------------------------------

SUITES = {
    "kubernetes": KubernetesManifestTest,
    "kustomize": KustomizeRenderTest,
    "dockerfile": DockerfileTest,
    "systemd": SystemdUnitTest,
}


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--binary-dir", required=True)
    parser.add_argument("--weftd", required=True)
    parser.add_argument("--weftctl")
    parser.add_argument("--kubectl", default="kubectl",
                        help="for the kustomize suite: a path, or a name to look up in PATH")
    ARGS = parser.parse_args()
    if ARGS.suite == "kustomize":
        ARGS.kubectl = shutil.which(ARGS.kubectl)
        if ARGS.kubectl is None:
            print("FAILED: kubectl not found: bash deploy/build.sh test installs kubernetes-client")
            return 1
    if ARGS.suite == "systemd" and shutil.which("systemd-analyze") is None:
        print("SKIPPED: systemd-analyze is not installed (Debian package `systemd`); "
              "the unit was not verified")
        return 77
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(SUITES[ARGS.suite])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
