# syntax=docker/dockerfile:1
# BookMe gateway image: built with dev dependencies, run with production ones only,
# on distroless Node 24, the current LTS (no shell, no package manager), as a numeric non-root user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
# glibc gives each thread that mallocs its own arena; two are plenty for one event loop and
# a few helper threads, and saved ~5 MB of RSS in the 100,000-tenant soak (bench/README.md).
ENV MALLOC_ARENA_MAX=2
# Node 24 lets V8's young generation grow to 128 MB committed; 16 MB semi-spaces (Node 20's
# default) serve the same load at the same CPU with ~86 MB less RSS (bench/README.md). The
# chart's NODE_OPTIONS (heapMaxMb, semiSpaceMb) replaces this.
ENV NODE_OPTIONS=--max-semi-space-size=16
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# 65532 = distroless "nonroot"; the chart's securityContext pins the same ids.
USER 65532:65532
# 8080 proxy traffic, 9090 admin (/healthz /readyz /metrics): the config's defaults.
EXPOSE 8080 9090
# Where the chart mounts the config; every command reads it when no --config is given.
ENV BOOKME_GATEWAY_CONFIG=/etc/bookme-gateway/gateway.yaml
# The entrypoint is the CLI and the default command `start` (CONTRACT.md §16): `docker run IMAGE`
# starts the gateway, `docker run IMAGE check` checks the same config, and a Kubernetes
# container's `args` replace only the command.
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js"]
CMD ["start"]
