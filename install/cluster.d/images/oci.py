#!/usr/bin/env python3
"""Make OCI images from root filesystems and push them to a registry.

The local cluster cannot pull from any public registry, so install/cluster
builds its images (nginx, redis, debian, busybox, pause, coredns) from
Debian packages and its own binaries. This module does the two steps that
need no container engine: pack a directory into a one-layer OCI image
layout, and push that layout to a Docker-distribution registry over its
HTTP API. Standard library only.

    oci.py build ROOTFS OUTDIR '{"Cmd": ["sh"]}'
    oci.py push OUTDIR 127.0.0.1:5000 library/busybox:latest [MORE NAMES...]
    oci.py exists 127.0.0.1:5000 library/busybox:latest
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zlib

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join(
    [
        MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def write_blob(outdir, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = os.path.join(outdir, "blobs", "sha256", digest[7:])
    with open(path, "wb") as f:
        f.write(data)
    return digest, len(data)


def pack_layer(rootfs, outdir):
    """Tar ROOTFS (without the contents of dev, proc, sys), gzip it and store
    it as a blob. Returns (diff_id, digest, size)."""
    tar = subprocess.Popen(
        [
            "tar", "--numeric-owner", "--sort=name", "--mtime=@0",
            "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
            "--exclude=./run/*", "--exclude=./tmp/*",
            "--exclude=./var/cache/apt/archives/*.deb",
            "--exclude=./var/lib/apt/lists/*",
            "-C", rootfs, "-cf", "-", ".",
        ],
        stdout=subprocess.PIPE,
    )
    diff = hashlib.sha256()
    comp = hashlib.sha256()
    gz = zlib.compressobj(1, zlib.DEFLATED, 31)
    size = 0
    fd, tmp = tempfile.mkstemp(dir=os.path.join(outdir, "blobs", "sha256"))
    with os.fdopen(fd, "wb") as f:
        while True:
            chunk = tar.stdout.read(1 << 20)
            if not chunk:
                break
            diff.update(chunk)
            out = gz.compress(chunk)
            comp.update(out)
            f.write(out)
            size += len(out)
        out = gz.flush()
        comp.update(out)
        f.write(out)
        size += len(out)
    if tar.wait() != 0:
        os.unlink(tmp)
        sys.exit(f"oci.py: tar of {rootfs} failed")
    digest = "sha256:" + comp.hexdigest()
    os.rename(tmp, os.path.join(outdir, "blobs", "sha256", digest[7:]))
    return "sha256:" + diff.hexdigest(), digest, size


def build(rootfs, outdir, config_json):
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(os.path.join(outdir, "blobs", "sha256"))
    diff_id, layer_digest, layer_size = pack_layer(rootfs, outdir)
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    cfg.update(json.loads(config_json))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "kubernel install/cluster"}],
    }
    cdigest, csize = write_blob(outdir, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": cdigest, "size": csize},
        "layers": [{"mediaType": LAYER, "digest": layer_digest, "size": layer_size}],
    }
    mdigest, msize = write_blob(outdir, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": MANIFEST, "digest": mdigest, "size": msize}],
    }
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(outdir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def split_ref(ref):
    repo, _, tag = ref.rpartition(":")
    if not repo or "/" in tag:
        repo, tag = ref, "latest"
    return repo, tag


def exists(registry, ref):
    repo, tag = split_ref(ref)
    status, _, _ = request("HEAD", f"http://{registry}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    return status == 200


def push(outdir, registry, ref):
    repo, tag = split_ref(ref)
    base = f"http://{registry}/v2/{repo}"
    with open(os.path.join(outdir, "index.json")) as f:
        mdesc = json.load(f)["manifests"][0]
    blobdir = os.path.join(outdir, "blobs", "sha256")
    with open(os.path.join(blobdir, mdesc["digest"][7:]), "rb") as f:
        manifest_bytes = f.read()
    status, headers, _ = request("HEAD", f"{base}/manifests/{tag}", headers={"Accept": ACCEPT})
    if status == 200 and headers.get("Docker-Content-Digest") == mdesc["digest"]:
        print(f"    {registry}/{repo}:{tag} up to date")
        return
    manifest = json.loads(manifest_bytes)
    for desc in [manifest["config"]] + manifest["layers"]:
        digest = desc["digest"]
        status, _, _ = request("HEAD", f"{base}/blobs/{digest}")
        if status == 200:
            continue
        status, headers, body = request("POST", f"{base}/blobs/uploads/")
        if status != 202:
            sys.exit(f"oci.py: starting upload to {base} failed: HTTP {status} {body[:200]!r}")
        location = headers["Location"]
        if location.startswith("/"):
            location = f"http://{registry}{location}"
        sep = "&" if "?" in location else "?"
        with open(os.path.join(blobdir, digest[7:]), "rb") as f:
            data = f.read()
        status, _, body = request(
            "PUT", f"{location}{sep}digest={digest}", data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if status != 201:
            sys.exit(f"oci.py: upload of {digest} to {base} failed: HTTP {status} {body[:200]!r}")
    status, _, body = request(
        "PUT", f"{base}/manifests/{tag}", data=manifest_bytes, headers={"Content-Type": MANIFEST}
    )
    if status != 201:
        sys.exit(f"oci.py: pushing manifest {repo}:{tag} failed: HTTP {status} {body[:300]!r}")
    print(f"    pushed {registry}/{repo}:{tag}")


def main(argv):
    if len(argv) == 4 and argv[0] == "build":
        build(argv[1], argv[2], argv[3])
    elif len(argv) >= 4 and argv[0] == "push":
        for ref in argv[3:]:
            push(argv[1], argv[2], ref)
    elif len(argv) == 3 and argv[0] == "exists":
        return 0 if exists(argv[1], argv[2]) else 1
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
