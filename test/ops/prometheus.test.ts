import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { freePort, startRedis, type RedisHandle } from '../support/redis-server.js';
import { finished, postNdjson, waitFor } from '../support/stack.js';

/**
 * Every PromQL expression the project ships must be valid and return data against a real
 * Prometheus scraping a real API and worker: the Grafana dashboard's panel targets and template
 * variable, the KEDA ScaledObject triggers and the prometheus-adapter rules behind the HPA.
 *
 * The scrape config reproduces the target labels prometheus-operator gives the ServiceMonitor and
 * PodMonitor of deploy/k8s/base (job, namespace, pod, container), so the autoscalers' queries run
 * as written. Exclusion rule: dashboard targets whose refId starts with "K8S_" need exporters that
 * only exist in a cluster (kube-state-metrics, NVIDIA dcgm-exporter); they are parsed but not
 * required to return data, and this test checks that each of them reads a kube_* or DCGM_* metric
 * and nothing else is excluded.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const DASHBOARD = resolve(ROOT, 'deploy/grafana/shardwise-dashboard.json');
const OPERATIONS_DOC = resolve(ROOT, 'docs/operations.md');
const K8S_DIR = resolve(ROOT, 'deploy/k8s');
const MODEL_DIR = resolve(ROOT, '.cache/models');
const MODEL = 'shardwise-random/bert-tiny-embed';
const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? 'prometheus';
/** The namespace of deploy/k8s (kustomization `namespace:`), attached to the scraped targets as the operator would. */
const NAMESPACE = 'shardwise';
/** What $__rate_interval and $__interval stand for: with a 1 s scrape, 30 s windows hold the whole job. */
const RANGE = '30s';
const TEXTS = 10_000;

interface Expression {
  source: string;
  expr: string;
  /** Needs a Kubernetes-only exporter (refId K8S_…): parsed, not required to return data. */
  k8sOnly: boolean;
}

interface Check {
  ok: boolean;
  reason: string;
  samples: number;
}

// ---------------------------------------------------------------------------------------------
// Expressions from the dashboard and the autoscaling configuration
// ---------------------------------------------------------------------------------------------

interface GrafanaVariable {
  name: string;
  type: string;
  query?: unknown;
  current?: { value?: string | string[] };
  allValue?: string | null;
}

interface GrafanaPanel {
  title?: string;
  type?: string;
  panels?: GrafanaPanel[];
  targets?: Array<{ refId?: string; expr?: string; datasource?: unknown }>;
}

/** Grafana's variable syntaxes: $name, ${name}, ${name:format}, [[name]]. */
function substitute(expr: string, values: Map<string, string>): string {
  return expr.replace(/\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (match, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    return values.get(name) ?? match;
  });
}

function variableValues(variables: GrafanaVariable[]): Map<string, string> {
  const values = new Map<string, string>([
    ['__rate_interval', RANGE],
    ['__interval', RANGE],
    ['__range', RANGE],
  ]);
  for (const v of variables) {
    if (v.type === 'datasource') continue; // ${datasource} names the Prometheus to ask: this one
    if (v.type === 'constant') {
      values.set(v.name, String(v.query));
      continue;
    }
    const current = v.current?.value;
    const first = Array.isArray(current) ? current[0] : current;
    values.set(v.name, first === undefined || first === '$__all' ? (v.allValue ?? '.*') : first);
  }
  return values;
}

async function dashboardExpressions(): Promise<Expression[]> {
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: GrafanaPanel[]; templating: { list: GrafanaVariable[] } };
  const variables = dashboard.templating.list;
  const values = variableValues(variables);
  const out: Expression[] = [];
  const walk = (panels: GrafanaPanel[]) => {
    for (const panel of panels) {
      if (panel.panels) walk(panel.panels);
      for (const target of panel.targets ?? []) {
        if (target.expr === undefined) throw new Error(`panel "${panel.title}" target ${target.refId} has no PromQL expr`);
        const refId = target.refId ?? '?';
        out.push({ source: `dashboard panel "${panel.title}" ${refId}`, expr: substitute(target.expr, values), k8sOnly: refId.startsWith('K8S_') });
      }
    }
  };
  walk(dashboard.panels);
  // Query variables: label_values(metric, label) is Grafana's; the series behind it must exist.
  for (const v of variables.filter((x) => x.type === 'query')) {
    const text = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const match = /^label_values\((.+),\s*(\w+)\)$/.exec(text?.trim() ?? '');
    if (!match) throw new Error(`variable ${v.name}: unsupported query ${JSON.stringify(text)}`);
    out.push({ source: `dashboard variable ${v.name}`, expr: `count by (${match[2]}) (${substitute(match[1] as string, values)})`, k8sOnly: false });
  }
  return out;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => join(e.parentPath, e.name));
}

