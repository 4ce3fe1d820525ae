/**
 * Renders every overlay under deploy/k8s/overlays with `kubectl kustomize`, validates each object
 * against its schema (kubernetes-models, @kubernetes-models/keda, @kubernetes-models/prometheus-operator)
 * and checks what the deployment promises: locked-down containers with requests, limits and probes,
 * Redis with AOF and noeviction, a ReadWriteMany results volume (or, in the S3 overlays, a bucket and
 * no shared volume at all), network policies, GPU scheduling, one autoscaler per overlay driven
 * by shardwise_backlog_worker_seconds, and in the HA overlays three Redis pods with sentinels.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { apiEnvSchema, commonEnvSchema, workerEnvObjectSchema, workerEnvSchema } from '#shared';

const ROOT = resolve(import.meta.dirname, '../..');
const K8S = join(ROOT, 'deploy/k8s');
const OVERLAYS_DIR = join(K8S, 'overlays');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const NAMESPACE = 'shardwise';
const GPU_OVERLAYS = new Set(['gpu', 'gpu-hpa']);
const KEDA_OVERLAYS = new Set(['cpu', 'gpu', 'cpu-s3']);
/** The object store in a bucket (components/s3-store): no pod mounts a shared volume. */
const S3_OVERLAYS = new Set(['cpu-s3']);
const HPA_OVERLAYS = new Set(['gpu-hpa']);
/** Redis replicated with Sentinel (components/redis-sentinel) in place of the single Redis. */
const HA_OVERLAYS = new Set(['cpu-ha']);
const SENTINEL_PORT = 26379;
const AUTOSCALING_SIGNAL = 'shardwise_backlog_worker_seconds';
const STANDARD_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/component', 'app.kubernetes.io/part-of', 'app.kubernetes.io/version'];

// Loose views of the rendered objects: the schemas above check the shapes, these are for reading.
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };
type Container = any;
type PodSpec = any;

interface Validatable {
  validate(): void;
}
/**
 * Schema per apiVersion/kind: the model class (JSON-schema validation: types, formats, required
 * fields) and its TypeScript interface (unknown fields, which the JSON schemas let through).
 * A kind without an entry fails the test rather than going unchecked.
 */
const MODELS: Record<string, { model: new (data: any) => Validatable; module: string; type: string }> = {
  'v1/Namespace': { model: Namespace, module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1/ServiceAccount': { model: ServiceAccount, module: 'kubernetes-models/v1/ServiceAccount', type: 'IServiceAccount' },
  'v1/PersistentVolumeClaim': { model: PersistentVolumeClaim, module: 'kubernetes-models/v1/PersistentVolumeClaim', type: 'IPersistentVolumeClaim' },
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'apps/v1/StatefulSet': { model: StatefulSet, module: 'kubernetes-models/apps/v1/StatefulSet', type: 'IStatefulSet' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', type: 'INetworkPolicy' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    type: 'IHorizontalPodAutoscaler',
  },
  'keda.sh/v1alpha1/ScaledObject': { model: ScaledObject, module: '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', type: 'IScaledObject' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    type: 'IServiceMonitor',
  },
  'monitoring.coreos.com/v1/PodMonitor': {
    model: PodMonitor,
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
    type: 'IPodMonitor',
  },
};

/**
 * Type-checks every rendered object as an object literal of its model's interface: TypeScript's
 * excess-property check reports misspelt or misplaced fields (one per object at a time).
 * One in-memory program for all overlays; returns the messages per overlay.
 */
function unknownFields(overlays: Map<string, Obj[]>): Map<string, string[]> {
  const sources = new Map<string, { overlay: string; text: string; names: string[] }>();
  for (const [overlay, objs] of overlays) {
    const names: string[] = [];
    let text = '';
    objs.forEach((o, i) => {
      const entry = MODELS[`${o.apiVersion}/${o.kind}`];
      if (!entry) return;
      names.push(ref(o));
      text += `import type { ${entry.type} as T${i} } from '${entry.module}';\nexport const o${i}: T${i} = ${JSON.stringify(o)};\n`;
    });
    sources.set(join(ROOT, 'test/deploy', `__rendered_${overlay.replace(/\W/g, '_')}__.ts`), { overlay, text, names });
  }
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (file, lang, ...rest) => {
    const virtual = sources.get(file);
    return virtual ? ts.createSourceFile(file, virtual.text, lang) : getSourceFile.call(host, file, lang, ...rest);
  };
  host.fileExists = (file) => sources.has(file) || fileExists.call(host, file);
  host.readFile = (file) => sources.get(file)?.text ?? readFile.call(host, file);
  const program = ts.createProgram([...sources.keys()], options, host);
  const result = new Map<string, string[]>([...overlays.keys()].map((o) => [o, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const virtual = d.file && sources.get(d.file.fileName);
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (!virtual) throw new Error(`type-check of the rendered manifests: ${message}`);
    result.get(virtual.overlay)!.push(message);
  }
  return result;
}

function requireKubectl(): void {
  try {
    execFileSync(KUBECTL, ['version', '--client'], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `kubectl not found or not runnable (${KUBECTL}): these tests render the manifests with \`kubectl kustomize\`. ` +
        `Install kubectl >= 1.27 (it bundles kustomize v5) or point KUBECTL at it. Cause: ${(error as Error).message}`,
    );
  }
}

function render(dir: string): Obj[] {
  let out: string;
  try {
    out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 32 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer | string }).stderr?.toString() ?? '';
    throw new Error(`kubectl kustomize ${dir} failed:\n${stderr || (error as Error).message}`);
  }
  const docs = parseAllDocuments(out);
  if (!Array.isArray(docs)) throw new Error(`kubectl kustomize ${dir}: no YAML documents`);
  return docs.map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${dir} document ${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as Obj;
  });
}

