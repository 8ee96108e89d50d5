# One pipeline per webhook source, all writing to one store (a collection each): a MongoDB the
# team has, or one managed store every pipeline joins as its own database user.

resource "nami_mongodb_store" "shared" {
  count = var.store.managed == null ? 0 : 1

  name                    = coalesce(var.store.managed.name, "${var.name_prefix}sources")
  instance_type           = var.store.managed.instance_type
  volume_size             = var.store.managed.volume_size
  snapshot_retention_days = var.store.managed.snapshot_retention_days
  retain_volume           = var.store.managed.retain_volume

  dynamic "network" {
    for_each = var.network == null ? [] : [var.network]
    content {
      vpc_id     = network.value.vpc_id
      subnet_ids = network.value.subnet_ids
    }
  }

  tags = var.tags
}

resource "nami_webhook_pipeline" "source" {
  for_each = var.sources

  name = "${var.name_prefix}${each.key}"

  signature {
    scheme      = each.value.scheme
    secret_arn  = each.value.secret_arn
    delivery_id = each.value.delivery_id
    header      = try(each.value.hmac.header, null)
    algorithm   = try(each.value.hmac.algorithm, null)
    encoding    = try(each.value.hmac.encoding, null)
    prefix      = try(each.value.hmac.prefix, null)
  }

  api {
    throttle_rate  = each.value.throttle.rate
    throttle_burst = each.value.throttle.burst
  }

  post_queue {
    batch_size              = each.value.batch.size
    batching_window_seconds = each.value.batch.window_seconds
    max_concurrency         = each.value.batch.max_concurrency
  }

  store {
    mongodb_uri_secret_arn = var.store.mongodb_uri_secret_arn
    shared                 = one(nami_mongodb_store.shared[*].id)
    database               = var.store.database
    collection             = coalesce(each.value.collection, each.key)
  }

  dynamic "network" {
    for_each = var.network == null ? [] : [var.network]
    content {
      vpc_id     = network.value.vpc_id
      subnet_ids = network.value.subnet_ids
    }
  }

  alarms {
    actions = var.alarm_actions
  }

  tags = merge(var.tags, { "nami:source" = each.key })
}
