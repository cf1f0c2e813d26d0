"""`%k8s images`, `%k8s image inspect` and `%%k8s image build` through the real kernel, against
the local cluster and its registry (127.0.0.1:5000, named by the cluster in
kube-public/local-registry-hosting), checked as a user would: with curl against the registry's
HTTP API, and by running the built image on the cluster with kubectl.

The image is kubernel/imgtest-<random> (a repository of the module's own); the pod lives in a
namespace of the module's own, deleted at the end. The first build compiles serde and the
runtime for musl (about a minute on a cold cache, ~/.cache/kubernel/programs).
"""
from __future__ import annotations

import re
import subprocess
import time
import uuid

import pytest

from conftest import kubectl
from test_k8s_class import failed, ok

pytestmark = pytest.mark.timeout(600)

REGISTRY = "127.0.0.1:5000"
NAME = f"imgtest-{uuid.uuid4().hex[:6]}"
MANIFEST_TYPES = ",".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])

ITEMS = """fn greeting(times: u32) -> String {
    format!("hello from the image, {times} times")
}"""
BODY = 'println!("{}", greeting(3));\neprintln!("on stderr");'


@pytest.fixture(scope="module")
def ns(namespace):
    kubectl("create", "namespace", namespace)
    return namespace


def registry_digest(repository: str, key: str) -> tuple[int, str | None]:
    """The registry's answer for a manifest: HTTP status and its Docker-Content-Digest."""
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-D", "-", "-H", f"Accept: {MANIFEST_TYPES}", "--max-time", "20",
         f"http://{REGISTRY}/v2/{repository}/manifests/{key}"],
        capture_output=True, text=True, check=True,
    ).stdout
    status = int(out.split()[1])
    digest = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.lower().startswith("docker-content-digest:")), None)
    return status, digest


def field(text: str, label: str) -> str:
    """The value of `Label:  value` in a describe-like text."""
    m = re.search(rf"^{re.escape(label)}:\s+(.*)$", text, re.M)
    assert m, f"no {label}: line in\n{text}"
    return m.group(1).strip()


@pytest.fixture(scope="module")
def built(k8s_kernel):
    """The image of a cell that uses a function of an earlier cell: the build's text, and how long
    it took."""
    ok(k8s_kernel, ITEMS, 120)
    started = time.monotonic()
    text = ok(k8s_kernel, f"%%k8s image build {NAME}:v1\n{BODY}", 600)
    took = time.monotonic() - started
    print(f"first build of {NAME}: {took:.1f} s")
    return text, took


def test_build_prints_the_reference_by_digest_and_the_registry_serves_it(built):
    text, _ = built
    image, digest = field(text, "Image"), field(text, "Digest")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), text
    assert image == f"{REGISTRY}/kubernel/{NAME}@{digest}", text
    assert f"{NAME}: image ready in" in text and "pushed" in text, text
    # The tag given and the content tag both name the digest, as the registry itself says.
    assert registry_digest(f"kubernel/{NAME}", "v1") == (200, digest)
    assert registry_digest(f"kubernel/{NAME}", digest[len("sha256:"):][:16]) == (200, digest)
    assert f"{REGISTRY}/kubernel/{NAME}:v1" in field(text, "Tags"), text
    _, base_digest = registry_digest("library/debian", "bookworm-slim")
    assert field(text, "Base") == f"{REGISTRY}/library/debian:bookworm-slim@{base_digest}", text


def test_images_lists_the_built_image(k8s_kernel, built):
    digest = field(built[0], "Digest")
    text = ok(k8s_kernel, f"%k8s images kubernel/{NAME}")
    lines = text.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "DIGEST", "SIZE", "AGE"], text
    rows = [l.split() for l in lines[1:] if l.startswith(f"kubernel/{NAME}")]
    tags = {r[1]: r for r in rows}
    # The content tag, the one asked for, and latest (every build is the newest of its name).
    assert set(tags) == {"v1", "latest", digest[7:23]}, text
    assert tags["v1"][2] == digest[:19], f"the short digest is sha256: and 12 hex digits: {text}"
    assert re.fullmatch(r"\d+(\.\d)? (MB|KB)", f"{tags['v1'][3]} {tags['v1'][4]}"), text
    assert f"registry {REGISTRY}, named by the cluster's local-registry-hosting" in text, text
    # The whole registry too, with the base the image was made on.
    everything = ok(k8s_kernel, "%k8s images")
    assert re.search(r"^library/debian\s+bookworm-slim\s+sha256:[0-9a-f]{12}\s", everything, re.M), everything
    c, _ = failed(k8s_kernel, f"%k8s images kubernel/{NAME}-none")
    assert c["evalue"] == f"the registry {REGISTRY} has no repository kubernel/{NAME}-none", c


