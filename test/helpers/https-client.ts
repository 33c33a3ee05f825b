/** A small HTTPS client for the real-socket tests: optional client certificate, optional keep-alive agent. */
import https from "node:https";

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The local port of the connection, to tell whether a keep-alive socket was reused. */
  localPort?: number;
}

export interface RequestOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  cert?: { certPem: string; keyPem: string };
  /** PEM bundle the server certificate must chain to. */
  ca: string;
  agent?: https.Agent;
  servername?: string;
}

export function httpsRequest(url: string, o: RequestOptions): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: o.method ?? "GET",
        headers: o.headers,
        ca: o.ca,
        cert: o.cert?.certPem,
        key: o.cert?.keyPem,
        agent: o.agent ?? false,
        servername: o.servername,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, localPort: res.socket?.localPort }));
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}
