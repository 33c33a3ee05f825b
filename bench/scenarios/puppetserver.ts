/** Placeholder replaced below. */
import type { ScenarioResult } from "../lib/results.js";
export interface PuppetServerOptions { n: number; concurrency: number; pending: number; command: string }
export async function puppetServerScenarios(_o: PuppetServerOptions): Promise<ScenarioResult[]> {
  return [];
}
