/** The runtime kit: what every driver shares, so that a driver keeps only its transport. */
export { balancerEndpointOf, balancerUrl, connectHost, type Endpoint } from "./address.js";
export { startHealthy, type WaitOptions, waitHealthy } from "./health.js";
export { type HttpGetOptions, type HttpGetReply, httpGet } from "./http.js";
export {
  type BuiltImage,
  type BuiltImages,
  imageBytes,
  imagesOf,
  removeImages,
  shownImage,
} from "./images.js";
export { type FollowOptions, followLogs, type LogSource, lastLines, logTail } from "./logs.js";
export { memcachedGetMulti, memcachedVersion, withLauncherStatus } from "./memcached.js";
export { parseNginxVersion, reloadBalancer } from "./nginx.js";
export { nodeNames, nodeOf, stopGraceMs } from "./nodes.js";
export { portHolder, portIsFree, portsInUse } from "./ports.js";
export { sleep, throwIfAborted, waitUntil } from "./wait.js";
