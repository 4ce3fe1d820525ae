import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiQuery, ApiResponse as ApiStatus, ApiTags, type SchemaObject } from '@nestjs/swagger';
import { Tenant } from '../auth/tenant.decorator.js';
import { openApiSchemaOf } from '../docs/schema-builders.js';
import { ApiError } from '../http/api-error.js';
import { apiErrorSchema } from '../http/error-body.schema.js';
import { usageQuerySchema } from './usage-query.schema.js';
import { UsageService, type UsageList } from './usage.service.js';
import { usageListSchema } from './usage-view.schema.js';

const queryProperties = (openApiSchemaOf(usageQuerySchema).properties ?? {}) as Record<string, SchemaObject>;
const UsageQueryParams = () => (target: object, key: string | symbol, descriptor: PropertyDescriptor) => {
  for (const [name, schema] of Object.entries(queryProperties)) ApiQuery({ name, required: false, description: schema.description, schema })(target, key, descriptor);
};

@ApiTags('usage')
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @ApiOperation({ summary: "Texts and tokens by day, tenant and model: the caller's own, or (keys of an ADMIN_TENANTS tenant) everyone's" })
  @UsageQueryParams()
  @ApiOkResponse({ schema: usageListSchema })
  @ApiStatus({ status: 400, description: 'INVALID_QUERY: a date that is not YYYY-MM-DD, from after to, more than 366 days, an unknown parameter', schema: apiErrorSchema })
  @ApiStatus({ status: 403, description: 'FORBIDDEN: `tenant` names another tenant and the key is not an admin key', schema: apiErrorSchema })
  @Get()
  async list(@Tenant() tenant: string, @Query() query: Record<string, unknown>): Promise<UsageList> {
    const parsed = usageQuerySchema.safeParse(query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.code === 'unrecognized_keys' ? String(issue.keys[0]) : String(issue?.path[0] ?? '');
      const message = issue?.code === 'unrecognized_keys' ? `unknown query parameter "${field}" (from, to, model, tenant)` : `query parameter "${field}": ${issue?.message}`;
      throw new ApiError('INVALID_QUERY', message, 400, { field });
    }
    return this.usage.list(tenant, parsed.data);
  }
}
