import type { Builder } from "junit-report-builder";
import type { VerifyReport } from "./report.js";

/**
 * The library's default export is one shared builder; `newBuilder()` (present at run time but
 * missing from its types) gives a fresh one, so two reports never mix.
 */
async function fresh(): Promise<Builder> {
  const { default: shared } = await import("junit-report-builder"); // only with --junit
  return (shared as unknown as { newBuilder(): Builder }).newBuilder();
}

/** JUnit XML: one testsuite for the run, one testcase per check (failed checks carry their detail). */
export async function junitXml(report: VerifyReport): Promise<string> {
  const builder = await fresh();
  const suite = builder
    .testSuite()
    .name(`phpcluster verify ${report.cluster}`)
    .time(report.durationMs / 1000);
  for (const check of report.checks) {
    const tc = suite
      .testCase()
      .className(`phpcluster.${check.scenario}`)
      .name(check.name)
      .time(check.durationMs / 1000);
    if (check.ok) tc.standardOutput(check.detail);
    else tc.failure(check.detail);
  }
  return builder.build();
}
