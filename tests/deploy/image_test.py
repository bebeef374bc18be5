#!/usr/bin/env python3
"""The container image, run for real with podman (`bash deploy/build.sh test-image`).

    image_test.py --image IMAGE --weftctl PATH --load PATH --source-dir DIR

Runs inside its own network namespace (deploy/build.sh makes it, with loopback up and
net.ipv4.tcp_migrate_req=1) and under deploy/image/with-engine, as root. Every container runs
the way deploy/kubernetes/deployment.yaml runs weftd: its uid, a read-only root file system, no
capabilities, no privilege escalation, the ConfigMap's config and the token files mounted where
the manifests mount them, a small tmpfs on /tmp. Only the addresses (127.0.0.1, free ports) and
the drain timings differ, so that the tests are quick. Containers use the host network (here:
the test's namespace), so that the host's weftctl and load generator reach them on loopback.

The checks:
- the image: size, no compiler, headers or package lists, the OCI labels;
- `weftd --version` and `--check-config` inside it; a bad config exits non-zero and says why;
- a locked-down container serves its listener, the host's weftctl reaches its control plane
  with the operator token, gRPC health and the Dockerfile's HEALTHCHECK say SERVING, and
  `podman stop` drains it with a connection open: still served, health NOT_SERVING, exit 0
  within the grace, the drain logged;
- rolling replacement: five times, under constant load (connect-echo-close loops and
  long-lived ping-pong connections), a new container binds the same data port (SO_REUSEPORT)
  and the old one is stopped: no refused connect, no reset, no wrong or short echo.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # Run as root: leave no root-owned __pycache__ in the checkout.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_deploy  # noqa: E402  (the manifests' parser and the Deployment's security settings)

ARGS = None
# The image must stay at or below this many bytes (uncompressed, as `podman image inspect`).
MAX_IMAGE_BYTES = 120 * 1000 * 1000
# What weftd prints on stdout once it serves.
READY_LINE = re.compile(r"weftd ready control_port=(\d+) admin_port=(\d+) listeners=(\S*)")
# Timings of the test config (the ConfigMap's are 10s and 30s).
DRAIN_DELAY_S = 1
DRAIN_TIMEOUT_S = 20
# The rolling replacement's load: connect-echo-close loops that span the whole replacement, and
# ping-pong connections still open when the old container is stopped. A new container is ready
# in 0.2-3 s here, but once took over 6 s on a loaded CI machine: the ping-pong lasts 12 s (it
# must end within the old one's drain, DRAIN_TIMEOUT_S), the loops 25 s (past the old one's exit).
CONNRATE_S = 25
PINGPONG_S = 12
# podman stop's grace: past it, SIGKILL. Above DRAIN_DELAY_S + DRAIN_TIMEOUT_S, as the
# Deployment's terminationGracePeriodSeconds is above the ConfigMap's delay and timeout.
STOP_GRACE_S = 30
ROLLING_ROUNDS = 5


def podman(*args, check=True, timeout=120, **kwargs):
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                            **kwargs)
    if check and result.returncode != 0:
        raise AssertionError("podman %s failed (%d): %s" % (" ".join(args), result.returncode,
                                                            result.stderr.strip()))
    return result


def wait_until(predicate, timeout_s, what):
    """Polls predicate() until it returns a true value (returned), or fails after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout_s, what))
        time.sleep(0.05)


def reap(process):
    """Kills `process` if it still runs and collects it and its pipes (a test cleanup)."""
    if process.poll() is None:
        process.kill()
    process.communicate()


