#!/bin/bash
# The managed store's EC2 user data. The provider fills in the @…@ values (instance.rs).
#
# At first boot it installs Docker, mounts the data volume at /data — the volume found by its id,
# never guessed — and installs itself as /usr/local/sbin/nami-store with two systemd units:
#   nami-mongodb.service  MongoDB in Docker, with authentication; starts only when /data is the
#                         data volume, and before every start reads the store's passwords from
#                         Secrets Manager (the instance role may read exactly those two secrets)
#                         into a tmpfs and makes MongoDB's users match them (converge-users.js)
#   nami-growfs.timer     grows /data's file system after the volume is enlarged
#   nami-tenants.timer    (a shared store) every 30 s, makes its tenants' database users match
#                         the secrets tagged with the store's name (converge-tenants.js)
# Commands: setup (the default, at boot), check-data, fetch-secrets, converge-users, tenants, grow.
# No password is in this script, in a unit or in a container's arguments.
#
# Everything reads the system through $NAMI_ROOT and the tools on $PATH, so the tests run each
# step against a fixture tree (tests/tests/it/user_data.rs).
set -euo pipefail

VOLUME_ID='@VOLUME_ID@'
IMAGE='@IMAGE@'
PORT='@PORT@'
ROOT_USER='@ROOT_USER@'
WRITER_USER='@WRITER_USER@'
DATABASE='@DATABASE@'
ROOT_SECRET_ARN='@ROOT_SECRET_ARN@'
WRITER_SECRET_ARN='@WRITER_SECRET_ARN@'
# A shared store (nami_mongodb_store): its tenants' users come from the secrets tagged with it.
STORE_NAME='@STORE_NAME@'

NAMI_ROOT="${NAMI_ROOT:-}"
# EC2 attaches the volume after the instance starts: look for it this many times, 2 s apart.
ATTACH_TRIES="${ATTACH_TRIES:-150}"
SELF=/usr/local/sbin/nami-store
SHARE=/usr/local/share/nami
# A tmpfs: the passwords never reach a disk.
SECRETS_DIR=/run/nami/secrets
TENANTS_DIR=/run/nami/tenants

say() { echo "nami-store: $*" >&2; }

# The block device of the data volume. On Nitro instances EBS volumes are NVMe devices whose
# udev link carries the volume id (without its hyphen); on Xen instances the volume appears under
# its attachment name, /dev/sdf or /dev/xvdf. Nothing else is ever taken: on Nitro the root disk
# also has a vol… serial, and a guess from lsblk could pick it.
data_device() {
  local link="$NAMI_ROOT/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${VOLUME_ID/-/}"
  if [ -e "$link" ]; then
    readlink -f "$link"
    return 0
  fi
  local name
  for name in sdf xvdf; do
    if [ -e "$NAMI_ROOT/dev/$name" ]; then
      readlink -f "$NAMI_ROOT/dev/$name"
      return 0
    fi
  done
  return 1
}

# Waits for the data volume to be attached; prints its device.
wait_for_data_device() {
  local try
  for ((try = 1; try <= ATTACH_TRIES; try++)); do
    if data_device; then
      return 0
    fi
    [ "$try" -lt "$ATTACH_TRIES" ] && sleep 2
  done
  say "data volume $VOLUME_ID is not attached after $((ATTACH_TRIES * 2)) s; MongoDB is not started"
  return 1
}

# Formats the device only when it holds no file system (a retained volume keeps its data).
format_if_blank() {
  local device="$1" status=0
  blkid "$device" >/dev/null 2>&1 || status=$?
  case "$status" in
    0) ;;
    2) say "formatting blank volume $VOLUME_ID ($device)"; mkfs.xfs -q -L nami-data "$device" ;;
    *) say "blkid failed on $device (status $status)"; return 1 ;;
  esac
}

# Records /data in fstab (once) by file-system UUID, mounts it and grows it to the volume's size.
mount_data() {
  local device="$1" uuid fstab="$NAMI_ROOT/etc/fstab"
  uuid=$(blkid -s UUID -o value "$device")
  mkdir -p "$NAMI_ROOT/data"
  if ! grep -q "^UUID=$uuid /data " "$fstab" 2>/dev/null; then
    # nofail: the instance still boots without the volume; MongoDB then does not start.
    echo "UUID=$uuid /data xfs defaults,nofail 0 2" >>"$fstab"
  fi
  mountpoint -q "$NAMI_ROOT/data" || mount "$NAMI_ROOT/data"
  xfs_growfs "$NAMI_ROOT/data" >/dev/null
  mkdir -p "$NAMI_ROOT/data/db"
}

