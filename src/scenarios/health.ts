import { clusterStatusOf } from "../runtime/lifecycle.js";
import { newClient, type ScenarioContext } from "./context.js";
import { type Check, type Scenario, timed } from "./report.js";

async function run(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await timed("health", "health", async () => {
      const nodes = await clusterStatusOf(ctx.driver);
      const bad = nodes.filter((n) => n.state !== "running");
      const client = newClient(ctx);
      const through = await client.probe();
      const lbOk = through.status === 200;
      const problems = [
        ...bad.map((n) => `${n.name} ${n.state}${n.detail ? ` (${n.detail})` : ""}`),
        ...(lbOk
          ? []
          : [
              `a session request through the balancer answered ${through.status} ${through.error ?? through.body.error ?? ""}`.trim(),
            ]),
      ];
      return {
        ok: problems.length === 0,
        detail:
          problems.length === 0
            ? `${nodes.length} nodes running and healthy; the balancer serves sessions`
            : problems.join("; "),
        data: { nodes },
      };
    }),
  ];
}

/** Every node runs and is healthy, and the balancer serves sessions. */
export const health: Scenario = { name: "health", readOnly: true, run };
