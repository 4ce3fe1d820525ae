import { Inject, Injectable } from '@nestjs/common';
import { UsageLedger, type UsageRow } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { ApiError } from '../http/api-error.js';
import { resolveUsageRange, type UsageQueryParams } from './usage-query.schema.js';

export interface UsageList {
  object: 'list';
  from: string;
  to: string;
  data: Array<{ object: 'usage' } & UsageRow>;
  total: { texts: number; tokens: number };
}

/** Who may read which tenant's usage: a tenant its own, an ADMIN_TENANTS tenant everyone's. */
@Injectable()
export class UsageService {
  private readonly admins: ReadonlySet<string>;

  constructor(
    private readonly ledger: UsageLedger,
    @Inject(API_ENV) env: ApiEnv,
  ) {
    this.admins = new Set(env.ADMIN_TENANTS);
  }

  async list(caller: string, params: UsageQueryParams, now = Date.now()): Promise<UsageList> {
    const range = resolveUsageRange(params, now);
    if ('problem' in range) throw new ApiError('INVALID_QUERY', range.problem, 400, { field: range.field });
    const admin = this.admins.has(caller);
    if (!admin && params.tenant !== undefined && params.tenant !== caller)
      throw new ApiError('FORBIDDEN', `this key reads the usage of tenant "${caller}" only; the usage of other tenants needs a key of an ADMIN_TENANTS tenant`, 403, {
        field: 'tenant',
      });
    const rows = await this.ledger.read({ ...range, tenant: admin ? params.tenant : caller, model: params.model });
    const total = { texts: 0, tokens: 0 };
    for (const row of rows) {
      total.texts += row.texts;
      total.tokens += row.tokens;
    }
    return { object: 'list', ...range, data: rows.map((row) => ({ object: 'usage', ...row })), total };
  }
}