# Succeeds only when /data is mounted from the data volume.
check_data() {
  local device source
  if ! device=$(data_device); then
    say "data volume $VOLUME_ID is not attached"
    return 1
  fi
  if ! source=$(findmnt -n -o SOURCE --mountpoint "$NAMI_ROOT/data"); then
    say "/data is not mounted"
    return 1
  fi
  if [ "$(readlink -f "$source")" != "$device" ]; then
    say "/data is mounted from $source, not from data volume $VOLUME_ID ($device)"
    return 1
  fi
}

# Reads each password from its secret (the region is the ARN's) into a file only root can read.
# A shared store has no writer of its own (its pipelines' users come later).
fetch_secrets() {
  install -d -m 0700 "$NAMI_ROOT$SECRETS_DIR"
  local file arn region value
  for file in root-password ${WRITER_SECRET_ARN:+writer-password}; do
    case "$file" in
      root-password) arn="$ROOT_SECRET_ARN" ;;
      *) arn="$WRITER_SECRET_ARN" ;;
    esac
    region=$(cut -d: -f4 <<<"$arn")
    if ! value=$(aws secretsmanager get-secret-value --region "$region" --secret-id "$arn" \
      --query SecretString --output text); then
      say "cannot read secret $arn: check the instance role and the route to Secrets Manager"
      return 1
    fi
    if [ -z "$value" ]; then
      say "secret $arn is empty"
      return 1
    fi
    (umask 077 && printf '%s' "$value" >"$NAMI_ROOT$SECRETS_DIR/$file.new")
    mv "$NAMI_ROOT$SECRETS_DIR/$file.new" "$NAMI_ROOT$SECRETS_DIR/$file"
  done
}

# Makes MongoDB's users match the secrets: a MongoDB without authentication, on the data, in a
# container with no network (only its own loopback reaches it), runs converge-users.js.
converge_users() {
  # shellcheck disable=SC2016 # expanded by the container's shell
  local inside='set -euo pipefail
find /data/db ! -user mongodb -exec chown mongodb: {} +
gosu mongodb mongod --dbpath /data/db --bind_ip 127.0.0.1 --port 27017 --fork --logpath /tmp/mongod.log >/dev/null
status=0
mongosh --quiet --norc mongodb://127.0.0.1:27017/admin /nami/converge-users.js || status=$?
gosu mongodb mongod --dbpath /data/db --shutdown >/dev/null
exit "$status"'
  # A shared store has no writer of its own.
  local writer_env=()
  if [ -n "$WRITER_USER" ]; then
    writer_env=(-e "NAMI_WRITER_USER=$WRITER_USER" -e "NAMI_DATABASE=$DATABASE")
  fi
  docker rm -f nami-mongodb-users >/dev/null 2>&1 || true
  docker run --rm --name nami-mongodb-users --network none \
    -v /data/db:/data/db -v "$SECRETS_DIR:/run/secrets:ro" \
    -v "$SHARE/converge-users.js:/nami/converge-users.js:ro" \
    -e NAMI_SECRETS=/run/secrets -e "NAMI_ROOT_USER=$ROOT_USER" \
    "${writer_env[@]}" \
    --entrypoint bash "$IMAGE" -c "$inside"
}

# The user script the converge step runs (converge-users.js in the repository), and a shared
# store's tenants script (converge-tenants.js).
write_converge_script() {
  install -d -m 0755 "$NAMI_ROOT$SHARE"
  cat >"$NAMI_ROOT$SHARE/converge-users.js" <<'JS'
@CONVERGE_USERS_JS@
JS
  if [ -n "$STORE_NAME" ]; then
    cat >"$NAMI_ROOT$SHARE/converge-tenants.js" <<'JS'
@CONVERGE_TENANTS_JS@
JS
  fi
}

