import type { Topology } from "../topology/index.js";
import { renderTemplate } from "./templates.js";

export interface ApacheView {
  target: "native" | "compose";
  listen: string;
  errorLog: string;
  accessLog: string;
  /** Who may set X-Forwarded-For: the balancer's address or network. */
  internalProxy: string;
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
  });
}
