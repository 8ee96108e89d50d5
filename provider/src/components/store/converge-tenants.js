// A shared store's tenants (nami_mongodb_store): the database users of the pipelines that store
// into it, made to match their secrets (run by mongosh against the running MongoDB, as root,
// every 30 s; see user-data.sh `tenants`). The tests run it against SecantusDB.
//
// NAMI_TENANTS holds `manifest` (one `<user> <database>` line per tenant) and each user's
// password in a file named after the user; NAMI_SECRETS the root password. Each tenant gets
// readWrite on its database only; a user made here whose tenant is gone (its secret deleted,
// its pipeline destroyed) is dropped. Users not made here (root, an inline store's writer) are
// never touched: the ones made here are recorded in nami_store.tenants.
const fs = require('fs');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const read = (path) => {
  const value = fs.readFileSync(path, 'utf8');
  if (!value) throw new Error(`${path} is empty`);
  return value;
};
const SYSTEM_DATABASES = ['admin', 'local', 'config'];

// Everything is read before anything is changed.
const admin = db.getSiblingDB('admin');
const dir = env('NAMI_TENANTS');
const tenants = fs.readFileSync(`${dir}/manifest`, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => {
    const [user, database] = line.trim().split(/\s+/);
    if (!/^nami-[a-z][a-z0-9-]*$/.test(user) || !database || SYSTEM_DATABASES.includes(database)) {
      throw new Error(`manifest line ${JSON.stringify(line)}: not a tenant user and database`);
    }
    return { user, database, pwd: read(`${dir}/${user}`) };
  });
const rootPassword = read(`${env('NAMI_SECRETS')}/root-password`);
admin.auth(env('NAMI_ROOT_USER'), rootPassword);

// The users made here are recorded in the store itself (nami_store.tenants), so the ones whose
// tenant left are known after a restart or on a volume another instance wrote.
const made = db.getSiblingDB('nami_store').getCollection('tenants');
const wanted = new Set(tenants.map((t) => `${t.database}.${t.user}`));
for (const { user, database, pwd } of tenants) {
  const target = db.getSiblingDB(database);
  const roles = [{ role: 'readWrite', db: database }];
  if (target.getUser(user)) {
    target.updateUser(user, { pwd, roles });
    print(`nami-store: tenant ${user} on ${database} updated`);
  } else {
    target.createUser({ user, pwd, roles });
    print(`nami-store: tenant ${user} on ${database} created`);
  }
  made.updateOne({ _id: `${database}.${user}` }, { $set: { user, database } }, { upsert: true });
}
for (const gone of made.find().toArray()) {
  if (!wanted.has(gone._id)) {
    const target = db.getSiblingDB(gone.database);
    if (target.getUser(gone.user)) {
      target.dropUser(gone.user);
    }
    made.deleteOne({ _id: gone._id });
    print(`nami-store: tenant ${gone.user} on ${gone.database} dropped`);
  }
}