# A shared store's tenants: the secrets tagged nami:store=$STORE_NAME (each a pipeline's
# database user: nami:store-user, nami:store-database; the instance role may read only those),
# fetched into a tmpfs, then converge-tenants.js makes the running MongoDB's users match them.
tenants() {
  [ -n "$STORE_NAME" ] || return 0
  local region listing arn user database store value next="$NAMI_ROOT$TENANTS_DIR.next"
  region=$(cut -d: -f4 <<<"$ROOT_SECRET_ARN")
  # shellcheck disable=SC2016 # a JMESPath query, not a shell expansion
  if ! listing=$(aws secretsmanager list-secrets --region "$region" \
    --filters Key=tag-key,Values=nami:store Key=tag-value,Values="$STORE_NAME" \
    --query 'SecretList[].[ARN, Tags[?Key==`nami:store-user`]|[0].Value, Tags[?Key==`nami:store-database`]|[0].Value, Tags[?Key==`nami:store`]|[0].Value]' \
    --output text); then
    say "cannot list the store's tenants: check the instance role and the route to Secrets Manager"
    return 1
  fi
  rm -rf "$next"
  install -d -m 0700 "$next"
  : >"$next/manifest"
  while read -r arn user database store; do
    [ -n "$arn" ] || continue
    # The two filters match independently: the store's own tag must hold its name.
    [ "$store" = "$STORE_NAME" ] || continue
    if ! [[ "$user" =~ ^nami-[a-z][a-z0-9-]*$ && "$database" =~ ^[A-Za-z0-9_-]{1,64}$ ]]; then
      say "tenant secret $arn: user ${user:-?} or database ${database:-?} is not one Nami makes; skipped"
      continue
    fi
    if ! value=$(aws secretsmanager get-secret-value --region "$region" --secret-id "$arn" \
      --query SecretString --output text) || [ -z "$value" ]; then
      say "cannot read tenant secret $arn; skipped"
      continue
    fi
    (umask 077 && printf '%s' "$value" >"$next/$user")
    echo "$user $database" >>"$next/manifest"
  done <<<"$listing"
  rm -rf "$NAMI_ROOT$TENANTS_DIR"
  mv "$next" "$NAMI_ROOT$TENANTS_DIR"
  docker run --rm --name nami-mongodb-tenants --network container:nami-mongodb \
    -v "$TENANTS_DIR:/run/tenants:ro" -v "$SECRETS_DIR:/run/secrets:ro" \
    -v "$SHARE/converge-tenants.js:/nami/converge-tenants.js:ro" \
    -e NAMI_TENANTS=/run/tenants -e NAMI_SECRETS=/run/secrets -e "NAMI_ROOT_USER=$ROOT_USER" \
    --entrypoint mongosh "$IMAGE" --quiet --norc mongodb://127.0.0.1:27017/admin /nami/converge-tenants.js
}

write_units() {
  local units="$NAMI_ROOT/etc/systemd/system"
  mkdir -p "$units"
  cat >"$units/nami-mongodb.service" <<EOF
[Unit]
Description=MongoDB of the Nami pipeline, on its data volume only
Requires=docker.service
After=docker.service
RequiresMountsFor=/data

[Service]
ExecStartPre=$SELF check-data
ExecStartPre=$SELF fetch-secrets
ExecStartPre=-/usr/bin/docker rm -f nami-mongodb
ExecStartPre=$SELF converge-users
ExecStart=/usr/bin/docker run --rm --name nami-mongodb -p $PORT:27017 -v /data/db:/data/db $IMAGE --auth --bind_ip_all
ExecStop=/usr/bin/docker stop nami-mongodb
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  cat >"$units/nami-growfs.service" <<EOF
[Unit]
Description=Grow /data to the size of the Nami data volume
RequiresMountsFor=/data

[Service]
Type=oneshot
ExecStart=$SELF grow
EOF
  if [ -n "$STORE_NAME" ]; then
    cat >"$units/nami-tenants.service" <<EOF
[Unit]
Description=Make the Nami store's tenants' database users match their secrets
Requires=nami-mongodb.service
After=nami-mongodb.service

[Service]
Type=oneshot
ExecStart=$SELF tenants
EOF
    cat >"$units/nami-tenants.timer" <<EOF
[Unit]
Description=Follow the Nami store's tenants (pipelines joining and leaving)

[Timer]
OnBootSec=1min
OnUnitActiveSec=30s

[Install]
WantedBy=timers.target
EOF
  fi
  cat >"$units/nami-growfs.timer" <<EOF

[Unit]
Description=Grow /data after the Nami data volume is enlarged

[Timer]
OnBootSec=1min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
EOF
}

setup() {
  dnf install -y docker
  systemctl enable --now docker
  install -m 0755 "$0" "$NAMI_ROOT$SELF"
  local device
  device=$(wait_for_data_device)
  format_if_blank "$device"
  mount_data "$device"
  check_data
  write_converge_script
  write_units
  systemctl daemon-reload
  systemctl enable --now nami-mongodb.service nami-growfs.timer
  if [ -n "$STORE_NAME" ]; then
    systemctl enable --now nami-tenants.timer
  fi
}

main() {
  case "${1:-setup}" in
    setup) setup ;;
    check-data) check_data ;;
    fetch-secrets) fetch_secrets ;;
    converge-users) converge_users ;;
    tenants) tenants ;;
    grow) check_data && xfs_growfs "$NAMI_ROOT/data" >/dev/null ;;
    *) say "unknown command $1 (setup, check-data, fetch-secrets, converge-users, tenants, grow)"; return 2 ;;
  esac
}

# Sourced by the tests: functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
