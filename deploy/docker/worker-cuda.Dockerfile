# syntax=docker/dockerfile:1
# shardwise worker image for NVIDIA GPUs (DEVICE=cuda): onnxruntime-node with its CUDA execution
# provider, on CUDA 12 + cuDNN 9 (what onnxruntime 1.2x-1.3x's CUDA 12 build needs). linux/amd64
# only: NuGet has no CUDA provider for arm64. Build from the repository root, with internet access:
#   docker build --platform linux/amd64 -f deploy/docker/worker-cuda.Dockerfile \
#     -t shardwise/worker-cuda:0.1.0 .
# The nodes need the NVIDIA driver (>= 525 for CUDA 12.x; 570+ for 12.8 without forward
# compatibility) and the NVIDIA device plugin / GPU operator. No models inside: MODEL_DIR is a volume.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
# The npm the project is developed with: package.json's "allowScripts" policy is an npm 11 feature.
ARG NPM_VERSION=11.19.1

# Node 20 and npm 11, taken from the official image (its binaries run on Ubuntu's glibc).
FROM ${NODE_IMAGE} AS node
ARG NPM_VERSION
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
RUN npm install -g "npm@${NPM_VERSION}"

# Compile the TypeScript (needs the dev dependencies, not CUDA).
FROM node AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
RUN npm run build:product

FROM ${CUDA_IMAGE}
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /app
COPY package.json package-lock.json ./
# onnxruntime-node's postinstall script (script/install.js) downloads the CUDA provider libraries
# (libonnxruntime_providers_cuda.so, _shared, _tensorrt) from the Microsoft.ML.OnnxRuntime.Gpu.Linux
# NuGet package; the npm package itself only carries the CPU provider. Everywhere else the project
# skips that script: ONNXRUNTIME_NODE_INSTALL=skip, and for npm 11 package.json says
# "allowScripts": {"onnxruntime-node": false}. In npm 11 an explicit `false` is a denial that wins:
#   - `npm install-scripts approve onnxruntime-node` refuses ("is denied; remove the entry from
#     allowScripts to approve"),
#   - `npm rebuild onnxruntime-node` and `npm ci` skip the script silently,
#   - `--allow-scripts=onnxruntime-node` is an error in a project-scoped install.
# So this image's copy of package.json turns the denial into an approval, then installs with the
# script running and asked for the CUDA 12 files explicitly (npm 10 ignores allowScripts and runs
# the script anyway). Behind a proxy, set GLOBAL_AGENT_HTTPS_PROXY for the download.
RUN npm pkg set "allowScripts.onnxruntime-node=true" --json \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci --omit=dev --foreground-scripts \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_shared.so \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v6/darwin node_modules/onnxruntime-node/bin/napi-v6/win32 \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production \
    WORKER_PORT=8081 \
    DEVICE=cuda \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# uid 1000 ("ubuntu" in Ubuntu 24.04 images); numeric so that runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8081
# The worker drains on SIGTERM: node runs as PID 1 and receives the signal directly.
CMD ["node", "dist/apps/worker/src/main.js"]