interface AdapterRule {
  seriesQuery?: string;
  metricsQuery?: string;
  name?: { matches?: string; as?: string };
}

/**
 * KEDA prometheus triggers (query as written), prometheus-adapter rules (seriesQuery, and
 * metricsQuery with the adapter's templates filled in for the HPA's namespace) and the names of
 * the external metrics the HPAs read, which must be served by one of those rules.
 */
async function autoscalingExpressions(): Promise<{ expressions: Expression[]; hpaMetrics: string[]; adapterMetrics: string[] }> {
  const expressions: Expression[] = [];
  const hpaMetrics: string[] = [];
  const adapterMetrics: string[] = [];
  for (const file of await yamlFiles(K8S_DIR)) {
    const where = relative(ROOT, file);
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      const value = doc.toJS() as Record<string, any> | null;
      if (!value || typeof value !== 'object') continue;
      if (value.kind === 'ScaledObject') {
        for (const trigger of value.spec?.triggers ?? []) {
          if (trigger.type !== 'prometheus') continue;
          expressions.push({ source: `${where} trigger ${trigger.name ?? '?'}`, expr: String(trigger.metadata.query), k8sOnly: false });
        }
      }
      if (value.kind === 'HorizontalPodAutoscaler') {
        for (const metric of value.spec?.metrics ?? []) {
          if (metric.type === 'External') hpaMetrics.push(String(metric.external.metric.name));
        }
      }
      const rules = value.rules as Record<string, AdapterRule[]> | undefined;
      if (rules && typeof rules === 'object' && !value.kind) {
        for (const [group, list] of Object.entries(rules)) {
          for (const rule of Array.isArray(list) ? list : []) {
            const series = /^\s*([a-zA-Z_:][\w:]*)/.exec(rule.seriesQuery ?? '')?.[1];
            if (!series) throw new Error(`${where}: adapter rule without a seriesQuery metric name`);
            adapterMetrics.push(rule.name?.as ?? series);
            expressions.push({ source: `${where} rules.${group} seriesQuery`, expr: String(rule.seriesQuery), k8sOnly: false });
            if (rule.metricsQuery) {
              // What the adapter sends for an HPA in namespace NAMESPACE (namespace mapped to the namespace resource).
              const expr = rule.metricsQuery.replaceAll('<<.Series>>', series).replaceAll('<<.LabelMatchers>>', `namespace="${NAMESPACE}"`).replaceAll('<<.GroupBy>>', 'namespace');
              expressions.push({ source: `${where} rules.${group} metricsQuery`, expr, k8sOnly: false });
            }
          }
        }
      }
    }
  }
  return { expressions, hpaMetrics, adapterMetrics };
}

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

interface PrometheusHandle {
  url: string;
  process: ChildProcess;
  dir: string;
  output(): string;
  stop(): Promise<void>;
}

function requirePrometheus(): string {
  const probe = spawnSync(PROMETHEUS_BIN, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `Prometheus is needed for this test and "${PROMETHEUS_BIN}" does not run (${probe.error?.message ?? probe.stderr}). ` +
        'Install it: `apt-get install -y prometheus` (Debian/Ubuntu; .ci/run does), or set PROMETHEUS_BIN to a prometheus binary.',
    );
  }
  return `${probe.stdout}${probe.stderr}`.split('\n')[0] as string;
}

async function startPrometheus(targets: { api: number; worker: number }): Promise<PrometheusHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sw-prometheus-'));
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      {
        // A ServiceMonitor's job label is the Service name.
        job_name: 'shardwise-api',
        static_configs: [{ targets: [`127.0.0.1:${targets.api}`], labels: { namespace: NAMESPACE, pod: 'shardwise-api-test', container: 'api', service: 'shardwise-api' } }],
      },
      {
        // A PodMonitor's job label is <namespace>/<PodMonitor name>.
        job_name: `${NAMESPACE}/shardwise-worker`,
        static_configs: [{ targets: [`127.0.0.1:${targets.worker}`], labels: { namespace: NAMESPACE, pod: 'shardwise-worker-test', container: 'worker' } }],
      },
    ],
  };
  await writeFile(join(dir, 'prometheus.yml'), stringify(config));
  const child = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`prometheus not ready after 30 s:\n${log}`);
    await sleep(100);
  }
  return {
    url,
    process: child,
    dir,
    output: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  errorType?: string;
  data?: { resultType: string; result: unknown };
}

