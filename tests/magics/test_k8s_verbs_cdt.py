"""%k8s cp, diff, apply --dry-run and top pod --containers through the real kernel, against the
local cluster, each checked against kubectl's own output for the same objects.

Everything lives in a namespace of the module's own (kubernel-test-<random>), deleted at the end.
"""
from __future__ import annotations

import json
import os
import re
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from conftest import kubectl
from kernel_harness import of_type
from test_k8s import complete
from test_k8s_apps import failed as apps_failed, ok as apps_ok, retry_metrics

pytestmark = pytest.mark.timeout(240)


def ok(k, code: str, timeout: float = 60) -> str:
    """Runs a cell that must succeed; returns all the text it showed."""
    return apps_ok(k, code, timeout)[0]


def failed(k, code: str, timeout: float = 60) -> dict:
    """Runs a cell that must fail; returns its reply's content."""
    return apps_failed(k, code, timeout)[0]["content"]


def wait_running(ns: str, pod: str, within: float = 120) -> None:
    """Waits until a pod's containers are all ready (kubectl wait, so it has its own timeout)."""
    kubectl("-n", ns, "wait", "--for=condition=Ready", f"pod/{pod}", f"--timeout={int(within)}s", timeout=within + 10)


def pod(ns: str, name: str, image: str, command: list[str] | None = None, containers: list[str] | None = None, cpu: str | None = None) -> None:
    """A pod made with kubectl (not the verb under test), stopped at once when deleted."""
    spec_containers = []
    for c in containers or [name]:
        spec = {"name": c, "image": image}
        if command:
            spec["command"] = command
        if cpu:
            spec["resources"] = {"requests": {"cpu": cpu}}
        spec_containers.append(spec)
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": spec_containers},
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))


SLEEP = ["sh", "-c", "sleep 3600"]


@pytest.fixture(scope="module")
def ns(k8s_kernel, namespace):
    """The module's namespace with a running busybox pod `box`; the kernel's namespace is left
    alone, so every cell names -n (or NS/POD)."""
    kubectl("create", "namespace", namespace)
    pod(namespace, "box", "busybox", SLEEP)
    wait_running(namespace, "box")
    return namespace


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under root (relative path: content); symbolic links left out."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def no_output(k, code: str) -> None:
    """Runs a cell that must succeed and show nothing, as kubectl cp shows nothing."""
    _, msgs = apps_ok(k, code)
    shown = [m for m in msgs if m["msg_type"] in ("stream", "display_data", "execute_result")]
    assert shown == [], f"{code!r} showed {shown}"


# -- cp -------------------------------------------------------------------------------------


