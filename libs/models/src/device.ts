import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DeviceUnavailableError } from './errors.js';

export type Device = 'cpu' | 'webgpu' | 'cuda';

const CUDA_INSTALL_HINT =
  'run "node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12" ' +
  '(the CUDA provider is downloaded by that install script, which ONNXRUNTIME_NODE_INSTALL=skip turns off), ' +
  'make CUDA 12 and cuDNN 9 visible on LD_LIBRARY_PATH, or set device to "cpu"';

/**
 * Checks what can be checked without a GPU session: the platform and whether
 * the provider library is on disk. A missing driver only shows up when a
 * session is created; `explainDeviceFailure` words that case.
 */
export function assertDeviceAvailable(device: Device): void {
  if (device === 'cpu') return;
  if (device === 'cuda') {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      throw new DeviceUnavailableError('cuda', `onnxruntime-node ships its CUDA provider for linux-x64 only (this is ${process.platform}-${process.arch}); set device to "cpu"`);
    }
    const library = join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so');
    if (!existsSync(library)) throw new DeviceUnavailableError('cuda', `${library} is missing; ${CUDA_INSTALL_HINT}`);
    return;
  }
  if (device === 'webgpu') {
    if (!['linux-x64', 'win32-x64', 'win32-arm64', 'darwin-x64', 'darwin-arm64'].includes(`${process.platform}-${process.arch}`)) {
      throw new DeviceUnavailableError('webgpu', `onnxruntime-node has no WebGPU build for ${process.platform}-${process.arch}; set device to "cpu"`);
    }
    return;
  }
  throw new DeviceUnavailableError(String(device), 'unknown device; use "cpu", "cuda" or "webgpu"');
}

/** Turns an ONNX Runtime session-creation failure on a GPU device into an actionable error. */
export function explainDeviceFailure(device: Device, cause: unknown): Error {
  const reason = (cause instanceof Error ? cause.message : String(cause)).trim();
  const how =
    device === 'cuda'
      ? `ONNX Runtime could not start the CUDA provider (${reason}); ${CUDA_INSTALL_HINT}`
      : `ONNX Runtime could not start WebGPU (${reason}); it needs a GPU with a Vulkan (Linux), D3D12 (Windows) or Metal (macOS) driver; set device to "cpu"`;
  return new DeviceUnavailableError(device, how);
}

function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  // resolves to <pkg>/dist/index.js; native files live in <pkg>/bin/napi-v6/<platform>/<arch>
  const pkg = dirname(dirname(require.resolve('onnxruntime-node')));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}
