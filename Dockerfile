# socketd image: the Go binary with the socket.io browser bundles embedded.
# The bundles come from the npm registry at build time (client_js/package-lock.json).
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm make && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not copied in: pass the version (docker build --build-arg VERSION=$(git describe --always --dirty)).
ARG VERSION=dev
RUN make client-js && CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/socketd ./cmd/socketd

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 socketd
COPY --from=build /out/socketd /usr/local/bin/socketd
USER socketd
EXPOSE 8080
# Mount the operator's nodejs.config.js here (or set NODE_* variables).
ENTRYPOINT ["/usr/local/bin/socketd"]
CMD ["/etc/socketd/nodejs.config.js"]