def test_cp_a_file_in_and_out_again(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    data = os.urandom(200_000) + "é\n".encode()  # bytes that are not UTF-8, more than one buffer
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    no_output(k, f"%k8s cp {src} {ns}/box:/tmp/blob.bin")
    theirs = tmp_path / "theirs.bin"
    kubectl("cp", f"{ns}/box:/tmp/blob.bin", str(theirs))
    assert theirs.read_bytes() == data, "kubectl reads back what %k8s cp wrote"
    # Into a folder that exists there: under the file's own name, as kubectl cp does.
    no_output(k, f"%k8s cp {src} box:/tmp/ -n {ns}")
    sums = kubectl("-n", ns, "exec", "box", "--", "md5sum", "/tmp/blob.bin").stdout.split()[0]
    import hashlib

    assert sums == hashlib.md5(data).hexdigest()
    back = tmp_path / "back.bin"
    no_output(k, f"%k8s cp {ns}/box:/tmp/blob.bin {back}")
    assert back.read_bytes() == data
    # Into a local folder: under the file's name there.
    here = tmp_path / "here"
    here.mkdir()
    no_output(k, f"%k8s cp {ns}/box:/tmp/blob.bin {here}")
    assert (here / "blob.bin").read_bytes() == data


def test_cp_a_folder_in_as_kubectl_does(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    site = tmp_path / "site"
    (site / "css" / "deep").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hello</h1>\n")
    (site / "css" / "main.css").write_text("body { color: red }\n")
    (site / "css" / "deep" / "x.txt").write_text("x\n")
    no_output(k, f"%k8s cp {site} {ns}/box:/tmp/ours")
    kubectl("cp", str(site), f"{ns}/box:/tmp/theirs")
    listing = lambda d: kubectl("-n", ns, "exec", "box", "--", "sh", "-c", f"cd {d} && find . -type f | sort && cat $(find . -type f | sort)").stdout
    ours, theirs = listing("/tmp/ours"), listing("/tmp/theirs")
    assert "./css/deep/x.txt" in ours and "body { color: red }" in ours, ours
    assert ours == theirs, f"kubernel:\n{ours}\nkubectl:\n{theirs}"


def test_cp_a_folder_out_as_kubectl_does(k8s_kernel, ns, tmp_path):
    pod(ns, "site", "nginx")
    wait_running(ns, "site")
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    text = ok(k8s_kernel, f"%k8s cp {ns}/site:/etc/nginx {ours}")
    kubectl("cp", f"{ns}/site:/etc/nginx", str(theirs))
    mine, kubectls = tree(ours), tree(theirs)
    assert "nginx.conf" in mine and "sites-available/default" in mine, sorted(mine)
    assert mine == kubectls, f"only kubernel: {set(mine) - set(kubectls)}; only kubectl: {set(kubectls) - set(mine)}"
    # Debian's nginx links sites-enabled/default; kubectl skips symbolic links and says so.
    assert 'skipping symlink: "' in text and "sites-enabled/default" in text, text


@pytest.mark.timeout(300)
@pytest.mark.parametrize("image", ["busybox", "debian:bookworm-slim", "nginx", "redis"])
def test_cp_works_in_every_image_of_the_local_cluster(k8s_kernel, ns, tmp_path, image):
    name = "img-" + re.sub(r"[^a-z0-9]", "-", image)
    pod(ns, name, image, None if image in ("nginx", "redis") else SLEEP)
    wait_running(ns, name)
    src = tmp_path / "note.txt"
    src.write_text(f"copied into {image}\n")
    no_output(k8s_kernel, f"%k8s cp {src} {ns}/{name}:/tmp/note.txt")
    assert kubectl("-n", ns, "exec", name, "--", "cat", "/tmp/note.txt").stdout == f"copied into {image}\n"
    back = tmp_path / "back.txt"
    no_output(k8s_kernel, f"%k8s cp {ns}/{name}:/tmp/note.txt {back}")
    assert back.read_text() == f"copied into {image}\n"


def test_cp_to_a_named_container(k8s_kernel, ns, tmp_path):
    pod(ns, "pair", "busybox", SLEEP, containers=["first", "second"])
    wait_running(ns, "pair")
    src = tmp_path / "for-second.txt"
    src.write_text("second\n")
    no_output(k8s_kernel, f"%k8s cp {src} {ns}/pair:/tmp/x.txt -c second")
    assert kubectl("-n", ns, "exec", "pair", "-c", "second", "--", "cat", "/tmp/x.txt").stdout == "second\n"
    assert kubectl("-n", ns, "exec", "pair", "-c", "first", "--", "cat", "/tmp/x.txt", check=False).returncode != 0
    c = failed(k8s_kernel, f"%k8s cp {src} {ns}/pair:/tmp/x.txt -c third")
    assert "pod pair has no container third; its containers are first, second" in c["evalue"], c


def test_cp_errors_name_the_cause(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    src = tmp_path / "f.txt"
    src.write_text("f\n")
    # No such pod: the API server's words, as kubectl prints them.
    theirs = kubectl("cp", str(src), f"{ns}/nope:/tmp/f.txt", check=False).stderr
    assert 'pods "nope" not found' in theirs, theirs
    c = failed(k, f"%k8s cp {src} {ns}/nope:/tmp/f.txt")
    assert c["ename"] == "NotFound" and 'pods "nope" not found' in c["evalue"], c
    # No such path in the container: tar's own line.
    tar_said = kubectl("-n", ns, "exec", "box", "--", "tar", "cf", "-", "/no/such", check=False).stderr
    tar_line = [l for l in tar_said.splitlines() if "No such file or directory" in l][0].strip()
    c = failed(k, f"%k8s cp {ns}/box:/no/such {tmp_path / 'out'}")
    assert c["ename"] == "NotFound" and tar_line in c["evalue"] and "pod box" in c["evalue"], (c, tar_line)
    assert not (tmp_path / "out").exists(), "nothing is written for a path that is not there"
    c = failed(k, f"%k8s cp {src} {ns}/box:/no/such/folder/f.txt")
    assert "No such file or directory" in c["evalue"] and "tar" in c["evalue"], c
    # No such local file.
    theirs = kubectl("cp", str(tmp_path / "missing"), f"{ns}/box:/tmp/", check=False).stderr
    assert "doesn't exist in local filesystem" in theirs, theirs
    c = failed(k, f"%k8s cp {tmp_path / 'missing'} {ns}/box:/tmp/")
    assert c["ename"] == "NotFound" and "no such local file or folder" in c["evalue"] and str(tmp_path / "missing") in c["evalue"], c
    # Bad input, before anything is sent.
    for line, says in [
        ("%k8s cp a b", "one of SRC and DST must be [NAMESPACE/]POD:PATH"),
        ("%k8s cp box:/a box:/b", "one of SRC and DST must be a local path"),
        ("%k8s cp box:/a", "write cp SRC DST"),
        (f"%k8s cp {src} box:", "names no path in the container"),
        (f"%k8s cp {src} a/b/c:/x", "is not [NAMESPACE/]POD:PATH"),
    ]:
        c = failed(k, line)
        assert c["ename"] == "UsageError" and says in c["evalue"], (line, c)


def test_cp_to_a_container_that_is_not_running(k8s_kernel, ns, tmp_path):
    pod(ns, "pending", "busybox", SLEEP, cpu="64")  # more CPU than the node has: stays Pending
    src = tmp_path / "f.txt"
    src.write_text("f\n")
    c = failed(k8s_kernel, f"%k8s cp {src} {ns}/pending:/tmp/f.txt")
    assert c["ename"] == "NotRunning" and "pod pending is Pending, not Running" in c["evalue"], c
    theirs = kubectl("cp", str(src), f"{ns}/pending:/tmp/f.txt", check=False)
    assert theirs.returncode != 0, "kubectl cannot copy there either"


def test_cp_to_a_container_without_tar(k8s_kernel, ns, tmp_path):
    # The pause image is one program and nothing else: no tar, as in distroless images.
    pod(ns, "notar", "registry.k8s.io/pause:3.10.1")
    wait_running(ns, "notar")
    src = tmp_path / "f.txt"
    src.write_text("f\n")
    theirs = kubectl("cp", str(src), f"{ns}/notar:/tmp/f.txt", check=False)
    assert "tar" in theirs.stderr and theirs.returncode != 0, theirs
    c = failed(k8s_kernel, f"%k8s cp {src} {ns}/notar:/tmp/f.txt")
    assert c["ename"] == "NoTar" and "container notar of pod notar has no tar" in c["evalue"], c
    c = failed(k8s_kernel, f"%k8s cp {ns}/notar:/pause {tmp_path / 'pause'}")
    assert c["ename"] == "NoTar", c


def test_cp_completes_pods_and_local_paths(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    assert f"%k8s cp {ns}/box:" in complete(k, f"%k8s cp {ns}/bo"), "NS/POD: for the namespace typed"
    assert f"%k8s cp -n {ns} ./x box:" in complete(k, f"%k8s cp -n {ns} ./x bo")
    (tmp_path / "local-file.txt").write_text("")
    assert f"%k8s cp {tmp_path}/local-file.txt" in complete(k, f"%k8s cp {tmp_path}/local-f")
    assert complete(k, f"%k8s cp {ns}/box:/et") == [], "no guessing inside the container"


# -- apply --dry-run ------------------------------------------------------------------------


def configmaps(ns: str, **data: dict[str, str]) -> str:
    return "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n"
        + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in values.items())
        for name, values in data.items()
    )


def session_labels(k, ns: str) -> dict[str, str]:
    """The labels %k8s apply puts on what it makes in this session (read back with kubectl)."""
    ok(k, f"%%k8s apply\n{configmaps(ns, probe={'a': '1'})}")
    labels = json.loads(kubectl("-n", ns, "get", "cm", "probe", "-o", "jsonpath={.metadata.labels}").stdout)
    assert labels.get("app.kubernetes.io/managed-by") == "kubernel", labels
    return labels


def lines(text: str) -> list[str]:
    return [l.rstrip() for l in text.splitlines() if l.strip()]


def state(ns: str, *names: str) -> dict[str, tuple[str, str] | None]:
    """resourceVersion and data of configmaps, or None where there is none: a change shows."""
    out = {}
    for name in names:
        got = kubectl("-n", ns, "get", "cm", name, "-o", "json", check=False)
        obj = json.loads(got.stdout) if got.returncode == 0 else None
        out[name] = (obj["metadata"]["resourceVersion"], json.dumps(obj.get("data"))) if obj else None
    return out


@pytest.mark.parametrize("mode, says", [("server", "(server dry run)"), ("client", "(dry run)")])
def test_apply_dry_run_says_what_kubectl_says_and_changes_nothing(k8s_kernel, ns, tmp_path, mode, says):
    k = k8s_kernel
    labels = session_labels(k, ns)
    same, changed, new = f"dry-{mode}-same", f"dry-{mode}-changed", f"dry-{mode}-new"
    # What exists, made by kubectl with the labels our apply puts on, so that neither would
    # change it if given it again.
    existing = yaml.safe_load_all(configmaps(ns, **{same: {"k": "v"}, changed: {"k": "v"}}))
    for obj in existing:
        obj["metadata"]["labels"] = labels
        kubectl("apply", "-f", "-", input=json.dumps(obj))
    manifest = configmaps(ns, **{same: {"k": "v"}, changed: {"k": "other"}, new: {"k": "v"}})
    wanted = yaml.safe_load_all(manifest)
    path = tmp_path / "m.yaml"
    path.write_text("".join("---\n" + yaml.safe_dump({**o, "metadata": {**o["metadata"], "labels": labels}}) for o in wanted))
    before = state(ns, same, changed, new)
    theirs = kubectl("apply", f"--dry-run={mode}", "-f", str(path)).stdout
    assert theirs.count(says) == 3, theirs
    mine = ok(k, f"%%k8s apply --dry-run={mode}\n{manifest}")
    assert lines(mine) == lines(theirs), f"kubernel:\n{mine}\nkubectl:\n{theirs}"
    assert f"configmap/{new} created {says}" in mine and f"configmap/{changed} configured {says}" in mine
    assert f"configmap/{same} unchanged {says}" in mine
    assert state(ns, same, changed, new) == before, "a dry run changes nothing"
    assert before[new] is None
    # And from a file, -f as apply takes it.
    assert lines(ok(k, f"%k8s apply -f {path} --dry-run={mode}")) == lines(theirs)


def test_apply_dry_run_server_with_o_yaml(k8s_kernel, ns, tmp_path):
    manifest = configmaps(ns, **{"dry-yaml": {"greeting": "hello"}})
    path = tmp_path / "m.yaml"
    path.write_text(manifest)
    theirs = yaml.safe_load(kubectl("apply", "--dry-run=server", "-o", "yaml", "-f", str(path)).stdout)
    mine_text = ok(k8s_kernel, f"%%k8s apply --dry-run=server -o yaml\n{manifest}")
    mine = yaml.safe_load(mine_text)
    for key in ("apiVersion", "kind", "data"):
        assert mine[key] == theirs[key], (key, mine, theirs)
    assert mine["metadata"]["name"] == theirs["metadata"]["name"] == "dry-yaml"
    assert mine["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubernel", "what apply would make"
    assert "managedFields" not in mine_text and "(server dry run)" not in mine_text
    assert kubectl("-n", ns, "get", "cm", "dry-yaml", check=False).returncode != 0, "nothing was made"
    names = ok(k8s_kernel, f"%%k8s apply --dry-run=server -o name\n{manifest}")
    assert lines(names) == lines(kubectl("apply", "--dry-run=server", "-o", "name", "-f", str(path)).stdout) == ["configmap/dry-yaml"]


def test_apply_dry_run_refusals_and_bad_values(k8s_kernel, ns):
    k = k8s_kernel
    bad = configmaps(ns, **{"dry-ok": {"a": "1"}}) + configmaps(ns, **{"Not_Valid": {"a": "1"}})
    c = failed(k, f"%%k8s apply --dry-run=server\n{bad}")
    assert c["ename"] == "Invalid" and "Not_Valid" in c["evalue"] and "the cell line 11" in c["evalue"], c
    assert kubectl("-n", ns, "get", "cm", "dry-ok", check=False).returncode != 0
    theirs = kubectl("apply", "--dry-run=maybe", "-f", "-", input=bad, check=False).stderr
    assert "maybe" in theirs and '"none", "server", or "client"' in theirs, theirs
    c = failed(k, f"%%k8s apply --dry-run=maybe\n{bad}")
    assert c["evalue"] == "%k8s apply: --dry-run 'maybe': use none, server or client", c
    c = failed(k, "%k8s apply -f x.yaml -o wide")
    assert c["evalue"] == "%k8s apply: -o wide: apply prints yaml, json or name", c
    assert "%k8s apply --dry-run=server" in complete(k, "%k8s apply --dry-run=se")
    assert "%k8s apply --dry-run" in complete(k, "%k8s apply --dry")


# -- diff -----------------------------------------------------------------------------------

# Lines that differ between any two writes, or that only kubernel's apply adds (its labels);
# kubectl diff shows them, our diff leaves the first kind out.
NOISE = re.compile(r"^[+-]\s*(generation|creationTimestamp|uid|resourceVersion):|kubernel\.io/session|managed-by: kubernel")


def changed_lines(diff: str) -> list[str]:
    """The added and removed lines of a diff, noise left out. Quotes are made one kind: the two
    YAML writers quote `*** (before)` differently, which is the same YAML."""
    changed = [l for l in diff.splitlines() if l[:1] in ("+", "-") and not l.startswith(("+++", "---")) and not NOISE.search(l)]
    indent = lambda l: len(l[1:]) - len(l[1:].lstrip())
    kept = []
    for i, line in enumerate(changed):
        after = changed[i + 1] if i + 1 < len(changed) else ""
        # A `labels:` that held only kubernel's labels goes with them.
        if line[1:].strip() == "labels:" and not (after[:1] == line[:1] and indent(after) > indent(line)):
            continue
        kept.append(line.replace("'", '"'))
    return kept


def headers(diff: str) -> list[str]:
    """The objects a diff is about, by kubectl's file names (apps.v1.Deployment.NS.NAME)."""
    return [l.split()[-1].rsplit("/", 1)[-1] for l in diff.splitlines() if l.startswith("diff -u -N ")]


def deployment_yaml(ns: str, name: str, image: str, replicas: int, extra_label: str = "") -> str:
    label = f", tier: {extra_label}" if extra_label else ""
    return textwrap.dedent(
        f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}{label}}}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              terminationGracePeriodSeconds: 0
              containers: [{{name: {name}, image: "{image}", ports: [{{containerPort: 80}}]}}]
        """
    )


def test_diff_shows_what_kubectl_diff_shows(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    kubectl("apply", "-f", "-", input=deployment_yaml(ns, "shop", "nginx", 1))
    # What a change would change (the status, and so the resourceVersion, moves on its own).
    spec = lambda: kubectl("-n", ns, "get", "deploy", "shop", "-o", "jsonpath={.metadata.generation} {.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.labels}").stdout
    before = spec()
    # The new object has a label of its own, so that `labels:` is in kubectl's diff as in ours.
    new = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: diff-new, namespace: {ns}, labels: {{app: shop}}}}\ndata: {{a: '1'}}\n"
    manifest = deployment_yaml(ns, "shop", "nginx:1.27", 3, extra_label="front") + "---\n" + new
    path = tmp_path / "m.yaml"
    path.write_text(manifest)
    theirs = kubectl("diff", "-f", str(path), check=False)
    assert theirs.returncode == 1, theirs  # kubectl diff: 1 means differences
    mine = ok(k, f"%k8s diff -f {path}")
    assert headers(mine) == headers(theirs.stdout) == [f"apps.v1.Deployment.{ns}.shop", f"v1.ConfigMap.{ns}.diff-new"]
    assert changed_lines(mine) == changed_lines(theirs.stdout), f"kubernel:\n{mine}\nkubectl:\n{theirs.stdout}"
    assert "+  replicas: 3" in mine and "-  replicas: 1" in mine and "+      - image: nginx:1.27" in mine, mine
    for noise in ("managedFields", "resourceVersion", "generation:", "uid:"):
        assert noise not in mine, f"{noise} in\n{mine}"
    assert "@@ -0,0 +1," in mine, "a new object is diffed against nothing"
    # The cell's YAML, as %%k8s apply takes it, gives the same diff.
    assert ok(k, f"%%k8s diff\n{manifest}") == mine
    # Nothing changed.
    assert spec() == before and before.startswith("1 1 nginx "), before
    assert kubectl("-n", ns, "get", "cm", "diff-new", check=False).returncode != 0


def test_diff_of_what_apply_made_is_empty(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    manifest = configmaps(ns, **{"diff-same": {"a": "1"}})
    ok(k, f"%%k8s apply\n{manifest}")
    no_output(k, f"%%k8s diff\n{manifest}")  # no differences, no output, as kubectl diff
    # kubectl agrees when it applies as kubernel would: same field manager, same labels.
    obj = json.loads(kubectl("-n", ns, "get", "cm", "diff-same", "-o", "json").stdout)
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(manifest), "metadata": {**yaml.safe_load(manifest)["metadata"], "labels": obj["metadata"]["labels"]}}))
    theirs = kubectl("diff", "--server-side", "--force-conflicts", "--field-manager=kubernel", "-f", str(path), check=False)
    assert theirs.returncode == 0 and theirs.stdout == "", theirs


def test_diff_masks_secrets_as_kubectl_does(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    kubectl("-n", ns, "create", "secret", "generic", "creds", "--from-literal=user=admin", "--from-literal=password=old-s3cret")
    manifest = textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: Secret
        metadata: {{name: creds, namespace: {ns}}}
        stringData: {{user: admin, password: new-s3cret}}
        """
    )
    path = tmp_path / "secret.yaml"
    path.write_text(manifest)
    theirs = kubectl("diff", "-f", str(path), check=False).stdout
    mine = ok(k, f"%%k8s diff\n{manifest}")
    for text in (mine, theirs):
        assert "s3cret" not in text and "bmV3LXMzY3JldA" not in text and "b2xkLXMzY3JldA" not in text, text
    assert changed_lines(mine) == changed_lines(theirs), f"kubernel:\n{mine}\nkubectl:\n{theirs}"
    assert "*** (before)" in mine and "*** (after)" in mine, mine


