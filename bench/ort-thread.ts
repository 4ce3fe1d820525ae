/**
 * One raw onnxruntime-node thread of the "limit" measurement: an InferenceSession, nothing else.
 * It receives ready-made int64 input tensors (built before the clock started), runs them, and
 * mean-pools + L2-normalizes straight from the output buffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface OrtThreadConfig {
  modelPath: string;
  intraOpThreads: number;
}

export interface OrtBatch {
  id: number;
  batch: number;
  seq: number;
  lengths: Int32Array;
  inputIds: BigInt64Array;
  mask: BigInt64Array;
}

const port = parentPort!;
const config = workerData as OrtThreadConfig;
const session = await ort.InferenceSession.create(config.modelPath, {
  intraOpNumThreads: config.intraOpThreads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const wantsTokenTypes = session.inputNames.includes('token_type_ids');

async function run(job: OrtBatch): Promise<Float32Array> {
  const dims = [job.batch, job.seq];
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', job.inputIds, dims),
    attention_mask: new ort.Tensor('int64', job.mask, dims),
  };
  if (wantsTokenTypes) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(job.batch * job.seq), dims);
  const output = await session.run(feeds);
  const hidden = (output.last_hidden_state ?? Object.values(output)[0]) as ort.Tensor;
  const data = hidden.data as Float32Array; // [batch, seq, width]
  const width = hidden.dims[2] as number;
  const out = new Float32Array(job.batch * width);
  const acc = new Float64Array(width);
  for (let b = 0; b < job.batch; b++) {
    const count = job.lengths[b] as number;
    acc.fill(0);
    for (let t = 0; t < count; t++) {
      const base = (b * job.seq + t) * width;
      for (let h = 0; h < width; h++) acc[h] += data[base + h] as number;
    }
    let norm = 0;
    for (let h = 0; h < width; h++) {
      acc[h] /= Math.max(count, 1e-9);
      norm += acc[h]! * acc[h]!;
    }
    const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let h = 0; h < width; h++) out[b * width + h] = acc[h]! * scale;
  }
  for (const tensor of Object.values(output)) (tensor as ort.Tensor).dispose?.();
  return out;
}

port.on('message', (job: OrtBatch | { type: 'close' }) => {
  if ('type' in job) {
    void session.release().finally(() => process.exit(0));
    return;
  }
  run(job).then(
    (embeddings) => port.postMessage({ id: job.id, embeddings }, [embeddings.buffer as ArrayBuffer]),
    (error: unknown) => port.postMessage({ id: job.id, error: String(error) }),
  );
});
port.postMessage({ ready: true });
