# One image: the relay (entrypoint) with restaurant-menu, menu-api and loadtest
# beside it, a static binary on an empty base, running as a non-root user.
#
# The four programs are one multi-call binary, /usr/local/bin/restaurants:
# /usr/local/bin/menu-api, restaurant-menu and loadtest are relative symlinks
# to it, and the name it is started under picks the program (see
# cmd/restaurants). One Go runtime, net/http and protobuf instead of four.
#
# Two ways to build it (hack/image.sh, run by `make image`, picks one):
#
#   host      The binary built on the host and copied, with its symlinks, into
#             `FROM scratch`, with the host's CA certificates. Needs no base
#             image, so it builds without any registry (air-gapped machines,
#             CI here):
#               docker build --target host -f Dockerfile <context with bin/ and ca-certificates.crt>
#             where bin/ holds restaurants and the symlinks menu-api,
#             restaurant-menu and loadtest -> restaurants (COPY keeps them).
#
#   registry  The conventional multi-stage build: a Go builder image compiles,
#             distroless/static:nonroot runs. Needs a registry to pull from:
#               DOCKER_BUILDKIT=1 docker build --target registry -t restaurants:dev .
#
# The host stage comes first so that a builder without BuildKit, which runs
# every stage before the target, never pulls an image for it.

ARG GO_VERSION=1.26
ARG GO_IMAGE=golang:${GO_VERSION}
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown

FROM scratch AS host
ARG VERSION
ARG REVISION
ARG CREATED
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY bin/ /usr/local/bin/
ENV PATH=/usr/local/bin
LABEL org.opencontainers.image.title="restaurants" \
      org.opencontainers.image.description="Caching relay for the lunch-menu API of the restaurants near SciLifeLab, with its CLI, stand-in upstream and load tool" \
      org.opencontainers.image.source="https://github.com/scilifelab/restaurants" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
USER 65532:65532
EXPOSE 8000 9090
ENTRYPOINT ["/usr/local/bin/restaurants"]

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/restaurants ./cmd/restaurants \
 && ln -s restaurants /out/menu-api \
 && ln -s restaurants /out/restaurant-menu \
 && ln -s restaurants /out/loadtest

FROM ${RUNTIME_IMAGE} AS registry
ARG VERSION
ARG REVISION
ARG CREATED
COPY --from=build /out/ /usr/local/bin/
LABEL org.opencontainers.image.title="restaurants" \
      org.opencontainers.image.description="Caching relay for the lunch-menu API of the restaurants near SciLifeLab, with its CLI, stand-in upstream and load tool" \
      org.opencontainers.image.source="https://github.com/scilifelab/restaurants" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
USER 65532:65532
EXPOSE 8000 9090
ENTRYPOINT ["/usr/local/bin/restaurants"]