def test_diff_in_html_colours_added_and_removed_lines(k8s_kernel, ns):
    kubectl("-n", ns, "create", "configmap", "coloured", "--from-literal=k=old")
    manifest = configmaps(ns, coloured={"k": "new"})
    _, msgs = apps_ok(k8s_kernel, f"%%k8s diff\n{manifest}")
    result = of_type(msgs, "execute_result")[0]["content"]["data"]
    assert "-  k: old" in result["text/plain"] and "+  k: new" in result["text/plain"]
    html = result["text/html"]
    assert re.search(r'<span style="color:#cf222e">-  k: old</span>', html), html
    assert re.search(r'<span style="color:#1a7f37">\+  k: new</span>', html), html


def test_diff_bad_input(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    c = failed(k, "%k8s diff")
    assert c["ename"] == "UsageError" and "nothing to diff" in c["evalue"], c
    c = failed(k, "%k8s diff -f /no/such.yaml")
    assert "/no/such.yaml" in c["evalue"] and "no such file" in c["evalue"], c
    c = failed(k, f"%%k8s diff\n{configmaps(ns, **{'Bad_Name': {'a': '1'}})}")
    assert c["ename"] == "Invalid" and "Bad_Name" in c["evalue"] and "the cell line 3" in c["evalue"], c
    c = failed(k, f"%%k8s diff\napiVersion: v1\nkind: Nonsense\nmetadata: {{name: x, namespace: {ns}}}\n")
    assert c["ename"] == "UnknownKind", c
    c = failed(k, "%k8s diff deploy/web")
    assert "the YAML goes in the cell (%%k8s diff) or in -f PATH" in c["evalue"], c
    assert "%k8s diff" in complete(k, "%k8s dif")


# -- top pod --containers -------------------------------------------------------------------


def table(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", l.strip()) for l in text.splitlines() if l.strip()]


@pytest.mark.timeout(200)
def test_top_pod_containers_has_kubectls_columns_and_rows(k8s_kernel, ns):
    k = k8s_kernel
    mine = table(retry_metrics(k, "%k8s top pods --containers -n kube-system", ["coredns"]))
    theirs = table(kubectl("top", "pods", "--containers", "-n", "kube-system").stdout)
    assert mine[0] == theirs[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], (mine, theirs)
    assert [r[:2] for r in mine[1:]] == [r[:2] for r in theirs[1:]], (mine, theirs)
    assert all(re.fullmatch(r"\d+m", r[2]) and re.fullmatch(r"\d+Mi", r[3]) for r in mine[1:]), mine
    # One pod by name, and every namespace.
    coredns = next(r[0] for r in mine[1:] if r[0].startswith("coredns-"))
    one = table(retry_metrics(k, f"%k8s top pod {coredns} --containers -n kube-system", [coredns]))
    assert [r[:2] for r in one[1:]] == [[coredns, "coredns"]], one
    everywhere = table(retry_metrics(k, "%k8s top pods -A --containers -l k8s-app=kube-dns", ["coredns"]))
    theirs = table(kubectl("top", "pods", "-A", "--containers", "-l", "k8s-app=kube-dns").stdout)
    assert everywhere[0] == theirs[0] == ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], everywhere
    assert [r[:3] for r in everywhere[1:]] == [r[:3] for r in theirs[1:]]
    # Without --containers, a line for each pod, as before.
    assert table(retry_metrics(k, "%k8s top pods -n kube-system", ["coredns"]))[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    c = failed(k, "%k8s top nodes --containers")
    assert c["evalue"] == "%k8s top: --containers is for pods: top pods --containers", c
    assert complete(k, "%k8s top pods --conta") == ["%k8s top pods --containers"]
