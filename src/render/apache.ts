import type { Topology } from "../topology/index.js";
import { renderTemplate } from "./templates.js";

export interface ApacheView {
  target: "native" | "compose" | "swarm";
  listen: string;
  errorLog: string;
  accessLog: string;
  /** Who may set X-Forwarded-For: the balancer's address or network. */
  internalProxy: string;
  /** With TLS: where this node takes the requests that came in over HTTPS ("" without TLS). */
  httpsListen: string;
}

export function renderHttpdConf(t: Topology, node: string, view: ApacheView): string {
  return renderTemplate("apache/httpd.conf.liquid", {
    cluster: t.name,
    node,
    target: view.target,
    listen: view.listen,
    errorLog: view.errorLog,
    accessLog: view.accessLog,
    internalProxy: view.internalProxy,
    httpPort: t.balancer.port,
    httpsListen: view.httpsListen,
    httpsVhost: /^\d+$/.test(view.httpsListen) ? `*:${view.httpsListen}` : view.httpsListen,
    httpsPort: t.balancer.tls?.port ?? 0,
  });
}
