import { chmodSync } from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/cli.js";
import { freePortBlock, writeCluster } from "../helpers/cluster.js";
import { requireBinary } from "../helpers/validators.js";
import { driverContract } from "./contract.js";

for (const bin of ["nginx", "apache2", "memcached"]) requireBinary(bin);

driverContract("native", async () => {
  const { dir, cleanup } = tempDir("phpcluster-contract-native-");
  chmodSync(dir, 0o755); // Apache's workers run as www-data and must reach the document root
  const port = await freePortBlock(4);
  const file = writeCluster(dir, { name: "contract", port });
  const clashDir = path.join(dir, "clash");
  const clashing = { dir: clashDir, file: writeCluster(clashDir, { name: "clash", port }) };
  return { dir, file, port, clashing, cleanup };
});