const ref = (o: Obj) => `${o.kind}/${o.metadata.name}`;
const find = (objs: Obj[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const ofKind = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);
function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`);
  return value;
}

const podSpecOf = (o: Obj): PodSpec => o.spec.template.spec;
const workloads = (objs: Obj[]) => objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const containersOf = (o: Obj): Container[] => [...(podSpecOf(o).initContainers ?? []), ...podSpecOf(o).containers];
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Kubernetes quantity to a number (cores for CPU, bytes for memory). */
function quantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(value);
  if (!m) throw new Error(`bad quantity ${value}`);
  const units: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  const unit = units[m[2]!];
  if (unit === undefined) throw new Error(`bad quantity unit ${value}`);
  return Number(m[1]) * unit;
}

/** The env a container gets from its config maps (and plain `env` entries); Secrets hold credentials only, and are left out. */
function envOf(objs: Obj[], container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.secretRef) continue;
    const name = must(source.configMapRef?.name as string | undefined, 'configMapRef in envFrom');
    const cm = must(find(objs, 'ConfigMap', name), `ConfigMap ${name} used by container ${container.name}`);
    Object.assign(env, cm.data ?? {});
  }
  for (const e of container.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  return env;
}

function probePath(probe: any): string | undefined {
  return probe?.httpGet?.path;
}

/** Whether a probe/port reference (number or name) points at the given container port. */
function portIs(container: Container, port: number | string, containerPort: number): boolean {
  if (port === containerPort) return true;
  return (container.ports ?? []).some((p: any) => p.name === port && p.containerPort === containerPort);
}

const overlayNames = existsSync(OVERLAYS_DIR)
  ? readdirSync(OVERLAYS_DIR, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(OVERLAYS_DIR, d.name, 'kustomization.yaml')))
      .map((d) => d.name)
      .sort()
  : [];

describe('deploy/k8s overlays', () => {
  it('has the cpu, gpu, gpu-hpa, cpu-s3 and cpu-ha overlays', () => {
    expect(overlayNames).toEqual(expect.arrayContaining(['cpu', 'gpu', 'gpu-hpa', 'cpu-s3', 'cpu-ha']));
  });

  const rendered = new Map<string, Obj[]>();
  beforeAll(() => {
    requireKubectl();
    for (const name of overlayNames) rendered.set(name, render(join(OVERLAYS_DIR, name)));
  });
  const objects = (overlay: string) => must(rendered.get(overlay), `rendering of overlay ${overlay}`);
  let fieldCheck: Map<string, string[]> | undefined;
  const fieldProblems = () => (fieldCheck ??= unknownFields(rendered));

  describe.each(overlayNames)('overlay %s', (overlay) => {
    it('validates every object against its schema', () => {
      const objs = objects(overlay);
      expect(objs.length).toBeGreaterThan(10);
      const problems: string[] = [];
      for (const o of objs) {
        const Model = MODELS[`${o.apiVersion}/${o.kind}`]?.model;
        if (!Model) {
          problems.push(`${ref(o)}: no schema registered for ${o.apiVersion} ${o.kind} (add one to MODELS)`);
          continue;
        }
        try {
          new Model(o).validate();
        } catch (error) {
          problems.push(`${ref(o)}: ${(error as Error).message}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('has no unknown or misplaced fields', () => {
      expect(fieldProblems().get(overlay)).toEqual([]);
    });

    it('puts everything in the shardwise namespace with the standard labels', () => {
      const objs = objects(overlay);
      const seen = new Set<string>();
      for (const o of objs) {
        const id = `${o.kind}/${o.metadata.name}`;
        expect(seen.has(id), `duplicate ${id}`).toBe(false);
        seen.add(id);
        if (o.kind === 'Namespace') expect(o.metadata.name).toBe(NAMESPACE);
        else expect(o.metadata.namespace, ref(o)).toBe(NAMESPACE);
        for (const label of STANDARD_LABELS) expect(o.metadata.labels?.[label], `${ref(o)} label ${label}`).toBeTruthy();
        expect(o.metadata.labels?.['app.kubernetes.io/part-of'], ref(o)).toBe('shardwise');
      }
      const versions = new Set(objs.map((o) => o.metadata.labels?.['app.kubernetes.io/version']));
      expect([...versions], 'one app.kubernetes.io/version across the overlay').toHaveLength(1);
      for (const w of workloads(objs)) {
        const podLabels = w.spec.template.metadata.labels;
        expect(matches(w.spec.selector.matchLabels, podLabels), `${ref(w)} selector matches its pods`).toBe(true);
        expect(Object.keys(w.spec.selector.matchLabels), `${ref(w)} selector must not include the version`).not.toContain('app.kubernetes.io/version');
        for (const label of STANDARD_LABELS) expect(podLabels[label], `${ref(w)} pod label ${label}`).toBeTruthy();
      }
    });

    it('gives every container requests, limits, probes and a locked-down securityContext', () => {
      const objs = objects(overlay);
      const all = workloads(objs);
      const redis = HA_OVERLAYS.has(overlay) ? 'StatefulSet/shardwise-redis-ha' : 'StatefulSet/shardwise-redis';
      expect(all.map(ref).sort()).toEqual(['Deployment/shardwise-api', 'Deployment/shardwise-worker', redis]);
      for (const w of all) {
        const pod = podSpecOf(w);
        expect(pod.automountServiceAccountToken, `${ref(w)} automountServiceAccountToken`).toBe(false);
        expect(pod.hostNetwork ?? false).toBe(false);
        expect(pod.hostPID ?? false).toBe(false);
        expect(pod.hostIPC ?? false).toBe(false);
        for (const c of containersOf(w)) {
          const where = `${ref(w)} container ${c.name}`;
          const sc = c.securityContext ?? {};
          for (const r of ['cpu', 'memory']) {
            expect(c.resources?.requests?.[r], `${where} requests.${r}`).toBeDefined();
            expect(c.resources?.limits?.[r], `${where} limits.${r}`).toBeDefined();
            expect(quantity(c.resources.limits[r]), `${where} ${r} limit >= request`).toBeGreaterThanOrEqual(quantity(c.resources.requests[r]));
          }
          if (!(pod.initContainers ?? []).includes(c)) {
            expect(c.readinessProbe, `${where} readinessProbe`).toBeDefined();
            expect(c.livenessProbe, `${where} livenessProbe`).toBeDefined();
          }
          expect(sc.allowPrivilegeEscalation, `${where} allowPrivilegeEscalation`).toBe(false);
          expect(sc.readOnlyRootFilesystem, `${where} readOnlyRootFilesystem`).toBe(true);
          expect(sc.privileged ?? false, `${where} privileged`).toBe(false);
          expect(sc.capabilities?.drop, `${where} capabilities.drop`).toContain('ALL');
          expect(sc.capabilities?.add ?? [], `${where} capabilities.add`).toEqual([]);
          expect(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, `${where} runAsNonRoot`).toBe(true);
          expect(sc.runAsUser ?? pod.securityContext?.runAsUser, `${where} runs as a non-zero uid`).toBeGreaterThan(0);
          expect((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type, `${where} seccompProfile`).toBe('RuntimeDefault');
          // A read-only root filesystem needs a writable /tmp.
          const tmp = (c.volumeMounts ?? []).find((m: any) => m.mountPath === '/tmp');
          expect(tmp, `${where} mounts /tmp`).toBeDefined();
          const tmpVolume = pod.volumes.find((v: any) => v.name === tmp.name);
          expect(tmpVolume?.emptyDir, `${where} /tmp is an emptyDir`).toBeDefined();
          expect(c.image, `${where} image is pinned to a tag`).toMatch(/:[\w][\w.-]*$/);
          expect(c.image, `${where} image`).not.toMatch(/:latest$/);
        }
      }
    });

    it('resolves every config map, volume claim and selector it references', () => {
      const objs = objects(overlay);
      for (const w of workloads(objs)) {
        const pod = podSpecOf(w);
        for (const c of containersOf(w)) {
          envOf(objs, c);
          for (const source of c.envFrom ?? []) {
            if (!source.secretRef) continue;
            const { name, optional } = source.secretRef;
            expect(optional === true || find(objs, 'Secret', name) !== undefined, `${ref(w)} container ${c.name}: Secret ${name} is optional or part of the overlay`).toBe(true);
          }
        }
        for (const v of pod.volumes ?? []) {
          if (v.persistentVolumeClaim) {
            expect(find(objs, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName), `${ref(w)} claim ${v.persistentVolumeClaim.claimName}`).toBeDefined();
          }
          if (v.configMap) expect(find(objs, 'ConfigMap', v.configMap.name), `${ref(w)} config map ${v.configMap.name}`).toBeDefined();
        }
        for (const c of containersOf(w)) {
          for (const m of c.volumeMounts ?? []) {
            const declared = [...(pod.volumes ?? []), ...(w.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata)];
            expect(
              declared.some((v: any) => v.name === m.name),
              `${ref(w)} volume ${m.name}`,
            ).toBe(true);
          }
        }
      }
      const podLabelSets = workloads(objs).map((w) => w.spec.template.metadata.labels);
      for (const o of [...ofKind(objs, 'Service'), ...ofKind(objs, 'PodDisruptionBudget')]) {
        const selector = o.kind === 'Service' ? o.spec.selector : o.spec.selector.matchLabels;
        expect(
          podLabelSets.some((labels) => matches(selector, labels)),
          `${ref(o)} selects some pods`,
        ).toBe(true);
      }
      for (const w of workloads(objs)) {
        const pdbs = ofKind(objs, 'PodDisruptionBudget').filter((p) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels));
        if (w.kind === 'Deployment') expect(pdbs.map(ref), `${ref(w)} has a PodDisruptionBudget`).toHaveLength(1);
      }
    });

    it('configures the apps with valid values under the contract variable names', () => {
      const objs = objects(overlay);
      const api = must(find(objs, 'Deployment', 'shardwise-api'), 'API Deployment');
      const worker = must(find(objs, 'Deployment', 'shardwise-worker'), 'worker Deployment');
      const apiEnv = envOf(objs, podSpecOf(api).containers[0]);
      const workerEnv = envOf(objs, podSpecOf(worker).containers[0]);
      const apiKeys = Object.keys(apiEnvSchema.shape);
      const workerKeys = Object.keys(workerEnvObjectSchema.shape);
      // Anything else is a misspelt or stale name (runtime variables of Node itself aside).
      const runtime = (k: string) => /^(NODE_OPTIONS|NODE_ENV|TZ|HOME|UV_THREADPOOL_SIZE|GLOBAL_AGENT_\w+)$/.test(k);
      const known = (keys: string[], k: string) => keys.includes(k) || runtime(k);
      expect(
        Object.keys(apiEnv).filter((k) => !known(apiKeys, k)),
        'API variables the app does not read',
      ).toEqual([]);
      expect(
        Object.keys(workerEnv).filter((k) => !known(workerKeys, k)),
        'worker variables the app does not read',
      ).toEqual([]);
      for (const k of Object.keys(commonEnvSchema.shape)) {
        expect(apiEnv[k], `API and worker agree on ${k}`).toBe(workerEnv[k]);
      }
      const parsedApi = apiEnvSchema.parse(apiEnv);
      const parsedWorker = workerEnvSchema.parse(workerEnv);

      // Redis: the URL names the Redis Service and port.
      const redisUrl = new URL(parsedApi.REDIS_URL);
      const redisSvc = must(find(objs, 'Service', redisUrl.hostname.split('.')[0]!), `Service for ${parsedApi.REDIS_URL}`);
      expect(redisSvc.spec.ports.map((p: any) => p.port)).toContain(Number(redisUrl.port || 6379));

      // Ports: the env, the container ports, the probes and the Service agree.
      const apiC = podSpecOf(api).containers[0];
      const workerC = podSpecOf(worker).containers[0];
      expect(apiC.ports.map((p: any) => p.containerPort)).toContain(parsedApi.PORT);
      expect(workerC.ports.map((p: any) => p.containerPort)).toContain(parsedWorker.WORKER_PORT);
      for (const [c, port] of [
        [apiC, parsedApi.PORT],
        [workerC, parsedWorker.WORKER_PORT],
      ] as const) {
        expect(probePath(c.readinessProbe), `${c.name} readiness`).toBe('/readyz');
        expect(probePath(c.livenessProbe), `${c.name} liveness`).toBe('/healthz');
        for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean)) {
          expect(portIs(c, p.httpGet.port, port), `${c.name} probe port`).toBe(true);
        }
      }
      const apiSvc = must(find(objs, 'Service', 'shardwise-api'), 'API Service');
      expect(apiSvc.spec.ports.some((p: any) => portIs(apiC, p.targetPort, parsedApi.PORT))).toBe(true);

      // Volumes: results is one ReadWriteMany claim mounted read-write at RESULTS_DIR in both (a bucket
      // in the S3 overlays, checked below); models are mounted at MODEL_DIR.
      for (const [w, env] of [
        [api, parsedApi],
        [worker, parsedWorker],
      ] as const) {
        const c = podSpecOf(w).containers[0];
        expect(env.MODEL_DIR, 'MODEL_DIR is set: a read-only root filesystem has no room for a Hub cache').toBeTruthy();
        expect(
          c.volumeMounts.some((m: any) => m.mountPath === env.MODEL_DIR),
          `${ref(w)} mounts MODEL_DIR`,
        ).toBe(true);
        if (S3_OVERLAYS.has(overlay)) continue;
        expect(env.STORE_URL, 'the store is RESULTS_DIR').toBeUndefined();
        const results = c.volumeMounts.find((m: any) => m.mountPath === env.RESULTS_DIR);
        expect(results, `${ref(w)} mounts RESULTS_DIR ${env.RESULTS_DIR}`).toBeDefined();
        expect(results.readOnly ?? false).toBe(false);
        const resultsVolume = podSpecOf(w).volumes.find((v: any) => v.name === results.name);
        const claim = must(find(objs, 'PersistentVolumeClaim', resultsVolume.persistentVolumeClaim?.claimName), `${ref(w)} results claim`);
        expect(claim.spec.accessModes, `${ref(claim)} access modes`).toContain('ReadWriteMany');
      }
    });

    it('runs Redis as a StatefulSet with append-only persistence and noeviction', () => {
      const objs = objects(overlay);
      const redis = must(
        ofKind(objs, 'StatefulSet').find((s) => s.metadata.labels?.['app.kubernetes.io/component'] === 'redis'),
        'Redis StatefulSet',
      );
      const c = podSpecOf(redis).containers[0];
      expect(c.image).toMatch(/^redis:7(\.|$)/);
      const args: string[] = [...(c.command ?? []), ...(c.args ?? [])].map(String);
      const option = (name: string) => {
        const i = args.indexOf(`--${name}`);
        return i >= 0 ? args[i + 1] : undefined;
      };
      expect(option('appendonly')).toBe('yes');
      expect(option('maxmemory-policy')).toBe('noeviction');
      expect(redis.spec.volumeClaimTemplates?.length, 'Redis has a volumeClaimTemplate').toBeGreaterThan(0);
      const dataClaim = redis.spec.volumeClaimTemplates[0].metadata.name;
      const dir = option('dir') ?? '/data';
      expect(
        c.volumeMounts.some((m: any) => m.name === dataClaim && m.mountPath === dir),
        'Redis data dir on the claim',
      ).toBe(true);
      const svc = must(find(objs, 'Service', redis.spec.serviceName), 'Redis governing Service');
      expect(svc.spec.clusterIP, 'Redis Service is headless').toBe('None');
    });

    it('gives the workers time to drain and the model loading a generous startup probe', () => {
      const worker = must(find(objects(overlay), 'Deployment', 'shardwise-worker'), 'worker Deployment');
      const pod = podSpecOf(worker);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(300);
      expect(worker.spec.replicas, 'replicas are left to the autoscaler').toBeUndefined();
      const startup = pod.containers[0].startupProbe;
      expect(startup, 'worker startupProbe').toBeDefined();
      expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3), 'startup budget in seconds').toBeGreaterThanOrEqual(300);
    });

    it('schedules the workers on the right hardware with the matching settings', () => {
      const objs = objects(overlay);
      const worker = must(find(objs, 'Deployment', 'shardwise-worker'), 'worker Deployment');
      const pod = podSpecOf(worker);
      const c = pod.containers[0];
      const env = workerEnvSchema.parse(envOf(objs, c));
      const cpuRequest = quantity(c.resources.requests.cpu);
      expect(env.INFERENCE_THREADS, 'no more inference threads than requested cores').toBeLessThanOrEqual(cpuRequest);
      if (GPU_OVERLAYS.has(overlay)) {
        expect(String(c.resources.limits['nvidia.com/gpu'])).toBe('1');
        expect(pod.nodeSelector?.['nvidia.com/gpu.present']).toBe('true');
        expect(pod.tolerations).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'nvidia.com/gpu', effect: 'NoSchedule' })]));
        expect(env.DEVICE).toBe('cuda');
        expect(c.image).toMatch(/worker-cuda:/);
        expect(env.MAX_BATCH_TOKENS).toBeGreaterThanOrEqual(32768);
      } else {
        expect(c.resources.limits['nvidia.com/gpu']).toBeUndefined();
        expect(env.DEVICE).toBe('cpu');
        expect(c.image).not.toMatch(/cuda/);
        expect(env.INFERENCE_THREADS, 'CPU workers: one inference thread per requested core').toBe(cpuRequest);
      }
      if (overlay === 'cpu') expect(env.DTYPE).toBe('q8');
    });

    it('has network policies: only the API is reachable from outside, only app pods reach Redis', () => {
      const objs = objects(overlay);
      const policies = ofKind(objs, 'NetworkPolicy');
      const podsOf = (p: Obj) =>
        workloads(objs).filter((w) => {
          const sel = p.spec.podSelector?.matchLabels ?? {};
          return Object.keys(sel).length === 0 || matches(sel, w.spec.template.metadata.labels);
        });
      const defaultDeny = policies.find((p) => Object.keys(p.spec.podSelector ?? {}).length === 0 && p.spec.policyTypes?.includes('Ingress') && !p.spec.ingress?.length);
      expect(defaultDeny, 'a default-deny ingress policy').toBeDefined();
      for (const w of workloads(objs)) {
        const covering = policies.filter((p) => p.spec.podSelector?.matchLabels && matches(p.spec.podSelector.matchLabels, w.spec.template.metadata.labels));
        expect(covering.length, `${ref(w)} has its own NetworkPolicy`).toBeGreaterThan(0);
      }
      const component = (w: Obj) => w.spec.template.metadata.labels['app.kubernetes.io/component'];
      for (const p of policies) {
        for (const rule of p.spec.ingress ?? []) {
          const peers: any[] = rule.from ?? [];
          const fromOutside = peers.length === 0 || peers.some((peer) => peer.namespaceSelector || peer.ipBlock);
          if (!fromOutside) continue;
          const ports = (rule.ports ?? []).map((x: any) => x.port);
          expect(ports.length, `${ref(p)}: rules open to other namespaces name their ports`).toBeGreaterThan(0);
          for (const w of podsOf(p)) {
            if (component(w) === 'api') {
              expect(ports, `${ref(p)} opens only the API port`).toEqual([8080]);
            } else {
              // Other pods take outside traffic only from Prometheus, on their metrics port.
              expect(peers.length, `${ref(p)} opens ${ref(w)} to the world`).toBeGreaterThan(0);
              for (const peer of peers) {
                expect(peer.namespaceSelector, `${ref(p)}: ${ref(w)} only from Prometheus`).toBeDefined();
                expect(peer.podSelector?.matchLabels?.['app.kubernetes.io/name'], `${ref(p)} peer is Prometheus`).toBe('prometheus');
              }
              const metricsPorts = containersOf(w).flatMap((c: Container) => (c.ports ?? []).filter((x: any) => x.name === 'metrics').map((x: any) => x.containerPort));
              for (const port of ports) expect(metricsPorts, `${ref(p)} port ${port} on ${ref(w)} is a metrics port`).toContain(port);
            }
          }
        }
      }
      const redisPolicies = policies.filter((p) => podsOf(p).some((w) => component(w) === 'redis') && Object.keys(p.spec.podSelector?.matchLabels ?? {}).length > 0);
      expect(redisPolicies.length).toBeGreaterThan(0);
      for (const p of redisPolicies) {
        for (const rule of p.spec.ingress ?? []) {
          // With Sentinel: the sentinels' port too, and the Redis pods among themselves (replication).
          const ha = HA_OVERLAYS.has(overlay);
          expect((rule.ports ?? []).map((x: any) => x.port)).toEqual(ha ? [6379, SENTINEL_PORT] : [6379]);
          expect(rule.from?.length, `${ref(p)} names who may connect`).toBeGreaterThan(0);
          for (const peer of rule.from) {
            expect(peer.namespaceSelector ?? peer.ipBlock, `${ref(p)} admits only pods of this namespace`).toBeUndefined();
            const allowed = workloads(objs).filter((w) => {
              const labels = w.spec.template.metadata.labels;
              const sel = peer.podSelector ?? {};
              const okLabels = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
              const okExpr = (sel.matchExpressions ?? []).every((e: any) => e.operator === 'In' && e.values.includes(labels[e.key]));
              return okLabels && okExpr;
            });
            expect(allowed.map(component).sort(), `${ref(p)} admits the API and workers`).toEqual(ha ? ['api', 'redis', 'worker'] : ['api', 'worker']);
          }
        }
      }
    });

    it('has Prometheus monitors for the API Service and the worker pods', () => {
      const objs = objects(overlay);
      const sm = ofKind(objs, 'ServiceMonitor');
      const apiSvc = must(find(objs, 'Service', 'shardwise-api'), 'API Service');
      const apiMonitor = sm.find((m) => matches(m.spec.selector.matchLabels, apiSvc.metadata.labels));
      expect(apiMonitor, 'a ServiceMonitor selects the API Service').toBeDefined();
      for (const e of apiMonitor!.spec.endpoints) {
        expect(apiSvc.spec.ports.map((p: any) => p.name)).toContain(e.port);
        expect(e.path ?? '/metrics').toBe('/metrics');
      }
      const worker = must(find(objs, 'Deployment', 'shardwise-worker'), 'worker Deployment');
      const pm = ofKind(objs, 'PodMonitor').find((m) => matches(m.spec.selector.matchLabels, worker.spec.template.metadata.labels));
      expect(pm, 'a PodMonitor selects the worker pods').toBeDefined();
      const portNames = podSpecOf(worker).containers[0].ports.map((p: any) => p.name);
      for (const e of pm!.spec.podMetricsEndpoints) expect(portNames).toContain(e.port);
    });

    it('autoscales the workers from shardwise_backlog_worker_seconds with exactly one autoscaler', () => {
      const objs = objects(overlay);
      const scaledObjects = ofKind(objs, 'ScaledObject');
      const hpas = ofKind(objs, 'HorizontalPodAutoscaler');
      expect(scaledObjects.length + hpas.length, 'one autoscaler for the workers').toBe(1);
      const worker = must(find(objs, 'Deployment', 'shardwise-worker'), 'worker Deployment');
      const targets = (t: any) => (t.kind ?? 'Deployment') === 'Deployment' && t.name === worker.metadata.name && (t.apiVersion ?? 'apps/v1') === 'apps/v1';
      if (KEDA_OVERLAYS.has(overlay)) {
        expect(scaledObjects).toHaveLength(1);
        const so = scaledObjects[0]!;
        expect(targets(so.spec.scaleTargetRef), 'ScaledObject targets the worker Deployment').toBe(true);
        expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(0);
        expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount ?? 0);
        expect(so.spec.cooldownPeriod).toBeGreaterThan(0);
        const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
        expect(behavior?.scaleDown?.stabilizationWindowSeconds, 'scale-down stabilization covers model loading').toBeGreaterThanOrEqual(300);
        const signal = so.spec.triggers.find((t: any) => t.type === 'prometheus' && String(t.metadata?.query).includes(AUTOSCALING_SIGNAL));
        expect(signal, `a prometheus trigger on ${AUTOSCALING_SIGNAL}`).toBeDefined();
        expect(signal.metricType).toBe('AverageValue');
        expect(Number(signal.metadata.threshold)).toBeGreaterThan(0);
        expect(signal.metadata.activationThreshold, 'activationThreshold').toBeDefined();
        expect(signal.metadata.serverAddress).toMatch(/^https?:\/\//);
        for (const t of so.spec.triggers) {
          // KEDA's trigger metadata is map[string]string: numbers must be quoted.
          for (const [k, v] of Object.entries(t.metadata ?? {})) expect(typeof v, `trigger ${t.name} ${k}`).toBe('string');
        }
        if ((so.spec.minReplicaCount ?? 1) === 0) {
          // From zero, every trigger may activate: none may need more than "any backlog".
          for (const t of so.spec.triggers) expect(Number(t.metadata.activationThreshold ?? 0), `trigger ${t.name} activation`).toBe(0);
        }
      }
      if (HPA_OVERLAYS.has(overlay)) {
        expect(hpas).toHaveLength(1);
        const hpa = hpas[0]!;
        expect(targets(hpa.spec.scaleTargetRef), 'HPA targets the worker Deployment').toBe(true);
        expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1);
        expect(hpa.spec.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
        const metric = hpa.spec.metrics.find(
          (m: any) => (m.type === 'External' && m.external.metric.name === AUTOSCALING_SIGNAL) || (m.type === 'Pods' && m.pods.metric.name === AUTOSCALING_SIGNAL),
        );
        expect(metric, `an HPA metric on ${AUTOSCALING_SIGNAL}`).toBeDefined();
      }
    });
  });

  describe.each(overlayNames.filter((name) => S3_OVERLAYS.has(name)))('S3 overlay %s', (overlay) => {
    it('keeps the store and the models in a bucket: no pod mounts a claim', () => {
      const objs = objects(overlay);
      const claims = ofKind(objs, 'PersistentVolumeClaim');
      expect(claims.filter((c) => c.spec.accessModes.includes('ReadWriteMany')).map(ref), 'no ReadWriteMany claim').toEqual([]);
      for (const w of workloads(objs)) {
        const claimed = (podSpecOf(w).volumes ?? []).filter((v: any) => v.persistentVolumeClaim || v.ephemeral).map((v: any) => v.name);
        // Redis keeps its own ReadWriteOnce claim from its StatefulSet's template (one pod, one node).
        expect(claimed, `${ref(w)} mounts no claim`).toEqual([]);
      }
      const redis = must(find(objs, 'StatefulSet', 'shardwise-redis'), 'Redis StatefulSet');
      for (const t of redis.spec.volumeClaimTemplates) expect(t.spec.accessModes).toEqual(['ReadWriteOnce']);

      for (const name of ['shardwise-api', 'shardwise-worker']) {
        const w = must(find(objs, 'Deployment', name), name);
        const pod = podSpecOf(w);
        const env = commonEnvSchema.parse(envOf(objs, pod.containers[0]));
        expect(env.STORE_URL, `${name} STORE_URL`).toMatch(/^s3:\/\/[a-z0-9.-]+\//);
        expect(
          pod.containers[0].volumeMounts.some((m: any) => m.mountPath === env.RESULTS_DIR),
          `${name} mounts nothing at RESULTS_DIR`,
        ).toBe(false);
        // Credentials: an optional Secret, else the ServiceAccount's identity (IRSA).
        expect(pod.containers[0].envFrom).toContainEqual({ secretRef: { name: 'shardwise-s3-credentials', optional: true } });
        const account = must(find(objs, 'ServiceAccount', pod.serviceAccountName), `${name} ServiceAccount ${pod.serviceAccountName}`);
        expect(account.metadata as any).toMatchObject({ annotations: { 'eks.amazonaws.com/role-arn': expect.stringMatching(/^arn:aws:iam::\d{12}:role\//) } });
        expect((account as any).automountServiceAccountToken).toBe(false);
        // The models: copied from MODELS_URL into a pod-local volume at MODEL_DIR before the app starts.
        const copy = must(
          pod.initContainers?.find((c: Container) => c.name === 'models'),
          `${name} models init container`,
        );
        const copyEnv = envOf(objs, copy);
        expect(copyEnv.MODELS_URL).toMatch(/^s3:\/\//);
        expect(copyEnv.STORE_URL).toBe(env.STORE_URL);
        const modelsMount = pod.containers[0].volumeMounts.find((m: any) => m.mountPath === env.MODEL_DIR);
        expect(copy.volumeMounts.map((m: any) => m.name)).toContain(modelsMount.name);
        expect(pod.volumes.find((v: any) => v.name === modelsMount.name)?.emptyDir, `${name} models volume is an emptyDir`).toBeDefined();
      }
    });
  });

  describe.each(overlayNames.filter((name) => HA_OVERLAYS.has(name)))('Redis HA overlay %s', (overlay) => {
    const redisOf = (objs: Obj[]) => must(find(objs, 'StatefulSet', 'shardwise-redis-ha'), 'Redis StatefulSet shardwise-redis-ha');
    const containerOf = (w: Obj, name: string): Container =>
      must(
        podSpecOf(w).containers.find((c: Container) => c.name === name),
        `${ref(w)} container ${name}`,
      );
    const envValue = (c: Container, name: string): string => must(c.env?.find((e: any) => e.name === name)?.value as string | undefined, `${c.name} env ${name}`);

    it('replaces the single Redis with three pods, one per node, under a disruption budget', () => {
      const objs = objects(overlay);
      expect(find(objs, 'StatefulSet', 'shardwise-redis'), 'the single Redis is gone').toBeUndefined();
      expect(find(objs, 'Service', 'shardwise-redis'), 'its Service too').toBeUndefined();
      const redis = redisOf(objs);
      const podLabels = redis.spec.template.metadata.labels;
      expect(redis.spec.replicas).toBe(3);
      const antiAffinity = podSpecOf(redis).affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      expect(
        antiAffinity.some((t: any) => t.topologyKey === 'kubernetes.io/hostname' && matches(t.labelSelector?.matchLabels ?? {}, podLabels)),
        'required anti-affinity: no two Redis pods on one node',
      ).toBe(true);
      const pdbs = ofKind(objs, 'PodDisruptionBudget').filter((p) => matches(p.spec.selector.matchLabels, podLabels));
      expect(pdbs).toHaveLength(1);
      const { minAvailable, maxUnavailable } = pdbs[0]!.spec;
      expect(minAvailable === 2 || maxUnavailable === 1, `${ref(pdbs[0]!)} leaves a master, a replica and a sentinel quorum`).toBe(true);
      const svc = must(find(objs, 'Service', redis.spec.serviceName), 'governing Service');
      expect(svc.spec.clusterIP).toBe('None');
      expect(svc.spec.publishNotReadyAddresses, 'starting pods resolve each other before they are ready').toBe(true);
      expect(svc.spec.ports.map((p: any) => p.port)).toEqual([6379, SENTINEL_PORT]);
    });

    it('runs a sentinel beside each Redis with quorum 2, and Redis with noeviction, AOF and min-replicas-to-write', () => {
      const objs = objects(overlay);
      const redis = redisOf(objs);
      const server = containerOf(redis, 'redis');
      const sentinel = containerOf(redis, 'sentinel');
      const args = (server.args ?? []).map(String);
      const option = (name: string) => args[args.indexOf(`--${name}`) + 1];
      expect(option('appendonly')).toBe('yes');
      expect(option('maxmemory-policy')).toBe('noeviction');
      expect(Number(option('min-replicas-to-write')), 'a master cut off from its replicas stops taking writes').toBe(1);
      expect(Number(option('min-replicas-max-lag'))).toBeGreaterThan(0);
      expect(sentinel.ports.map((p: any) => p.containerPort)).toEqual([SENTINEL_PORT]);
      expect(sentinel.image).toBe(server.image);
      expect(envValue(sentinel, 'SENTINEL_QUORUM')).toBe('2');
      expect(envValue(sentinel, 'SENTINEL_MASTER')).toBe(envValue(server, 'SENTINEL_MASTER'));
      for (const c of [server, sentinel]) expect(envValue(c, 'REDIS_SERVICE'), `${c.name} REDIS_SERVICE`).toBe(redis.spec.serviceName);

      // The start and preStop scripts come from the mounted config map, and use the settings above.
      const scriptsVolume = podSpecOf(redis).volumes.find((v: any) => v.configMap);
      const scripts = must(find(objs, 'ConfigMap', scriptsVolume.configMap.name), 'scripts ConfigMap').data ?? {};
      const commands: [Container, string[]][] = [
        [server, server.command],
        [server, server.lifecycle?.preStop?.exec?.command ?? []],
        [sentinel, sentinel.command],
      ];
      for (const [c, command] of commands) {
        const mount = must(
          c.volumeMounts.find((m: any) => m.name === scriptsVolume.name),
          `${c.name} mounts the scripts`,
        );
        const [shell, path] = command;
        expect(shell).toBe('sh');
        expect(path.startsWith(`${mount.mountPath}/`), `${c.name} runs a mounted script`).toBe(true);
        expect(scripts[path.slice(mount.mountPath.length + 1)], `${path} in the config map`).toBeDefined();
      }
      // What the scripts source is in the config map too, and their defaults are the pod's ports and
      // data volume (test/deploy/redis-sentinel-scripts.test.ts runs them with other values).
      for (const [name, text] of Object.entries(scripts)) {
        for (const [, sourced] of String(text).matchAll(/^\. "\$\(dirname "\$0"\)\/([^"]+)"$/gm)) expect(scripts[sourced!], `${sourced} sourced by ${name}`).toBeDefined();
      }
      const peers = String(must(scripts['redis-peers.sh'], 'redis-peers.sh'));
      const defaultOf = (name: string) => new RegExp(`^${name}="\\$\\{${name}:-([^}]+)\\}"$`, 'm').exec(peers)?.[1];
      expect(Number(defaultOf('REDIS_PORT'))).toBe(Number(option('port')));
      expect(server.ports.map((p: any) => p.containerPort)).toEqual([Number(option('port'))]);
      expect(Number(defaultOf('SENTINEL_PORT'))).toBe(SENTINEL_PORT);
      expect(defaultOf('REDIS_DATA_DIR')).toBe(option('dir'));
      expect(server.volumeMounts.find((m: any) => m.name === 'data')?.mountPath).toBe(option('dir'));
      expect(sentinel.volumeMounts.find((m: any) => m.name === 'data')?.mountPath).toBe(option('dir'));
      expect(scripts['sentinel-start.sh']).toContain('sentinel announce-hostnames yes');
      expect(scripts['redis-start.sh']).toContain('exec redis-server "$REDIS_CONF" "$@"');
    });

    it('points the API and the workers at the sentinels, acknowledging only what a replica holds', () => {
      const objs = objects(overlay);
      const redis = redisOf(objs);
      const master = envValue(containerOf(redis, 'sentinel'), 'SENTINEL_MASTER');
      const pods = Array.from({ length: redis.spec.replicas }, (_, i) => `${redis.metadata.name}-${i}.${redis.spec.serviceName}:${SENTINEL_PORT}`);
      for (const name of ['shardwise-api', 'shardwise-worker']) {
        const env = envOf(objs, podSpecOf(must(find(objs, 'Deployment', name), name)).containers[0]);
        expect(env.REDIS_SENTINELS?.split(',').sort(), `${name} REDIS_SENTINELS: every sentinel`).toEqual(pods);
        expect(env.REDIS_SENTINEL_MASTER, `${name} REDIS_SENTINEL_MASTER`).toBe(master);
        expect(env.REDIS_MIN_REPLICAS_ACK, `${name} REDIS_MIN_REPLICAS_ACK`).toBe('1');
        expect(Number(env.REDIS_REPLICA_ACK_TIMEOUT_MS), `${name} REDIS_REPLICA_ACK_TIMEOUT_MS`).toBeGreaterThan(0);
      }
    });
  });

  it('keeps one resource per file, named <component>-<kind>.yaml', () => {
    const dirs = [join(K8S, 'base'), ...readdirSync(join(K8S, 'components')).map((c) => join(K8S, 'components', c))];
    for (const dir of dirs) {
      const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
      for (const file of (kustomization.resources ?? []) as string[]) {
        const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
        const list = Array.isArray(docs) ? docs : [docs];
        expect(list, `${file}: one resource`).toHaveLength(1);
        const kind = String((list[0]!.toJS() as Obj).kind).toLowerCase();
        expect(file, `${dir}/${file}`).toMatch(new RegExp(`^[a-z0-9]+(-[a-z0-9]+)*-${kind}\\.yaml$`));
      }
    }
  });

  it('ships a prometheus-adapter rule serving the metric the HPA reads', () => {
    const values = parse(readFileSync(join(K8S, 'components/hpa/prometheus-adapter-values.yaml'), 'utf8'));
    const rules: any[] = values.rules.external;
    const rule = rules.find((r) => r.name?.as === AUTOSCALING_SIGNAL);
    expect(rule, `an external rule exposing ${AUTOSCALING_SIGNAL}`).toBeDefined();
    expect(rule.seriesQuery).toContain(AUTOSCALING_SIGNAL);
    expect(rule.metricsQuery).toContain('<<.Series>>');
    expect(rule.resources.overrides.namespace.resource).toBe('namespace');
  });
});