def test_inspect_shows_what_runs_and_its_base(k8s_kernel, built):
    digest = field(built[0], "Digest")
    text = ok(k8s_kernel, f"%k8s image inspect kubernel/{NAME}:v1")
    assert field(text, "Reference") == f"{REGISTRY}/kubernel/{NAME}@{digest}", text
    assert field(text, "Digest") == digest
    assert field(text, "Entrypoint") == '["/app/program"]', text
    assert field(text, "Cmd") == "<none>", "debian's bash is not the program's argument"
    assert field(text, "User") == "65532:65532", text
    _, base_digest = registry_digest("library/debian", "bookworm-slim")
    assert field(text, "Base") == f"{REGISTRY}/library/debian:bookworm-slim@{base_digest}", text
    assert "kubernel: add /app/program" in text and "org.opencontainers.image.title=" + NAME in text, text
    assert re.search(r"^Env:\n  PATH=", text, re.M), text
    # The same image by its bare name, by digest, and with its host.
    for ref in (f"{NAME}:v1", f"kubernel/{NAME}@{digest}", f"{REGISTRY}/kubernel/{NAME}:v1"):
        assert field(ok(k8s_kernel, f"%k8s image inspect {ref}"), "Digest") == digest, ref
    # A base that is not ours: Docker's rule for a one-part name.
    assert field(ok(k8s_kernel, "%k8s image inspect debian:bookworm-slim"), "Digest") == base_digest
    c, _ = failed(k8s_kernel, f"%k8s image inspect kubernel/{NAME}:v9")
    assert c["evalue"].startswith(f"the registry {REGISTRY} has no kubernel/{NAME}:v9 (its tags:"), c
    assert "v1" in c["evalue"], c


def test_the_built_image_runs_on_the_cluster(built, ns):
    image = field(built[0], "Image")
    pod = f"{NAME}-run"
    kubectl("-n", ns, "run", pod, f"--image={image}", "--restart=Never")
    done = kubectl("-n", ns, "wait", f"pod/{pod}", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s",
                   check=False, timeout=130)
    status = kubectl("-n", ns, "get", "pod", pod, "-o", "jsonpath={.status}", check=False).stdout
    assert done.returncode == 0, f"{done.stderr}\n{status}"
    logs = kubectl("-n", ns, "logs", pod).stdout
    # stdout and stderr are two streams: their order in the log is not kept.
    assert sorted(logs.splitlines()) == ["hello from the image, 3 times", "on stderr"], logs


def test_an_unchanged_build_pushes_nothing(k8s_kernel, built):
    digest = field(built[0], "Digest")
    started = time.monotonic()
    text = ok(k8s_kernel, f"%%k8s image build {NAME}:v1\n{BODY}", 120)
    took = time.monotonic() - started
    print(f"unchanged build: {took:.1f} s")
    assert "(unchanged: nothing compiled or pushed)" in text, text
    assert field(text, "Digest") == digest
    assert took < 10, f"an unchanged build took {took:.1f} s"


def test_a_changed_body_is_a_new_digest_and_the_tag_moves(k8s_kernel, built):
    old = field(built[0], "Digest")
    # NAME in the body: a program this run has not built before (builds are kept by content).
    started = time.monotonic()
    text = ok(k8s_kernel, f"%%k8s image build {NAME}:v1\nprintln!(\"{{}} ({NAME})\", greeting(4));", 300)
    print(f"edited body built and pushed: {time.monotonic() - started:.1f} s")
    new = field(text, "Digest")
    assert new != old, text
    assert "compiled kubernel_job" in text and "pushed" in text, text
    assert registry_digest(f"kubernel/{NAME}", "v1") == (200, new)
    # The first image is still there under its content tag.
    assert registry_digest(f"kubernel/{NAME}", old[7:23]) == (200, old)


