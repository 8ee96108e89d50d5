// A Lambda custom runtime for Node.js: what the managed nodejs20.x runtime does around a handler,
// reduced to the Runtime API loop. It loads the handler module named by _HANDLER (its top-level
// await is the function's init), then asks /next for work and posts each answer, as Lambda's own
// runtime client does. `make bench` runs it under the same local Runtime API as the Rust bootstraps.
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: api.split(":")[0], port: api.split(":")[1], path: `/2018-06-01/runtime${route}`, method, agent, headers },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

function diagnostic(error) {
  return JSON.stringify({ errorType: error?.name ?? "Error", errorMessage: String(error?.message ?? error) });
}

let handler;
try {
  const file = path.resolve(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), process.env._HANDLER);
  handler = (await import(pathToFileURL(file).href)).handler;
} catch (error) {
  await call("POST", "/init/error", diagnostic(error), { "Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError" });
  process.exit(1);
}

for (;;) {
  const next = await call("GET", "/invocation/next");
  const requestId = next.headers["lambda-runtime-aws-request-id"];
  try {
    const result = await handler(JSON.parse(next.body));
    await call("POST", `/invocation/${requestId}/response`, JSON.stringify(result ?? null));
  } catch (error) {
    await call("POST", `/invocation/${requestId}/error`, diagnostic(error));
  }
}
