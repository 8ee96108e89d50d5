// The pre-queue job in Node.js, as the original Nami's receiver did it: verify GitHub's
// signature, wrap the webhook in an envelope, SendMessage, answer. The SQS client is created at
// load (the function's init), as AWS advises.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";

const sqs = new SQSClient({});
const queueUrl = process.env.NAMI_QUEUE_URL;
const secret = process.env.NAMI_SIGNATURE_SECRET;

function header(headers, name) {
  const key = Object.keys(headers ?? {}).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

export async function handler(event) {
  const raw = Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8");
  const expected = "sha256=" + createHmac("sha256", secret).update(raw).digest("hex");
  const given = header(event.headers, "x-hub-signature-256") ?? "";
  if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
    return { statusCode: 401, body: JSON.stringify({ message: "signature does not match" }) };
  }
  const id = header(event.headers, "x-github-delivery");
  const envelope = {
    version: 1,
    id,
    id_source: "header:x-github-delivery",
    pipeline: process.env.NAMI_PIPELINE,
    received_at: new Date().toISOString(),
    method: event.httpMethod,
    path: event.path,
    headers: event.headers,
    body: {
      content_type: header(event.headers, "content-type") ?? null,
      size: raw.length,
      sha256: createHash("sha256").update(raw).digest("hex"),
      encoding: "base64",
      raw: raw.toString("base64"),
    },
    signature: { scheme: "github", verified: true },
  };
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(envelope) }));
  return { statusCode: 200, body: JSON.stringify({ id }) };
}
