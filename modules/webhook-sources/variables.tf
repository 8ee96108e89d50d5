variable "sources" {
  description = <<-EOT
    The webhook sources, by name: one pipeline each. The key is the source's name (the pipeline is
    `<name_prefix><key>`, its collection `<key>` unless `collection` is set).
    - `scheme`: `github`, `stripe`, `slack`, `shopify`, `standard-webhooks` or `hmac`.
    - `secret_arn`: the Secrets Manager secret or SSM parameter holding the signing secret.
    - `hmac`: for scheme `hmac`, the header, algorithm, encoding and prefix of the signature.
    - `delivery_id`: where the delivery id comes from (`header:<name>` or `json:<pointer>`).
    - `throttle`: API Gateway's `rate` (requests per second) and `burst`.
    - `batch`: the post-queue function's `size`, `window_seconds` and `max_concurrency` (the
      throttle that protects the store).
  EOT
  type = map(object({
    scheme     = string
    secret_arn = string
    hmac = optional(object({
      header    = string
      algorithm = optional(string)
      encoding  = optional(string)
      prefix    = optional(string)
    }))
    delivery_id = optional(string)
    collection  = optional(string)
    throttle = optional(object({
      rate  = optional(number)
      burst = optional(number)
    }), {})
    batch = optional(object({
      size            = optional(number)
      window_seconds  = optional(number)
      max_concurrency = optional(number)
    }), {})
  }))

  validation {
    condition     = length(var.sources) > 0
    error_message = "sources is empty: name at least one webhook source."
  }
  validation {
    condition     = alltrue([for name, _ in var.sources : can(regex("^[a-z][a-z0-9-]*$", name))])
    error_message = "Each source's name must be lower-case letters, digits and hyphens, starting with a letter (it names AWS objects)."
  }
  validation {
    condition     = alltrue([for name, _ in var.sources : length("${var.name_prefix}${name}") <= 40])
    error_message = "A pipeline's name (name_prefix followed by the source's name) is at most 40 characters."
  }
  validation {
    condition = alltrue([for _, source in var.sources : contains(
      ["github", "stripe", "slack", "shopify", "standard-webhooks", "hmac"], source.scheme
    )])
    error_message = "Each source's scheme must be one of github, stripe, slack, shopify, standard-webhooks, hmac (this module does not create unverified pipelines)."
  }
  validation {
    condition = alltrue([for _, source in var.sources : can(regex(
      "^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+)$", source.secret_arn
    ))])
    error_message = "Each source's secret_arn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:…:secret:…) or an SSM parameter ARN (arn:aws:ssm:…:parameter/…)."
  }
  validation {
    condition     = alltrue([for _, source in var.sources : (source.scheme == "hmac") == (source.hmac != null)])
    error_message = "A source with scheme hmac needs an hmac block (its header at least), and only those sources may have one."
  }
  validation {
    condition = alltrue([for _, source in var.sources : source.throttle.rate == null ? true :
    source.throttle.rate >= 1 && source.throttle.rate <= 10000])
    error_message = "throttle.rate is requests per second, 1–10000."
  }
  validation {
    condition = alltrue([for _, source in var.sources : source.throttle.burst == null ? true :
    source.throttle.burst >= 1 && source.throttle.burst <= 5000])
    error_message = "throttle.burst is requests at once, 1–5000."
  }
  validation {
    condition = alltrue([for _, source in var.sources : source.batch.size == null ? true :
    source.batch.size >= 1 && source.batch.size <= 10000])
    error_message = "batch.size is records per invocation, 1–10000 (over 10 needs batch.window_seconds)."
  }
  validation {
    condition = alltrue([for _, source in var.sources : source.batch.window_seconds == null ? true :
    source.batch.window_seconds >= 0 && source.batch.window_seconds <= 300])
    error_message = "batch.window_seconds is 0–300."
  }
  validation {
    condition = alltrue([for _, source in var.sources : source.batch.max_concurrency == null ? true :
    source.batch.max_concurrency >= 2 && source.batch.max_concurrency <= 1000])
    error_message = "batch.max_concurrency is 2–1000 (Lambda's bounds for an SQS event source mapping)."
  }
}

variable "name_prefix" {
  description = "Put before each source's name to make its pipeline's name (e.g. `acme-`). A pipeline's name is at most 40 characters."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z][a-z0-9-]*)?$", var.name_prefix))
    error_message = "name_prefix must be empty, or lower-case letters, digits and hyphens starting with a letter."
  }
}