def refuses_connections(port):
    """True if a connect to 127.0.0.1:port is refused (nothing listens there)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return False
    except ConnectionRefusedError:
        return True


def echo_once(sock, payload):
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(len(payload) - len(received))
        if not chunk:
            raise AssertionError("the connection closed after %d of %d echoed bytes"
                                 % (len(received), len(payload)))
        received += chunk
    if received != payload:
        raise AssertionError("echo mismatch")


class Deployment:
    """What deploy/kubernetes says about the weftd container, and a scratch copy of its config
    and tokens to mount."""

    def __init__(self, scratch):
        documents = check_deploy.manifest_documents(
            check_deploy.source_path("deploy", "kubernetes"))
        self.security = check_deploy.weftd_container_security(documents)
        assert self.security["capabilities_add"] == [], "the test adds no capability"
        assert self.security["seccomp_profile"] == "RuntimeDefault", "podman's default profile"
        configmap, = [d for d in documents if d["kind"] == "ConfigMap"]
        (self.config_name, self.config_text), = configmap["data"].items()
        self.config_file = os.path.join(self.security["config_dir"], self.config_name)
        # The Dockerfile's HEALTHCHECK command (exec form), run in the containers by the tests.
        dockerfile = check_deploy.Dockerfile(check_deploy.read("deploy", "Dockerfile"))
        self.health_command = json.loads(
            dockerfile.args("runtime", "HEALTHCHECK")[0].split("CMD", 1)[1])
        self.scratch = scratch
        self.tokens_dir = os.path.join(scratch, "tokens")
        os.mkdir(self.tokens_dir, 0o500)
        for role in ("operator", "viewer"):
            path = os.path.join(self.tokens_dir, role)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o400), "w") as f:
                f.write(secrets.token_hex(32) + "\n")
            os.chown(path, self.security["user"], self.security["group"])
        os.chown(self.tokens_dir, self.security["user"], self.security["group"])

    def config(self, data_port=0, reuse_port=False):
        """The ConfigMap's config on loopback and the test's timings: the listener on data_port
        (0: an ephemeral one), the control plane and the admin endpoint on ephemeral ports
        (the ready line tells them; a port picked beforehand could be taken meanwhile by one of
        the load's outgoing connections)."""
        text = self.config_text
        replacements = [
            (r'address: "0\.0\.0\.0:7070"', 'address: "127.0.0.1:0"'),
            (r'address: "0\.0\.0\.0:7071"', 'address: "127.0.0.1:0"'),
            (r'address: "0\.0\.0\.0"', 'address: "127.0.0.1"'),
            (r"port: 7007\b",
             "port: %d%s" % (data_port, " reuse_port: true" if reuse_port else "")),
            (r'drain_delay: "\d+s"', 'drain_delay: "%ds"' % DRAIN_DELAY_S),
            (r'drain_timeout: "\d+s"', 'drain_timeout: "%ds"' % DRAIN_TIMEOUT_S),
        ]
        for pattern, replacement in replacements:
            text, count = re.subn(pattern, replacement, text)
            assert count == 1, "the ConfigMap's config has no single %r" % pattern
        return text

    def write_config(self, name, text):
        directory = os.path.join(self.scratch, name)
        os.mkdir(directory)
        path = os.path.join(directory, self.config_name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o444)
        return directory

    def run_args(self, config_dir):
        """podman run's arguments for the manifests' security settings and mounts."""
        s = self.security
        assert s["allow_privilege_escalation"] is False, "no-new-privileges is unconditional"
        args = ["--user", "%d:%d" % (s["user"], s["group"]),
                "--network", "host",
                "--security-opt", "no-new-privileges"]
        for capability in s["capabilities_drop"]:
            args += ["--cap-drop", capability]
        if s["read_only_root_filesystem"]:
            # Only what the manifests mount is writable (podman would add tmpfs on /run, /tmp).
            args += ["--read-only", "--read-only-tmpfs=false"]
        # Memory-backed emptyDirs are tmpfs (1 MiB, as their sizeLimit); the ConfigMap and the
        # tokens (which the init container copies into a tmpfs there) are bind mounts here.
        sources = {s["config_dir"]: config_dir, s["tokens_dir"]: self.tokens_dir}
        for path, mount in sorted(s["mounts"].items()):
            if path in sources:
                args += ["-v", "%s:%s:%s" % (sources[path], path,
                                             "ro" if mount["read_only"] else "rw")]
            elif mount["memory"]:
                args += ["--tmpfs", "%s:rw,size=1m,mode=1777" % path]
            else:
                raise AssertionError("the test does not know how to mount %s" % path)
        return args


class Container:
    """One detached weftd container; stopped and removed by close()."""

    def __init__(self, deployment, name, config_dir):
        self.name = name
        self.user = deployment.security["user"]
        self.group = deployment.security["group"]
        self.health_command = deployment.health_command
        podman("rm", "--force", "--ignore", name)
        self.started = time.monotonic()
        podman("run", "--detach", "--name", name, *deployment.run_args(config_dir), ARGS.image)
        try:
            self.control_port, self.admin_port, self.data_port = wait_until(
                self._ready, 30, "container %s to be ready" % name)
        except BaseException:
            self.close()
            raise
        self.ready_after_s = time.monotonic() - self.started

    def _ready(self):
        logs = self.logs()
        match = READY_LINE.search(logs)
        if match:
            listeners = dict(l.split("=") for l in match.group(3).split(","))
            return int(match.group(1)), int(match.group(2)), int(listeners["echo"])
        if podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() != "true":
            raise AssertionError("container %s exited before it was ready:\n%s" % (self.name, logs))
        return None

    def pid(self):
        """weftd's (the container's PID 1) process id on the host."""
        return podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip()

    def proc(self, name):
        """/proc/PID/NAME of weftd, read from the host."""
        with open("/proc/%s/%s" % (self.pid(), name)) as f:
            return f.read()

    def health_check(self):
        """Runs the Dockerfile's HEALTHCHECK command in the container, as weftd's user, and
        returns its CompletedProcess (exit 0 healthy, 1 unhealthy).

        Through nsenter with weftd's own root directory rather than `podman healthcheck run`:
        OCI images do not carry a HEALTHCHECK, and under a chroot, `podman exec` lands in the
        host's root directory (the mount namespace's root there is not the container's)."""
        return subprocess.run(
            ["nsenter", "--target", self.pid(), "--mount", "--net", "--pid", "--root", "--wd",
             "--setuid", str(self.user), "--setgid", str(self.group),
             "/usr/bin/env", "WEFT_TARGET=127.0.0.1:%d" % self.control_port, *self.health_command],
            capture_output=True, text=True, timeout=30)

    def logs(self):
        result = podman("logs", self.name)
        return result.stdout + result.stderr

    def exit_code(self):
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout)

    def close(self):
        podman("rm", "--force", "--ignore", "--time", "0", self.name, check=False)


