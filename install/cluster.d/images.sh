# shellcheck shell=bash
# Images for the local cluster, built from Debian packages and pushed to the
# local registry under their ordinary names, so that manifests and
# notebooks say `nginx` or `busybox` and run unchanged on a real cluster.
# Sourced by install/cluster (uses its CACHE, LOGS, REGISTRY, fail, say...).

# Bump IMAGES_REVISION when a change here should rebuild the cached images.
IMAGES_REVISION=1
IMAGES=$CACHE/images-bookworm-r$IMAGES_REVISION
OCI=(/usr/bin/python3 "$D/images/oci.py")

debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -z $uri ]] && uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# rootfs NAME [PACKAGES]: a Debian bookworm minbase root filesystem.
debian_rootfs() {
  local dir=$1 include=${2:-}
  rm -rf "$dir"
  mkdir -p "$CACHE/debs"
  debootstrap --variant=minbase ${include:+--include=$include} --cache-dir="$CACHE/debs" \
    bookworm "$dir" "$(debian_mirror)" >>"$LOGS/images.log" 2>&1 \
    || fail "image build (debootstrap ${include:-base})" "$LOGS/images.log" "debootstrap failed"
  # debootstrap leaves these mounted if interrupted; never pack host mounts.
  umount "$dir/proc" "$dir/sys" 2>/dev/null || true
  # like debian:*-slim: no docs, man pages or apt lists
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/log/*.log \
    "$dir"/etc/hostname "$dir"/etc/machine-id
  : >"$dir/etc/resolv.conf"
}

# image NAME CONFIG_JSON: pack $work/NAME into $IMAGES/NAME.oci.
pack() {
  "${OCI[@]}" build "$2" "$IMAGES/$1.oci.tmp" "$3" >>"$LOGS/images.log" 2>&1 \
    || fail "image build ($1)" "$LOGS/images.log" "packing the image failed"
  rm -rf "$IMAGES/$1.oci"; mv "$IMAGES/$1.oci.tmp" "$IMAGES/$1.oci"
}

# The nginx image's cache name carries a version: bump it when its recipe changes.
NGINX_OCI=nginx-v2

images_cached() {
  local name
  for name in debian "$NGINX_OCI" redis busybox pause; do
    [[ -f $IMAGES/$name.oci/index.json ]] || return 1
  done
}

build_images() {
  local work=$CACHE/rootfs
  if images_cached; then
    say "    cached: $IMAGES"
    return 0
  fi
  mkdir -p "$IMAGES" "$work" "$LOGS"
  say "    building images into $IMAGES (log: $LOGS/images.log)"

  if [[ ! -f $IMAGES/pause.oci/index.json ]]; then
    rm -rf "$work/pause"; mkdir -p "$work/pause"
    gcc -static -Os -o "$work/pause/pause" "$D/images/pause.c" >>"$LOGS/images.log" 2>&1 \
      || fail "image build (pause)" "$LOGS/images.log" "compiling pause.c failed"
    strip "$work/pause/pause"
    pack pause "$work/pause" '{"Entrypoint": ["/pause"], "User": "65535:65535"}'
    rm -rf "$work/pause"
    say "    pause"
  fi

  if [[ ! -f $IMAGES/busybox.oci/index.json ]]; then
    local bb=$work/busybox applet
    rm -rf "$bb"; mkdir -p "$bb/bin" "$bb/etc" "$bb/tmp" "$bb/root" "$bb/var" "$bb/home" "$bb/dev" "$bb/proc" "$bb/sys"
    chmod 1777 "$bb/tmp"
    cp /bin/busybox "$bb/bin/busybox"
    for applet in $(/bin/busybox --list); do
      [[ $applet == busybox ]] || ln -sf busybox "$bb/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$bb/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$bb/etc/group"
    pack busybox "$bb" '{"Cmd": ["sh"]}'
    rm -rf "$bb"
    say "    busybox"
  fi

  if [[ ! -f $IMAGES/debian.oci/index.json ]]; then
    debian_rootfs "$work/debian"
    pack debian "$work/debian" '{"Cmd": ["bash"]}'
    rm -rf "$work/debian"
    say "    debian:bookworm-slim"
  fi

  if [[ ! -f $IMAGES/$NGINX_OCI.oci/index.json ]]; then
    local ng=$work/nginx
    debian_rootfs "$ng" nginx
    # like the official image: access log (combined format) to stdout, errors to stderr, and
    # the site served from /usr/share/nginx/html (Debian's default site uses /var/www/html)
    ln -sf /dev/stdout "$ng/var/log/nginx/access.log"
    ln -sf /dev/stderr "$ng/var/log/nginx/error.log"
    sed -i 's#^\(\s*root\s\+\)/var/www/html;#\1/usr/share/nginx/html;#' "$ng/etc/nginx/sites-available/default"
    grep -q 'root /usr/share/nginx/html;' "$ng/etc/nginx/sites-available/default" \
      || fail "image build (nginx)" "$LOGS/images.log" "could not point the default site at /usr/share/nginx/html"
    [[ -f $ng/usr/share/nginx/html/index.html ]] \
      || fail "image build (nginx)" "$LOGS/images.log" "Debian's nginx has no /usr/share/nginx/html/index.html"
    pack "$NGINX_OCI" "$ng" '{"Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT"}'
    rm -rf "$ng"
    say "    nginx"
  fi

  if [[ ! -f $IMAGES/redis.oci/index.json ]]; then
    local rd=$work/redis
    debian_rootfs "$rd" redis-server
    mkdir -p "$rd/data"
    chroot "$rd" chown redis:redis /data
    pack redis "$rd" '{"Cmd": ["redis-server", "--protected-mode", "no"], "User": "redis", "WorkingDir": "/data", "ExposedPorts": {"6379/tcp": {}}}'
    rm -rf "$rd"
    say "    redis"
  fi
  rmdir "$work" 2>/dev/null || true
}

# The CoreDNS image holds the multi-call binary, started as /coredns.
build_coredns_image() {
  local bin out dir
  bin=$(bin_dir)
  out=$bin/coredns.oci
  [[ -f $out/index.json ]] && return 0
  dir=$CACHE/rootfs/coredns
  rm -rf "$dir"; mkdir -p "$dir/etc" "$dir/tmp"
  cp "$bin/kubernel-k8s" "$dir/coredns"
  printf 'root:x:0:0:root:/:/coredns\n' >"$dir/etc/passwd"
  "${OCI[@]}" build "$dir" "$out.tmp" '{"Entrypoint": ["/coredns"], "ExposedPorts": {"53/udp": {}, "53/tcp": {}}}' >>"$LOGS/images.log" 2>&1 \
    || fail "image build (coredns)" "$LOGS/images.log" "packing the image failed"
  rm -rf "$out"; mv "$out.tmp" "$out"; rm -rf "$dir"
}

# The metrics-server image holds its binary as /metrics-server.
build_metrics_server_image() {
  local bin out dir
  bin=$(bin_dir)
  out=$bin/metrics-server.oci
  [[ -f $out/index.json ]] && return 0
  dir=$CACHE/rootfs/metrics-server
  rm -rf "$dir"; mkdir -p "$dir/etc" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  cp "$bin/metrics-server" "$dir/metrics-server"
  printf 'root:x:0:0:root:/:/metrics-server\nnobody:x:65534:65534:nobody:/:/metrics-server\n' >"$dir/etc/passwd"
  "${OCI[@]}" build "$dir" "$out.tmp" '{"Entrypoint": ["/metrics-server"], "User": "65534:65534", "ExposedPorts": {"10250/tcp": {}}}' >>"$LOGS/images.log" 2>&1 \
    || fail "image build (metrics-server)" "$LOGS/images.log" "packing the image failed"
  rm -rf "$out"; mv "$out.tmp" "$out"; rm -rf "$dir"
}

# Prometheus and prometheus-adapter: each image holds its one static binary,
# run as nobody (the manifests give them their configuration and data dirs).
build_monitoring_image() {
  local name=$1 ports=$2 bin out dir
  bin=$(monitoring_dir)
  out=$bin/$name.oci
  [[ -f $out/index.json ]] && return 0
  dir=$CACHE/rootfs/$name
  rm -rf "$dir"; mkdir -p "$dir/etc" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  cp "$bin/$name" "$dir/$name"
  printf 'root:x:0:0:root:/:/%s\nnobody:x:65534:65534:nobody:/:/%s\n' "$name" "$name" >"$dir/etc/passwd"
  "${OCI[@]}" build "$dir" "$out.tmp" "{\"Entrypoint\": [\"/$name\"], \"User\": \"65534:65534\", \"ExposedPorts\": {$ports}}" >>"$LOGS/images.log" 2>&1 \
    || fail "image build ($name)" "$LOGS/images.log" "packing the image failed"
  rm -rf "$out"; mv "$out.tmp" "$out"; rm -rf "$dir"
}

# push OCI_DIR REF...: push one image under each name (skips what is up to date).
push_one() {
  local dir=$1; shift
  "${OCI[@]}" push "$dir" "$REGISTRY" "$@" 2>>"$LOGS/images.log" \
    || fail "registry (pushing $*)" "$LOGS/images.log" "push failed; registry log: $LOGS/registry.log"
}

push_all_images() {
  build_coredns_image
  build_metrics_server_image
  build_monitoring_image prometheus '"9090/tcp": {}'
  build_monitoring_image prometheus-adapter '"6443/tcp": {}'
  push_one "$IMAGES/pause.oci" "${PAUSE_IMAGE#registry.k8s.io/}"
  push_one "$(bin_dir)/coredns.oci" "${COREDNS_IMAGE#registry.k8s.io/}"
  push_one "$(bin_dir)/metrics-server.oci" "${METRICS_SERVER_IMAGE#registry.k8s.io/}"
  push_one "$IMAGES/busybox.oci" library/busybox:latest library/busybox:stable
  push_one "$IMAGES/debian.oci" library/debian:bookworm-slim library/debian:bookworm library/debian:12-slim library/debian:12
  push_one "$IMAGES/$NGINX_OCI.oci" library/nginx:latest library/nginx:stable
  push_one "$IMAGES/redis.oci" library/redis:latest
  push_one "$(monitoring_dir)/prometheus.oci" "$PROMETHEUS_IMAGE"
  push_one "$(monitoring_dir)/prometheus-adapter.oci" "${ADAPTER_IMAGE#registry.k8s.io/}"
}
