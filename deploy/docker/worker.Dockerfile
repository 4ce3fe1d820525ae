# syntax=docker/dockerfile:1
# shardwise worker image, CPU inference (onnxruntime-node's bundled CPU provider). Build from the
# repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t shardwise/worker:0.1.0 .
# No models inside: they are read from MODEL_DIR (a volume). For NVIDIA GPUs use worker-cuda.Dockerfile.
ARG NODE_IMAGE=node:20-bookworm-slim
# The npm the project is developed with: package.json's "allowScripts" policy is an npm 11 feature.
ARG NPM_VERSION=11.19.1

FROM ${NODE_IMAGE} AS build
ARG NPM_VERSION
WORKDIR /app
# onnxruntime-node's install script only downloads the CUDA provider from NuGet; the CPU provider
# ships in the npm package. Skip it (npm 11 also skips it: package.json denies it in allowScripts).
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
RUN npm install -g "npm@${NPM_VERSION}"
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
RUN npm run build:product \
 && npm prune --omit=dev \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v6/darwin node_modules/onnxruntime-node/bin/napi-v6/win32

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    WORKER_PORT=8081 \
    DEVICE=cpu
WORKDIR /app
# Owned by root, read-only for the app user: the pod runs with a read-only root filesystem anyway.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# uid 1000 is the image's "node" user; numeric so that runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8081
# The worker drains on SIGTERM (finishes its shards, takes no new ones): node runs as PID 1 and
# receives the signal directly.
CMD ["node", "dist/apps/worker/src/main.js"]
