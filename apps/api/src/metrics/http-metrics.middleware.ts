import type { MetricsService } from './metrics.service.js';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import { UNMATCHED_ROUTE } from '../http/unmatched-route.controller.js';

/**
 * Times every request. Installed first (in main.ts) so refused bodies count too; the route label
 * is Express's matched template, so job ids never become label values.
 */
export function httpMetricsMiddleware(metrics: MetricsService) {
  return (req: ApiRequest, res: ApiResponse, next: () => void): void => {
    const end = metrics.httpDuration.startTimer();
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const route = req.route?.path;
      end({ method: req.method ?? 'UNKNOWN', route: route === undefined || route.endsWith(UNMATCHED_ROUTE) ? 'unmatched' : route, status: String(res.statusCode) });
    };
    res.once('finish', record);
    res.once('close', record);
    next();
  };
}