async function query(prometheus: string, expr: string, time?: number): Promise<QueryResponse> {
  const body = new URLSearchParams({ query: expr });
  if (time !== undefined) body.set('time', String(time));
  const response = await fetch(`${prometheus}/api/v1/query`, { method: 'POST', body });
  return (await response.json()) as QueryResponse;
}

/** Values of an instant query's samples (vector or scalar), as numbers (NaN and ±Inf included). */
function sampleValues(data: QueryResponse['data']): number[] {
  if (!data) return [];
  if (data.resultType === 'scalar') return [Number((data.result as [number, string])[1])];
  if (data.resultType === 'vector') return (data.result as Array<{ value: [number, string] }>).map((s) => Number(s.value[1]));
  return [];
}

/** The one check every expression goes through: it must parse and return at least one sample that is a number. */
async function check(prometheus: string, expr: string, time: number): Promise<Check> {
  if (/\$\w|\$\{|\[\[/.test(expr)) return { ok: false, reason: 'unresolved dashboard variable', samples: 0 };
  const reply = await query(prometheus, expr, time);
  if (reply.status !== 'success') return { ok: false, reason: `invalid: ${reply.errorType}: ${reply.error}`, samples: 0 };
  const values = sampleValues(reply.data);
  if (values.length === 0) return { ok: false, reason: `no data (${reply.data?.resultType} result is empty)`, samples: 0 };
  if (values.every((v) => Number.isNaN(v))) return { ok: false, reason: 'only NaN samples', samples: values.length };
  return { ok: true, reason: 'ok', samples: values.length };
}

async function value(prometheus: string, expr: string): Promise<number> {
  const reply = await query(prometheus, expr);
  if (reply.status !== 'success') throw new Error(`${expr}: ${reply.error}`);
  const values = sampleValues(reply.data);
  if (values.length !== 1) throw new Error(`${expr}: expected one sample, got ${values.length}`);
  return values[0] as number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe().catch(() => undefined);
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------

describe('dashboard and autoscaling queries against a real Prometheus', () => {
  let version: string;
  let redis: RedisHandle;
  let api: AppProcess;
  let worker: AppProcess;
  let prometheus: PrometheusHandle;
  let resultsDir: string;
  let evaluatedAt: number;
  let backlogPeak: { texts: number; tokens: number; workerSeconds: number } = { texts: 0, tokens: 0, workerSeconds: 0 };
  /** Set when Prometheus is missing: every test then fails with the install hint (nothing is skipped). */
  let missing: Error | undefined;
  const requireSetup = () => {
    if (missing) throw missing;
  };

  beforeAll(async () => {
    try {
      version = requirePrometheus();
    } catch (error) {
      missing = error as Error;
      return;
    }
    await generateModels({ out: MODEL_DIR, size: 'tiny' });
    redis = await startRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-results-'));
    const common = { REDIS_URL: redis.url, MODEL_DIR, RESULTS_DIR: resultsDir, LOG_LEVEL: 'warn' };
    const apiPort = await freePort();
    const workerPort = await freePort();
    [api, worker] = await Promise.all([
      startApp(API_ENTRY, { ...common, PORT: String(apiPort), SHARD_MAX_TEXTS: '100' }, apiPort),
      startApp(WORKER_ENTRY, { ...common, WORKER_PORT: String(workerPort), INFERENCE_THREADS: '2', PRELOAD_MODELS: MODEL }, workerPort),
    ]);
    prometheus = await startPrometheus({ api: apiPort, worker: workerPort });
    await until('both targets scraped', async () => ((await value(prometheus.url, 'sum(up)')) === 2 ? true : undefined));

    // Work that moves every metric: a refused submission, a job cancelled right away, and a job
    // with texts over the model's limit and truncation off (TEXT_TOO_LONG item errors).
    const refused = await fetch(`${api.baseUrl}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"task":' });
    expect(refused.status).toBe(400);
    const items = [...syntheticCorpus(TEXTS, { seed: 7, paragraphShare: 0.15, overLimitShare: 0.03, emptyShare: 0.01 })];
    const submitted = await postNdjson(api.baseUrl, { task: 'embed', model: MODEL, truncate: 'false' }, items);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const doomed = await postNdjson(api.baseUrl, { task: 'embed', model: MODEL }, items.slice(0, 1000));
    expect(doomed.status).toBe(202);
    expect((await fetch(`${api.baseUrl}/v1/jobs/${doomed.body.id as string}/cancel`, { method: 'POST' })).status).toBe(200);

    // While the job runs, the backlog gauges (read from Redis at scrape time) must show it.
    const polling = (async () => {
      for (;;) {
        const text = await (await fetch(`${api.baseUrl}/metrics`)).text();
        const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
        backlogPeak = {
          texts: Math.max(backlogPeak.texts, read('shardwise_queue_backlog_texts')),
          tokens: Math.max(backlogPeak.tokens, read('shardwise_queue_backlog_tokens')),
          workerSeconds: Math.max(backlogPeak.workerSeconds, read('shardwise_backlog_worker_seconds')),
        };
        if (read('shardwise_jobs{state="completed"}') >= 1) return;
        await sleep(200);
      }
    })();
    const job = await waitFor(api.baseUrl, submitted.body.id as string, finished, { timeoutMs: 120_000 });
    expect(job.state).toBe('completed');
    expect(job.counts.failed).toBeGreaterThan(0); // TEXT_TOO_LONG
    await polling;

    // The worker's next throughput report (every 5 s) and two more scrapes, then evaluate.
    await until('a measured per-worker rate', async () => ((await value(prometheus.url, 'max(shardwise_autoscale_throughput_measured)')) === 1 ? true : undefined));
    await sleep(2500);
    evaluatedAt = Date.now() / 1000;
  });

  afterAll(async () => {
    await prometheus?.stop();
    await worker?.stop();
    await api?.stop();
    await redis?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  it('evaluates every dashboard and autoscaling expression: valid, with data', async () => {
    requireSetup();
    const dashboard = await dashboardExpressions();
    const autoscaling = await autoscalingExpressions();
    const all = [...dashboard, ...autoscaling.expressions];
    const required = all.filter((e) => !e.k8sOnly);
    const excluded = all.filter((e) => e.k8sOnly);

    // Not vacuous: the files were found and parsed into many expressions of every origin.
    expect(required.length).toBeGreaterThan(20);
    expect(autoscaling.expressions.filter((e) => e.source.includes('worker-scaledobject')).length).toBeGreaterThanOrEqual(2);
    expect(autoscaling.expressions.filter((e) => e.source.includes('prometheus-adapter')).length).toBeGreaterThanOrEqual(2);
    // The exclusion covers cluster exporters only, and stays an exception.
    for (const e of excluded) expect(e.expr, e.source).toMatch(/\b(kube_\w+|DCGM_\w+)/);
    for (const e of required) expect(e.expr, e.source).not.toMatch(/\b(kube_\w+|DCGM_\w+)/);
    expect(excluded.length).toBeLessThanOrEqual(required.length / 5);
    // Each HPA reads an external metric that an adapter rule serves.
    expect(autoscaling.hpaMetrics.length).toBeGreaterThan(0);
    for (const name of autoscaling.hpaMetrics) expect(autoscaling.adapterMetrics).toContain(name);

    const failures: string[] = [];
    for (const e of required) {
      const result = await check(prometheus.url, e.expr, evaluatedAt);
      if (!result.ok) failures.push(`${e.source}: ${result.reason}\n    ${e.expr}`);
    }
    // Kubernetes-only expressions must still be valid PromQL.
    for (const e of excluded) {
      const reply = await query(prometheus.url, e.expr, evaluatedAt);
      if (reply.status !== 'success') failures.push(`${e.source}: invalid: ${reply.error}\n    ${e.expr}`);
    }
    expect(failures, `${failures.length} of ${all.length} expressions failed (${version}):\n${failures.join('\n')}`).toEqual([]);
    console.log(`checked ${required.length} expressions with data, ${excluded.length} Kubernetes-only expressions for validity (${version})`);
  });

  it('fails the same check for a broken, an empty or a Kubernetes-only expression', async () => {
    requireSetup();
    expect(await check(prometheus.url, 'sum(rate(shardwise_worker_tokens_total[30s])', evaluatedAt)).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid/) });
    expect(await check(prometheus.url, 'shardwise_worker_tokens_totally_not_exported', evaluatedAt)).toMatchObject({ ok: false, reason: expect.stringMatching(/^no data/) });
    expect(await check(prometheus.url, 'sum by (le) (rate(shardwise_worker_batch_size_bucket[$__rate_interval]))', evaluatedAt)).toMatchObject({
      ok: false,
      reason: 'unresolved dashboard variable',
    });
    expect(await check(prometheus.url, 'sum(kube_deployment_status_replicas{deployment="shardwise-worker"})', evaluatedAt)).toMatchObject({ ok: false });
    expect(await check(prometheus.url, 'sum(rate(shardwise_worker_tokens_total[30s]))', evaluatedAt)).toMatchObject({ ok: true });
  });

  it('tracked the backlog while the job ran and drained it to zero, cancelled remainder included', async () => {
    requireSetup();
    expect(backlogPeak.texts).toBeGreaterThan(0);
    expect(backlogPeak.tokens).toBeGreaterThan(0);
    expect(backlogPeak.workerSeconds).toBeGreaterThan(0);
    expect(await value(prometheus.url, `max(shardwise_queue_backlog_texts{namespace="${NAMESPACE}"})`)).toBe(0);
    expect(await value(prometheus.url, `max(shardwise_queue_backlog_tokens{namespace="${NAMESPACE}"})`)).toBe(0);
    expect(await value(prometheus.url, `max(shardwise_backlog_worker_seconds{namespace="${NAMESPACE}"})`)).toBe(0);
    expect(await value(prometheus.url, 'max(shardwise_jobs{state="completed"})')).toBe(1);
    expect(await value(prometheus.url, 'max(shardwise_jobs{state="cancelled"})')).toBe(1);
    expect(await value(prometheus.url, 'max(shardwise_jobs{state=~"queued|running"})')).toBe(0);
    // The autoscaler's per-worker rate is the worker's own measurement.
    const reported = await value(prometheus.url, 'max(shardwise_autoscale_worker_tokens_per_second)');
    const own = await value(prometheus.url, 'max(shardwise_worker_throughput_tokens_per_second)');
    expect(reported).toBeGreaterThan(0);
    expect(Math.abs(reported - own) / own).toBeLessThan(0.2);
  });

  it('counts usage per tenant and model with bounded labels, agreeing with the ledger of GET /v1/usage', async () => {
    requireSetup();
    const reply = await query(prometheus.url, 'shardwise_usage_tokens_total', evaluatedAt);
    const series = (reply.data?.result ?? []) as Array<{ metric: Record<string, string>; value: [number, string] }>;
    // Auth is off here: every job is tenant "default"; the model label is the one model the worker loaded.
    expect(series.map((s) => [s.metric.tenant, s.metric.model])).toEqual([['default', MODEL]]);
    const ledger = (await (await fetch(`${api.baseUrl}/v1/usage`)).json()) as { total: { texts: number; tokens: number } };
    expect(ledger.total.tokens).toBeGreaterThan(0);
    expect(await value(prometheus.url, 'sum(shardwise_usage_tokens_total)')).toBe(ledger.total.tokens);
    expect(await value(prometheus.url, 'sum(shardwise_usage_texts_total)')).toBe(ledger.total.texts);
    // Texts over the limit failed (truncation off): they are in the worker's token count, not in the bill.
    expect(await value(prometheus.url, 'sum(shardwise_worker_tokens_total)')).toBeGreaterThan(ledger.total.tokens);
  });

  it('documents every shardwise_* metric the API and worker export in docs/operations.md', async () => {
    requireSetup();
    // Prometheus's metadata names metric families (a histogram once, without _bucket/_sum/_count).
    const response = await fetch(`${prometheus.url}/api/v1/metadata`);
    const metadata = ((await response.json()) as { data: Record<string, unknown> }).data;
    const exported = Object.keys(metadata)
      .filter((name) => name.startsWith('shardwise_'))
      .sort();
    expect(exported.length).toBeGreaterThan(20);
    const doc = await readFile(OPERATIONS_DOC, 'utf8');
    expect(exported.filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
  });
});
