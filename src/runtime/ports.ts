import net from "node:net";

/** Is host:port free to listen on? Tries to bind and closes at once. */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE" || err.code === "EACCES") resolve(false);
      else reject(err);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports among the given ones that are taken, with the node that wanted each. */
export async function portsInUse(
  wanted: { node: string; host: string; port: number }[],
): Promise<{ node: string; host: string; port: number }[]> {
  const taken = [];
  for (const w of wanted) if (!(await portIsFree(w.host, w.port))) taken.push(w);
  return taken;
}
