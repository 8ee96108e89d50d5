// The post-queue job in Node.js: the mongodb driver connected at init (top-level await, so the
// connection is part of the cold start), each batch stored with one unordered insertMany under
// the same durable write concern as Nami's, duplicates counted as stored, the rest reported as
// batch item failures.
import { MongoClient } from "mongodb";

const client = new MongoClient(process.env.NAMI_MONGODB_URI, { appName: "nami-bench-node" });
await client.connect();
const collection = client
  .db(process.env.NAMI_MONGODB_DATABASE ?? "nami")
  .collection(process.env.NAMI_MONGODB_COLLECTION ?? process.env.NAMI_PIPELINE, {
    writeConcern: { w: "majority", journal: true },
  });

export async function handler(event) {
  const failures = [];
  const documents = [];
  const ids = [];
  for (const record of event.Records) {
    try {
      const envelope = JSON.parse(record.body);
      const { id, ...rest } = envelope;
      documents.push({ _id: id, ...rest, received_at: new Date(envelope.received_at) });
      ids.push(record.messageId);
    } catch {
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  if (documents.length > 0) {
    try {
      await collection.insertMany(documents, { ordered: false });
    } catch (error) {
      for (const writeError of error.writeErrors ?? []) {
        if (writeError.code !== 11000) failures.push({ itemIdentifier: ids[writeError.index] });
      }
      if (!error.writeErrors) ids.forEach((itemIdentifier) => failures.push({ itemIdentifier }));
    }
  }
  return { batchItemFailures: failures };
}
