// The managed store's users, made to match the pipeline's secrets (run by mongosh on every start
// of MongoDB, against a server without authentication that only the container's loopback
// reaches; see user-data.sh). The user data installs this file; the tests run it with mongosh
// against SecantusDB (tests/tests/it/store_users.rs).
//
// - NAMI_ROOT_USER: root on admin, for the operator (password in the store's root secret);
// - NAMI_WRITER_USER: readWrite on NAMI_DATABASE only, for the post-queue function (password in
//   the store's writer secret); unset for a shared store (nami_mongodb_store).
// Passwords come from files in NAMI_SECRETS, never from arguments or the environment. Existing
// users get the current password and roles, so a retained data volume adopted by a new pipeline
// answers to the new pipeline's secrets, and the old passwords stop working.
const fs = require('fs');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const secret = (file) => {
  const value = fs.readFileSync(`${env('NAMI_SECRETS')}/${file}`, 'utf8');
  if (!value) throw new Error(`${file} is empty`);
  return value;
};

function converge(database, user, pwd, roles) {
  const target = db.getSiblingDB(database);
  if (target.getUser(user)) {
    target.updateUser(user, { pwd, roles });
    print(`nami-store: user ${user} on ${database} updated`);
  } else {
    target.createUser({ user, pwd, roles });
    print(`nami-store: user ${user} on ${database} created`);
  }
}

// Everything is read before anything is changed: a missing secret changes no user. A shared
// store (NAMI_WRITER_USER unset) has only its root user here.
const rootUser = env('NAMI_ROOT_USER');
const rootPassword = secret('root-password');
const writer = process.env.NAMI_WRITER_USER
  ? { user: env('NAMI_WRITER_USER'), database: env('NAMI_DATABASE'), pwd: secret('writer-password') }
  : null;
converge('admin', rootUser, rootPassword, [{ role: 'root', db: 'admin' }]);
if (writer) {
  converge(writer.database, writer.user, writer.pwd, [{ role: 'readWrite', db: writer.database }]);
}