def weftctl(*args, token=None, target):
    command = [ARGS.weftctl, "--target", "127.0.0.1:%d" % target, "--timeout", "5s"]
    if token:
        command += ["--token-file", token]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=30)


def accepted_total(control_port, token_file):
    result = weftctl("-o", "json", "server", "echo", token=token_file, target=control_port)
    if result.returncode != 0:
        raise AssertionError("weftctl server echo: %s" % result.stderr)
    target, = json.loads(result.stdout)["targets"]
    return int(target["server"]["acceptedTotal"])


class ImageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.mkdtemp(prefix="weft-image-test.")
        os.chmod(cls.scratch, 0o755)
        cls.deployment = Deployment(cls.scratch)
        cls.operator_token = os.path.join(cls.deployment.tokens_dir, "operator")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def start(self, name, reuse_port=False, data_port=0):
        config = self.deployment.config(data_port, reuse_port)
        container = Container(self.deployment, name,
                              self.deployment.write_config(name + "-config", config))
        self.addCleanup(container.close)
        return container

    def test_the_image_is_small_and_carries_only_the_runtime(self):
        inspect = json.loads(podman("image", "inspect", ARGS.image).stdout)[0]
        size = inspect["Size"]
        print("image %s: %.1f MB" % (ARGS.image, size / 1e6), file=sys.stderr)
        self.assertLessEqual(size, MAX_IMAGE_BYTES)
        leftovers = podman(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", ARGS.image, "-c",
            "for c in cc gcc g++ c++ cpp ld as make cmake ninja protoc; do command -v $c; done;"
            "find /usr/include /usr/local/include -type f 2>/dev/null | head;"
            "find /var/lib/apt/lists /var/cache/apt -type f | head").stdout
        self.assertEqual(leftovers, "", "compilers, headers or package lists in the image")
        labels = inspect["Labels"]
        version = re.search(r"project\(weft VERSION (\S+)",
                            check_deploy.read("CMakeLists.txt")).group(1)
        self.assertEqual(labels.get("org.opencontainers.image.version"), version)
        for key in ("revision", "source"):
            self.assertTrue(labels.get("org.opencontainers.image." + key), key)
        if shutil.which("git"):
            revision = subprocess.run(["git", "-C", ARGS.source_dir, "rev-parse", "HEAD"],
                                      capture_output=True, text=True)
            if revision.returncode == 0:
                self.assertEqual(labels["org.opencontainers.image.revision"],
                                 revision.stdout.strip())

    def test_version_and_check_config_run_inside_it(self):
        config_dir = self.deployment.write_config(
            "check-config", self.deployment.config())
        run = ["run", "--rm", *self.deployment.run_args(config_dir), ARGS.image]
        version = podman(*run, "--version").stdout
        self.assertRegex(version, r"^weftd \d+\.\d+\.\d+")
        podman(*run, "--check-config", self.deployment.config_file)

    def test_a_bad_config_exits_non_zero_and_says_why(self):
        config_dir = self.deployment.write_config(
            "bad-config", 'listeners { name: "echo" port: 99999 handler { name: "echo" } }\n')
        result = podman("run", "--rm", *self.deployment.run_args(config_dir), ARGS.image,
                        check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("port", result.stderr)
        self.assertIn(self.deployment.config_file, result.stderr)

    def test_a_locked_down_container_serves_and_drains_on_stop(self):
        container = self.start("weft-serve")
        # Locked down as the manifests say: weftd itself, as the kernel sees it.
        status = container.proc("status")
        self.assertRegex(status, r"Uid:\s+%d\s" % self.deployment.security["user"])
        # Non-root alone empties the effective set; --cap-drop ALL empties the bounding one.
        for capabilities in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            self.assertRegex(status, r"%s:\s+0+\n" % capabilities)
        self.assertRegex(status, r"NoNewPrivs:\s+1")
        self.assertRegex(status, r"Seccomp:\s+2")  # A filter: podman's default profile.
        mounts = {}  # weftd's mount point -> its per-mount options.
        for line in container.proc("mountinfo").splitlines():
            fields = line.split()
            mounts[fields[4]] = fields[5].split(",")
        self.assertIn("ro", mounts["/"], "the root file system must be read-only")
        self.assertIn("ro", mounts[self.deployment.security["config_dir"]])
        self.assertIn("rw", mounts[self.deployment.security["tmp_dir"]])
        # Served from outside: the listener, the control plane (with and without the token),
        # health, and the image's own health check.
        connection = socket.create_connection(("127.0.0.1", container.data_port), timeout=5)
        self.addCleanup(connection.close)
        echo_once(connection, b"hello from the host\n")
        servers = weftctl("servers", token=self.operator_token, target=container.control_port)
        self.assertEqual(servers.returncode, 0, servers.stderr)
        self.assertIn("echo", servers.stdout)
        self.assertEqual(weftctl("servers", target=container.control_port).returncode, 4,
                         "the control plane must refuse a call without a token")
        self.assertEqual(weftctl("health", target=container.control_port).returncode, 0)
        self.assertEqual(weftctl("health", "echo", target=container.control_port).returncode, 0)
        self.assertEqual(container.health_check().returncode, 0, "HEALTHCHECK: unhealthy")

        # podman stop: SIGTERM, the drain; the open connection is still served.
        stop_started = time.monotonic()
        stop = subprocess.Popen(["podman", "stop", "--time", str(STOP_GRACE_S), container.name],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(reap, stop)
        wait_until(lambda: weftctl("health", target=container.control_port).returncode == 1, 10,
                   "health NOT_SERVING after podman stop")
        self.assertEqual(container.health_check().returncode, 1,
                         "HEALTHCHECK: a draining weftd must be unhealthy")
        echo_once(connection, b"still served while draining\n")
        wait_until(lambda: refuses_connections(container.data_port), 10,
                   "the listener to stop accepting")
        echo_once(connection, b"still served after the listener closed\n")
        connection.close()
        _, stop_err = stop.communicate(timeout=STOP_GRACE_S + 10)
        elapsed = time.monotonic() - stop_started
        self.assertEqual(stop.returncode, 0, stop_err)
        self.assertLess(elapsed, STOP_GRACE_S, "weftd did not exit within the grace")
        self.assertEqual(container.exit_code(), 0)
        logs = container.logs()
        for line in ("received Terminated; draining", "draining: health NOT_SERVING",
                     "drained: every connection has ended", "weftd stopped"):
            self.assertIn(line, logs)
        print("podman stop with an open connection: exit 0 after %.1f s" % elapsed,
              file=sys.stderr)

    def test_rolling_replacement_loses_no_connection(self):
        old = self.start("weft-roll-0", reuse_port=True)
        data_port = old.data_port
        figures = []
        for round_number in range(1, ROLLING_ROUNDS + 1):
            figures.append(self.replace_under_load(old, round_number, data_port))
            old = figures[-1].pop("new")
        print("rolling replacement (%d rounds, target 127.0.0.1:%d):" % (ROLLING_ROUNDS,
                                                                         data_port),
              file=sys.stderr)
        for f in figures:
            print("  round %(round)d: new ready in %(ready_s).2f s, old drained and exited in "
                  "%(stop_s).2f s; connect-echo-close %(completed)d (%(conns_per_s).0f/s), "
                  "ping-pong %(messages)d messages on %(pingpong_conns)d connections; "
                  "accepted by the old (since its start) %(old_accepted)d, by the new %(new_accepted)d; "
                  "errors %(errors)d"
                  % f, file=sys.stderr)

    def replace_under_load(self, old, round_number, data_port):
        """Starts a second container on data_port while load runs against it, stops `old`, and
        checks that the load saw no error. Returns the round's figures, "new" the container."""
        baseline = accepted_total(old.control_port, self.operator_token)
        load = [ARGS.load, "--target", "127.0.0.1:%d" % data_port, "--warmup", "0",
                "--timeout", "5", "--max-runtime", "60"]
        connrate = subprocess.Popen(load + ["--mode", "connrate", "--conns", "4", "--sources",
                                            "4", "--duration", str(CONNRATE_S)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Long-lived connections, opened at once on the old container (the new one does not
        # exist yet): they stay there until the run ends, and the old one's drain waits for them.
        pingpong = subprocess.Popen(load + ["--mode", "pingpong", "--conns", "8", "--duration",
                                            str(PINGPONG_S)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for process in (connrate, pingpong):
            self.addCleanup(reap, process)
        wait_until(lambda: accepted_total(old.control_port, self.operator_token) >= baseline + 16,
                   10,
                   "the old container to accept the load's connections")
        new = self.start("weft-roll-%d" % round_number, reuse_port=True, data_port=data_port)
        self.assertIsNone(pingpong.poll(), "the ping-pong connections ended before the old "
                          "container was stopped: nothing long-lived was tested")
        old_accepted = accepted_total(old.control_port, self.operator_token)
        stop_started = time.monotonic()
        podman("stop", "--time", str(STOP_GRACE_S), old.name, timeout=STOP_GRACE_S + 10)
        stop_s = time.monotonic() - stop_started
        self.assertEqual(old.exit_code(), 0, old.logs())
        self.assertIn("drained: every connection has ended", old.logs())
        self.assertIsNone(connrate.poll(),
                          "the connect loops ended before the old container had exited")
        results = {}
        for mode, process in (("connrate", connrate), ("pingpong", pingpong)):
            out, err = process.communicate(timeout=70)
            record = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
            results[mode] = record
            self.assertEqual(process.returncode, 0,
                             "round %d, %s saw errors:\n%s%s" % (round_number, mode, out, err))
            self.assertTrue(record["clean"], record)
        new_accepted = accepted_total(new.control_port, self.operator_token)
        self.assertGreater(new_accepted, 0, "the new container took no connection")
        old.close()
        return {
            "round": round_number, "new": new, "ready_s": new.ready_after_s, "stop_s": stop_s,
            "completed": results["connrate"]["completed"],
            "conns_per_s": results["connrate"]["conns_per_s"],
            "messages": results["pingpong"]["msgs"],
            "pingpong_conns": results["pingpong"]["conns"],
            "old_accepted": old_accepted, "new_accepted": new_accepted,
            "errors": sum(r["errors"] for r in results.values()),
        }


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--weftctl", required=True)
    parser.add_argument("--load", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    check_deploy.ARGS = argparse.Namespace(source_dir=ARGS.source_dir)
    if os.geteuid() != 0:
        sys.exit("image_test.py: run it as root, through bash deploy/build.sh test-image")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
