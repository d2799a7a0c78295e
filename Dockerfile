# keydesk container image: build on Debian 12, run on Debian 12 slim as a non-root user.
#
# Build:
#   docker build -t keydesk .
#
# Run (config, TLS material and secrets from the host, read-only; the audit log in a named volume):
#   docker run -d --name keydesk --restart unless-stopped \
#     -p 8443:8443 \
#     -v /etc/keydesk:/etc/keydesk:ro \
#     -v keydesk-audit:/var/lib/keydesk/audit \
#     keydesk
#
# The container runs as user `keydesk`, uid/gid 10001 (see KEYDESK_UID below). Files under the
# host's /etc/keydesk must be readable by that uid; keydesk refuses secret files (bind password,
# audit key) that are readable by group or others, so give them `chown 10001:10001` and mode 0600.
# A named volume for the audit directory inherits the image's owner and mode (10001, 0700); a host
# directory bind-mounted there instead must be created with `install -d -o 10001 -g 10001 -m 0700`.
#
# In keydesk.toml, `[server] listen` must be "0.0.0.0:8443" (the default, 127.0.0.1, is not
# reachable from outside the container), and `[audit] directory` must be "/var/lib/keydesk/audit".
# See deploy/keydesk.example.toml and deploy/README.md.

# ---------------------------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------------------------
FROM debian:12 AS build

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake ninja-build pkg-config \
        libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
        libldap-dev libssl-dev libspdlog-dev libfmt-dev \
        libtomlplusplus-dev libcli11-dev libsqlite3-dev libarchive-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . /src

RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKEYDESK_BUILD_TESTS=OFF \
    && cmake --build /build --target keydesk \
    && bin="$(find /build -type f -name keydesk -perm -u+x -print -quit)" \
    && test -n "$bin" \
    && install -D -m 0755 -s "$bin" /out/keydesk

# ---------------------------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------------------------
FROM debian:12-slim

ARG DEBIAN_FRONTEND=noninteractive
ARG KEYDESK_UID=10001

# Shared libraries only (names checked with `apt-cache show` on Debian 12). Boost.Beast, Asio and
# System are header-only; Boost.JSON and Boost.URL are not. Debian's toml++ is a shared library.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        libldap-2.5-0 \
        libssl3 \
        libspdlog1.10 \
        libfmt9 \
        libboost-json1.81.0 \
        libboost-url1.81.0 \
        libtomlplusplus3 \
        libsqlite3-0 \
        libarchive13 \
    && rm -rf /var/lib/apt/lists/*

# Dedicated system user: no login shell, no home directory.
RUN groupadd --system --gid "${KEYDESK_UID}" keydesk \
    && useradd --system --uid "${KEYDESK_UID}" --gid keydesk \
        --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin keydesk \
    && install -d -o root -g keydesk -m 0750 /etc/keydesk \
    && install -d -o root -g root -m 0755 /var/lib/keydesk \
    && install -d -o keydesk -g keydesk -m 0700 /var/lib/keydesk/audit

COPY --from=build /out/keydesk /usr/local/bin/keydesk

# Fail the image build if a shared library the binary needs is missing from the list above.
RUN if ldd /usr/local/bin/keydesk | grep 'not found'; then exit 1; fi

# /etc/keydesk: keydesk.toml, tls/, secrets/ (mount read-only).
# /var/lib/keydesk/audit: the append-only audit log (owned by keydesk, 0700); keep it on a volume.
VOLUME ["/etc/keydesk", "/var/lib/keydesk/audit"]

EXPOSE 8443

# No HEALTHCHECK: the slim image has no curl or wget, and adding one only for that would widen
# the attack surface. Probe https://HOST:8443/ from the orchestrator or a sidecar instead.

USER keydesk
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/keydesk"]
CMD ["serve", "--config", "/etc/keydesk/keydesk.toml"]