variable "store" {
  description = <<-EOT
    Where every source's webhooks are stored, a collection each, in one `database` (default
    `webhooks`):
    - `mongodb_uri_secret_arn`: the Secrets Manager secret or SSM parameter holding the connection
      string of a MongoDB you have (Atlas, DocumentDB, a replica set) — one store for all sources;
    - or `managed`: one `nami_mongodb_store` the module makes and every source's pipeline joins
      (each as its own database user), with its `name` (default `<name_prefix>sources`),
      `instance_type`, `volume_size` (GiB), `snapshot_retention_days` and `retain_volume`
      (default true: a destroy keeps the data volume).
  EOT
  type = object({
    mongodb_uri_secret_arn = optional(string)
    database               = optional(string, "webhooks")
    managed = optional(object({
      name                    = optional(string)
      instance_type           = optional(string)
      volume_size             = optional(number)
      snapshot_retention_days = optional(number)
      retain_volume           = optional(bool)
    }))
  })

  validation {
    condition     = (var.store.mongodb_uri_secret_arn == null) != (var.store.managed == null)
    error_message = "store needs exactly one of mongodb_uri_secret_arn (a MongoDB you have) and managed (Nami's)."
  }
  validation {
    condition = var.store.mongodb_uri_secret_arn == null ? true : can(regex(
      "^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+)$", var.store.mongodb_uri_secret_arn
    ))
    error_message = "store.mongodb_uri_secret_arn must be a Secrets Manager secret ARN or an SSM parameter ARN (not the connection string itself)."
  }
  validation {
    condition     = can(regex("^[^$/\\\\. \"'?#@:%&]{1,64}$", var.store.database))
    error_message = "store.database must be 1–64 characters, none of $ / \\ . \" ' ? # @ : % & or space."
  }
  validation {
    condition     = try(var.store.managed.name, null) == null ? true : can(regex("^[a-z][a-z0-9-]{0,33}$", var.store.managed.name)) && !endswith(var.store.managed.name, "-")
    error_message = "store.managed.name is 1–34 lower-case letters, digits and hyphens, starting with a letter."
  }
  validation {
    condition     = var.store.managed == null || try(var.store.managed.name, null) != null ? true : length("${var.name_prefix}sources") <= 34
    error_message = "The store's default name (name_prefix followed by sources) is over 34 characters: set store.managed.name."
  }
  validation {
    condition     = var.store.managed == null ? true : can(regex("^[A-Za-z0-9_-]{1,64}$", var.store.database)) && !contains(["admin", "local", "config"], var.store.database)
    error_message = "With the managed store, store.database is 1–64 letters, digits, _ or - (not admin, local or config)."
  }
  validation {
    condition     = try(var.store.managed.volume_size, null) == null ? true : var.store.managed.volume_size >= 8 && var.store.managed.volume_size <= 16384
    error_message = "store.managed.volume_size is GiB, 8–16384 (gp3's range)."
  }
  validation {
    condition     = try(var.store.managed.snapshot_retention_days, null) == null ? true : var.store.managed.snapshot_retention_days >= 1 && var.store.managed.snapshot_retention_days <= 36500
    error_message = "store.managed.snapshot_retention_days is 1–36500."
  }
}

variable "network" {
  description = "Where the post-queue functions run, if the store is reachable only inside a VPC: its `vpc_id` and (private) `subnet_ids`. Null: outside any VPC (a store reached over TLS, such as Atlas)."
  type = object({
    vpc_id     = string
    subnet_ids = list(string)
  })
  default = null

  validation {
    condition     = var.network == null ? true : can(regex("^vpc-[0-9a-f]+$", var.network.vpc_id))
    error_message = "network.vpc_id must be a VPC id (vpc-…)."
  }
  validation {
    condition     = var.network == null ? true : length(var.network.subnet_ids) > 0 && alltrue([for id in var.network.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "network.subnet_ids must be one or more subnet ids (subnet-…); two in two availability zones are recommended."
  }
}

variable "alarm_actions" {
  description = "ARNs notified when any pipeline's alarm fires or recovers (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every AWS object of every pipeline (merged over the provider's default_tags)."
  type        = map(string)
  default     = {}
}