def test_a_build_without_a_tag_is_latest(k8s_kernel, built):
    name = f"{NAME}-latest"
    text = ok(k8s_kernel, f"%%k8s image build {name}\n{BODY}", 300)
    digest = field(text, "Digest")
    assert registry_digest(f"kubernel/{name}", "latest") == (200, digest)
    # So the image's bare name is enough to inspect it, as with docker.
    info = ok(k8s_kernel, f"%k8s image inspect kubernel/{name}")
    assert field(info, "Digest") == digest, info


def test_another_base_with_image(k8s_kernel, built):
    name = f"{NAME}-busybox"
    text = ok(k8s_kernel, f"%%k8s image build {name} --image {REGISTRY}/library/busybox:latest\n{BODY}", 300)
    _, base_digest = registry_digest("library/busybox", "latest")
    assert field(text, "Base") == f"{REGISTRY}/library/busybox:latest@{base_digest}", text
    info = ok(k8s_kernel, f"%k8s image inspect kubernel/{name}")
    assert field(info, "Base") == f"{REGISTRY}/library/busybox:latest@{base_digest}", info
    assert field(info, "Entrypoint") == '["/app/program"]', info


def test_a_compile_error_is_on_the_cells_line_and_pushes_nothing(k8s_kernel, built):
    bad = f"{NAME}-bad"
    c, text = failed(k8s_kernel, f'%%k8s image build {bad}\nlet n = greeting(1);\nlet x: i32 = "a";\nprintln!("{{n}}{{x}}");', 300)
    assert c["ename"] == "CompileError", c
    assert "mismatched types" in c["evalue"] and "cell line 3" in c["evalue"], c
    assert 'let x: i32 = "a";' in c["evalue"], c
    assert f"{bad}: not built" in text, text
    status, _ = registry_digest(f"kubernel/{bad}", "latest")
    assert status == 404
    tags = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://{REGISTRY}/v2/kubernel/{bad}/tags/list"],
                          capture_output=True, text=True).stdout
    assert tags == "404", "no repository was made"


def test_a_registry_that_is_down_is_one_clear_error_at_once(k8s_kernel, built):
    for cell in ("%k8s images --registry 127.0.0.1:1", f"%k8s image inspect kubernel/{NAME} --registry 127.0.0.1:1",
                 f"%%k8s image build {NAME} --registry 127.0.0.1:1\n{BODY}"):
        started = time.monotonic()
        c, _ = failed(k8s_kernel, cell, 60)
        took = time.monotonic() - started
        assert took < 5, f"{cell!r} took {took:.1f} s"
        assert c["ename"] == "RegistryUnreachable", c
        assert c["evalue"].startswith("cannot reach the registry 127.0.0.1:1:"), c
        assert "\n" not in c["evalue"], c


def test_usage_is_checked_before_anything_is_sent(k8s_kernel):
    c, _ = failed(k8s_kernel, "%k8s image build hello")
    assert "with the body of main below it" in c["evalue"], c
    c, _ = failed(k8s_kernel, "%%k8s image inspect hello\n1")
    assert "takes no cell body" in c["evalue"], c
    c, _ = failed(k8s_kernel, "%k8s images kubernel/x:v1")
    assert "image inspect kubernel/x:v1" in c["evalue"], c


def complete(k, code: str) -> list[str]:
    msg_id = k.kc.complete(code, len(code))
    reply = k.reply(msg_id, timeout=20)
    k.wait_idle(msg_id)
    c = reply["content"]
    return [code[: c["cursor_start"]] + m for m in c["matches"]]


def test_completion_offers_repositories_and_tags(k8s_kernel, built):
    k = k8s_kernel
    assert "%k8s image inspect" in complete(k, "%k8s image insp")
    assert f"%k8s image inspect kubernel/{NAME}" in complete(k, f"%k8s image inspect kubernel/{NAME[:6]}")
    assert f"%k8s image inspect kubernel/{NAME}:v1" in complete(k, f"%k8s image inspect kubernel/{NAME}:")
    assert f"%k8s images kubernel/{NAME}" in complete(k, "%k8s images kubernel/imgt")
